"""The CAA probe: the closest CAA set, asked of the authoritative servers, read by `caa`'s rules.

Pure decisions live in `caa`; this module gathers the record sets and turns verdicts into
findings."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import dns.exception

from .. import dnsio, names
from ..codes import Code
from ..options import flag
from ..shown import quoted
from ..zones import Zones
from . import caa
from .dnssec_probe import signed
from .findings import ERROR, WARNING, Finding


def caa_findings(domain: str, zones: Zones, identities: set[str],
                 requester: caa.Requester | None = None) -> list[Finding]:
    """The closest CAA set must authorise one of the CA's identities (issuewild for *.), for
    this run's ACME account and DNS-01; every nameserver of the zones holding that set (or
    that would hold it) must answer CAA queries; validating resolvers must accept them.
    The sets are asked of the authoritative servers (`zones.Zones.caa`): a resolver asked
    for CAA at a name of a signed zone caches the NSEC of its empty answer, which denies
    the name's ``_acme-challenge`` too."""
    requester = requester or caa.Requester()
    wildcard = domain.startswith("*.")
    base = names.normalize(domain.removeprefix("*."))
    sets = []
    try:
        for owner in names.ancestors(base):
            records = [caa.CAA(*r) for r in zones.caa(owner)]
            sets.append((owner, records))
            if records:
                break
    except dns.exception.DNSException as exc:
        return [Finding(Code.CAA_BLOCKED, WARNING, domain, "the CAA lookup failed; the CA refuses "
                        "to issue while it cannot read CAA", f"{exc}",
                        "make the zone's nameservers answer CAA queries (an empty answer is "
                        "fine)")] + caa_servers(domain, [o for o, _ in sets] or [base], zones)
    found = caa_servers(domain, [owner for owner, _ in sets], zones)
    found += caa_bogus(domain, [owner for owner, _ in sets], zones)
    closest = caa.relevant(sets)
    if closest is None:
        return found
    owner, records = closest
    evidence = "\n".join(f"{owner}. CAA {r}" for r in records)
    if not identities:
        return found + [unknown_ca(domain, evidence, requester.server)]
    verdict = caa.evaluate(records, identities, wildcard, requester.account, requester.server,
                           requester.staging)
    if verdict.allowed and verdict.case_only:
        return found + [Finding(
            Code.CAA_BLOCKED, WARNING, domain, f"the CAA record set at {owner} names this CA "
            "only with capital letters in the issuer domain: Let's Encrypt compares it "
            "exactly and refuses (other CAs fold case)",
            evidence + f"\ndig +short CAA {quoted(owner)}",
            f"write the issuer in lower case: {lowered(owner, records, identities, wildcard)}")]
    if verdict.allowed:
        return found
    return found + [caa_refusal(domain, owner, records, verdict, identities, wildcard,
                                requester)]


def unknown_ca(domain: str, evidence: str, directory: str | None) -> Finding:
    """CAA records restrict issuers and the CA is not known: its directory was asked and
    publishes no caaIdentities, or (doctor) no CA was named at all. One text for every name
    and owner (the records are the evidence), so doctor says it once."""
    if directory:
        problem = (f"CAA records restrict issuers, and this CA's identity is unknown: its "
                   f"directory ({directory}) publishes no caaIdentities")
        fix = f"name the CA with {flag('caa-identities')} (e.g. letsencrypt.org)"
    else:
        problem = ("CAA records restrict issuers, and no CA was named: whether they let yours "
                   "issue is not checked")
        fix = (f"name the CA with {flag('caa-identities')} (e.g. letsencrypt.org), or give "
               "its ACME directory with --server URL")
    return Finding(Code.CAA_BLOCKED, WARNING, domain, problem, evidence, fix)


