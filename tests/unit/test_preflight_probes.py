"""Pre-flight probes on recorded answers: the findings users see (code, severity, text).

Each probe gets a `Follower` whose every message goes through the door's exchange to a
`DNSWorld`: zones from zone-file text, answered as real ``dns.message`` responses. The
lab's tests (tests/lab/test_preflight.py, test_caa.py) prove the same against BIND.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdataset
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from unit_helpers import DNSWorld, value, write_cert, zones_of

from certbot_dns_autopilot import dnsio
from certbot_dns_autopilot.plan.routing import Route
from certbot_dns_autopilot.preflight import (
    caa_findings,
    delegation,
    dnssec_findings,
    existing_values,
    public_suffix,
    rate_limits,
)
from certbot_dns_autopilot.preflight.findings import ERROR, WARNING
from certbot_dns_autopilot.zones import Zones

ZONE = "example.test"
NAME = f"_acme-challenge.{ZONE}"
RESOLVER = dnsio.Server("198.51.100.53")
OLD = value("a value an earlier run left")  # shaped as the CA's
PARENT_NS, NS1, NS2, NS3 = "192.0.2.10", "192.0.2.1", "192.0.2.2", "192.0.2.3"

PARENT = f"""
@ 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300
@ 3600 IN NS ns.test.
ns 3600 IN A {PARENT_NS}
example 3600 IN NS ns1.example.test.
example 3600 IN NS ns2.example.test.
ns1.example 3600 IN A {NS1}
ns2.example 3600 IN A {NS2}
"""
APEX = f"""
@ 3600 IN SOA ns1.example.test. hostmaster.example.test. 7 3600 600 86400 300
@ 3600 IN NS ns1.example.test.
@ 3600 IN NS ns2.example.test.
ns1 3600 IN A {NS1}
ns2 3600 IN A {NS2}
ns3 3600 IN A {NS3}
"""


def world(parent: str = PARENT, apex: str = APEX, servers: tuple[str, ...] = (NS1, NS2)
          ) -> DNSWorld:
    recorded = DNSWorld(resolvers=(RESOLVER.address,))
    recorded.serve(PARENT_NS, "test", parent)
    recorded.serve(servers, ZONE, apex)
    return recorded


def follower(recorded: DNSWorld) -> Zones:
    """The probes' view of the DNS, every message through the door to ``recorded``."""
    return zones_of(recorded, RESOLVER.address)


def route(writer: object = None) -> Route:
    return Route(NAME, NAME, ZONE, writer, None)  # type: ignore[arg-type]


# --- delegation -----------------------------------------------------------------------------


def test_a_healthy_delegation_gives_no_finding() -> None:
    assert delegation(ZONE, follower(world())) == []


def test_parent_and_apex_ns_sets_that_differ_are_ns_mismatch() -> None:
    parent = PARENT + "example 3600 IN NS ns3.example.test.\n" \
                      f"ns3.example 3600 IN A {NS3}\n"
    [finding] = delegation(ZONE, follower(world(parent, servers=(NS1, NS2, NS3))))
    assert (finding.code, finding.severity, finding.name) == ("ns-mismatch", WARNING, ZONE)
    assert finding.problem == "the parent's NS set and the zone's own NS set differ"
    assert "parent (test) says: ns1.example.test, ns2.example.test, ns3.example.test" \
        in finding.evidence
    assert "zone apex says:     ns1.example.test, ns2.example.test" in finding.evidence
    assert "[ns-mismatch] warning: example.test:" in finding.text()


@pytest.mark.parametrize(("answer", "shown"), [
    ("lame", "ns2.example.test (192.0.2.2): NOERROR (no TXT) serial=7 (no AA)"),
    ("REFUSED", "ns2.example.test (192.0.2.2): REFUSED (no AA)"),
    ("SERVFAIL", "ns2.example.test (192.0.2.2): SERVFAIL (no AA)")],
    ids=["without-authority", "refused", "servfail"])
