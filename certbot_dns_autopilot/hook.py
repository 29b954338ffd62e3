"""The failure hook: one command per failed run, the diagnoses as JSON on its standard input.

So a cron `certbot renew` can page someone with the cause instead of a log file. The hook is
bounded in time and its own failure is only logged: it must never hide certbot's error.
"""

from __future__ import annotations

import json
import logging
import subprocess
from typing import Any

logger = logging.getLogger(__name__)

TIMEOUT = 60.0
#: the payload's ``version``: raised when a field is removed, renamed or changes meaning
#: (new fields keep it; docs/compatibility.md)
VERSION = 1


def run(command: str, payload: dict[str, Any], timeout: float = TIMEOUT) -> str:
    """Run ``command`` through the shell (as certbot runs its own hooks) with ``payload`` on
    stdin; returns how it went, in words, for the event log."""
    body = json.dumps({"version": VERSION, **payload}, indent=1, default=str)
    try:
        proc = subprocess.run(command, shell=True, input=body, text=True, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        logger.warning("dns-autopilot: the failure hook %r did not finish within %.0f s and "
                       "was stopped", command, timeout)
        return "timeout"
    except OSError as exc:
        logger.warning("dns-autopilot: the failure hook %r could not run: %s", command, exc)
        return "error"
    if proc.returncode != 0:
        logger.warning("dns-autopilot: the failure hook %r exited with status %d: %s",
                       command, proc.returncode, (proc.stderr or proc.stdout).strip()[-500:])
        return f"exit {proc.returncode}"
    logger.info("dns-autopilot: the failure hook %r received the diagnoses", command)
    return "ok"
