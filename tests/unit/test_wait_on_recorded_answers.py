"""The waiter on recorded answers: real ``dns.message`` responses through the DNS door, a
fake clock (tests/unit/test_waiter.py covers the loop on scripted `Answer` values; the lab
proves the same against BIND's NOTIFY and transfers)."""

from __future__ import annotations

import pytest
from unit_helpers import DNSWorld, zones_of

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
    return Waiter(zones_of(recorded), timeout, clock=clock, sleep=clock.sleep)


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


# -- the CNAME of the CA's name: every server of its zone must serve it ------------------

ORIGIN = "_acme-challenge.www.example.test"
ALIAS = "_acme-challenge.www.alias.test"
LINK = Target("example.test", ORIGIN, frozenset({ALIAS}), "CNAME")
ALIASED = Target("alias.test", ALIAS, frozenset({"token-1"}))
ALIAS_PARENT = """
alias 3600 IN NS ns3.alias.test.
ns3.alias 3600 IN A 192.0.2.3
"""
ALIAS_ZONE = """
@ 3600 IN SOA ns3.alias.test. h.alias.test. 3 3600 600 86400 300
@ 3600 IN NS ns3.alias.test.
ns3 3600 IN A 192.0.2.3
_acme-challenge.www 60 IN TXT "token-1"
"""
CNAME = f"_acme-challenge.www 300 IN CNAME {ALIAS}.\n"


def aliased_world(secondary_has_cname: bool) -> DNSWorld:
    """example.test on ns1 (the CNAME, serial 8) and ns2 (serial 7, the CNAME only when
    told); the TXT in alias.test, on ns3 alone."""
    recorded = DNSWorld(resolvers=(RESOLVER,))
    recorded.serve("192.0.2.10", "test", PARENT + ALIAS_PARENT)
    recorded.serve("192.0.2.1", "example.test", ZONE.format(serial=8) + CNAME)
    recorded.serve("192.0.2.2", "example.test",
                   ZONE.format(serial=7) + (CNAME if secondary_has_cname else ""))
    recorded.serve("192.0.2.3", "alias.test", ALIAS_ZONE)
    return recorded


def test_a_secondary_not_serving_the_cname_yet_is_waited_for_then_the_resolver_asked() -> None:
    recorded = aliased_world(secondary_has_cname=False)
    clock = Clock()

    def sleep(seconds: float) -> None:  # the secondary transfers the CNAME after 2 s
        clock.sleep(seconds)
        if clock.now >= 2 and "192.0.2.2" in recorded.served:
            recorded.served.pop("192.0.2.2")
            recorded.serve("192.0.2.2", "example.test", ZONE.format(serial=8) + CNAME)

    wait = Waiter(zones_of(recorded), 30, clock=clock, sleep=sleep)
    timings = wait.wait([ALIASED], asked=[Target("", ORIGIN, frozenset({"token-1"}))],
                        links=[LINK])
    assert set(timings) == {"authoritative", "public"} and clock.now >= 2
    [behind] = [e for e in wait.events.events if e["step"] == "cname-behind"]
    assert behind["server"] == "ns2.example.test (192.0.2.2)" and behind["name"] == ORIGIN
    assert behind["cname"] == ALIAS and behind["answer"]["rcode"] == "NXDOMAIN"
    asked = [(a, r) for a, n, t, r in recorded.asked if n == ORIGIN]
    first_resolver = asked.index((RESOLVER, True))
    assert asked.count(("192.0.2.2", False)) >= 2, "the secondary was asked until it served"
    assert ("192.0.2.2", False) not in asked[first_resolver:], \
        "the resolver was asked for the CA's name only once every server served the CNAME"


def test_a_secondary_that_never_serves_the_cname_is_secondary_lag_with_the_dig_line() -> None:
    recorded = aliased_world(secondary_has_cname=False)
    with pytest.raises(AutopilotError) as lag:
        waiter(recorded, timeout=10).wait([ALIASED], links=[LINK])
    err = lag.value
    assert err.code == "secondary-lag"
    assert f"{ORIGIN} CNAME {ALIAS} (zone example.test)" in err.problem
    assert "served the CNAME(s) of the chain within 10 s" in err.problem
    assert "ns2.example.test (192.0.2.2): NXDOMAIN" in err.evidence
    assert f"dig @192.0.2.2 {ORIGIN} CNAME +norecurse" in err.evidence
    assert "Zone SOA serials (example.test): ns1.example.test (192.0.2.1): 8, " \
           "ns2.example.test (192.0.2.2): 7" in err.evidence
    assert "ns1.example.test (192.0.2.1): NOERROR" not in err.evidence  # only who is behind
    assert "caches NXDOMAIN" in err.fix
    assert not any(address == RESOLVER and name == ORIGIN
                   for address, name, _, _ in recorded.asked)


def test_serials_are_compared_within_one_zone_only() -> None:
    """The alias zone's serial (3) is below example.test's (8): a server of alias.test
    without the value is not a lagging secondary for it."""
    recorded = aliased_world(secondary_has_cname=True)
    recorded.served.pop("192.0.2.3")
    recorded.serve("192.0.2.3", "alias.test", ALIAS_ZONE.replace('"token-1"', '"other"'))
    with pytest.raises(AutopilotError) as late:
        waiter(recorded, timeout=5).wait([ALIASED], links=[LINK])
    assert late.value.code == "propagation-timeout"


def test_without_cnames_no_cname_question_is_asked() -> None:
    """A run without CNAMEs has no links: the wait asks what it asked before, no more."""
    recorded = DNSWorld(resolvers=(RESOLVER,))
    recorded.serve("192.0.2.10", "test", PARENT)
    recorded.serve(("192.0.2.1", "192.0.2.2"), "example.test",
                   ZONE.format(serial=8) + '_acme-challenge 60 IN TXT "token-1"\n')
    waiter(recorded).wait([TARGET], links=[])
    assert not [q for q in recorded.asked if q[2] == "CNAME"]
    assert sum(1 for q in recorded.asked if q[1] == NAME) == 3


def test_a_timeout_with_a_cname_and_a_value_behind_names_both() -> None:
    recorded = aliased_world(secondary_has_cname=False)
    recorded.served.pop("192.0.2.3")
    recorded.serve("192.0.2.3", "alias.test", ALIAS_ZONE.replace('"token-1"', '"other"'))
    with pytest.raises(AutopilotError) as late:
        waiter(recorded, timeout=5).wait([ALIASED], links=[LINK])
    assert "served the CNAME(s) of the chain and the challenge value(s) within" in \
        late.value.problem
    assert late.value.code == "secondary-lag", "the secondary of example.test is behind"
