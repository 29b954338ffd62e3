"""One run's steps in order, through certbot's three calls on one plugin object: perform
(plan, write, no wait when the timeout is 0), auth_hint, cleanup, with a recording writer
(the lab runs the same steps against real servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from unit_helpers import ZONE, Challenge, make_plugin

from certbot_dns_autopilot.plugin.authenticator import Authenticator


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Authenticator, list]:
    return make_plugin(tmp_path, monkeypatch)


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
