"""The waiter's loop on scripted answers and a fake clock: order of phases, no fixed sleep."""

from __future__ import annotations

import pytest
from unit_helpers import FixedZones

from certbot_dns_autopilot.dnsio import Answer, Reach, Server
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.plan import Target
from certbot_dns_autopilot.wait import Waiter

NS1 = Server("192.0.2.1", name="ns1.example")
NS2 = Server("192.0.2.2", name="ns2.example")
RESOLVER = Server("198.51.100.53")
TARGET = Target("example", "_acme-challenge.example", frozenset({"v"}))


class FakeRecursive:
    servers = [RESOLVER]
    hosts = ["ns1.example", "ns2.example"]

    def addresses(self, host: str) -> list[str]:
        return [{"ns1.example": NS1.address, "ns2.example": NS2.address}[host]]


def zones(recursive: FakeRecursive, reach: Reach) -> FixedZones:
    return FixedZones(recursive, reach, {"example": recursive.hosts})


class Script:
    """Answers by (server address, recursion) from the time on a fake clock."""

    def __init__(self, ns2_ready_at: float, resolver_ready_at: float = 0.0,
                 resolver_ttl: int = 30) -> None:
        self.now = 0.0
        self.ns2_ready_at = ns2_ready_at
        self.resolver_ready_at = resolver_ready_at
        self.resolver_ttl = resolver_ttl
        self.log: list[tuple[float, str, bool]] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def query(self, server: Server, name: str, rdtype: str, recurse: bool = False,
              **_: object) -> Answer:
        self.log.append((self.now, server.address, recurse))
        if rdtype == "SOA":
            return Answer("NOERROR", authoritative=True, serial=7 if server == NS1 else 6)
        ready = {NS1.address: 0.0, NS2.address: self.ns2_ready_at,
                 RESOLVER.address: self.resolver_ready_at}[server.address]
        if self.now >= ready:
            return Answer("NOERROR", frozenset({"v"}), ttl=60, authoritative=not recurse)
        return Answer("NXDOMAIN", ttl=self.resolver_ttl, authoritative=not recurse)


def routed(address: str) -> str:
    """Every address routable: these tests must not depend on the host's routes."""
    return ""


def waiter(script: Script, timeout: float = 60, **options: object) -> Waiter:
    reach = Reach(str(options.pop("family", "any")), query=script.query,
                  route=options.pop("route", routed),  # type: ignore[arg-type]
                  authoritative=bool(options.get("authoritative_check", True)))
    return Waiter(zones(FakeRecursive(), reach), timeout=timeout,  # type: ignore[arg-type]
                  query=script.query, clock=script.clock, sleep=script.sleep,
                  **options)  # type: ignore[arg-type]


def test_returns_as_soon_as_every_server_serves() -> None:
    script = Script(ns2_ready_at=2.0)
    timings = waiter(script).wait([TARGET])
    assert 2.0 <= timings["authoritative"] < 3.5  # growing interval, not a fixed sleep
    assert timings["public"] == 0.0


def test_resolvers_are_asked_only_after_every_authoritative_server_served() -> None:
    script = Script(ns2_ready_at=2.0)
    waiter(script).wait([TARGET])
    first_public = min(t for t, _, recurse in script.log if recurse)
    last_authoritative_miss = max(t for t, address, recurse in script.log
                                  if address == NS2.address and not recurse and t < 2.0)
    assert first_public >= 2.0 > last_authoritative_miss


def test_a_cached_negative_answer_is_waited_out_by_its_ttl() -> None:
    script = Script(ns2_ready_at=0.0, resolver_ready_at=20.0, resolver_ttl=20)
    timings = waiter(script).wait([TARGET])
    assert timings["public"] == 21.0


def test_timeout_reports_the_server_behind_with_its_serial() -> None:
    script = Script(ns2_ready_at=1e9)
    with pytest.raises(AutopilotError) as caught:
        waiter(script, timeout=10).wait([TARGET])
    err = caught.value
    assert err.code == "secondary-lag"
    assert "ns2.example (192.0.2.2): NXDOMAIN" in str(err)
    assert "serial there: 6" in str(err)
    assert "ns1.example (192.0.2.1): NOERROR" not in err.evidence  # only servers behind
    assert "Zone SOA serials (example): ns1.example (192.0.2.1): 7, ns2.example (192.0.2.2): 6" in \
        err.evidence


def test_a_termination_signal_noted_during_the_wait_ends_it_at_once() -> None:
    from certbot import errors

    script = Script(ns2_ready_at=1e9)
    stopping = iter([False, False, True])
    waiter = Waiter(zones(FakeRecursive(), Reach(query=script.query, route=routed)),
                    timeout=60, query=script.query,  # type: ignore[arg-type]
                    clock=script.clock, sleep=script.sleep, stopping=lambda: next(stopping))
    with pytest.raises(errors.SignalExit):
        waiter.wait([TARGET])
    assert script.now < 5, "stopped after two rounds, not at the timeout"


