"""Pre-flight probes: what can be known before any record is written or challenge answered.

Each probe returns findings (code, severity, evidence, fix). Decisions stay in small pure
functions (`caa`, `findings`, the set comparisons here); the probes gather the answers.
Nothing here asks a recursive resolver about an ``_acme-challenge`` name: TXT lookups go to
the authoritative servers of the target zone, so no negative answer is cached for the CA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import dns.exception
import dns.name
import dns.rdatatype

from .. import dnsio, names
from ..errors import AutopilotError
from ..plan.chain import Follower
from ..plan.routing import Route
from ..shown import quoted
from ..wait import propagation
from . import caa
from .findings import ERROR, WARNING, Finding, by_cause


def public_suffix(domains: Iterable[str]) -> list[Finding]:
    """A name that is itself on the Public Suffix List (the packaged list; no network)."""
    from publicsuffixlist import PublicSuffixList  # imported on use: parsing the list costs

    psl = PublicSuffixList()
    found = []
    for domain in domains:
        base = names.normalize(domain.removeprefix("*."))
        if psl.is_public(base):
            found.append(Finding(
                "public-suffix", ERROR, domain, f"{base} is a public suffix: no CA issues for it",
                f"Public Suffix List: {base} is listed (publicsuffixlist "
                f"{getattr(psl, 'version', '') or 'packaged list'})",
                f"request a name below {base} that you registered (e.g. yourname.{base})"))
    return found


def rate_limits(domains: list[str], server: str | None, config_dir: str | None
                ) -> list[Finding]:
    """Let's Encrypt production limits, from certbot's own archive on this machine."""
    from . import ratelimits

    if not ratelimits.is_production(server) or not config_dir:
        return []
    from publicsuffixlist import PublicSuffixList

    psl = PublicSuffixList()
    return ratelimits.findings(domains, ratelimits.history(config_dir), psl.privatesuffix)


def caa_findings(domain: str, follower: Follower, identities: set[str],
                 requester: caa.Requester | None = None) -> list[Finding]:
    """The closest CAA set must authorise one of the CA's identities (issuewild for *.), for
    this run's ACME account and DNS-01; every nameserver of the zones holding that set (or
    that would hold it) must answer CAA queries; validating resolvers must accept them."""
    requester = requester or caa.Requester()
    recursive = follower.recursive
    wildcard = domain.startswith("*.")
    base = names.normalize(domain.removeprefix("*."))
    sets = []
    try:
        for owner in names.ancestors(base):
            records = [caa.CAA(*r) for r in recursive.caa(owner)]
            sets.append((owner, records))
            if records:
                break
    except dns.exception.DNSException as exc:
        return [Finding("caa-blocked", WARNING, domain, "the CAA lookup failed; the CA refuses "
                        "to issue while it cannot read CAA", f"{exc}",
                        "make the zone's nameservers answer CAA queries (an empty answer is "
                        "fine)")] + caa_servers(domain, [o for o, _ in sets] or [base], follower)
    found = caa_servers(domain, [owner for owner, _ in sets], follower)
    found += caa_bogus(domain, [owner for owner, _ in sets], recursive)
    closest = caa.relevant(sets)
    if closest is None:
        return found
    owner, records = closest
    evidence = "\n".join(f"{owner}. CAA {r}" for r in records)
    if not identities:
        return found + [Finding(
            "caa-blocked", WARNING, domain, f"CAA records at {owner} restrict issuers, and this "
            "CA's identity is unknown (its directory publishes no caaIdentities)", evidence,
            "name the CA with --dns-autopilot-caa-identities (e.g. letsencrypt.org)")]
    verdict = caa.evaluate(records, identities, wildcard, requester.account, requester.server,
                           requester.staging)
    if verdict.allowed and verdict.case_only:
        return found + [Finding(
            "caa-blocked", WARNING, domain, f"the CAA record set at {owner} names this CA "
            "only with capital letters in the issuer domain: Let's Encrypt compares it "
            "exactly and refuses (other CAs fold case)",
            evidence + f"\ndig +short CAA {quoted(owner)}",
            f"write the issuer in lower case: {lowered(owner, records, identities, wildcard)}")]
    if verdict.allowed:
        return found
    return found + [caa_refusal(domain, owner, records, verdict, identities, wildcard,
                                requester)]


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
        return Finding("caa-blocked", ERROR, domain, f"the CAA record set at {owner} carries a "
                       "critical tag the CA does not know, which forbids every issuance",
                       evidence, "remove the critical flag (128, or 1) from that record, or "
                       "remove the record")
    if verdict.only_for:
        accounts = ", ".join(verdict.only_for)
        return Finding("caa-blocked", WARNING, domain, f"the CAA record set at {owner} lets "
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
    return Finding("caa-blocked", ERROR, domain, problem, evidence, fix)


def caa_servers(domain: str, owners: list[str], follower: Follower,
                query: Callable[..., dnsio.Answer] = dnsio.ask) -> list[Finding]:
    """Every address of every nameserver of the zones holding the CAA names climbed (and the
    targets of CNAMEs there) must answer CAA with NOERROR or NXDOMAIN: the CA's resolver may
    ask any of them, and a failure there makes the CA refuse issuance.

    ``query`` asks past the run's `dnsio.Reach` on purpose: silence on CAA alone must not
    mark an address dead for the waiter. Addresses already known unusable are not asked."""
    reach = follower.reach
    blocked, unreachable, seen = [], [], set()
    todo = [o for o in owners if "." in o]  # not a top-level domain's own servers
    while todo:
        owner = todo.pop(0)
        if owner in seen or len(seen) > 16:
            continue
        seen.add(owner)
        try:
            zone = follower.recursive.zone_of(owner)
        except dns.exception.DNSException:
            continue
        def ask(server: dnsio.Server, owner: str = owner, zone: str = zone
                ) -> tuple[dnsio.Answer, dnsio.Answer | None]:
            if not reach.usable(server):  # no route, or silent earlier in the run
                return reach.ask(server, owner, "CAA"), None
            answer = query(server, owner, "CAA")
            silent = answer.rcode in dnsio.NO_ANSWER
            return answer, query(server, zone, "SOA") if silent else None

        servers = [s for s in follower.servers(zone) if not reach.left_out(s)]
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(servers)))) as pool:
            answers = list(pool.map(ask, servers))  # addresses are independent: ask at once
        for server, (answer, soa) in zip(servers, answers, strict=True):
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
    found = []
    if blocked:
        found.append(Finding(
            "caa-blocked", ERROR, domain, "a nameserver fails CAA queries: the CA's resolver "
            "may ask it, and the CA refuses to issue while it cannot read CAA",
            "\n".join(blocked), "make every listed nameserver answer CAA queries with NOERROR "
            "(an empty answer is fine) or NXDOMAIN: update or replace the failing server (old "
            "appliances and some DNS proxies refuse unknown types), or remove it from the NS "
            "sets"))
    if unreachable:
        found.append(Finding(
            "unreachable", WARNING, domain, "a nameserver of the zone holding CAA answers "
            "nothing from this host (not CAA, not SOA): not necessarily the zone's fault, the "
            "CA may reach it", "\n".join(unreachable), "check this host's route to those "
            "addresses (IPv6, firewalls on port 53); if the CA cannot reach them either, it "
            "refuses to issue"))
    return found


def caa_bogus(domain: str, owners: list[str], recursive: dnsio.Recursive,
              query: Callable[..., dnsio.Answer] = dnsio.ask) -> list[Finding]:
    """CAA answers a validating resolver rejects (SERVFAIL without Checking Disabled, while
    the lookup with it answered): the CA validates DNSSEC, meets the SERVFAIL and refuses."""
    for owner in owners:
        rows = []
        for resolver in recursive.servers:
            answer = query(resolver, owner, "CAA", recurse=True)
            if answer.rcode == "SERVFAIL":
                rows.append(f"resolver {resolver}: CAA {owner} -> SERVFAIL (DNSSEC validation; "
                            f"with +cd it answers)\n      {resolver.dig(owner, 'CAA', True)}")
        if rows:
            try:
                zone = recursive.zone_of(owner)
            except dns.exception.DNSException:
                zone = ""
            return [Finding("caa-blocked", ERROR, domain, f"the CAA answer at {owner} fails "
                            "DNSSEC validation (bogus): the CA's validating resolver answers "
                            "SERVFAIL and the CA refuses to issue while it cannot read CAA",
                            "\n".join(rows), "fix the zone's DNSSEC chain (the DS at the "
                            "registrar must match the zone's key; see dnssec-broken), or "
                            "remove the DS to turn DNSSEC off", where=(zone, owner))]
    return []


def delegation(zone: str, follower: Follower) -> list[Finding]:
    """The parent's NS set, the apex NS set, and every listed server answering with authority.
    An address this host cannot reach is a warning (`unreachable`), not the zone's fault."""
    reach = follower.reach
    parent = zone.split(".", 1)[1] if "." in zone else ""
    try:
        parent_zone = follower.recursive.zone_of(parent) if parent else ""
    except dns.exception.DNSException:
        parent_zone = ""
    parent_set: set[str] = set()
    for server in follower.servers(parent_zone):
        if not reach.left_out(server):
            parent_set |= set(reach.ask(server, zone, "NS").ns)
    apex_set: set[str] = set()
    lame, unreachable = [], []
    checked = [s for s in follower.servers(zone) if not reach.left_out(s)]

    def judge(server: dnsio.Server) -> None:
        soa = reach.ask(server, zone, "SOA")
        status = propagation.classify(soa)
        if status == propagation.UNREACHABLE:
            unreachable.append(f"{server}: {soa.describe()}\n      {server.dig(zone, 'SOA')}")
        elif status == propagation.LAME:
            lame.append(f"{server}: {soa.describe()}{'' if soa.authoritative else ' (no AA)'}"
                        f"\n      {server.dig(zone, 'SOA')}")

    for server in checked:
        answer = reach.ask(server, zone, "NS")
        apex_set |= set(answer.ns) if answer.authoritative else set()
        judge(server)
    for host in sorted(parent_set - apex_set):
        try:
            extra = [dnsio.Server(a, name=host) for a in follower.recursive.addresses(host)]
        except dns.exception.DNSException as exc:
            lame.append(f"{host}: no address ({exc})")
            continue
        for server in extra:
            if not reach.left_out(server):
                judge(server)
    sets = (f"parent ({parent_zone or '.'}) says: {', '.join(sorted(parent_set)) or '-'}\n"
            f"zone apex says:     {', '.join(sorted(apex_set)) or '-'}")
    found = []
    if lame:
        found.append(Finding("lame-delegation", ERROR, zone,
                             "a listed nameserver refuses, fails or answers without authority",
                             sets + "\n" + "\n".join(lame),
                             "make every listed nameserver serve the zone, or remove it from "
                             "the NS sets at the registrar and at the apex"))
    if unreachable:
        none = len(unreachable) >= len(checked) and not apex_set
        found.append(Finding(
            "unreachable", WARNING, zone,
            ("no nameserver address of the zone is reachable from this host (port 53 "
             "filtered?): resolvers only, the authoritative servers are not checked"
             if none else f"this host cannot reach {len(unreachable)} nameserver address(es) "
             "of the zone; the CA may: they are not checked from here"),
            "\n".join(unreachable),
            "nothing to fix in the zone if the CA reaches them; from this host, allow DNS "
            "(port 53, UDP and TCP) out to them, or fix its IPv6 route, or set "
            "--dns-autopilot-address-family ipv4 (or --dns-autopilot-authoritative-check "
            "false where port 53 is always filtered)"))
    if parent_set and apex_set and parent_set != apex_set:
        found.append(Finding("ns-mismatch", WARNING, zone,
                             "the parent's NS set and the zone's own NS set differ", sets,
                             "make the registrar's NS records match the zone's apex NS records "
                             "(and the DNS provider's nameservers)"))
    return found


