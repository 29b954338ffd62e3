"""The run's event log: one JSON object per line, beside certbot's own log.

Every step (plan, write, each query, each round, waits, cleanup) is an event with at least
``ts``, ``step``, ``name``, ``duration_ms`` and ``outcome``; queries add ``server`` and
``answer``. Each event is also a readable line in certbot's log, so one failed cron renewal
can be understood from its logs alone. Events never carry credentials: writers are named
by their label (server and key name), never by their secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from . import scrub, statefiles
from .shown import shown

logger = logging.getLogger("certbot_dns_autopilot")

FILENAME = "dns-autopilot.jsonl"
MAX_BYTES = 10 * 1024 * 1024  # one line per DNS query: bounded, as certbot bounds its logs
BACKUPS = 5  # dns-autopilot.jsonl.1 … .5, the oldest dropped
#: the event schema's version, in every event as ``schema``: raised when a field is removed,
#: renamed or changes meaning (new fields and steps keep it; docs/compatibility.md)
SCHEMA = 1


class EventLog:
    """Appends events to ``<logs dir>/dns-autopilot.jsonl`` (or only to the logger)."""

    def __init__(self, logs_dir: str | None = None) -> None:
        self.path = os.path.join(logs_dir, FILENAME) if logs_dir else None
        self.run = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []  # this run's events, for summaries and hints

    def emit(self, step: str, outcome: str, name: str | None = None,
             duration_ms: float | None = None, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "schema": SCHEMA, "run": self.run, "step": step, "name": name,
            "duration_ms": None if duration_ms is None else round(duration_ms, 1),
            "outcome": outcome, **fields}
        line = json.dumps(scrub.scrubbed(event), sort_keys=False)  # scrubbed, then escaped
        with self._lock:
            self.events.append(event)
            if self.path:
                try:
                    self._append(self.path, line + "\n")
                except (OSError, statefiles.Unsafe) as exc:  # the log never breaks a run
                    logger.warning("dns-autopilot: not writing the event log %s: %s",
                                   self.path, exc)
                    self.path = None
        logger.debug("dns-autopilot: %s", shown(_readable(event), limit=4000))
        return event

    @staticmethod
    def _append(path: str, line: str) -> None:
        """Append to this user's own regular file (no symlink followed), mode 0600; past
        `MAX_BYTES` the file is rotated first (``.1`` the newest of `BACKUPS`)."""
        fd = statefiles.open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            if os.fstat(fd).st_size + len(line) > MAX_BYTES:
                os.close(fd)
                fd = -1
                for number in range(BACKUPS - 1, 0, -1):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{path}.{number}", f"{path}.{number + 1}")
                os.replace(path, f"{path}.1")
                fd = statefiles.open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.fchmod(fd, 0o600)
            os.write(fd, line.encode("utf-8"))
        finally:
            if fd >= 0:
                os.close(fd)

    @contextmanager
    def step(self, step: str, name: str | None = None, **fields: Any) -> Iterator[dict[str, Any]]:
        """Time a step; the body may set ``outcome`` and more fields in the yielded dict."""
        extra: dict[str, Any] = {"outcome": "ok"}
        started = time.monotonic()
        try:
            yield extra
        except Exception as exc:
            extra["outcome"] = "error"
            extra.setdefault("error", getattr(exc, "code", type(exc).__name__))
            raise
        finally:
            outcome = extra.pop("outcome")
            self.emit(step, outcome, name, (time.monotonic() - started) * 1000, **fields, **extra)


def _readable(event: dict[str, Any]) -> str:
    parts = [event["step"]]
    if event.get("name"):
        parts.append(str(event["name"]))
    if event.get("server"):
        parts.append(f"@ {event['server']}")
    if event.get("answer"):
        parts.append(f"-> {event['answer']}")
    parts.append(f"[{event['outcome']}]")
    if event.get("duration_ms") is not None:
        parts.append(f"{event['duration_ms']:.0f} ms")
    skip = {"ts", "schema", "run", "step", "name", "server", "answer", "outcome", "duration_ms"}
    parts += [f"{k}={v}" for k, v in event.items() if k not in skip and v is not None]
    return " ".join(parts)