class Silent(Script):
    """ns2 answers nothing (over UDP nor TCP): each question costs a query timeout."""

    def __init__(self, *silent: str, query_timeout: float = 2.0, **kwargs: float) -> None:
        super().__init__(ns2_ready_at=kwargs.pop("ns2_ready_at", 1e9), **kwargs)
        self.silent = set(silent)
        self.query_timeout = query_timeout

    def query(self, server: Server, name: str, rdtype: str, recurse: bool = False,
              **_: object) -> Answer:
        if server.address in self.silent and not recurse:
            self.log.append((self.now, server.address, recurse))
            self.now += self.query_timeout
            return Answer("TIMEOUT", error="UDP: no answer in 1.3 s; TCP: no answer in 0.7 s")
        return super().query(server, name, rdtype, recurse)


def test_an_address_that_answers_nothing_costs_one_query_timeout_and_is_named() -> None:
    script = Silent(NS2.address)
    notes: list[str] = []
    wait = waiter(script, progress=notes.append)
    timings = wait.wait([TARGET])
    assert [a for _, a, r in script.log if not r].count(NS2.address) == 1, "asked once"
    assert timings["authoritative"] <= 2.0 + 0.5, "about one query timeout, not the timeout"
    assert list(wait.unverified) == [NS2]
    [dropped] = [e for e in wait.events.events if e["step"] == "unreachable"]
    assert dropped["server"] == str(NS2) and dropped["answer"]["rcode"] == "TIMEOUT"
    [done] = [e for e in wait.events.events if e["step"] == "wait-done"]
    assert done["unverified"] == [f"{NS2}: TIMEOUT (UDP: no answer in 1.3 s; TCP: no answer "
                                  "in 0.7 s)"]
    assert any("ns2.example (192.0.2.2) is unreachable from this host" in n for n in notes)


def test_a_lagging_server_is_still_waited_for_beside_a_silent_one() -> None:
    three = Server("192.0.2.3", name="ns3.example")

    class Three(FakeRecursive):
        hosts = ["ns1.example", "ns2.example", "ns3.example"]

        def addresses(self, host: str) -> list[str]:
            return [three.address] if host == "ns3.example" else super().addresses(host)

    script = Silent(three.address, ns2_ready_at=6.0)
    reach = Reach(query=script.query, route=routed)
    wait = Waiter(zones(Three(), reach), timeout=60, query=script.query,  # type: ignore[arg-type]
                  clock=script.clock, sleep=script.sleep)
    timings = wait.wait([TARGET])
    assert timings["authoritative"] >= 6.0, "ns2 was waited for until it served"
    assert list(wait.unverified) == [three]


def test_a_silent_address_never_makes_the_timeout_lame() -> None:
    class Lagging(Silent):
        def query(self, server: Server, name: str, rdtype: str, recurse: bool = False,
                  **_: object) -> Answer:
            if server == NS1 and rdtype == "TXT" and not recurse:
                return Answer("NXDOMAIN", authoritative=True)
            return super().query(server, name, rdtype, recurse)

    script = Lagging(NS2.address)
    with pytest.raises(AutopilotError) as caught:
        waiter(script, timeout=10).wait([TARGET])
    assert caught.value.code == "propagation-timeout"
    assert "not checked from this host: ns2.example (192.0.2.2)" in caught.value.evidence


def test_a_family_without_a_route_is_skipped_with_one_notice_and_never_asked() -> None:
    script = Script(ns2_ready_at=1e9)
    notes: list[str] = []
    wait = waiter(script, progress=notes.append,
                  route=lambda a: "no route (network unreachable)" if a == NS2.address else "")
    wait.wait([TARGET])
    assert NS2.address not in {a for _, a, _ in script.log}
    assert notes[0] == ("dns-autopilot: this host has no IPv4 route (no route (network "
                        "unreachable)): the addresses ns2.example (192.0.2.2) were not checked; "
                        "the CA may use them")


def test_address_family_ipv6_leaves_ipv4_addresses_out() -> None:
    script = Script(ns2_ready_at=1e9)
    wait = waiter(script, family="ipv6")
    wait.wait([TARGET])
    assert not [a for _, a, r in script.log if not r], "no IPv4 address asked directly"
    assert set(wait.unverified) == {NS1, NS2}
    assert "--dns-autopilot-address-family ipv6" in wait.unverified[NS1]


def test_no_reachable_address_leaves_the_decision_to_the_resolvers() -> None:
    script = Silent(NS1.address, NS2.address, resolver_ready_at=3.0, resolver_ttl=1)
    wait = waiter(script)
    timings = wait.wait([TARGET])
    assert [e["name"] for e in wait.events.events if e["step"] == "resolvers-only"] == \
        ["example"]
    assert timings["public"] >= 3.0 - timings["authoritative"], "the resolvers decided"


def test_authoritative_check_off_asks_the_resolvers_only() -> None:
    script = Script(ns2_ready_at=1e9)
    timings = waiter(script, authoritative_check=False).wait([TARGET])
    assert "authoritative" not in timings
    assert all(recurse for _, _, recurse in script.log)