def lowered(owner: str, records: list[caa.CAA], identities: set[str], wildcard: bool) -> str:
    """The records that name this CA with capitals, as they should read: the same line for
    every name the set rules (issuewild records, where present, rule wildcards)."""
    tags = {"issuewild"} if wildcard and any(r.tag == "issuewild" for r in records) else \
        {"issue"}
    lines = []
    for record in records:
        head, sep, rest = record.value.partition(";")
        if record.tag in tags and record.issuer in identities and head.strip(" \t") != \
                record.issuer:
            lines.append(f'{owner}. CAA {record.flags} {record.tag} "{record.issuer}{sep}{rest}"')
    return "; ".join(lines)


def caa_refusal(domain: str, owner: str, records: list[caa.CAA], verdict: caa.Verdict,
                identities: set[str], wildcard: bool, requester: caa.Requester) -> Finding:
    """The finding for a CAA set that does not authorise this run, with each record's reason
    and a record that would; a warning when only the run's unknown account decides."""
    ids = " or ".join(sorted(identities))
    wild = " for wildcard names" if wildcard else ""
    why = {r.record: r.why for r in verdict.readings}
    rows = [f"{owner}. CAA {r}" + (f"\n      -> {why[r]}" if why.get(r) else "")
            for r in records]
    evidence = "\n".join(rows + [f"dig +short CAA {quoted(owner)}"])
    if verdict.critical:
        return Finding(Code.CAA_BLOCKED, ERROR, domain, f"the CAA record set at {owner} carries a "
                       "critical tag the CA does not know, which forbids every issuance",
                       evidence, "remove the critical flag (128, or 1) from that record, or "
                       "remove the record")
    if verdict.only_for:
        accounts = ", ".join(verdict.only_for)
        return Finding(Code.CAA_BLOCKED, WARNING, domain, f"the CAA record set at {owner} lets "
                       f"{ids} issue{wild} only to the ACME account {accounts}", evidence,
                       "run with that account (the certbot --server and --config-dir it was "
                       "registered with); doctor checks it with --account URL, or finds this "
                       "machine's account with --config-dir and --server")
    reasons = [r.why for r in verdict.readings]
    problem = f"the CAA record set at {owner} does not authorise {ids}{wild}"
    if len(set(reasons)) == 1:
        problem += f": {reasons[0]}"
    values = [r.record.value.lower() for r in verdict.readings]  # malformed ones too
    pinned = any("accounturi" in v for v in values)
    methods = any("validationmethods" in v for v in values)
    line = caa.line_to_add(owner, sorted(identities)[0], wildcard,
                           requester.account if pinned else None, methods)
    fix = f"add {line} (records combine with OR), or correct or remove the records above"
    if any(caa.STAGING_NOTE in why for why in reasons):
        fix += ("; for --dry-run and staging, that record names the staging account: add it "
                "beside the production one, or test without accounturi")
    elif pinned and requester.account is None:
        fix += "; accounturi must be this run's ACME account URL"
    return Finding(Code.CAA_BLOCKED, ERROR, domain, problem, evidence, fix)


def caa_servers(domain: str, owners: list[str], zones: Zones,
                query: Callable[..., dnsio.Answer] | None = None) -> list[Finding]:
    """Every address of every nameserver of the zones holding the CAA names climbed (and the
    targets of CNAMEs there) must answer CAA with NOERROR or NXDOMAIN: the CA's resolver may
    ask any of them, and a failure there makes the CA refuse issuance.

    ``query`` (default: the reach's own, ``zones.reach.query``) asks past the run's
    `dnsio.Reach` on purpose: silence on CAA alone must not mark an address dead for the
    waiter."""
    query = query or zones.reach.query
    blocked: list[str] = []
    unreachable: list[str] = []
    seen: set[str] = set()
    todo = [o for o in owners if "." in o]  # not a top-level domain's own servers
    while todo:
        owner = todo.pop(0)
        if owner in seen or len(seen) > 16:
            continue
        seen.add(owner)
        try:
            zone = zones.zone_of(owner)
        except dns.exception.DNSException:
            continue
        for server, answer, soa in _ask_caa(owner, zone, zones, query):
            if answer.cname:
                todo.append(answer.cname)
            outcome = caa.server_outcome(answer.rcode, soa.rcode if soa else None)
            row = (f"{server}: CAA {owner} -> {answer.rcode}"
                   + (f", SOA {zone} -> {soa.rcode}" if soa else "")
                   + f"\n      {server.dig(owner, 'CAA')}")
            if outcome == caa.REFUSES:
                blocked.append(row)
            elif outcome == caa.UNREACHABLE:
                unreachable.append(row)
    return _server_findings(domain, blocked, unreachable)