def test_a_listed_server_that_fails_the_zone_is_lame_delegation(answer: str, shown: str
                                                                 ) -> None:
    recorded = world()
    recorded.script(NS2, answer)
    [finding] = delegation(ZONE, follower(recorded))
    assert (finding.code, finding.severity) == ("lame-delegation", ERROR)
    assert finding.problem == ("a listed nameserver refuses, fails or answers without "
                               "authority")
    assert shown in finding.evidence
    assert "dig @192.0.2.2 example.test SOA +norecurse" in finding.evidence
    assert NS1 not in finding.evidence.split("zone apex says:")[1]


def test_a_server_only_the_parent_lists_is_judged_too() -> None:
    parent = PARENT + "example 3600 IN NS ns3.example.test.\n" \
                      f"ns3.example 3600 IN A {NS3}\n"
    recorded = world(parent, servers=(NS1, NS2, NS3))
    recorded.script(NS3, "REFUSED")
    found = {f.code: f for f in delegation(ZONE, follower(recorded))}
    assert set(found) == {"lame-delegation", "ns-mismatch"}
    assert "ns3.example.test (192.0.2.3): REFUSED" in found["lame-delegation"].evidence


def test_a_silent_server_is_unreachable_from_here_not_the_zones_fault() -> None:
    recorded = world()
    recorded.script(NS2, "silent")
    [finding] = delegation(ZONE, follower(recorded))
    assert (finding.code, finding.severity) == ("unreachable", WARNING)
    assert "this host cannot reach 1 nameserver address(es)" in finding.problem
    assert "ns2.example.test (192.0.2.2): TIMEOUT" in finding.evidence


# --- DNSSEC ---------------------------------------------------------------------------------


def signed(recorded_parent: str = PARENT, ds_from_other_key: bool = False
           ) -> tuple[DNSWorld, int, int]:
    """The zone signed with a fresh key; the parent's DS from that key, or from another
    (the stale DS of a key roll). Returns the world and the DS's and DNSKEY's key tags."""
    recorded = DNSWorld(resolvers=(RESOLVER.address,))
    parent = recorded.serve(PARENT_NS, "test", recorded_parent)
    zone = recorded.serve((NS1, NS2), ZONE, APEX)
    origin = dns.name.from_text(ZONE)

    def key() -> tuple[ec.EllipticCurvePrivateKey, object]:
        private = ec.generate_private_key(ec.SECP256R1())
        return private, dns.dnssec.make_dnskey(private.public_key(),
                                               dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257)

    private, dnskey = key()
    _, old = key()
    zone.replace_rdataset(origin, dns.rdataset.from_rdata(3600, dnskey))
    soa = dns.rrset.from_rdata_list(origin, 3600, zone.get_rdataset(origin, "SOA"))
    now = int(time.time())
    sig = dns.dnssec.sign(soa, private, origin, dnskey, inception=now - 60,
                          expiration=now + 3600)
    zone.replace_rdataset(origin, dns.rdataset.from_rdata(3600, sig))
    ds = dns.dnssec.make_ds(origin, old if ds_from_other_key else dnskey, "SHA256")
    parent.replace_rdataset(origin, dns.rdataset.from_rdata(3600, ds))
    return recorded, ds.key_tag, dns.dnssec.key_id(dnskey)


def test_a_ds_matching_the_zones_signing_key_is_healthy() -> None:
    recorded, ds_tag, key_tag = signed()
    assert ds_tag == key_tag
    assert dnssec_findings(ZONE, follower(recorded)) == []
    assert (PARENT_NS, ZONE, "DS", False) in recorded.asked  # the parent was asked, directly


def test_a_stale_ds_is_dnssec_broken_naming_both_key_tags() -> None:
    recorded, ds_tag, key_tag = signed(ds_from_other_key=True)
    [finding] = dnssec_findings(ZONE, follower(recorded))
    assert (finding.code, finding.severity, finding.name) == ("dnssec-broken", ERROR, ZONE)
    assert finding.problem == "no DNSKEY of the zone matches a DS at the parent"
    assert f"DS at the parent (ns.test (192.0.2.10)): key tag(s) {ds_tag}" in finding.evidence
    assert f"DNSKEY at the zone: key tag(s) {key_tag}" in finding.evidence
    assert f"dig +dnssec DS {ZONE} @{PARENT_NS}" in finding.evidence
    assert "dnssec-dsfromkey" in finding.fix


