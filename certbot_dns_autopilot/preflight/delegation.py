"""The delegation probe: does every nameserver of a zone answer for it, do the parent's and
the apex's NS sets agree, and do the resolvers hold the delegation the parent gives now?"""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.exception

from .. import answers, dnsio
from ..codes import Code
from ..options import flag
from ..zones import Zones
from .findings import ERROR, WARNING, Finding


@dataclass
class _Survey:
    """What the zone's servers said: the two NS sets, the addresses that failed, and the
    delegations the resolvers hold instead of the parent's."""

    parent_zone: str = ""
    parent_set: set[str] = field(default_factory=set)
    apex_set: set[str] = field(default_factory=set)
    checked: list[dnsio.Server] = field(default_factory=list)
    lame: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    serial: int | None = None  # the zone's newest serial at the servers the parent names
    held: list[str] = field(default_factory=list)  # resolvers holding another NS set
    held_ttl: int = 0  # the longest TTL such a set has left
    old_servers: list[dnsio.Server] = field(default_factory=list)
    old_behind: list[str] = field(default_factory=list)  # old servers without today's data

    def sets(self) -> str:
        return (f"parent ({self.parent_zone or '.'}) says: "
                f"{', '.join(sorted(self.parent_set)) or '-'}\n"
                f"zone apex says:     {', '.join(sorted(self.apex_set)) or '-'}")


def delegation(zone: str, zones: Zones) -> list[Finding]:
    """The parent's NS set (asked at the parent's servers), the apex NS set (asked at the
    servers the parent names), every listed server answering with authority, and each
    resolver's cached NS set. An address this host cannot reach is a warning
    (`unreachable`), not the zone's fault."""
    survey = _Survey()
    _ask_parent(zone, zones, survey)
    _ask_apex(zone, zones, survey)
    if survey.parent_set or survey.apex_set:
        _ask_resolvers(zone, zones, survey)
        if survey.held and not survey.old_behind:  # resolvers may ask them: wait for them
            zones.also_serving(zone, survey.old_servers)
    return _findings(zone, survey)


def _ask_parent(zone: str, zones: Zones, survey: _Survey) -> None:
    """The NS set the parent's servers delegate ``zone`` to (each of them asked)."""
    parent = zones.delegation(zone).parent
    if parent is None:  # the walk could not ask the parent: the resolvers' view
        try:
            parent = zones.zone_of(zone.split(".", 1)[1]) if "." in zone else ""
        except dns.exception.DNSException:
            parent = ""
    survey.parent_zone = parent
    if zone == parent:
        return
    for server in zones.servers(parent):
        if not zones.reach.left_out(server):
            survey.parent_set |= set(zones.reach.ask(server, zone, "NS").ns)


def _ask_apex(zone: str, zones: Zones, survey: _Survey) -> None:
    """The apex NS set, from every address of every host either set names, each judged on
    its SOA."""
    reach = zones.reach
    survey.checked = [s for s in zones.servers(zone) if not reach.left_out(s)]
    for server in survey.checked:
        answer = reach.ask(server, zone, "NS")
        survey.apex_set |= set(answer.ns) if answer.authoritative else set()
        soa = _judge(reach, server, zone, survey)
        if soa.serial is not None and answers.classify(soa) != answers.LAME:
            survey.serial = max(survey.serial or 0, soa.serial)


def _judge(reach: dnsio.Reach, server: dnsio.Server, zone: str, survey: _Survey
           ) -> dnsio.Answer:
    """One address's SOA answer: lame (the zone's fault) or unreachable from this host."""
    soa = reach.ask(server, zone, "SOA")
    status = answers.classify(soa)
    if status == answers.UNREACHABLE:
        survey.unreachable.append(f"{server}: {soa.describe()}\n      {server.dig(zone, 'SOA')}")
    elif status == answers.LAME:
        survey.lame.append(f"{server}: {soa.describe()}{'' if soa.authoritative else ' (no AA)'}"
                           f"\n      {server.dig(zone, 'SOA')}")
    return soa


