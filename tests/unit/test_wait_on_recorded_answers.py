"""The waiter on recorded answers: real ``dns.message`` responses through the DNS door, a
fake clock (tests/unit/test_waiter.py covers the loop on scripted `Answer` values; the lab
proves the same against BIND's NOTIFY and transfers)."""

from __future__ import annotations

import pytest
from unit_helpers import DNSWorld

from certbot_dns_autopilot import dnsio
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.plan import Target
from certbot_dns_autopilot.wait import Waiter

RESOLVER = "198.51.100.53"
NAME = "_acme-challenge.example.test"
TARGET = Target("example.test", NAME, frozenset({"token-1"}))
PARENT = """
@ 3600 IN SOA ns.test. h.test. 1 3600 600 86400 300
@ 3600 IN NS ns.test.
ns 3600 IN A 192.0.2.10
example 3600 IN NS ns1.example.test.
example 3600 IN NS ns2.example.test.
ns1.example 3600 IN A 192.0.2.1
ns2.example 3600 IN A 192.0.2.2
"""
ZONE = """
@ 3600 IN SOA ns1.example.test. h.example.test. {serial} 3600 600 86400 300
@ 3600 IN NS ns1.example.test.
@ 3600 IN NS ns2.example.test.
ns1 3600 IN A 192.0.2.1
ns2 3600 IN A 192.0.2.2
"""


class Clock:
    """Time that passes only when the waiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def waiter(recorded: DNSWorld, timeout: float = 30) -> Waiter:
    clock = Clock()
    return Waiter(dnsio.Recursive([dnsio.Server(RESOLVER)], exchange=recorded), timeout,
                  reach=dnsio.Reach(exchange=recorded), clock=clock, sleep=clock.sleep)


def test_the_wait_ends_once_every_server_and_the_resolver_serve_the_value() -> None:
    recorded = DNSWorld(resolvers=(RESOLVER,))
    recorded.serve("192.0.2.10", "test", PARENT)
    recorded.serve(("192.0.2.1", "192.0.2.2"), "example.test",
                   ZONE.format(serial=8) + '_acme-challenge 60 IN TXT "token-1"\n')
    timings = waiter(recorded).wait([TARGET])
    assert set(timings) == {"authoritative", "public"}
    asked = {(a, n, t, r) for a, n, t, r in recorded.asked if n == NAME}
    assert asked == {("192.0.2.1", NAME, "TXT", False), ("192.0.2.2", NAME, "TXT", False),
                     (RESOLVER, NAME, "TXT", True)}


def test_a_secondary_at_an_older_serial_without_the_value_is_secondary_lag() -> None:
    recorded = DNSWorld(resolvers=(RESOLVER,))
    recorded.serve("192.0.2.10", "test", PARENT)
    recorded.serve("192.0.2.1", "example.test",
                   ZONE.format(serial=8) + '_acme-challenge 60 IN TXT "token-1"\n')
    recorded.serve("192.0.2.2", "example.test", ZONE.format(serial=7))
    with pytest.raises(AutopilotError) as lag:
        waiter(recorded, timeout=10).wait([TARGET])
    assert lag.value.code == "secondary-lag"
    assert "ns2.example.test (192.0.2.2): NXDOMAIN" in lag.value.evidence
    assert "zone SOA serial there: 7" in lag.value.evidence
    assert "ns1.example.test (192.0.2.1): 8" in lag.value.evidence
    # The resolver was never asked for the name the CA reads: nothing negative is cached.
    assert not any(address == RESOLVER and name == NAME
                   for address, name, _, _ in recorded.asked)
