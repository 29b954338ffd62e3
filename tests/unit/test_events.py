"""The event log file: one JSON object per line, required fields, steps timed and failed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.events import EventLog


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_events_are_json_lines_with_the_required_fields(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path))
    log.emit("query", "served", "_acme-challenge.example", 1.23, server="ns1 (192.0.2.1)",
             answer={"rcode": "NOERROR"})
    with log.step("write", "example", values=2):
        pass
    events = read(tmp_path / "dns-autopilot.jsonl")
    assert [e["step"] for e in events] == ["query", "write"]
    for event in events:
        assert {"ts", "run", "step", "name", "duration_ms", "outcome"} <= set(event)
        assert event["schema"] == 1  # docs/compatibility.md: what raises it
        assert event["run"] == log.run
    assert events[0]["server"] == "ns1 (192.0.2.1)"
    assert events[1]["outcome"] == "ok" and events[1]["values"] == 2
    assert stat.S_IMODE((tmp_path / "dns-autopilot.jsonl").stat().st_mode) == 0o600


def test_a_failing_step_is_logged_with_its_code_and_still_raises(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path))
    with pytest.raises(AutopilotError):
        with log.step("write", "example"):
            raise AutopilotError("permission-denied", "refused", "grant the key")
    [event] = read(tmp_path / "dns-autopilot.jsonl")
    assert event["outcome"] == "error" and event["error"] == "permission-denied"


def test_an_unwritable_log_directory_never_breaks_the_run(tmp_path: Path) -> None:
    log = EventLog(str(tmp_path / "missing" / "dir"))
    log.emit("plan", "ok")
    assert log.events[0]["step"] == "plan"
    assert log.path is None


def test_the_event_log_is_rotated_by_size_and_kept_private(
        tmp_path, monkeypatch) -> None:
    from certbot_dns_autopilot import events as events_module

    path = tmp_path / events_module.FILENAME
    path.write_text("")
    path.chmod(0o644)  # an older version's file: made private on the next write
    monkeypatch.setattr(events_module, "MAX_BYTES", 2000)
    log = events_module.EventLog(str(tmp_path))
    for number in range(200):
        log.emit("query", "served", f"name-{number}")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == [events_module.FILENAME] + [
        f"{events_module.FILENAME}.{n}" for n in range(1, events_module.BACKUPS + 1)]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert "name-199" in path.read_text()


def test_a_symlinked_event_log_is_never_followed(tmp_path, caplog) -> None:
    from certbot_dns_autopilot import events as events_module

    target = tmp_path / "shadow"
    target.write_text("root:x:0:0\n")
    (tmp_path / events_module.FILENAME).symlink_to(target)
    log = events_module.EventLog(str(tmp_path))
    log.emit("plan", "ok")  # never raises: the log must not break a run
    log.emit("write", "ok")
    assert target.read_text() == "root:x:0:0\n"
    assert "symbolic link" in caplog.text and caplog.text.count("not writing") == 1


def test_an_event_log_another_user_planted_is_neither_followed_nor_used(caplog) -> None:
    import os
    import shutil
    import tempfile
    from pathlib import Path

    import pytest
    from unit_helpers import planted

    from certbot_dns_autopilot import events as events_module

    if os.geteuid() != 0:
        pytest.skip("a second user needs root to set up")
    for plant in ("symlink", "their-file"):
        logs = Path(tempfile.mkdtemp(dir="/tmp"))
        try:
            logs.chmod(0o1777)  # a logs dir others may write to (a misconfiguration)
            target = logs / "precious"
            target.write_text("root's data\n")
            path = logs / events_module.FILENAME
            code = (f"os.symlink({str(target)!r}, {str(path)!r})" if plant == "symlink" else
                    f"open({str(path)!r}, 'w').close(); os.chmod({str(path)!r}, 0o666)")
            planted(f"import os\n{code}\nprint('ready', flush=True)").wait()
            events_module.EventLog(str(logs)).emit("plan", "ok")
            assert target.read_text() == "root's data\n"
            assert path.is_symlink() or path.read_text() == ""
        finally:
            shutil.rmtree(logs)
    # (the kernel may refuse the symlink first: protected_symlinks in a sticky directory)
    assert caplog.text.count("not writing the event log") == 2
    assert "belongs to uid 65534" in caplog.text
