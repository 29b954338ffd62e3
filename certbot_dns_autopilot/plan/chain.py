"""Following the CNAME chain of an ``_acme-challenge`` name, asking authoritative servers.

The CA follows CNAMEs from ``_acme-challenge.<domain>``; so must the writer. Each hop is
asked of the nameservers of its own zone with recursion off, never of a cache: a cached
answer could be stale, and asking a resolver for an ``_acme-challenge`` name would cache a
negative answer exactly where the CA looks next. Zone cuts are found at the
authoritative servers too, from the parents' delegations down (`zones.Zones`).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception

from .. import dnsio, names
from ..answers import cname_targets
from ..codes import Code
from ..errors import AutopilotError
from ..options import flag
from ..zones import Zones
from . import Target

MAX_HOPS = 8


@dataclass(frozen=True)
class Hop:
    """One name of the chain, where it lives, and who said so."""

    name: str
    zone: str
    server: str
    cname: str | None = None


@dataclass(frozen=True)
class Chain:
    origin: str
    hops: tuple[Hop, ...]
    wildcard: str | None = None  # set when a wildcard CNAME answered for the origin
    unchecked: str = ""  # set when the last hop's nameservers could not be asked from here

    @property
    def final(self) -> str:
        return self.hops[-1].name

    @property
    def zone(self) -> str:
        return self.hops[-1].zone

    @property
    def aliased(self) -> bool:
        return len(self.hops) > 1

    def describe(self) -> str:
        return " -> ".join(f"{hop.name} (zone {hop.zone or '.'}, said {hop.server})"
                           for hop in self.hops)

    def links(self) -> list[Target]:
        """Each CNAME of the chain, as something every server of its zone must serve
        before the CA asks: a server without it answers NXDOMAIN, which the CA's resolver
        caches for the zone's negative TTL."""
        return [Target(hop.zone, hop.name, frozenset({hop.cname}), "CNAME")
                for hop in self.hops if hop.cname]


class _NoneReachable(Exception):
    """No nameserver of a zone answered anything from this host (port 53 filtered...)."""


