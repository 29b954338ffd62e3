"""Zones found at the authoritative servers, from the parents' delegations down, on recorded
answers: referrals and glue, a child zone on its parent's server, the resolvers asked only
what cannot deny a name of ours, an old delegation a resolver still holds."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdataset
import pytest
from unit_helpers import DNSWorld, zones_of

from certbot_dns_autopilot import dnsio
from certbot_dns_autopilot.preflight import caa_findings, delegation
from certbot_dns_autopilot.preflight.findings import ERROR, WARNING
from certbot_dns_autopilot.zones import read_step

RESOLVER = "198.51.100.53"
ROOT, NEW, OLD = "192.0.2.10", "192.0.2.1", "192.0.2.9"
ZONE = "example.test"
PARENT = f"""
@ 3600 IN SOA ns.test. h.test. 1 3600 600 86400 300
@ 3600 IN NS ns.test.
ns 3600 IN A {ROOT}
example 3600 IN NS ns1.example.test.
ns1.example 3600 IN A {NEW}
"""
APEX = """
@ 3600 IN SOA ns1.example.test. h.example.test. {serial} 3600 600 86400 60
@ 3600 IN NS ns1.example.test.
ns1 3600 IN A {address}
www 300 IN A 192.0.2.80
"""


def world() -> DNSWorld:
    recorded = DNSWorld(resolvers=(RESOLVER,))
    recorded.serve(ROOT, "test", PARENT)
    recorded.serve(NEW, ZONE, APEX.format(serial=10, address=NEW))
    return recorded


def moved(old_serial: int) -> DNSWorld:
    """The zone moved from the old host (192.0.2.9, ns-old.example.net) to ns1: the parent
    and the new host say so; the resolver still holds the old NS set, for 80000 s more."""
    recorded = world()
    recorded.serve("192.0.2.53", "example.net", """
@ 3600 IN SOA ns.example.net. h.example.net. 1 3600 600 86400 300
@ 3600 IN NS ns.example.net.
ns 3600 IN A 192.0.2.53
ns-old 3600 IN A 192.0.2.9
""")
    recorded.serve(OLD, ZONE, APEX.format(serial=old_serial, address=OLD)
                   .replace("@ 3600 IN NS ns1.example.test.", "@ 3600 IN NS ns-old.example.net."))
    recorded.remember(ZONE, APEX.format(serial=old_serial, address=OLD)
                      .replace("@ 3600 IN NS ns1.example.test.",
                               "@ 80000 IN NS ns-old.example.net."))
    return recorded


def test_a_zone_is_found_from_its_parents_referral_with_its_glue() -> None:
    recorded = world()
    zones = zones_of(recorded, RESOLVER)
    assert zones.zone_of(f"_acme-challenge.www.{ZONE}") == ZONE
    found = zones.delegation(ZONE)
    assert (found.parent, found.parent_ns, found.apex_ns) == ("test", ("ns1.example.test",),
                                                             ("ns1.example.test",))
    assert [s.address for s in zones.servers(ZONE)] == [NEW]
    # The glue came with the referral: the resolver was not asked for ns1's address.
    assert not [q for q in recorded.asked if q[0] == RESOLVER and q[1] == "ns1.example.test"]


@pytest.mark.parametrize("signed", [True, False])
def test_no_question_to_the_resolver_could_deny_a_name_of_a_signed_zone(signed: bool) -> None:
    """Finding the zone, its servers and the CAA sets of www.example.test asks the resolver
    only about the public suffix (test): a signed zone's NSEC from a resolver's empty answer
    for www (SOA, CAA) would deny _acme-challenge.www until its TTL runs out (RFC 8198). In
    an unsigned zone (no DS at the parent), empty answers prove nothing about other names:
    there the resolver is asked for CAA too, to see whether validation fails it (a CNAME may
    lead into a bogus zone)."""
    recorded = world()
    if signed:
        recorded.served[ROOT][0].replace_rdataset(  # type: ignore[attr-defined]
            dns.name.from_text(ZONE), dns.rdataset.from_text(
                "IN", "DS", 3600, "12345 13 2 " + "ab" * 32))
    zones = zones_of(recorded, RESOLVER)
    zones.zone_of(f"_acme-challenge.www.{ZONE}")
    assert caa_findings(f"www.{ZONE}", zones, {"letsencrypt.org"}) == []
    to_resolver = {(name, rdtype) for address, name, rdtype, _ in recorded.asked
                   if address == RESOLVER and name.endswith(ZONE)}
    assert to_resolver == (set() if signed else {(f"www.{ZONE}", "CAA"), (ZONE, "CAA")})
    assert ("www.example.test", "CAA") in {(n, t) for a, n, t, r in recorded.asked
                                            if a == NEW and not r}


def test_a_child_zone_on_its_parents_server_is_found_from_the_soas_owner() -> None:
    recorded = world()
    recorded.serve(NEW, f"sub.{ZONE}", """
