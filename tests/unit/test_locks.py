"""The host-wide lock for read-modify-write writers: exclusive, bounded, it says who, and no
other user can redirect it (symlinks) or block it (planted directories, held files)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from unit_helpers import planted

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import locks

# The second user runs the system's Python: the venv's may sit where it cannot read.
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="a second user needs root to set up")


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "_fallback", None)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A world-writable sticky directory, as /tmp is, that the second user can reach."""
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


def victim(shared: Path) -> Path:
    path = shared / "precious"
    path.write_text("root's data\n")
    path.chmod(0o644)
    return path


def test_a_held_lock_makes_the_next_wait_and_then_names_the_holder(tmp_path: Path) -> None:
    lock = locks.Locks(str(tmp_path))
    with lock.held("route53-Z1", "Route 53 zone example.com"):
        with pytest.raises(AutopilotError) as caught:
            with lock.held("route53-Z1", "Route 53 zone example.com", wait=0.3):
                pass
        assert caught.value.code == "lock-timeout"
        assert f"pid {os.getpid()}" in caught.value.problem
        assert "Route 53 zone example.com" in caught.value.problem
        with lock.held("route53-Z2", "another zone", wait=0.3):  # other keys are free
            pass
    with lock.held("route53-Z1", "Route 53 zone example.com", wait=0.3):  # released
        pass
    assert lock.directory() == tmp_path / "dns-autopilot" / "locks"
    assert oct(lock.directory().stat().st_mode & 0o777) == "0o700"


@as_root
@pytest.mark.parametrize("plant", ["a-symlink-to-their-directory", "their-own-directory"])
def test_a_lock_directory_another_user_planted_is_neither_followed_nor_blocking(
        shared: Path, monkeypatch: pytest.MonkeyPatch, plant: str) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    target = victim(shared)
    theirs = shared / "theirs"
    ours = shared / f"dns-autopilot-locks-{os.geteuid()}"
    holder = planted(f"""
        import fcntl, os, sys, time
        os.mkdir({str(theirs)!r}, 0o777); os.chmod({str(theirs)!r}, 0o777)
        os.symlink({str(target)!r}, {str(theirs / "route53-Z1.lock")!r})
        fd = os.open({str(theirs / "route53-Z2.lock")!r}, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if {plant!r} == "a-symlink-to-their-directory":
            os.symlink({str(theirs)!r}, {str(ours)!r})
        else:
            os.mkdir({str(ours)!r}, 0o777); os.chmod({str(ours)!r}, 0o777)
            os.symlink({str(target)!r}, {str(ours / "route53-Z1.lock")!r})
            os.rename({str(theirs / "route53-Z2.lock")!r}, {str(ours / "route53-Z2.lock")!r})
        print("ready", flush=True)
        time.sleep(30)
    """)
    try:
        with locks.Locks().held("route53-Z1", "zone one", wait=1), \
                locks.Locks().held("route53-Z2", "zone two", wait=1):
            pass
    finally:
        holder.kill()
        holder.wait()
    assert target.read_text() == "root's data\n"  # never followed, never truncated
    used = locks.Locks().directory()
    assert used != ours and not used.is_symlink() and used.stat().st_uid == os.geteuid()


@as_root
@pytest.mark.parametrize("plant", ["symlink", "directory"])
def test_a_planted_path_in_a_world_writable_work_dir_is_refused(
        shared: Path, plant: str) -> None:
    target = victim(shared)
    work = shared / "work"
    work.mkdir(mode=0o1777)
    work.chmod(0o1777)
    link = (f"os.symlink({str(shared)!r}, {str(work / 'dns-autopilot')!r})"
            if plant == "symlink" else
            f"os.makedirs({str(work / 'dns-autopilot' / 'locks')!r}, 0o777); "
            f"os.symlink({str(target)!r}, "
            f"{str(work / 'dns-autopilot' / 'locks' / 'route53-Z1.lock')!r})")
    planted(f"import os\n{link}\nprint('ready', flush=True)").wait()
    with pytest.raises(AutopilotError) as caught:
        with locks.Locks(str(work)).held("route53-Z1", "zone one", wait=1):
            pass
    assert caught.value.code == "unsafe-state"
    assert str(work / "dns-autopilot") in caught.value.problem
    assert target.read_text() == "root's data\n"
