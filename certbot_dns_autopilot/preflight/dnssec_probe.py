"""The DNSSEC probe: the parent's DS, the zone's DNSKEY and RRSIGs, read by `dnssec`'s rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dns.exception
import dns.message

from .. import dnsio
from ..codes import Code
from ..zones import Zones
from .findings import ERROR, Finding

if TYPE_CHECKING:  # the rules load dnspython's DNSSEC code: only a probe that runs needs it
    from . import dnssec


def _parent_ds(zones: Zones, zone: str
               ) -> tuple[dnsio.Server | None, dns.message.Message | None]:
    """The DS answer for ``zone`` from its parent's servers (the parent its delegation was
    read from), and who gave it."""
    if not zone:
        return None, None
    parent = zones.delegation(zone).parent
    if parent is None:
        try:
            parent = zones.zone_of(zone.split(".", 1)[1]) if "." in zone else ""
        except dns.exception.DNSException:
            return None, None
    return _first(zones.reach, zones.servers(parent), zone, "DS")


def signed(zones: Zones, zone: str) -> bool:
    """Does ``zone``'s parent publish DS records for it (validating resolvers check it)?
    Asked once per run and zone: every CAA name of a certificate asks it again."""
    return zones.once(("signed", zone), lambda: dnsio.records(
        _parent_ds(zones, zone)[1], zone, "DS") is not None)


def dnssec_findings(zone: str, zones: Zones) -> list[Finding]:
    """Where the parent publishes DS: a DNSKEY must match and sign; resolvers must agree.
    Every question goes through the run's `dnsio.Reach` (whole responses: the records
    themselves are judged), so recorded answers can stand in for the servers."""
    from . import dnssec

    reach, records = zones.reach, dnsio.records
    parent_server, parent_answer = _parent_ds(zones, zone)
    ds = records(parent_answer, zone, "DS")
    if ds is None:
        return []
    servers = zones.servers(zone)
    _, keys = _first(reach, servers, zone, "DNSKEY")
    _, soa = _first(reach, servers, zone, "SOA")
    verdict = dnssec.judge(zone, ds, records(keys, zone, "DNSKEY"), records(soa, zone, "SOA"),
                           records(soa, zone, "RRSIG", covers="SOA"))
    verdict, resolver_rows = _resolvers_agree(zone, zones, verdict)
    if verdict.ok:
        return []
    evidence = "\n".join([
        f"DS at the parent ({parent_server}): key tag(s) {', '.join(map(str, verdict.ds_tags))}",
        f"DNSKEY at the zone: key tag(s) {', '.join(map(str, verdict.key_tags)) or '-'}",
        *resolver_rows,
        f"dig +dnssec DS {zone} @{parent_server.address if parent_server else ''}",
        f"dig +dnssec DNSKEY {zone} @{servers[0].address if servers else ''}"])
    return [Finding(Code.DNSSEC_BROKEN, ERROR, zone, verdict.problem, evidence,
                    "fix the DS at the registrar: publish the DS of the zone's current key "
                    f"(e.g. `dig DNSKEY {zone} | dnssec-dsfromkey -f - {zone}`) and remove the "
                    "stale one, or remove the DS to turn DNSSEC off")]


def _first(reach: dnsio.Reach, servers: list[dnsio.Server], name: str, rdtype: str
           ) -> tuple[dnsio.Server | None, dns.message.Message | None]:
    """The first usable server's NOERROR response (DNSSEC records included), and who gave it."""
    for server in servers:
        response = reach.fetch(server, name, rdtype, dnssec=True)
        if response is not None and response.rcode() == 0:
            return server, response
    return None, None


def _resolvers_agree(zone: str, zones: Zones, verdict: dnssec.Verdict
                     ) -> tuple[dnssec.Verdict, list[str]]:
    """Each resolver's rcode for the zone's SOA: a validating resolver's SERVFAIL breaks a
    chain that looks right from the records. (The apex SOA exists: the answer is positive,
    and leaves no denial in the resolver's cache.)"""
    from . import dnssec

    rows = []
    for resolver in zones.recursive.servers:
        answer = zones.reach.query(resolver, zone, "SOA", recurse=True)
        rows.append(f"resolver {resolver}: {answer.rcode}")
        if answer.rcode == "SERVFAIL" and verdict.ok:
            verdict = dnssec.Verdict(False, "validating resolvers answer SERVFAIL while the "
                                     "authoritative servers answer", verdict.ds_tags,
                                     verdict.key_tags)
    return verdict, rows
