"""DS/DNSKEY judgement on keys and signatures made here with dnspython and cryptography."""

from __future__ import annotations

import time

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec

from certbot_dns_autopilot.preflight.dnssec import judge

ZONE = "signed.example"
NAME = dns.name.from_text(ZONE)


def keyset() -> tuple[ec.EllipticCurvePrivateKey, dns.rrset.RRset]:
    private = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(private.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256,
                                    flags=257)
    return private, dns.rrset.from_rdata(NAME, 3600, dnskey)


def signed_soa(private, dnskeys) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    soa = dns.rrset.from_text(NAME, 3600, "IN", "SOA",
                              "ns1.signed.example. hostmaster.signed.example. 1 3600 600 86400 60")
    now = int(time.time())
    sig = dns.dnssec.sign(soa, private, NAME, dnskeys[0], inception=now - 60,
                          expiration=now + 3600)
    return soa, dns.rrset.from_rdata(NAME, 3600, sig)


def ds_of(dnskeys) -> dns.rrset.RRset:
    return dns.rrset.from_rdata(NAME, 3600, dns.dnssec.make_ds(NAME, dnskeys[0], "SHA256"))


def test_a_matching_ds_and_a_valid_signature_pass() -> None:
    private, keys = keyset()
    verdict = judge(ZONE, ds_of(keys), keys, *signed_soa(private, keys))
    assert verdict.ok and verdict.ds_tags == verdict.key_tags


def test_a_stale_ds_from_an_old_key_fails_with_both_key_tags() -> None:
    private, keys = keyset()
    _, old_keys = keyset()
    verdict = judge(ZONE, ds_of(old_keys), keys, *signed_soa(private, keys))
    assert not verdict.ok and "no DNSKEY of the zone matches" in verdict.problem
    assert verdict.ds_tags != verdict.key_tags


def test_a_signature_by_another_key_fails() -> None:
    _, keys = keyset()
    other, other_keys = keyset()
    verdict = judge(ZONE, ds_of(keys), keys, *signed_soa(other, other_keys))
    assert not verdict.ok and "does not validate" in verdict.problem


def test_no_ds_means_nothing_to_check_and_ds_without_keys_is_broken() -> None:
    _, keys = keyset()
    assert judge(ZONE, None, None, None, None).ok
    assert not judge(ZONE, ds_of(keys), None, None, None).ok
