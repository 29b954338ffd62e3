"""One run's steps in order, through certbot's three calls on one plugin object: perform
(plan, write, no wait when the timeout is 0), auth_hint, cleanup, with a recording writer
(the lab runs the same steps against real servers)."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from acme import challenges
from certbot.display import util as display_util

from certbot_dns_autopilot import credentials
from certbot_dns_autopilot.plugin.authenticator import Authenticator
from certbot_dns_autopilot.writers import Records, Writer, WriterMap

ZONE = "example.com"


class Recording(Writer):
    label = "recording writer"

    def __init__(self, calls: list[tuple]) -> None:
        self.calls = calls

    def find_zone(self, name: str) -> str:
        return ZONE

    def add(self, zone: str, records: Records, ttl: int) -> None:
        self.calls.append(("add", zone, {n: set(v) for n, v in records.items()}))

    def remove(self, zone: str, records: Records) -> None:
        self.calls.append(("remove", zone, {n: set(v) for n, v in records.items()}))

    def values(self, zone: str, name: str) -> set[str]:
        return set()


class Challenge:
    """What certbot hands the plugin for one name (an AnnotatedChallenge's surface)."""

    def __init__(self, domain: str) -> None:
        self.identifier = types.SimpleNamespace(value=domain)
        self.account_key = object()
        self.error = None

    def validation(self, key: object) -> str:
        return f"value-for-{self.identifier.value}"

    def response(self, key: object) -> challenges.ChallengeResponse:
        return challenges.DNS01Response()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Authenticator, list]:
    calls: list[tuple] = []
    writer = Recording(calls)
    notes: list[str] = []  # what certbot's display would show
    monkeypatch.setattr(display_util, "notify", notes.append)
    monkeypatch.setattr(credentials, "load",
                        lambda path: (str(tmp_path / "c.ini"), WriterMap([(writer, None)]), []))
    options = {"credentials": "c.ini", "resolvers": "", "propagation_timeout": 0,
               "failure_hook": "", "follow_cnames": False, "preflight": False,
               "caa_identities": "letsencrypt.org", "remove_stale": False,
               "authoritative_check": True, "address_family": "any", "public_check": True}
    config = types.SimpleNamespace(
        work_dir=str(tmp_path), logs_dir=str(tmp_path), domains=["example.com",
                                                                 "*.example.com"],
        **{f"dns_autopilot_{k}": v for k, v in options.items()})
    return Authenticator(config, "dns-autopilot"), calls


def steps(tmp_path: Path) -> list[tuple[str, str]]:
    lines = (tmp_path / "dns-autopilot.jsonl").read_text().splitlines()
    return [(e["step"], e["outcome"]) for e in map(json.loads, lines)
            if e["outcome"] not in ("start",)]


def test_perform_then_cleanup_write_once_and_remove_exactly_that(plugin, tmp_path) -> None:
    auth, calls = plugin
    auth.prepare()
    achalls = [Challenge("example.com"), Challenge("*.example.com")]
    responses = auth.perform(achalls)
    assert len(responses) == 2
    name = "_acme-challenge.example.com"
    both = {"value-for-example.com", "value-for-*.example.com"}
    assert calls == [("add", ZONE, {name: both})]
    auth.cleanup(achalls)
    assert calls[1:] == [("remove", ZONE, {name: both})]
    auth.cleanup(achalls)  # certbot may call it again: nothing is removed twice
    assert len(calls) == 2
    order = [step for step, _ in steps(tmp_path)]
    assert order.index("plan") < order.index("write") < order.index("wait-done") \
        < order.index("cleanup")


def test_cleanup_before_any_write_does_nothing(plugin) -> None:
    auth, calls = plugin
    auth.prepare()
    auth.cleanup([Challenge("example.com")])
    assert calls == []