def dnssec_findings(zone: str, follower: Follower) -> list[Finding]:
    """Where the parent publishes DS: a DNSKEY must match and sign; resolvers must agree."""
    from . import dnssec

    def first(servers: list[dnsio.Server], name: str, rdtype: str):
        for server in servers:
            if not follower.reach.usable(server):
                continue
            try:
                response = dnsio.fetch(server, name, rdtype, dnssec=True)
            except (OSError, dns.exception.DNSException):
                continue
            if response.rcode() == 0:
                return server, response
        return None, None

    def rrset(response, name: str, rdtype: str, covers: str = "NONE"):
        for found in response.answer if response else []:
            if (found.name == dns.name.from_text(name)
                    and found.rdtype == dns.rdatatype.from_text(rdtype)
                    and found.covers == dns.rdatatype.from_text(covers)):
                return found
        return None

    parent = zone.split(".", 1)[1] if "." in zone else ""
    try:
        parent_zone = follower.recursive.zone_of(parent) if parent else ""
    except dns.exception.DNSException:
        return []
    parent_server, parent_answer = first(follower.servers(parent_zone), zone, "DS")
    ds = rrset(parent_answer, zone, "DS")
    if ds is None:
        return []
    servers = follower.servers(zone)
    _, keys = first(servers, zone, "DNSKEY")
    _, soa = first(servers, zone, "SOA")
    verdict = dnssec.judge(zone, ds, rrset(keys, zone, "DNSKEY"), rrset(soa, zone, "SOA"),
                           rrset(soa, zone, "RRSIG", covers="SOA"))
    resolver_rows = []
    for resolver in follower.recursive.servers:
        answer = dnsio.ask(resolver, zone, "SOA", recurse=True)
        resolver_rows.append(f"resolver {resolver}: {answer.rcode}")
        if answer.rcode == "SERVFAIL" and verdict.ok:
            verdict = dnssec.Verdict(False, "validating resolvers answer SERVFAIL while the "
                                     "authoritative servers answer", verdict.ds_tags,
                                     verdict.key_tags)
    if verdict.ok:
        return []
    evidence = "\n".join([
        f"DS at the parent ({parent_server}): key tag(s) {', '.join(map(str, verdict.ds_tags))}",
        f"DNSKEY at the zone: key tag(s) {', '.join(map(str, verdict.key_tags)) or '-'}",
        *resolver_rows,
        f"dig +dnssec DS {zone} @{parent_server.address if parent_server else ''}",
        f"dig +dnssec DNSKEY {zone} @{servers[0].address if servers else ''}"])
    return [Finding("dnssec-broken", ERROR, zone, verdict.problem, evidence,
                    "fix the DS at the registrar: publish the DS of the zone's current key "
                    f"(e.g. `dig DNSKEY {zone} | dnssec-dsfromkey -f - {zone}`) and remove the "
                    "stale one, or remove the DS to turn DNSSEC off")]


