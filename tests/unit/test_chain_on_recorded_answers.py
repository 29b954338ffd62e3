"""The CNAME chain of an ``_acme-challenge`` name followed on recorded answers: real
``dns.message`` responses through the DNS door, read by dnsio and dnspython's resolver
(tests/unit/test_chain_and_routing.py covers the rules on scripted `Answer` values)."""

from __future__ import annotations

import pytest
from unit_helpers import DNSWorld, zones_of

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.plan.chain import Follower

RESOLVER = "198.51.100.53"
TOP = """
@ 3600 IN SOA ns.{tld}. h.{tld}. 1 3600 600 86400 300
@ 3600 IN NS ns.{tld}.
ns 3600 IN A {address}
{label} 3600 IN NS ns1.{label}.{tld}.
ns1.{label} 3600 IN A {child}
"""
ZONE = """
@ 3600 IN SOA ns1.{origin}. h.{origin}. 7 3600 600 86400 300
@ 3600 IN NS ns1.{origin}.
ns1 3600 IN A {address}
"""


def world(example_com: str = "", example_org: str = "") -> DNSWorld:
    """example.com and example.org, each under its own top-level zone, with extra records."""
    recorded = DNSWorld(resolvers=(RESOLVER,))
    recorded.serve("192.0.2.10", "com", TOP.format(tld="com", address="192.0.2.10",
                                                   label="example", child="192.0.2.1"))
    recorded.serve("192.0.2.20", "org", TOP.format(tld="org", address="192.0.2.20",
                                                   label="example", child="192.0.2.2"))
    recorded.serve("192.0.2.1", "example.com",
                   ZONE.format(origin="example.com", address="192.0.2.1") + example_com)
    recorded.serve("192.0.2.2", "example.org",
                   ZONE.format(origin="example.org", address="192.0.2.2") + example_org)
    return recorded


def follower(recorded: DNSWorld) -> Follower:
    return Follower(zones_of(recorded, RESOLVER))


def test_no_cname_ends_the_chain_at_the_name_itself() -> None:
    chain = follower(world()).follow("_acme-challenge.www.example.com")
    assert (chain.final, chain.zone, chain.aliased) == ("_acme-challenge.www.example.com",
                                                         "example.com", False)
    assert "said ns1.example.com (192.0.2.1)" in chain.describe()


def test_a_cname_into_another_zone_is_followed_asking_that_zones_servers() -> None:
    recorded = world("_acme-challenge.www 300 IN CNAME www.acme.example.org.\n")
    chain = follower(recorded).follow("_acme-challenge.www.example.com")
    assert (chain.final, chain.zone, chain.aliased) == ("www.acme.example.org", "example.org",
                                                         True)
    # Each hop asked of its own zone's server, recursion off; never a resolver.
    assert ("192.0.2.2", "www.acme.example.org", "CNAME", False) in recorded.asked
    assert not any(name.startswith("_acme-challenge") and address == RESOLVER
                   for address, name, _, _ in recorded.asked)


def test_a_loop_between_zones_is_a_cname_alias_error() -> None:
    recorded = world("_acme-challenge.www 300 IN CNAME hop.example.org.\n",
                     "hop 300 IN CNAME _acme-challenge.www.example.com.\n")
    with pytest.raises(AutopilotError) as loop:
        follower(recorded).follow("_acme-challenge.www.example.com")
    assert loop.value.code == "cname-alias" and "loops" in loop.value.problem
    assert "_acme-challenge.www.example.com -> hop.example.org" in loop.value.fix


def test_a_zone_whose_servers_answer_nothing_is_written_at_the_name_unchecked() -> None:
    recorded = world()
    recorded.script("192.0.2.1", "silent")
    chain = follower(recorded).follow("_acme-challenge.www.example.com")
    assert chain.final == "_acme-challenge.www.example.com"
    assert "no nameserver of example.com answered from this host" in chain.unchecked


