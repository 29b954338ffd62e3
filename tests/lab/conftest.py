"""The lab for integration tests: started once per session by lab/lab.sh (as root).

If the lab was already running (a developer's `lab/lab.sh up`), it is left running;
otherwise the session stops it again, leaving nothing behind. What the tests share beyond
these fixtures is in labkit.py.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from labkit import LAB_SH, Certbot, Lab, parse_env


@pytest.fixture(scope="session")
def lab() -> Lab:
    """The lab, with the secondary told of each change at once (LAB_NOTIFY_DELAY 0 unless
    set): a test about lag makes it explicitly (slow.test, lag.test, transfers held back).
    A shard of lab/test.sh (a pytest-xdist worker, in a network namespace of its own) has a
    lab of its own, its state beside the one LAB_RUN names."""
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (port 53, addresses on lo): run lab/test.sh as root")
    env = dict(os.environ, LAB_NOTIFY_DELAY=os.environ.get("LAB_NOTIFY_DELAY", "0"))
    if "PYTEST_XDIST_WORKER" in os.environ:
        run = os.environ.get("LAB_RUN", str(LAB_SH.parent / ".run"))
        env["LAB_RUN"] = f"{run}-{os.environ['PYTEST_XDIST_WORKER']}"
    was_up = subprocess.run([LAB_SH, "status"], capture_output=True, env=env).returncode == 0
    up = subprocess.run([LAB_SH, "up"], capture_output=True, text=True, env=env)
    assert up.returncode == 0, f"lab/lab.sh up failed:\n{up.stdout}\n{up.stderr}"
    yield Lab(parse_env(up.stdout))
    if not was_up:
        subprocess.run([LAB_SH, "down"], check=True, capture_output=True, env=env)


@pytest.fixture
def certbot(lab: Lab, tmp_path: Path) -> Certbot:
    return Certbot(lab, tmp_path)


@pytest.fixture
def fresh_name() -> str:
    """A name under autopilot.test no earlier run used, so no resolver has it cached."""
    return f"t{uuid.uuid4().hex[:10]}.autopilot.test"