def _ask_caa(owner: str, zone: str, zones: Zones, query: Callable[..., dnsio.Answer]
             ) -> list[tuple[dnsio.Server, dnsio.Answer, dnsio.Answer | None]]:
    """CAA at ``owner`` from every usable address of ``zone`` at once, and the zone's SOA
    from those that said nothing (silence on both is this host's, not the zone's)."""
    def ask(server: dnsio.Server) -> tuple[dnsio.Server, dnsio.Answer, dnsio.Answer | None]:
        answer = query(server, owner, "CAA")
        silent = answer.rcode in dnsio.NO_ANSWER
        return server, answer, query(server, zone, "SOA") if silent else None

    # An address with no route, or silent earlier in the run, was named `unreachable`
    # where it was found (the zone's delegation): not asked, nor reported, twice.
    servers = [s for s in zones.servers(zone) if zones.reach.usable(s)]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(servers)))) as pool:
        return list(pool.map(ask, servers))  # addresses are independent: ask at once


def _server_findings(domain: str, blocked: list[str], unreachable: list[str]
                     ) -> list[Finding]:
    found = []
    if blocked:
        found.append(Finding(
            Code.CAA_BLOCKED, ERROR, domain, "a nameserver fails CAA queries: the CA's resolver "
            "may ask it, and the CA refuses to issue while it cannot read CAA",
            "\n".join(blocked), "make every listed nameserver answer CAA queries with NOERROR "
            "(an empty answer is fine) or NXDOMAIN: update or replace the failing server (old "
            "appliances and some DNS proxies refuse unknown types), or remove it from the NS "
            "sets"))
    if unreachable:
        found.append(Finding(
            Code.UNREACHABLE, WARNING, domain, "a nameserver of the zone holding CAA answers "
            "nothing from this host (not CAA, not SOA): not necessarily the zone's fault, the "
            "CA may reach it", "\n".join(unreachable), "check this host's route to those "
            "addresses (IPv6, firewalls on port 53); if the CA cannot reach them either, it "
            "refuses to issue"))
    return found


def caa_bogus(domain: str, owners: list[str], zones: Zones) -> list[Finding]:
    """CAA answers a validating resolver rejects (SERVFAIL without Checking Disabled, while
    the lookup with it answered): the CA validates DNSSEC, meets the SERVFAIL and refuses.
    Asked only at names of unsigned zones (a CNAME there may lead into a signed one): in a
    signed zone the resolver would cache the NSEC of an empty answer, denying our own
    names, and the DNSSEC probe checks that zone's chain at its servers instead."""
    query = zones.reach.query
    for owner in owners:
        try:
            if signed(zones, zones.zone_of(owner)):
                continue
        except dns.exception.DNSException:
            continue
        rows = []
        for resolver in zones.recursive.servers:
            answer = query(resolver, owner, "CAA", recurse=True)
            if answer.rcode == "SERVFAIL":
                rows.append(f"resolver {resolver}: CAA {owner} -> SERVFAIL (DNSSEC validation; "
                            f"with +cd it answers)\n      {resolver.dig(owner, 'CAA', True)}")
        if rows:
            try:
                zone = zones.zone_of(owner)
            except dns.exception.DNSException:
                zone = ""
            return [Finding(Code.CAA_BLOCKED, ERROR, domain, f"the CAA answer at {owner} fails "
                            "DNSSEC validation (bogus): the CA's validating resolver answers "
                            "SERVFAIL and the CA refuses to issue while it cannot read CAA",
                            "\n".join(rows), "fix the zone's DNSSEC chain (the DS at the "
                            "registrar must match the zone's key; see dnssec-broken), or "
                            "remove the DS to turn DNSSEC off", where=(zone, owner))]
    return []