def existing_values(route: Route, follower: Follower, ours: set[str]) -> list[Finding]:
    """Values already at the target (stale-record) and records at a doubled name (wrong-name),
    asked of the target zone's authoritative servers only."""
    found = []
    servers = follower.servers(route.zone)
    seen: dict[str, int | None] = {}
    rows = []
    for server in servers:
        answer = follower.reach.ask(server, route.name, "TXT")
        rows.append(f"{server}: {answer.describe()}")
        for value in answer.values - ours:
            seen[value] = answer.ttl
    if seen:
        ttl = max((t or 0) for t in seen.values())
        found.append(Finding(
            "stale-record", WARNING, route.origin,
            f"{len(seen)} value(s) not from this run already sit at {route.name}; the CA "
            "accepts any matching value, but resolvers may keep serving the old set for "
            f"{ttl} s", "\n".join(rows),
            "remove old _acme-challenge values that no running issuance needs (or run with "
            "--dns-autopilot-remove-stale true), and keep their TTL short",
            values=tuple(sorted(seen)), where=(route.zone, route.name), ttl=ttl))
    doubled = f"{route.name}.{route.zone}"
    for server in [s for s in servers if follower.reach.usable(s)][:1]:
        answer = follower.reach.ask(server, doubled, "TXT")
        if answer.values:
            found.append(Finding(
                "wrong-name", WARNING, route.origin,
                f"a TXT record sits at the doubled name {doubled}; the CA never reads it",
                f"{server}: {answer.describe()}\n      {server.dig(doubled, 'TXT')}",
                f"delete it; in provider UIs enter only '_acme-challenge' (the zone "
                f"{route.zone} is appended)"))
    return found