def _parent(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else ""


class Follower:
    """Resolves chains hop by hop at the authoritative servers of each hop's zone (the
    run's `zones.Zones`: zone cuts and servers found from the parents' delegations)."""

    def __init__(self, zones: Zones) -> None:
        self.zones = zones
        self._query = zones.reach.ask

    def _ask(self, name: str, zone: str) -> tuple[dnsio.Answer, dnsio.Server, str]:
        """The zone's authoritative answer for ``name``, following referrals into child
        zones; returns the answer, who gave it, and the zone. Every server of the zone is
        asked (at once): a CNAME only some of them serve yet (just added, not yet
        transferred to a secondary) is still the chain's link, which the wait then holds
        until all serve it. Raises `_NoneReachable` when no server of the zone answered
        anything from this host."""
        for _ in range(MAX_HOPS):
            servers = self.zones.servers(zone)
            answers = self._ask_each(servers, name)
            tried = [f"{server}: {answer.describe()}" for server, answer in answers]
            referral = next((a.referral for _, a in answers  # a delegation below the zone
                             if a.referral and a.referral != zone
                             and (not zone or a.referral.endswith(f".{zone}"))), None)
            if referral:
                zone = referral
                continue
            said = [(s, a) for s, a in answers if a.authoritative
                    and a.rcode in ("NOERROR", "NXDOMAIN")]
            targets = cname_targets(a for _, a in said)
            if len(targets) > 1:
                raise AutopilotError(
                    Code.CNAME_ALIAS,
                    f"the nameservers of {zone} disagree on the CNAME at {name}: "
                    + "; ".join(sorted(targets)),
                    "wait until the change reached every nameserver of the zone (or repair "
                    "the transfers to the one that differs), then run again",
                    evidence="\n".join(f"  {row}\n      {s.dig(name, 'CNAME')}"
                                       for (s, _), row in zip(answers, tried, strict=True)))
            for server, answer in said:
                if answer.cname in targets or not targets:
                    return answer, server, zone
            if tried and not any(a.answered for _, a in answers):
                raise _NoneReachable(next((a.error for _, a in answers if a.error), ""))
            raise AutopilotError(
                Code.LAME_DELEGATION,
                f"no nameserver of {zone or 'the root'} answered authoritatively for {name}",
                "make every nameserver in the zone's NS set answer for it",
                evidence="\n".join(f"  {row}" for row in tried) or "  (no nameservers)")
        raise AutopilotError(Code.LAME_DELEGATION, f"too many referrals below {zone} for {name}",
                             "check the delegations of the zone")

    def _ask_each(self, servers: list[dnsio.Server], name: str
                  ) -> list[tuple[dnsio.Server, dnsio.Answer]]:
        """``name``'s CNAME asked of every server at once (one round, not one per server)."""
        if len(servers) < 2:
            return [(s, self._query(s, name, "CNAME")) for s in servers]
        with ThreadPoolExecutor(max_workers=min(len(servers), 16)) as pool:
            return list(zip(servers, pool.map(lambda s: self._query(s, name, "CNAME"),
                                              servers), strict=True))

    def _zone_of(self, name: str, chain: list[Hop], origin: str) -> str:
        """The zone of a hop; for a CNAME target, no zone below a TLD means dangling."""
        try:
            zone = self.zones.zone_of(name)
        except dns.exception.DNSException as exc:
            zone, error = "", str(exc)
        else:
            error = ""
        if chain and (not zone or "." not in zone):
            so_far = " -> ".join(h.name for h in chain) + f" -> {name}"
            raise AutopilotError(
                Code.CNAME_ALIAS,
                f"the CNAME chain of {origin} is dangling: no zone encloses {name}"
                + (f" ({error})" if error else ""),
                f"point the CNAME at a name in a zone that exists and that a configured writer "
                f"serves, or remove it. Chain: {so_far}")
        if not zone:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND,
                f"no zone encloses {origin}" + (f" ({error})" if error else ""),
                "check the spelling, that the domain is registered and delegated, and that the "
                f"resolvers ({flag('resolvers')}, or the system's) answer from this host")
        return zone

    def follow(self, origin: str) -> Chain:
        """The chain from ``origin`` to the name that holds (or will hold) the TXT."""
        hops: list[Hop] = []
        seen = {origin}
        name = origin
        while True:
            zone = self._zone_of(name, hops, origin)
            try:
                answer, server, zone = self._ask(name, zone)
            except _NoneReachable as exc:
                hops.append(Hop(name, zone, "not checked"))
                return Chain(origin, tuple(hops), unchecked=(
                    f"a CNAME at {name} could not be looked for: no nameserver of {zone} "
                    f"answered from this host ({exc}); writing at {name} (if it is an alias, "
                    "say so in dns_autopilot_aliases)"))
            if answer.cname is None:
                hops.append(Hop(name, zone, str(server)))
                return Chain(origin, tuple(hops))
            hops.append(Hop(name, zone, str(server), answer.cname))
            if not hops[1:] and self._wildcard(name, answer.cname, server):
                # Not followed: the chain ends at the wildcard's CNAME, for the router to judge.
                return Chain(origin, tuple(hops), wildcard=f"*.{_parent(name)}")
            chain_text = " -> ".join(h.name for h in hops) + f" -> {answer.cname}"
            if answer.cname in seen:
                raise AutopilotError(
                    Code.CNAME_ALIAS, f"the CNAME chain of {origin} loops", "break the loop: "
                    f"point one of the CNAMEs at a name that holds records. Chain: {chain_text}")
            if len(hops) >= MAX_HOPS:
                raise AutopilotError(
                    Code.CNAME_ALIAS, f"the CNAME chain of {origin} is longer than {MAX_HOPS} hops",
                    f"point {origin} directly at the final name. Chain: {chain_text}")
            try:  # a target from the zone's data: it must be a host name we can write at
                names.normalize(answer.cname)
            except ValueError as exc:
                raise AutopilotError(
                    Code.CNAME_ALIAS, f"the CNAME chain of {origin} points at a name no writer can "
                    f"hold a record at ({exc})", "point the CNAME at a host name (letters, "
                    f"digits, '-', '_') in a zone a configured writer serves. Chain: "
                    f"{chain_text}") from None
            seen.add(answer.cname)
            name = answer.cname

    def _wildcard(self, name: str, target: str, server: dnsio.Server) -> bool:
        """A sibling that cannot exist gets the same CNAME: a wildcard answers for both."""
        sibling = f"_autopilot-{uuid.uuid4().hex[:8]}.{_parent(name)}"
        return self._query(server, sibling, "CNAME").cname == target
