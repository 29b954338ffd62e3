"""The delegation probe: does every nameserver of a zone answer for it, with one serial?"""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.exception

from .. import dnsio
from ..codes import Code
from ..options import flag
from ..plan.chain import Follower
from ..wait import propagation
from .findings import ERROR, WARNING, Finding


@dataclass
class _Survey:
    """What the zone's servers said: the two NS sets, and the addresses that failed."""

    parent_zone: str = ""
    parent_set: set[str] = field(default_factory=set)
    apex_set: set[str] = field(default_factory=set)
    checked: list[dnsio.Server] = field(default_factory=list)
    lame: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    def sets(self) -> str:
        return (f"parent ({self.parent_zone or '.'}) says: "
                f"{', '.join(sorted(self.parent_set)) or '-'}\n"
                f"zone apex says:     {', '.join(sorted(self.apex_set)) or '-'}")


def delegation(zone: str, follower: Follower) -> list[Finding]:
    """The parent's NS set, the apex NS set, and every listed server answering with authority.
    An address this host cannot reach is a warning (`unreachable`), not the zone's fault."""
    survey = _Survey()
    _ask_parent(zone, follower, survey)
    _ask_apex(zone, follower, survey)
    _ask_parent_only(zone, follower, survey)
    return _findings(zone, survey)


def _ask_parent(zone: str, follower: Follower, survey: _Survey) -> None:
    """The NS set the parent's servers delegate ``zone`` to."""
    parent = zone.split(".", 1)[1] if "." in zone else ""
    try:
        survey.parent_zone = follower.recursive.zone_of(parent) if parent else ""
    except dns.exception.DNSException:
        survey.parent_zone = ""
    for server in follower.servers(survey.parent_zone):
        if not follower.reach.left_out(server):
            survey.parent_set |= set(follower.reach.ask(server, zone, "NS").ns)


def _ask_apex(zone: str, follower: Follower, survey: _Survey) -> None:
    """The apex NS set, from every address of the zone's servers, each judged on its SOA."""
    reach = follower.reach
    survey.checked = [s for s in follower.servers(zone) if not reach.left_out(s)]
    for server in survey.checked:
        answer = reach.ask(server, zone, "NS")
        survey.apex_set |= set(answer.ns) if answer.authoritative else set()
        _judge(reach, server, zone, survey)


def _ask_parent_only(zone: str, follower: Follower, survey: _Survey) -> None:
    """Servers only the parent lists are asked too: resolvers may pick them."""
    for host in sorted(survey.parent_set - survey.apex_set):
        try:
            extra = [dnsio.Server(a, name=host) for a in follower.recursive.addresses(host)]
        except dns.exception.DNSException as exc:
            survey.lame.append(f"{host}: no address ({exc})")
            continue
        for server in extra:
            if not follower.reach.left_out(server):
                _judge(follower.reach, server, zone, survey)


def _judge(reach: dnsio.Reach, server: dnsio.Server, zone: str, survey: _Survey) -> None:
    """One address's SOA answer: lame (the zone's fault) or unreachable from this host."""
    soa = reach.ask(server, zone, "SOA")
    status = propagation.classify(soa)
    if status == propagation.UNREACHABLE:
        survey.unreachable.append(f"{server}: {soa.describe()}\n      {server.dig(zone, 'SOA')}")
    elif status == propagation.LAME:
        survey.lame.append(f"{server}: {soa.describe()}{'' if soa.authoritative else ' (no AA)'}"
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
    return found