def permission(route: Route) -> list[Finding]:
    """The writer's own probe: create, read back and delete a value (plus its checks)."""
    try:
        route.writer.probe(route.zone, route.name)
    except AutopilotError as exc:
        return [Finding(exc.code, ERROR, route.origin, exc.problem, exc.evidence, exc.fix)]
    return []


def ca_identities(configured: str | None, directory_url: str | None) -> set[str]:
    """--dns-autopilot-caa-identities, else the ACME directory's meta.caaIdentities."""
    if configured:
        return {item.strip().lower() for item in configured.split(",") if item.strip()}
    if not directory_url:
        return set()
    import requests  # certbot's own dependency; imported on use

    try:
        meta = requests.get(directory_url, timeout=10).json().get("meta", {})
    except (requests.RequestException, ValueError):
        return set()
    return {str(i).lower() for i in meta.get("caaIdentities", [])}


def run(routes: list[Route], domains: list[str], follower: Follower, identities: set[str],
        probe_permission: bool = False, requester: caa.Requester | None = None
        ) -> list[Finding]:
    """Every probe, for every name and zone of a run, before anything is written."""
    found = public_suffix(domains)
    zones = {r.zone for r in routes} | {h.zone for r in routes if r.chain
                                         for h in r.chain.hops if h.zone}
    with ThreadPoolExecutor(max_workers=16) as pool:  # names are independent: ask at once
        for result in pool.map(lambda d: caa_findings(d, follower, identities, requester),
                               domains):
            found += result
        for result in pool.map(lambda z: delegation(z, follower), sorted(zones)):
            found += result
        for result in pool.map(lambda z: dnssec_findings(z, follower), sorted(zones)):
            found += result
        for result in pool.map(lambda r: existing_values(r, follower, ours=set()), routes):
            found += result
    # A bogus CAA answer in a zone whose DS is already reported broken is that same cause.
    broken = {f.name for f in found if f.code == "dnssec-broken"}
    found = [f for f in found if not (f.code == "caa-blocked" and f.where
                                      and f.where[0] in broken)]
    probed = set()
    for route in routes:  # a writer whose probe writes nothing (acme-dns) is always probed
        free = getattr(route.writer, "probe_is_free", False)
        if probe_permission or free:
            key = (id(route.writer), route.zone, route.name if free else "")
            if key not in probed:  # acme-dns: each registration has its own credentials
                probed.add(key)
                found += permission(route)
    return by_cause(found)  # each cause once, naming every name it rules
