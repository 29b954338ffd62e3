"""Paths and helpers shared by the release checks (imported by name: tests have no packages)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from certbot_dns_autopilot.plugin.authenticator import Authenticator

TOP = Path(__file__).resolve().parents[2]
DIST = TOP / "dist"
DEV_BIN = TOP / ".venv" / "bin"
RELEASE_BIN = TOP / ".venv-release" / "bin"
PREFIX = "--dns-autopilot-"


def plugin_options() -> dict[str, dict[str, Any]]:
    """Every option the Authenticator defines, by its command-line name, with its kwargs."""
    found: dict[str, dict[str, Any]] = {}

    def add(name: str, **kwargs: Any) -> None:
        found[PREFIX + name] = kwargs

    Authenticator.add_parser_arguments(add)
    return found


def run(*args: str | Path, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=TOP, **kwargs)