def test_validating_resolvers_that_answer_servfail_break_a_matching_ds() -> None:
    recorded, _, _ = signed()
    recorded.script(RESOLVER.address, "SERVFAIL", ZONE, "SOA", unless_cd=True)
    [finding] = dnssec_findings(ZONE, follower(recorded))
    assert finding.code == "dnssec-broken"
    assert "validating resolvers answer SERVFAIL" in finding.problem
    assert "resolver 198.51.100.53: SERVFAIL" in finding.evidence


def test_an_unsigned_zone_has_nothing_to_check() -> None:
    assert dnssec_findings(ZONE, follower(world())) == []


# --- existing values ------------------------------------------------------------------------


def test_an_old_value_with_a_long_ttl_is_a_stale_record_for_remove_stale() -> None:
    recorded = world(apex=APEX + '_acme-challenge 3600 IN TXT "old-token"\n')
    [finding] = existing_values(route(), follower(recorded), ours={"this-runs-token"})
    assert (finding.code, finding.severity, finding.name) == ("stale-record", WARNING, NAME)
    assert finding.problem == (f"1 value(s) not from this run already sit at {NAME}; the CA "
                               "accepts any matching value, but resolvers may keep serving "
                               "the old set for 3600 s")
    assert 'ns1.example.test (192.0.2.1): NOERROR "old-token"' in finding.evidence
    assert "--dns-autopilot-remove-stale true" in finding.fix
    # What --dns-autopilot-remove-stale removes: exactly these values, at that name and zone.
    assert (finding.values, finding.where, finding.ttl) == (("old-token",), (ZONE, NAME), 3600)


def test_this_runs_own_values_are_not_stale() -> None:
    recorded = world(apex=APEX + '_acme-challenge 60 IN TXT "this-runs-token"\n')
    assert existing_values(route(), follower(recorded), ours={"this-runs-token"}) == []


def test_a_value_only_a_lagging_secondary_still_serves_is_leaving_not_stale() -> None:
    """A run's value removed at the primary seconds ago (serial 8), still on the secondary
    until it transfers (serial 7): on its way out, nobody's stale record. The same value at
    the newest serial too is stale."""
    recorded = DNSWorld(resolvers=(RESOLVER.address,))
    recorded.serve(PARENT_NS, "test", PARENT)
    recorded.serve(NS1, ZONE, APEX.replace(" 7 3600", " 8 3600"))
    recorded.serve(NS2, ZONE, APEX + '_acme-challenge 60 IN TXT "last-runs-token"\n')
    assert existing_values(route(), follower(recorded), ours=set()) == []
    everywhere = world(apex=APEX + '_acme-challenge 60 IN TXT "last-runs-token"\n')
    [stale] = existing_values(route(), follower(everywhere), ours=set())
    assert stale.code == "stale-record" and stale.values == ("last-runs-token",)


def test_a_record_at_the_doubled_name_is_wrong_name() -> None:
    recorded = world(apex=APEX + '_acme-challenge.example.test 60 IN TXT "typed-in-a-ui"\n')
    [finding] = existing_values(route(), follower(recorded), ours=set())
    assert (finding.code, finding.severity) == ("wrong-name", WARNING)
    assert f"a TXT record sits at the doubled name {NAME}.{ZONE}" in finding.problem
    assert f"dig @192.0.2.1 {NAME}.{ZONE} TXT +norecurse" in finding.evidence
    assert "enter only '_acme-challenge'" in finding.fix


