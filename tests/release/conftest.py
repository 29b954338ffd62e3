"""Release checks: the built wheel in a clean venv, the docs site, the newcomer path.

lab/test.sh builds what these tests look at before pytest starts (dist/ and
.venv-release), so no test here downloads or builds in an isolated environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from release_paths import DIST, RELEASE_BIN


@pytest.fixture(scope="session")
def release_bin() -> Path:
    if not (RELEASE_BIN / "certbot").exists() or not list(DIST.glob("*.whl")):
        pytest.fail("dist/ or .venv-release is missing: lab/test.sh builds them before "
                    "pytest runs (./lab/test.sh tests/release)")
    return RELEASE_BIN


@pytest.fixture
def certbot_dirs(tmp_path: Path) -> list[str]:
    """Keep certbot out of /etc/letsencrypt and /var/log/letsencrypt."""
    return ["--config-dir", str(tmp_path / "config"), "--work-dir", str(tmp_path / "work"),
            "--logs-dir", str(tmp_path / "logs")]
