"""The delegation probe: does every nameserver of a zone answer for it, with one serial?"""

from __future__ import annotations

import dns.exception

from .. import dnsio
from ..codes import Code
from ..plan.chain import Follower
from ..wait import propagation
from .findings import ERROR, WARNING, Finding


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
        found.append(Finding(Code.LAME_DELEGATION, ERROR, zone,
                             "a listed nameserver refuses, fails or answers without authority",
                             sets + "\n" + "\n".join(lame),
                             "make every listed nameserver serve the zone, or remove it from "
                             "the NS sets at the registrar and at the apex"))
    if unreachable:
        none = len(unreachable) >= len(checked) and not apex_set
        found.append(Finding(
            Code.UNREACHABLE, WARNING, zone,
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
        found.append(Finding(Code.NS_MISMATCH, WARNING, zone,
                             "the parent's NS set and the zone's own NS set differ", sets,
                             "make the registrar's NS records match the zone's apex NS records "
                             "(and the DNS provider's nameservers)"))
    return found