# --- CAA ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rcode", ["SERVFAIL", "REFUSED"])
def test_a_server_failing_caa_queries_only_is_caa_blocked_naming_it(rcode: str) -> None:
    recorded = world()
    recorded.script(NS2, rcode, rdtype="CAA")
    found = caa_findings(ZONE, follower(recorded), {"letsencrypt.org"})
    [finding] = found
    assert (finding.code, finding.severity) == ("caa-blocked", ERROR)
    assert finding.problem.startswith("a nameserver fails CAA queries")
    assert f"ns2.example.test (192.0.2.2): CAA example.test -> {rcode}" in finding.evidence
    assert "dig @192.0.2.2 example.test CAA +norecurse" in finding.evidence
    assert NS1 not in finding.evidence


def test_a_server_silent_to_caa_and_soa_is_unreachable_not_caa_blocked() -> None:
    recorded = world()
    probes = follower(recorded)
    probes.servers(ZONE)  # the delegation probe heard it answer; it fell silent since
    recorded.script(NS2, "silent")
    [finding] = caa_findings(ZONE, probes, {"letsencrypt.org"})
    assert (finding.code, finding.severity) == ("unreachable", WARNING)
    assert ("ns2.example.test (192.0.2.2): CAA example.test -> TIMEOUT, SOA example.test -> "
            "TIMEOUT") in finding.evidence


def test_a_caa_set_for_another_ca_is_caa_blocked_with_the_line_to_add() -> None:
    recorded = world(apex=APEX + '@ 3600 IN CAA 0 issue "other-ca.example"\n')
    [finding] = caa_findings(f"www.{ZONE}", follower(recorded), {"letsencrypt.org"})
    assert (finding.code, finding.severity) == ("caa-blocked", ERROR)
    assert finding.problem.startswith(f"the CAA record set at {ZONE} does not authorise "
                                      "letsencrypt.org")
    assert f'{ZONE}. CAA 0 issue "other-ca.example"' in finding.evidence
    assert f'add {ZONE}. CAA 0 issue "letsencrypt.org"' in finding.fix


def test_a_caa_answer_validating_resolvers_reject_is_caa_blocked() -> None:
    recorded = world()
    recorded.script(RESOLVER.address, "SERVFAIL", ZONE, "CAA", unless_cd=True)
    [finding] = caa_findings(ZONE, follower(recorded), {"letsencrypt.org"})
    assert (finding.code, finding.severity) == ("caa-blocked", ERROR)
    assert "fails DNSSEC validation (bogus)" in finding.problem
    assert "resolver 198.51.100.53: CAA example.test -> SERVFAIL" in finding.evidence


# --- public suffix and rate limits (no DNS) ------------------------------------------------


def test_a_public_suffix_is_refused_and_a_registered_name_is_not() -> None:
    found = public_suffix(["co.uk", "*.github.io", "example.co.uk"])
    assert [(f.code, f.severity, f.name) for f in found] == [
        ("public-suffix", ERROR, "co.uk"), ("public-suffix", ERROR, "*.github.io")]
    assert found[0].problem == "co.uk is a public suffix: no CA issues for it"
    assert "yourname.co.uk" in found[0].fix



def test_rate_limits_count_only_production_from_the_local_archive(tmp_path: Path) -> None:
    names = ["shop.example.co.uk"]
    recent = datetime.now(timezone.utc) - timedelta(hours=2)
    for i in range(4):
        write_cert(tmp_path / "archive" / "shop" / f"cert{i}.pem", names, recent)
    production = "https://acme-v02.api.letsencrypt.org/directory"
    [finding] = rate_limits(names, production, str(tmp_path))
    assert (finding.code, finding.severity) == ("rate-limited", WARNING)
    assert finding.problem == ("this would be certificate 5 of at most 5 with exactly these "
                               "names in 7 days")
    assert "use --dry-run (staging)" in finding.fix
    staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert rate_limits(names, staging, str(tmp_path)) == []
    assert rate_limits(names, production, None) == []


