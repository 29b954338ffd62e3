"""The journal: what a run notes before writing, and what a later run may claim (and what
it must refuse: a journal decides what root deletes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from unit_helpers import value

from certbot_dns_autopilot.cleanup import journal

NOBODY = 65534


def dead_pid() -> int:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(dead.stdout)


def plant(tmp_path: Path, name: str, body: object, mode: int = 0o600) -> Path:
    directory = tmp_path / journal.SUBDIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    path.chmod(mode)
    return path


def dead_journal(zones: object, **fields: object) -> dict[str, object]:
    return {"pid": dead_pid(), "started": "1", "credentials": "/c.ini", "zones": zones,
            **fields}


def test_a_run_notes_before_writing_and_forgets_after_removal(tmp_path: Path) -> None:
    run = journal.Journal(str(tmp_path), "run1", "/etc/letsencrypt/autopilot.ini")
    run.record("example.com", {"_acme-challenge.example.com": {"b", "a"}})
    run.record("example.com", {"_acme-challenge.example.com": {"c"}})
    data = json.loads(run.path.read_text())
    assert data["zones"] == {"example.com": {"_acme-challenge.example.com": ["a", "b", "c"]}}
    assert data["pid"] == os.getpid() and data["credentials"] == "/etc/letsencrypt/autopilot.ini"
    assert oct(run.path.stat().st_mode & 0o777) == "0o600"
    assert oct(run.path.parent.stat().st_mode & 0o777) == "0o700"
    run.forget("example.com")
    assert not run.path.exists()


def test_a_live_run_is_never_claimed_a_dead_one_is_once(tmp_path: Path) -> None:
    live = journal.Journal(str(tmp_path), "live", "/c.ini")
    live.record("example.com", {"_acme-challenge.example.com": {value("mine")}})
    zones = {"example.net": {"_acme-challenge.example.net": [value("left")]}}
    plant(tmp_path, "dead.json", dead_journal(zones))
    [left] = list(journal.leftovers(str(tmp_path)))
    assert left.zones == zones
    assert list(journal.leftovers(str(tmp_path))) == []  # claimed: nobody else acts on it
    journal.keep(left)  # removal failed: a later run retries
    [again] = list(journal.leftovers(str(tmp_path)))
    journal.done(again)
    assert sorted(p.name for p in (tmp_path / journal.SUBDIR).iterdir()) == ["live.json"]


def test_a_recycled_pid_is_not_the_same_run(tmp_path: Path) -> None:
    zones = {"example.org": {"_acme-challenge.example.org": [value("x")]}}
    plant(tmp_path, "old.json", dead_journal(zones, pid=os.getpid(), started="12"))
    assert [left.zones for left in journal.leftovers(str(tmp_path))] == [zones]


def test_a_journal_claimed_by_a_run_that_died_while_recovering_is_claimed_again(
        tmp_path: Path) -> None:
    zones = {"example.org": {"_acme-challenge.example.org": [value("y")]}}
    plant(tmp_path, f"abc.recovering-{dead_pid()}", dead_journal(zones))
    alive = f"{os.getppid()}-{journal._start_time(os.getppid())}"
    plant(tmp_path, f"def.recovering-{alive}", dead_journal(zones))  # a live run's claim
    [left] = list(journal.leftovers(str(tmp_path)))
    assert left.zones == zones and left.path.name.startswith("abc.recovering-")
    journal.keep(left)
    assert (tmp_path / journal.SUBDIR / "abc.json").exists()


SPF = {"example.test": {"example.test": ["v=spf1 -all"]}}


@pytest.mark.parametrize("body,why", [
    (dead_journal(SPF), "not DNS-01 values"),
    ([], "JSON list"),
    ({"pid": "x"}, "pid 'x'"),
    (dead_journal(["example.test"]), "zones is not"),
    (dead_journal({"example.test": {"www.example.org": [value("z")]}}), "not in zone"),
    (dead_journal({"example.test": {"_acme-challenge.example.test": [value("z")]}},
                  credentials=["/c.ini"]), "credentials"),
    (dead_journal({"example.test": {"_acme-challenge.example.test": [value("z")]}},
                  started=["1"]), "started"),
    ("{not json", "not JSON"),
], ids=["an-spf-value", "a-list", "a-text-pid", "zones-a-list", "a-name-out-of-zone",
        "credentials-a-list", "started-a-list", "not-json"])
def test_a_journal_no_run_of_ours_wrote_is_refused_and_left_alone(
        tmp_path: Path, body: object, why: str) -> None:
    path = plant(tmp_path, "planted.json", body)
    before = path.read_bytes()
    [refused] = list(journal.leftovers(str(tmp_path)))
    assert isinstance(refused, journal.Refused) and refused.path == path
    assert why in refused.why
    assert path.read_bytes() == before


GOOD = {"example.test": {"_acme-challenge.example.test": [value("z")]}}


def test_a_journal_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = plant(tmp_path, "loose.json", dead_journal(GOOD), mode=0o644)
    [refused] = list(journal.leftovers(str(tmp_path)))
    assert isinstance(refused, journal.Refused) and "mode is 0644" in refused.why
    assert path.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_journal_another_user_owns_is_refused(tmp_path: Path) -> None:
    path = plant(tmp_path, "theirs.json", dead_journal(GOOD))
    os.chown(path, NOBODY, NOBODY)
    [refused] = list(journal.leftovers(str(tmp_path)))
    assert isinstance(refused, journal.Refused) and f"uid {NOBODY}" in refused.why


def test_a_symlinked_journal_or_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(dead_journal(GOOD)))
    target.chmod(0o600)
    plant(tmp_path, "placeholder", "")
    (tmp_path / journal.SUBDIR / "link.json").symlink_to(target)
    [refused] = list(journal.leftovers(str(tmp_path)))
    assert isinstance(refused, journal.Refused) and "symbolic link" in refused.why
    assert target.exists()
    other = tmp_path / "other"
    (other / "dns-autopilot").mkdir(parents=True)
    (other / "dns-autopilot" / "journal").symlink_to(tmp_path / journal.SUBDIR)
    [refused] = list(journal.leftovers(str(other)))
    assert "symbolic link" in refused.why


def test_a_fifo_in_the_journal_directory_never_hangs_recovery(tmp_path: Path) -> None:
    plant(tmp_path, "placeholder", "")
    os.mkfifo(tmp_path / journal.SUBDIR / "fifo.json", 0o600)
    [refused] = list(journal.leftovers(str(tmp_path)))
    assert "not a regular file" in refused.why


def test_recovery_survives_any_error_and_keeps_the_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    import types

    from certbot_dns_autopilot import credentials
    from certbot_dns_autopilot.plugin.authenticator import Authenticator

    path = plant(tmp_path, "dead.json", dead_journal(GOOD))

    def broken(_path: str, _context: object = None) -> None:
        raise KeyError("a writer's unexpected error")
    monkeypatch.setattr(credentials, "load", broken)
    config = types.SimpleNamespace(work_dir=str(tmp_path), logs_dir=str(tmp_path))
    Authenticator(config, "dns-autopilot").run.prepare()  # does not raise
    assert path.exists()  # kept for a later run
    assert "removing it failed (KeyError)" in caplog.text


def test_a_work_dir_not_made_yet_is_made(tmp_path: Path) -> None:
    run = journal.Journal(str(tmp_path / "not" / "yet"), "run1", "/c.ini")
    run.record("example.com", {"_acme-challenge.example.com": {value("a")}})
    assert run.path.exists()


def test_a_pid_beyond_any_kernel_is_refused_not_a_crash(tmp_path: Path) -> None:
    plant(tmp_path, "huge.json", dead_journal(GOOD, pid=2**40))
    [refused] = list(journal.leftovers(str(tmp_path)))
    assert isinstance(refused, journal.Refused) and "not a process id" in refused.why


def test_a_refused_journal_is_reported_once_until_it_changes(tmp_path: Path) -> None:
    path = plant(tmp_path, "planted.json", dead_journal(SPF))
    [first] = list(journal.leftovers(str(tmp_path)))
    [again] = list(journal.leftovers(str(tmp_path)))
    assert (first.first, again.first) == (True, False)
    os.utime(path, ns=(1, 1))  # rewritten: reported again
    [changed] = list(journal.leftovers(str(tmp_path)))
    assert changed.first and path.exists()
