"""The existing-values probe: TXT values already at the names to be written (stale records,
mistyped names), asked of the target zone's authoritative servers."""

from __future__ import annotations

from ..codes import Code
from ..options import flag
from ..plan.chain import Follower
from ..plan.routing import Route
from .findings import WARNING, Finding


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
            Code.STALE_RECORD, WARNING, route.origin,
            f"{len(seen)} value(s) not from this run already sit at {route.name}; the CA "
            "accepts any matching value, but resolvers may keep serving the old set for "
            f"{ttl} s", "\n".join(rows),
            "remove old _acme-challenge values that no running issuance needs (or run with "
            f"{flag('remove-stale')} true), and keep their TTL short",
            values=tuple(sorted(seen)), where=(route.zone, route.name), ttl=ttl))
    doubled = f"{route.name}.{route.zone}"
    for server in [s for s in servers if follower.reach.usable(s)][:1]:
        answer = follower.reach.ask(server, doubled, "TXT")
        if answer.values:
            found.append(Finding(
                Code.WRONG_NAME, WARNING, route.origin,
                f"a TXT record sits at the doubled name {doubled}; the CA never reads it",
                f"{server}: {answer.describe()}\n      {server.dig(doubled, 'TXT')}",
                f"delete it; in provider UIs enter only '_acme-challenge' (the zone "
                f"{route.zone} is appended)"))
    return found