@ 3600 IN SOA ns1.example.test. h.example.test. 4 3600 600 86400 60
@ 3600 IN NS ns1.example.test.
""")
    zones = zones_of(recorded, RESOLVER)
    assert zones.zone_of(f"_acme-challenge.sub.{ZONE}") == f"sub.{ZONE}"
    assert [s.address for s in zones.servers(f"sub.{ZONE}")] == [NEW]


def test_when_no_server_of_the_parent_answers_the_resolvers_view_is_taken() -> None:
    recorded = world()
    recorded.script(ROOT, "silent")
    zones = zones_of(recorded, RESOLVER)
    assert zones.zone_of(f"www.{ZONE}") == ZONE
    found = zones.delegation(ZONE)
    assert found.via == "no server of test answered from this host" and found.parent is None
    assert [s.address for s in zones.servers(ZONE)] == [NEW]


def test_a_silent_server_of_the_zone_still_has_its_parents_delegation() -> None:
    recorded = world()
    recorded.script(NEW, "silent")
    zones = zones_of(recorded, RESOLVER)
    assert zones.zone_of(f"www.{ZONE}") == ZONE
    assert zones.delegation(ZONE).parent_ns == ("ns1.example.test",)
    assert not zones.reach.usable(zones.servers(ZONE)[0])


@pytest.mark.parametrize(("response_text", "expected"), [
    pytest.param("flags QR\n;AUTHORITY\nexample.test. 60 IN NS ns1.example.test.\n"
                 ";ADDITIONAL\nns1.example.test. 60 IN A 192.0.2.1\n",
                 ("referral", ZONE, ("ns1.example.test",), {"ns1.example.test": ("192.0.2.1",)}),
                 id="referral-with-glue"),
    pytest.param("flags QR AA\nrcode NXDOMAIN\n;AUTHORITY\nexample.test. 60 IN SOA a. b. 1 2 3 "
                 "4 5\n", ("zone", ZONE, (), {}), id="nxdomain-names-its-zone"),
    pytest.param("flags QR AA\n;ANSWER\nwww.example.test. 60 IN CNAME x.example.net.\n"
                 ";AUTHORITY\nexample.net. 60 IN SOA a. b. 1 2 3 4 5\n",
                 ("cname", "", (), {}), id="a-cname-names-no-zone"),
    pytest.param("flags QR\n;AUTHORITY\n. 60 IN NS a.root.\n", ("none", "", (), {}),
                 id="an-upward-referral-is-lame"),
    pytest.param("flags QR AA\nrcode SERVFAIL\n", ("none", "", (), {}), id="servfail"),
])
def test_one_servers_answer_read_for_the_walk(response_text: str, expected: tuple) -> None:
    response = dns.message.from_text("id 1\nopcode QUERY\n" + response_text)
    step = read_step(response, "test", "www.example.test")
    assert (step.kind, step.zone, step.ns, step.glue) == expected


def test_a_resolver_holding_an_old_delegation_whose_host_is_behind_is_stale_delegation(
        ) -> None:
    zones = zones_of(moved(old_serial=3), RESOLVER)
    found = {f.code: f for f in delegation(ZONE, zones)}
    assert set(found) == {"stale-delegation"}, found
    stale = found["stale-delegation"]
    assert stale.severity == ERROR and "80000 s" in stale.problem
    assert f"resolver {RESOLVER}: NS ns-old.example.net (cached, 80000 s left)" in \
        stale.evidence
    assert f"ns-old.example.net ({OLD}): SOA NOERROR" in stale.evidence and "serial=3" in \
        stale.evidence
    assert f"dig @{RESOLVER} {ZONE} NS" in stale.evidence
    assert "wait until the old delegation expires" in stale.fix
    # The parent and the new host agree: not an ns-mismatch, and not the registrar's fault.
    assert "parent (test) says: ns1.example.test" in stale.evidence
    assert [s.address for s in zones.servers(ZONE)] == [NEW]


def test_an_old_host_that_follows_the_new_primary_is_a_warning_and_waited_for() -> None:
    zones = zones_of(moved(old_serial=10), RESOLVER)
    [stale] = delegation(ZONE, zones)
    assert (stale.code, stale.severity) == ("stale-delegation", WARNING)
    assert sorted(s.address for s in zones.servers(ZONE)) == [NEW, OLD]


def test_the_delegation_probe_reads_the_parent_not_the_resolver(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The zone's servers come from the parent's referral: the resolver's NS set for the
    zone (its cache) is asked by the delegation probe alone, never to find the servers."""
    recorded = moved(old_serial=3)
    zones = zones_of(recorded, RESOLVER)
    zones.servers(ZONE)
    assert not [q for q in recorded.asked if q[0] == RESOLVER and q[1] == ZONE]
    assert isinstance(zones.delegation(ZONE).servers[0], dnsio.Server)
