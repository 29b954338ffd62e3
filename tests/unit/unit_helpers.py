"""Helpers the unit tests share (imported by name: no test module imports another)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from certbot.plugins.dns_common import CredentialsConfiguration

from certbot_dns_autopilot.writers import WriterMap, writers_from_credentials


def value(seed: str) -> str:
    """A DNS-01 value, shaped as the CA's are."""
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()).rstrip(b"=").decode()


def load_map(tmp_path: Path, values: dict[str, str], sections: str = "") -> WriterMap:
    path = tmp_path / "credentials.ini"
    path.write_text("".join(f"{k} = {v}\n" for k, v in values.items()) + sections)
    path.chmod(0o600)
    creds = CredentialsConfiguration(str(path), lambda var: f"dns_autopilot_{var}")
    return writers_from_credentials(creds, str(path))


class RecordedEvents:
    """The run's event log as a writer sees it: each retry it reports, recorded."""

    def __init__(self) -> None:
        self.retries: list[dict] = []

    def emit(self, step: str, outcome: str, *args: object, **fields: object) -> None:
        assert (step, outcome) == ("retry", "retrying"), (step, outcome)
        self.retries.append(fields)


NOBODY = 65534


SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def as_nobody(code: str) -> subprocess.Popen[str]:
    """Run ``code`` as the unprivileged user ``nobody``; it prints "ready" once set up."""
    return subprocess.Popen([SYSTEM_PYTHON, "-c", textwrap.dedent(code)], user=NOBODY,
                            group=NOBODY, extra_groups=[], stdout=subprocess.PIPE, text=True,
                            cwd="/")


def planted(code: str) -> subprocess.Popen[str]:
    proc = as_nobody(code)
    assert proc.stdout and proc.stdout.readline().strip() == "ready"
    return proc
