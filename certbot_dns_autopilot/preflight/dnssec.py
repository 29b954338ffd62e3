"""Does the parent's DS match the zone's keys? Pure decisions over DS, DNSKEY and RRSIG sets.

Where the parent publishes DS records, validating resolvers (the CA's among them) accept
the zone's answers only if one DS matches a DNSKEY that signs the zone's key set, and the
zone's data is signed by its keys. A stale DS after a key roll or a provider move turns
every answer into SERVFAIL at those resolvers, while the authoritative servers answer fine.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.dnssec
import dns.exception
import dns.name
import dns.rdataset
import dns.rrset


@dataclass(frozen=True)
class Verdict:
    ok: bool
    problem: str
    ds_tags: tuple[int, ...]
    key_tags: tuple[int, ...]


def judge(zone: str, ds: dns.rdataset.Rdataset | None, dnskeys: dns.rrset.RRset | None,
          soa: dns.rrset.RRset | None, soa_sigs: dns.rrset.RRset | None) -> Verdict:
    """The verdict for one zone from what its parent and its own servers returned."""
    ds_tags = tuple(sorted(d.key_tag for d in ds)) if ds else ()
    key_tags = tuple(sorted(dns.dnssec.key_id(k) for k in dnskeys)) if dnskeys else ()
    if not ds:
        return Verdict(True, "no DS at the parent: the zone is not signed for resolvers",
                       ds_tags, key_tags)
    if not dnskeys:
        return Verdict(False, "the parent publishes DS records but the zone serves no DNSKEY",
                       ds_tags, key_tags)
    name = dns.name.from_text(zone)
    matched = [key for key in dnskeys for d in ds
               if _matches(name, key, d)]
    if not matched:
        return Verdict(False, "no DNSKEY of the zone matches a DS at the parent", ds_tags,
                       key_tags)
    if soa is None or soa_sigs is None:
        return Verdict(False, "the zone's SOA is not signed", ds_tags, key_tags)
    try:
        dns.dnssec.validate(soa, soa_sigs, {name: dnskeys})
    except dns.dnssec.ValidationFailure as exc:
        return Verdict(False, f"the zone's SOA signature does not validate ({exc})", ds_tags,
                       key_tags)
    return Verdict(True, "the DS matches a DNSKEY and the SOA signature validates", ds_tags,
                   key_tags)


def _matches(name: dns.name.Name, key, ds) -> bool:
    try:
        return dns.dnssec.make_ds(name, key, ds.digest_type) == ds
    except (dns.dnssec.UnsupportedAlgorithm, dns.exception.DNSException, ValueError):
        return False
