"""The failure hook: one command per failed run, the diagnoses as JSON on its standard input.

So a cron `certbot renew` can page someone with the cause instead of a log file. The hook is
bounded in time and its own failure is only logged: it must never hide certbot's error. It
runs as `commands` runs every command (its own process group, output capped, named by its
program and a digest); the payload is scrubbed before it is serialised.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .commands import execute, label
from .shown import shown

logger = logging.getLogger(__name__)

TIMEOUT = 60.0
#: the payload's ``version``: raised when a field is removed, renamed or changes meaning
#: (new fields keep it; docs/compatibility.md)
VERSION = 1


def run(command: str, payload: dict[str, Any], timeout: float = TIMEOUT) -> str:
    """Run ``command`` through the shell (as certbot runs its own hooks) with ``payload`` on
    stdin; returns how it went, in words, for the event log. Never raises."""
    from . import scrub  # its patterns take 2 ms to compile: not at every certbot start-up

    name = label(command)
    body = json.dumps(scrub.scrubbed({"version": VERSION, **payload}), indent=1).encode()
    try:
        outcome = execute(command, body, timeout=timeout, merge=True)
    except OSError as exc:
        logger.warning("dns-autopilot: the failure hook %s could not run: %s", name,
                       shown(exc.strerror))
        return "error"
    if outcome.status is None:
        logger.warning("dns-autopilot: the failure hook %s did not finish within %.0f s and "
                       "was stopped", name, timeout)
        return "timeout"
    text = outcome.stdout.decode("utf-8", errors="replace").strip()
    if outcome.status != 0:
        logger.warning("dns-autopilot: the failure hook %s exited with status %d: %s",
                       name, outcome.status, shown(text[-500:], limit=600))
        return f"exit {outcome.status}"
    logger.info("dns-autopilot: the failure hook %s received the diagnoses", name)
    return "ok"