def test_a_server_without_authority_is_lame_delegation() -> None:
    recorded = world()
    recorded.script("192.0.2.1", "lame")
    with pytest.raises(AutopilotError) as lame:
        follower(recorded).follow("_acme-challenge.www.example.com")
    assert lame.value.code == "lame-delegation"
    assert "ns1.example.com (192.0.2.1): NXDOMAIN" in lame.value.evidence


def two_server_world(first: str, second: str) -> DNSWorld:
    """example.com on two nameservers, ns1 (192.0.2.1) answering with ``first`` added to the
    zone and ns5 (192.0.2.5) with ``second``; example.org as in `world`."""
    recorded = world()
    recorded.served.pop("192.0.2.1")
    recorded.served.pop("192.0.2.10")
    recorded.serve("192.0.2.10", "com", TOP.format(tld="com", address="192.0.2.10",
                                                   label="example", child="192.0.2.1")
                   + "example 3600 IN NS ns5.example.com.\nns5.example 3600 IN A 192.0.2.5\n")
    zone = ZONE.format(origin="example.com", address="192.0.2.1") + \
        "@ 3600 IN NS ns5.example.com.\nns5 3600 IN A 192.0.2.5\n"
    recorded.serve("192.0.2.1", "example.com", zone + first)
    recorded.serve("192.0.2.5", "example.com", zone + second)
    return recorded


def test_a_cname_only_some_servers_serve_yet_is_still_the_chains_link() -> None:
    """Just added at the primary, not yet transferred: the first server asked (ns1) has no
    CNAME, the other has it. The chain follows it (the wait then holds for ns1)."""
    recorded = two_server_world("", "_acme-challenge.www 300 IN CNAME www.acme.example.org.\n")
    chain = follower(recorded).follow("_acme-challenge.www.example.com")
    assert (chain.final, chain.zone) == ("www.acme.example.org", "example.org")
    assert "said ns5.example.com (192.0.2.5)" in chain.describe()
    [link] = chain.links()
    assert (link.zone, link.name, link.values, link.rdtype) == (
        "example.com", "_acme-challenge.www.example.com",
        frozenset({"www.acme.example.org"}), "CNAME")


def test_a_name_without_cname_has_no_links() -> None:
    chain = follower(two_server_world("", "")).follow("_acme-challenge.www.example.com")
    assert not chain.aliased and chain.links() == []


def test_servers_publishing_different_cnames_stop_the_run_with_both() -> None:
    recorded = two_server_world("_acme-challenge.www 300 IN CNAME old.example.org.\n",
                                "_acme-challenge.www 300 IN CNAME new.example.org.\n")
    with pytest.raises(AutopilotError) as split:
        follower(recorded).follow("_acme-challenge.www.example.com")
    assert split.value.code == "cname-alias"
    assert "disagree on the CNAME" in split.value.problem
    assert "new.example.org; old.example.org" in split.value.problem
    assert "ns1.example.com (192.0.2.1): NOERROR CNAME old.example.org" in split.value.evidence
    assert "dig @192.0.2.5 _acme-challenge.www.example.com CNAME +norecurse" in \
        split.value.evidence


def test_doctor_warns_of_a_cname_one_nameserver_does_not_serve_yet() -> None:
    from certbot_dns_autopilot.preflight import links

    cname = "_acme-challenge.www 300 IN CNAME www.acme.example.org.\n"
    recorded = two_server_world("", cname)
    chased = follower(recorded)
    origin = "_acme-challenge.www.example.com"
    [finding] = links.cname_links(origin, chased.follow(origin), chased.zones)
    assert (finding.code, finding.severity, finding.name) == ("secondary-lag", "warning", origin)
    assert f"do not serve the CNAME {origin} -> www.acme.example.org yet" in finding.problem
    assert "ns1.example.com (192.0.2.1): NXDOMAIN" in finding.evidence
    assert f"dig @192.0.2.1 {origin} CNAME +norecurse" in finding.evidence
    everywhere = follower(two_server_world(cname, cname))
    assert links.cname_links(origin, everywhere.follow(origin), everywhere.zones) == []
