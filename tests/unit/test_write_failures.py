"""A failed or uncertain add in the run: the batch is removed again (idempotently), and the
journal keeps the zone until a writer confirmed that nothing is left."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from unit_helpers import value

from certbot_dns_autopilot import dnsio
from certbot_dns_autopilot.cleanup import journal
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.plan.chain import Follower
from certbot_dns_autopilot.plugin.authenticator import Authenticator
from certbot_dns_autopilot.plugin.state import RunState
from certbot_dns_autopilot.writers import Records, Writer
from certbot_dns_autopilot.zones import Zones

ZONE, NAME = "example.com", "_acme-challenge.example.com"


class AppliedThenLost(Writer):
    """A zone held in memory whose add applies the values, then reports a timeout (an
    UPDATE applied by the server whose answer never came back)."""

    label = "test writer"

    def __init__(self, removals_fail: int = 0) -> None:
        self.zone: dict[str, set[str]] = {NAME: {"foreign"}}
        self.removals_fail = removals_fail

    def find_zone(self, name: str) -> str:
        return ZONE

    def add(self, zone: str, records: Records, ttl: int) -> None:
        for name, values in records.items():
            self.zone.setdefault(name, set()).update(values)
        raise AutopilotError("provider-unreachable", "test writer: no answer", "retry")

    def remove(self, zone: str, records: Records) -> None:
        if self.removals_fail:
            self.removals_fail -= 1
            raise AutopilotError("provider-unreachable", "test writer: no answer", "retry")
        for name, values in records.items():
            self.zone[name] = self.zone.get(name, set()) - set(values)

    def values(self, zone: str, name: str) -> set[str]:
        return set(self.zone.get(name, ()))


def write(tmp_path: Path, writer: Writer) -> journal.Journal:
    run = Authenticator(types.SimpleNamespace(work_dir=str(tmp_path), logs_dir=str(tmp_path)),
                        "dns-autopilot").run
    run.prepare()
    run._state = RunState(journal.Journal(str(tmp_path), "r1", "/c.ini"),
                          Follower(Zones(dnsio.Recursive())), wait_off=False)
    with pytest.raises(AutopilotError):
        run._write({ZONE: writer}, {ZONE: {NAME: frozenset({value("ours")})}})
    return run.state.journal


def test_an_add_applied_after_all_is_taken_back_and_the_journal_dropped(tmp_path: Path
                                                                       ) -> None:
    writer = AppliedThenLost()
    done = write(tmp_path, writer)
    assert writer.zone[NAME] == {"foreign"}
    assert not done.path.exists()


def test_when_the_take_back_fails_too_the_journal_keeps_the_zone(tmp_path: Path) -> None:
    writer = AppliedThenLost(removals_fail=1)
    kept = write(tmp_path, writer)
    assert json.loads(kept.path.read_text())["zones"] == {ZONE: {NAME: [value("ours")]}}
    events = [json.loads(line) for line in (tmp_path / "dns-autopilot.jsonl").open()]
    assert [e["outcome"] for e in events if e["step"] == "take-back"] == ["error"]


class RefusedOutright(AppliedThenLost):
    """A writer whose add certainly left nothing (the server refused it)."""

    def add(self, zone: str, records: Records, ttl: int) -> None:
        error = AutopilotError("permission-denied", "test writer: REFUSED", "grant it")
        error.left_nothing = True
        raise error

    def remove(self, zone: str, records: Records) -> None:
        raise AssertionError("nothing to take back after a clear refusal")


def test_an_add_that_clearly_left_nothing_is_dropped_without_a_take_back(tmp_path: Path
                                                                        ) -> None:
    done = write(tmp_path, RefusedOutright())
    assert not done.path.exists()
    events = [json.loads(line) for line in (tmp_path / "dns-autopilot.jsonl").open()]
    assert not [e for e in events if e["step"] == "take-back"]


def test_a_cleanup_failing_with_any_exception_still_cleans_the_other_zones(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A writer's removal raising something that is not a PluginError (a hook's environment
    that Popen refuses: ValueError) must not stop the cleanup of every other zone, nor
    reach certbot as "Encountered exception during recovery"."""
    from unit_helpers import Recording

    class Broken(Recording):
        def remove(self, zone: str, records: Records) -> None:
            raise ValueError("embedded null byte")

    calls: list[tuple] = []
    run = Authenticator(types.SimpleNamespace(work_dir=str(tmp_path), logs_dir=str(tmp_path)),
                        "dns-autopilot").run
    run.prepare()
    run._state = RunState(journal.Journal(str(tmp_path), "r1", "/c.ini"),
                          Follower(Zones(dnsio.Recursive())), wait_off=False)
    ours = {"a.example": {"_acme-challenge.a.example": frozenset({value("a")})},
            "b.example": {"_acme-challenge.b.example": frozenset({value("b")})}}
    for zone, records in ours.items():
        run.state.journal.record(zone, records)
    run.state.written = {"a.example": (Broken(calls), ours["a.example"]),
                         "b.example": (Recording(calls), ours["b.example"])}
    run.cleanup()
    assert calls == [("remove", "b.example", {"_acme-challenge.b.example": {value("b")}})]
    assert run.state.journal.zones == {"a.example": {"_acme-challenge.a.example": [value("a")]}}
    assert "could not remove _acme-challenge.a.example" in caplog.text