def test_remove_stale_removes_exactly_the_old_values_before_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole perform on recorded answers: pre-flight finds the old value, and
    --dns-autopilot-remove-stale has the writer remove exactly it before the add; a value
    not shaped as a DNS-01 value is never handed to the writer."""
    import functools

    from unit_helpers import Challenge, make_plugin

    recorded = DNSWorld(resolvers=(RESOLVER.address,))
    recorded.serve(PARENT_NS, "com", f"""
@ 3600 IN SOA ns.com. h.com. 1 3600 600 86400 300
@ 3600 IN NS ns.com.
ns 3600 IN A {PARENT_NS}
example 3600 IN NS ns1.example.com.
ns1.example 3600 IN A {NS1}
""")
    recorded.serve(NS1, "example.com", f"""
@ 3600 IN SOA ns1.example.com. h.example.com. 7 3600 600 86400 300
@ 3600 IN NS ns1.example.com.
ns1 3600 IN A {NS1}
_acme-challenge 3600 IN TXT "{OLD}"
_acme-challenge 3600 IN TXT "old-token; `reboot`"
""")
    monkeypatch.setattr(dnsio, "Recursive",
                        functools.partial(dnsio.Recursive, exchange=recorded))
    monkeypatch.setattr(dnsio, "Reach", functools.partial(dnsio.Reach, exchange=recorded))
    auth, calls = make_plugin(tmp_path, monkeypatch, resolvers=RESOLVER.address,
                              preflight=True, remove_stale=True)
    auth.prepare()
    auth.perform([Challenge("example.com")])
    name = "_acme-challenge.example.com"
    assert calls == [("remove", "example.com", {name: {OLD}}),
                     ("add", "example.com", {name: {"value-for-example.com"}})]


def test_the_plugins_own_probe_value_a_secondary_still_serves_is_not_stale() -> None:
    """doctor's permission probe writes and removes a value at the name; a secondary serves
    it until the removal reaches it, and a run seconds later must not call it stale."""
    from certbot_dns_autopilot import preflight
    from certbot_dns_autopilot.writers import PROBE_PREFIX

    probe = f"{PROBE_PREFIX}0123456789ab"
    removed = APEX.replace(" 7 3600", " 8 3600")  # the primary, since the probe's removal
    recorded = world(apex=removed, servers=(NS1,))
    recorded.serve(NS2, ZONE, APEX + f'_acme-challenge 60 IN TXT "{probe}"\n')
    assert [f.code for f in preflight.run([route()], [ZONE], follower(recorded), set())
            if f.code == "stale-record"] == []
    old = '_acme-challenge 3600 IN TXT "old-token"\n'
    recorded = world(apex=removed + old, servers=(NS1,))
    recorded.serve(NS2, ZONE, APEX + f'_acme-challenge 60 IN TXT "{probe}"\n' + old)
    [stale] = [f for f in preflight.run([route()], [ZONE], follower(recorded), set())
               if f.code == "stale-record"]
    assert stale.values == ("old-token",) and stale.problem.startswith("1 value(s)")


@pytest.mark.parametrize(("directory", "said", "fix"), [
    (None, "no CA was named", "or give its ACME directory with --server URL"),
    ("https://ca.example/dir", "its directory (https://ca.example/dir) publishes no "
     "caaIdentities", "(e.g. letsencrypt.org)"),
])
def test_caa_with_no_known_ca_says_why_once_for_apex_and_wildcard(directory, said, fix
                                                                  ) -> None:
    from certbot_dns_autopilot import options, preflight
    from certbot_dns_autopilot.preflight import caa

    recorded = world(apex=APEX + '@ 3600 IN CAA 0 issue "letsencrypt.org"\n')
    with options.speaking(options.DOCTOR):
        found = preflight.run([route()], [ZONE, f"*.{ZONE}"], follower(recorded), set(),
                              requester=caa.Requester(server=directory))
    [note] = [f for f in found if f.code == "caa-blocked"]
    assert note.name == f"{ZONE}, *.{ZONE}" and note.severity == WARNING
    assert said in note.problem and fix in note.fix
    assert "--caa-identities" in note.fix and "--dns-autopilot-" not in note.fix
