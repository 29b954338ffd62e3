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


# -- a CNAME'd name: the run waits until every nameserver of the CNAME's zone serves it ----

RESOLVER = "198.51.100.53"
ORIGIN, TARGET = "_acme-challenge.example.com", "_acme-challenge.example.com.alias.example.org"
TLDS = """
@ 3600 IN SOA ns.{tld}. h.{tld}. 1 3600 600 86400 300
@ 3600 IN NS ns.{tld}.
ns 3600 IN A {address}
"""
EXAMPLE_COM = """
@ 3600 IN SOA ns1.example.com. h.example.com. {serial} 3600 600 86400 300
@ 3600 IN NS ns1.example.com.
@ 3600 IN NS ns2.example.com.
ns1 3600 IN A 192.0.2.1
ns2 3600 IN A 192.0.2.2
"""
CNAME = f"_acme-challenge 300 IN CNAME {TARGET}.\n"


def aliased(secondary_has_cname: bool):
    """example.com's CNAME at ns1 (serial 8), at ns2 (serial 7) only when told; the value
    already at the target in example.org (the recording writer writes nothing)."""
    from unit_helpers import DNSWorld

    world = DNSWorld(resolvers=(RESOLVER,))
    world.serve("192.0.2.10", "com", TLDS.format(tld="com", address="192.0.2.10")
                + "example 3600 IN NS ns1.example.com.\nexample 3600 IN NS ns2.example.com.\n"
                "ns1.example 3600 IN A 192.0.2.1\nns2.example 3600 IN A 192.0.2.2\n")
    world.serve("192.0.2.20", "org", TLDS.format(tld="org", address="192.0.2.20")
                + "example 3600 IN NS ns3.example.org.\nns3.example 3600 IN A 192.0.2.3\n")
    world.serve("192.0.2.1", "example.com", EXAMPLE_COM.format(serial=8) + CNAME)
    world.serve("192.0.2.2", "example.com", EXAMPLE_COM.format(serial=7)
                + (CNAME if secondary_has_cname else ""))
    world.serve("192.0.2.3", "example.org", """
@ 3600 IN SOA ns3.example.org. h.example.org. 3 3600 600 86400 300
@ 3600 IN NS ns3.example.org.
ns3 3600 IN A 192.0.2.3
_acme-challenge.example.com.alias 60 IN TXT "value-for-example.com"
""")
    return world


def aliased_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world, **options):
    """The plugin on a recording writer, every DNS message to ``world``; no socket at all."""
    import functools
    import socket

    from unit_helpers import Recording

    from certbot_dns_autopilot import dnsio

    class InDnsZone(Recording):  # the zone as the DNS says (a writer without zones of its own)
        def find_zone(self, name: str) -> str:
            return ""

    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test message left through a socket, not the DNS door")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setattr(dnsio, "Recursive", functools.partial(dnsio.Recursive, exchange=world))
    monkeypatch.setattr(dnsio, "Reach", functools.partial(dnsio.Reach, exchange=world))
    calls: list[tuple] = []
    auth, _ = make_plugin(tmp_path, monkeypatch, InDnsZone(calls), resolvers=RESOLVER,
                          follow_cnames=True, **options)
    return auth, calls


def test_a_cname_served_everywhere_is_checked_at_each_server_then_the_ca_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = aliased(secondary_has_cname=True)
    auth, calls = aliased_plugin(tmp_path, monkeypatch, world, propagation_timeout=10)
    auth.prepare()
    assert len(auth.perform([Challenge("example.com")])) == 1
    assert calls == [("add", "example.org", {TARGET: {"value-for-example.com"}})]
    asked = [(a, t, r) for a, n, t, r in world.asked if n == ORIGIN]
    assert ("192.0.2.1", "CNAME", False) in asked and ("192.0.2.2", "CNAME", False) in asked
    events = [json.loads(line) for line in
              (tmp_path / "dns-autopilot.jsonl").read_text().splitlines()]
    links = [e for e in events if e["step"] == "query" and e.get("rdtype") == "CNAME"]
    assert {e["server"] for e in links if e["outcome"] == "served"} == {
        "ns1.example.com (192.0.2.1)", "ns2.example.com (192.0.2.2)"}
    assert not [e for e in events if e["step"] == "cname-behind"]


def test_a_cname_one_server_never_serves_stops_the_run_before_the_ca_is_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from certbot_dns_autopilot.errors import AutopilotError

    world = aliased(secondary_has_cname=False)
    auth, calls = aliased_plugin(tmp_path, monkeypatch, world, propagation_timeout=1)
    now = [0.0]  # the wait's time moves only when it sleeps: no real second spent
    auth.run.clock, auth.run.sleep = (lambda: now[0]), (lambda s: now.__setitem__(0, now[0] + s))
    auth.prepare()
    with pytest.raises(AutopilotError) as lag:
        auth.perform([Challenge("example.com")])
    assert now[0] >= 1, "waited until the timeout, in the wait's own time"
    assert lag.value.code == "secondary-lag"
    assert f"{ORIGIN} CNAME {TARGET} (zone example.com)" in lag.value.problem
    assert f"dig @192.0.2.2 {ORIGIN} CNAME +norecurse" in lag.value.evidence
    assert not [q for q in world.asked if q[0] == RESOLVER and q[1] == ORIGIN]
    auth.cleanup([Challenge("example.com")])
    assert calls[-1] == ("remove", "example.org", {TARGET: {"value-for-example.com"}})


def test_with_the_wait_off_the_hint_names_the_server_without_the_cname(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--dns-autopilot-propagation-timeout 0: the CA asked too early, met the secondary
    without the CNAME; the hint (gathered on recorded answers) says which server and how to
    see it."""
    import types

    world = aliased(secondary_has_cname=False)
    auth, _ = aliased_plugin(tmp_path, monkeypatch, world, propagation_timeout=0)
    auth.prepare()
    auth.perform([Challenge("example.com")])
    error = types.SimpleNamespace(
        typ="urn:ietf:params:acme:error:dns",
        detail=f"DNS problem: NXDOMAIN looking up TXT for {ORIGIN} - check that a DNS record "
               "exists for this domain")
    hint = auth.auth_hint([Challenge("example.com", error=error)])
    assert "[secondary-lag] example.com: 1 nameserver address(es) of example.com do not " \
           f"serve the CNAME {ORIGIN} -> {TARGET}" in hint
    assert "ns2.example.com (192.0.2.2): NXDOMAIN serial=7" in hint
    assert f"dig @192.0.2.2 {ORIGIN} CNAME +norecurse" in hint