def _ask_resolvers(zone: str, zones: Zones, survey: _Survey) -> None:
    """Each resolver's NS set for ``zone`` (an apex's NS set: a positive answer, which
    caches nothing new). A set naming hosts neither the parent nor the apex names is an old
    delegation the resolver keeps for its TTL, and so may the CA's resolvers: its servers
    are asked whether they serve the zone's current data (the SOA serial)."""
    current = survey.parent_set | survey.apex_set
    old_hosts: set[str] = set()
    for resolver in zones.recursive.servers:
        answer = zones.reach.query(resolver, zone, "NS", recurse=True)
        if not answer.ns or set(answer.ns) <= current:
            continue
        ttl = answer.ttl or 0
        survey.held.append(f"resolver {resolver}: NS {', '.join(answer.ns)} (cached, {ttl} s "
                           f"left)\n      {resolver.dig(zone, 'NS', recurse=True)}")
        survey.held_ttl = max(survey.held_ttl, ttl)
        old_hosts |= set(answer.ns) - current
    for host in sorted(old_hosts):
        try:
            addresses = zones.recursive.addresses(host)
        except dns.exception.DNSException as exc:
            survey.old_behind.append(f"{host}: no address ({exc})")
            continue
        for server in (dnsio.Server(a, name=host) for a in addresses):
            if zones.reach.left_out(server):
                continue
            soa = zones.reach.ask(server, zone, "SOA")
            in_sync = answers.classify(soa) == answers.SERVING and \
                soa.serial is not None and survey.serial is not None and \
                soa.serial >= survey.serial
            if in_sync:  # answers with authority at today's serial: it follows the primary
                survey.old_servers.append(server)
            else:
                survey.old_behind.append(f"{server}: SOA {soa.describe('SOA')} (the servers "
                                         f"the parent names: serial {survey.serial})"
                                         f"\n      {server.dig(zone, 'SOA')}")


def _findings(zone: str, survey: _Survey) -> list[Finding]:
    found = []
    if survey.lame:
        found.append(Finding(Code.LAME_DELEGATION, ERROR, zone,
                             "a listed nameserver refuses, fails or answers without authority",
                             survey.sets() + "\n" + "\n".join(survey.lame),
                             "make every listed nameserver serve the zone, or remove it from "
                             "the NS sets at the registrar and at the apex"))
    if survey.unreachable:
        none = len(survey.unreachable) >= len(survey.checked) and not survey.apex_set
        found.append(Finding(
            Code.UNREACHABLE, WARNING, zone,
            ("no nameserver address of the zone is reachable from this host (port 53 "
             "filtered?): resolvers only, the authoritative servers are not checked"
             if none else f"this host cannot reach {len(survey.unreachable)} nameserver "
             "address(es) of the zone; the CA may: they are not checked from here"),
            "\n".join(survey.unreachable),
            "nothing to fix in the zone if the CA reaches them; from this host, allow DNS "
            "(port 53, UDP and TCP) out to them, or fix its IPv6 route, or set "
            f"{flag('address-family')} ipv4 (or {flag('authoritative-check')} "
            "false where port 53 is always filtered)"))
    if survey.parent_set and survey.apex_set and survey.parent_set != survey.apex_set:
        found.append(Finding(Code.NS_MISMATCH, WARNING, zone,
                             "the parent's NS set and the zone's own NS set differ",
                             survey.sets(),
                             "make the registrar's NS records match the zone's apex NS records "
                             "(and the DNS provider's nameservers)"))
    if survey.held:
        found.append(_held(zone, survey))
    return found


def _held(zone: str, survey: _Survey) -> Finding:
    """``stale-delegation``: resolvers still send questions for the zone to hosts its parent
    no longer names. Harmless while those serve today's data (a warning: they are waited for
    too); an error when they do not, since the CA's resolvers may hold the same set."""
    evidence = "\n".join([survey.sets(), *survey.held, *survey.old_behind])
    left = f"up to {survey.held_ttl} s"
    if not survey.old_behind:
        return Finding(Code.STALE_DELEGATION, WARNING, zone,
                       f"a resolver still holds an old NS set for the zone ({left} left), "
                       "whose servers serve its current data: they are waited for too",
                       evidence, "nothing to do while the old host keeps serving the zone's "
                       f"current data; keep it so for {left}")
    return Finding(Code.STALE_DELEGATION, ERROR, zone,
                   f"a resolver still holds an old NS set for the zone ({left} left), and the "
                   "old servers do not serve its current data: a CA resolver holding the same "
                   "set would ask them and not find the challenge",
                   evidence, f"wait until the old delegation expires from resolvers' caches "
                   f"({left}; `dig NS {zone} @<resolver>` shows the TTL left), then run again; "
                   "until then keep the old host serving the zone's current data (make it a "
                   "secondary of the new primary, or write the same records there)")
