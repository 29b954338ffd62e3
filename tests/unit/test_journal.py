"""The journal: what a run notes before writing, and what a later run may claim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from certbot_dns_autopilot import journal


def test_a_run_notes_before_writing_and_forgets_after_removal(tmp_path: Path) -> None:
    run = journal.Journal(str(tmp_path), "run1", "/etc/letsencrypt/autopilot.ini")
    run.record("example.com", {"_acme-challenge.example.com": {"b", "a"}})
    run.record("example.com", {"_acme-challenge.example.com": {"c"}})
    data = json.loads(run.path.read_text())
    assert data["zones"] == {"example.com": {"_acme-challenge.example.com": ["a", "b", "c"]}}
    assert data["pid"] == os.getpid() and data["credentials"] == "/etc/letsencrypt/autopilot.ini"
    assert oct(run.path.stat().st_mode & 0o777) == "0o600"
    run.forget("example.com")
    assert not run.path.exists()


def test_a_live_run_is_never_claimed_a_dead_one_is_once(tmp_path: Path) -> None:
    live = journal.Journal(str(tmp_path), "live", "/c.ini")
    live.record("example.com", {"_acme-challenge.example.com": {"mine"}})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    (tmp_path / journal.SUBDIR / "dead.json").write_text(json.dumps(
        {"pid": pid, "started": "1", "credentials": "/c.ini",
         "zones": {"example.net": {"_acme-challenge.example.net": ["left"]}}}))
    [left] = list(journal.leftovers(str(tmp_path)))
    assert left.zones == {"example.net": {"_acme-challenge.example.net": ["left"]}}
    assert list(journal.leftovers(str(tmp_path))) == []  # claimed: nobody else acts on it
    journal.keep(left)  # removal failed: a later run retries
    [again] = list(journal.leftovers(str(tmp_path)))
    journal.done(again)
    assert sorted(p.name for p in (tmp_path / journal.SUBDIR).iterdir()) == ["live.json"]


def test_a_recycled_pid_is_not_the_same_run(tmp_path: Path) -> None:
    (tmp_path / journal.SUBDIR).mkdir(parents=True)
    (tmp_path / journal.SUBDIR / "old.json").write_text(json.dumps(
        {"pid": os.getpid(), "started": "not-this-process", "credentials": "/c.ini",
         "zones": {"example.org": {"_acme-challenge.example.org": ["x"]}}}))
    assert [left.zones for left in journal.leftovers(str(tmp_path))] == [
        {"example.org": {"_acme-challenge.example.org": ["x"]}}]
