"""The existing-values probe: TXT values already at the names to be written (stale records,
mistyped names), asked of the target zone's authoritative servers."""

from __future__ import annotations

import dns.message

from .. import dnsio
from ..codes import Code
from ..options import flag
from ..plan.routing import Route
from ..zones import Zones
from .findings import WARNING, Finding


def existing_values(route: Route, zones: Zones, ours: set[str], adding: int = 1
                    ) -> list[Finding]:
    """Values already at the target (stale-record), the answer's size once ``adding``
    values join them (oversized-answer), and records at a doubled name (wrong-name), asked
    of the target zone's authoritative servers only."""
    servers = zones.servers(route.zone)
    first = next((s for s in servers if zones.reach.usable(s)), None)
    whole = zones.reach.fetch(first, route.name, "TXT", dnssec=True) if first else None
    found = oversized(route, first, whole, adding)
    said = {server: dnsio.read(whole, route.name) if server == first and whole is not None
            else zones.reach.ask(server, route.name, "TXT") for server in servers}
    rows = [f"{server}: {answer.describe()}" for server, answer in said.items()]
    seen: dict[str, int | None] = {}
    for value in set().union(*(a.values for a in said.values())) - ours - _leaving(
            route, zones, said):
        seen[value] = max((a.ttl or 0) for a in said.values() if value in a.values)
    if seen:
        ttl = max((t or 0) for t in seen.values())
        found.append(Finding(
            Code.STALE_RECORD, WARNING, route.origin,
            f"{len(seen)} value(s) not from this run already sit at {route.name}; the CA "
            "accepts any matching value, but resolvers may keep serving the old set for "
            f"{ttl} s", "\n".join(rows),
            "remove old _acme-challenge values that no running issuance needs (or run with "
            f"{flag('remove-stale')} true), and keep their TTL short",
            values=tuple(sorted(seen)), where=(route.zone, route.name), ttl=ttl))
    doubled = f"{route.name}.{route.zone}"
    for server in [s for s in servers if zones.reach.usable(s)][:1]:
        answer = zones.reach.ask(server, doubled, "TXT")
        if answer.values:
            found.append(Finding(
                Code.WRONG_NAME, WARNING, route.origin,
                f"a TXT record sits at the doubled name {doubled}; the CA never reads it",
                f"{server}: {answer.describe()}\n      {server.dig(doubled, 'TXT')}",
                f"delete it; in provider UIs enter only '_acme-challenge' (the zone "
                f"{route.zone} is appended)"))
    return found


def oversized(route: Route, server: dnsio.Server | None,
              response: dns.message.Message | None, adding: int) -> list[Finding]:
    """The TXT answer the CA's validating resolver will get at the target (``response``:
    the answer ``server`` gives now, with the DO bit), with this run's ``adding`` values
    (43 characters each) beside those there now, DNSSEC signatures included: over
    `dnsio.UDP_SIZE` bytes it is truncated over UDP and whole only over TCP (RFC 7766); a
    resolver that does not retry over TCP, or a nameserver whose TCP port 53 is filtered,
    sees no TXT."""
    if server is None or response is None:
        return []
    now = dnsio.read(response, route.name)
    size = dnsio.predicted_size(response, route.name, [f"{i:043d}" for i in range(adding)])
    if size <= dnsio.UDP_SIZE:
        return []
    count = len(now.values) + adding
    return [Finding(
        Code.OVERSIZED_ANSWER, WARNING, route.origin,
        f"the TXT answer at {route.name} will be {size} bytes with this run's "
        f"{adding} value(s) beside the {len(now.values)} there now ({count} in all): "
        f"larger than {dnsio.UDP_SIZE} bytes, it is truncated over UDP and whole only "
        "over TCP; a CA resolver that does not retry over TCP, or a nameserver whose "
        "TCP port 53 is filtered, sees no TXT",
        f"{server}: {now.describe()} ({now.size} bytes now)\n"
        f"      {server.dig(route.name, 'TXT')} +dnssec +bufsize={dnsio.UDP_SIZE}",
        f"remove the values no running issuance needs (or run with "
        f"{flag('remove-stale')} true), and allow TCP port 53 to every nameserver",
        where=(route.zone, route.name))]


def _leaving(route: Route, zones: Zones, said: dict[dnsio.Server, dnsio.Answer]
             ) -> set[str]:
    """Values only servers behind the zone's newest serial still serve: removed at the
    primary already (a run's own value cleaned up seconds ago, which a secondary has not
    transferred yet), on their way out, nobody's stale record."""
    if all(not a.values for a in said.values()):
        return set()
    serials = dnsio.zone_serials(route.zone, list(said), zones.recursive, zones.reach.ask)
    newest = max((n for n in serials.values() if n is not None), default=None)
    if newest is None:
        return set()
    current = [a for s, a in said.items() if serials.get(s) == newest and a.answered]
    if not current:
        return set()
    everywhere_new = set().union(*(a.values for a in current))
    behind = set().union(*(a.values for s, a in said.items()
                           if serials.get(s) is not None and serials[s] < newest))
    return behind - everywhere_new
