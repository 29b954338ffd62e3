"""The waiter's loop on scripted answers and a fake clock: order of phases, no fixed sleep."""

from __future__ import annotations

import pytest

from certbot_dns_autopilot.dnsio import Answer, Server
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.plan import Target
from certbot_dns_autopilot.waiter import Waiter

NS1 = Server("192.0.2.1", name="ns1.example")
NS2 = Server("192.0.2.2", name="ns2.example")
RESOLVER = Server("198.51.100.53")
TARGET = Target("example", "_acme-challenge.example", frozenset({"v"}))


class FakeRecursive:
    servers = [RESOLVER]

    def nameservers(self, zone: str) -> list[str]:
        return ["ns1.example", "ns2.example"]

    def addresses(self, host: str) -> list[str]:
        return [{"ns1.example": NS1.address, "ns2.example": NS2.address}[host]]


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

    def query(self, server: Server, name: str, rdtype: str, recurse: bool = False) -> Answer:
        self.log.append((self.now, server.address, recurse))
        if rdtype == "SOA":
            return Answer("NOERROR", authoritative=True, serial=7 if server == NS1 else 6)
        ready = {NS1.address: 0.0, NS2.address: self.ns2_ready_at,
                 RESOLVER.address: self.resolver_ready_at}[server.address]
        if self.now >= ready:
            return Answer("NOERROR", frozenset({"v"}), ttl=60, authoritative=not recurse)
        return Answer("NXDOMAIN", ttl=self.resolver_ttl, authoritative=not recurse)


def waiter(script: Script, timeout: float = 60) -> Waiter:
    return Waiter(FakeRecursive(), timeout=timeout, query=script.query,  # type: ignore[arg-type]
                  clock=script.clock, sleep=script.sleep)


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
    assert "Zone SOA serials: ns1.example (192.0.2.1): 7, ns2.example (192.0.2.2): 6" in \
        err.evidence


def test_a_termination_signal_noted_during_the_wait_ends_it_at_once() -> None:
    from certbot import errors

    script = Script(ns2_ready_at=1e9)
    stopping = iter([False, False, True])
    waiter = Waiter(FakeRecursive(), timeout=60, query=script.query,  # type: ignore[arg-type]
                    clock=script.clock, sleep=script.sleep, stopping=lambda: next(stopping))
    with pytest.raises(errors.SignalExit):
        waiter.wait([TARGET])
    assert script.now < 5, "stopped after two rounds, not at the timeout"
