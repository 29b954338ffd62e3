"""The journal of records this run may have written: what a killed run leaves for the next.

certbot cleans up after errors and signals it can catch, but not after SIGKILL, an OOM kill
or a power cut. So before any writer call, the run notes in
``<certbot work dir>/dns-autopilot/journal/<run>.json`` each zone's values, with its pid and
the process start time (a recycled pid is not the same run), and the credentials file that
knows the writer; cleanup drops a zone from it once the writer confirmed the removal. A
later run first removes what a run that no longer exists left behind, and says so. A run
that still lives is never touched: its values are its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUBDIR = os.path.join("dns-autopilot", "journal")


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux /proc), to tell a recycled pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: assume it is that run
    return started is None or _start_time(pid) in (None, started)


@dataclass(frozen=True)
class Leftover:
    """What a run that no longer exists had written and not removed."""

    path: Path
    credentials: str
    zones: dict[str, dict[str, list[str]]]  # zone -> {name -> values}


class Journal:
    """This run's entries, one JSON file rewritten atomically on every change."""

    def __init__(self, work_dir: str | None, run: str, credentials: str) -> None:
        self.directory = Path(work_dir, SUBDIR) if work_dir else None
        self.path = self.directory / f"{run}.json" if self.directory else None
        self.credentials = credentials
        self.zones: dict[str, dict[str, list[str]]] = {}
        self._lock = threading.Lock()

    def record(self, zone: str, records: dict[str, frozenset[str]] | dict[str, set[str]]
               ) -> None:
        """Before a writer call: these values may exist from now on."""
        with self._lock:
            entry = self.zones.setdefault(zone, {})
            for name, values in records.items():
                entry[name] = sorted(set(entry.get(name, ())) | set(values))
            self._save()

    def forget(self, zone: str) -> None:
        """After the writer confirmed the removal of the zone's values."""
        with self._lock:
            self.zones.pop(zone, None)
            self._save()

    def _save(self) -> None:
        if not self.path:
            return
        if not self.zones:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pid = os.getpid()
        body = json.dumps({"pid": pid, "started": _start_time(pid),
                           "credentials": self.credentials, "zones": self.zones}, indent=1)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


def leftovers(work_dir: str | None) -> Iterator[Leftover]:
    """Claim, one by one, the journals of runs that no longer exist (a claimed journal is
    renamed first, so two recovering runs never both act on it)."""
    if not work_dir:
        return
    directory = Path(work_dir, SUBDIR)
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _alive(int(data.get("pid", 0)), data.get("started")):
            continue
        claimed = path.with_suffix(f".recovering-{os.getpid()}")
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            continue  # another run claimed it first
        yield Leftover(claimed, str(data.get("credentials", "")), data.get("zones", {}))


def done(leftover: Leftover) -> None:
    """The leftover's values are gone: drop its journal."""
    with contextlib.suppress(FileNotFoundError):
        leftover.path.unlink()


def keep(leftover: Leftover) -> None:
    """The leftover could not be removed now: put it back for a later run."""
    with contextlib.suppress(OSError):
        os.replace(leftover.path, leftover.path.with_suffix(".json"))
