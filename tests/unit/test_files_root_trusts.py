"""What root writes into directories other users can write (the node-exporter textfile, the
acme-dns registration store), and the files it trusts enough to act on (the credentials
file, certbot's renewal configurations): raced and planted by a real second user."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from unit_helpers import NOBODY, http_server, planted

from certbot_dns_autopilot import statefiles
from certbot_dns_autopilot.cli import fleet

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="a second user needs root to set up")


@pytest.fixture
def theirs() -> Iterator[Path]:
    """A directory the user ``nobody`` owns and writes (mode 0755, no sticky bit), as a
    node-exporter textfile directory often is, reachable by that user."""
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    top.chmod(0o755)
    path = top / "textfile"
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    yield path
    shutil.rmtree(top)


@as_root
def test_the_textfile_temp_swapped_for_a_symlink_never_makes_root_chmod_its_target(
        theirs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second user swaps root's temp file for a symlink to a private key the moment it
    exists; root's mode change must not follow it, nor the metrics path end as that link."""
    key = tmp_path / "private.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o600)
    racer = planted(f"""
        import os, time
        print("ready", flush=True)
        while True:
            temps = [n for n in os.listdir({str(theirs)!r}) if n.endswith(".tmp")]
            if temps:
                temp = os.path.join({str(theirs)!r}, temps[0])
                os.rename(temp, temp + ".moved")
                os.symlink({str(key)!r}, temp)
                print("swapped", flush=True)
                break
            time.sleep(0.001)
    """)
    made = tempfile.mkstemp

    def made_then_raced(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, temp = made(*args, **kwargs)  # type: ignore[arg-type]
        assert racer.stdout and racer.stdout.readline().strip() == "swapped"
        return fd, temp

    monkeypatch.setattr(tempfile, "mkstemp", made_then_raced)
    target = theirs / "dns_autopilot.prom"
    refused: Exception | None = None
    try:
        fleet.write_atomically(str(target), "dns_autopilot_doctor_last_run 1\n")
    except statefiles.Unsafe as exc:
        refused = exc
    finally:
        racer.kill()
        racer.wait()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600, "root changed the key's mode"
    assert key.read_text() == "-----BEGIN PRIVATE KEY-----\n"
    assert not target.is_symlink(), "the metrics path was left as the planted link"
    assert refused is not None and "another user can write" in refused.why


STORED = {"old.example": {"username": "c36f50e8-4632-44f0-83fe-e070fef28a10",
                          "password": "pW-0123456789abcdefghijklmnopqrstuvwxyzAB"[:40],
                          "fulldomain": "d420c923.auth.example", "subdomain": "d420c923",
                          "allowfrom": []}}


def test_a_full_disk_while_registering_loses_no_stored_registration(tmp_path: Path) -> None:
    """`dns-autopilot acme-dns register` adding a domain to the registration file on a disk
    with no room left (the file-size limit of the process, as a full disk answers): the
    registrations already stored stay whole, and the command says so without a traceback."""
    store = tmp_path / "acmedns.json"
    store.write_text(json.dumps(STORED, indent=2) + "\n")
    store.chmod(0o600)
    before = store.read_bytes()
    registration = {"username": "0b6f3a8e-1a2b-4c3d-9e8f-001122334455", "password": "x" * 40,
                    "fulldomain": "0b6f3a8e.auth.example", "subdomain": "0b6f3a8e",
                    "allowfrom": []}
    with http_server(lambda _: (201, {}, json.dumps(registration).encode())) as (url, _):
        child = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(f"""
                import resource, signal, sys
                from certbot_dns_autopilot.cli import main
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails: EFBIG
                resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 40}, ) * 2)
                sys.exit(main.main(["acme-dns", "register", "-d", "new.example",
                                    "--api-url", {url!r},
                                    "--registration-file", {str(store)!r}]))
            """)], capture_output=True, text=True, timeout=60)
    assert store.read_bytes() == before, "the stored registrations were damaged"
    assert child.returncode == 2, child.stdout + child.stderr
    assert "Traceback" not in child.stderr and "new.example" in child.stderr
    assert sorted(os.listdir(tmp_path)) == ["acmedns.json"]
