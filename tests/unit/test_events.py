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
