"""What a run and `dns-autopilot doctor` ask the DNS through, built one way for both: the
resolvers (each asked about the root before anything else), the zones as their parents
delegate them, and the router that follows each name's CNAME chain to its writer."""

from __future__ import annotations

from dataclasses import dataclass

from . import dnsio, resolvers
from .plan import aliases
from .plan.chain import Follower
from .plan.routing import Router
from .preflight.findings import ERROR, Finding
from .writers import WriterMap
from .zones import Zones


@dataclass
class Lookups:
    """The resolvers' check, and (when a resolver works) the zones and the router."""

    findings: list[Finding]
    zones: Zones | None = None
    router: Router | None = None


def build(writers: WriterMap, alias_list: list[aliases.Alias], resolvers_text: str | None,
          family: str = "any", authoritative: bool = True, follow_cnames: bool = True
          ) -> Lookups:
    """The resolvers checked first (`resolvers.check`: with none working, nothing else is
    built, since every later question would fail as if the zone were at fault), then the
    zones and the router over them.

    :raises certbot.errors.PluginError: the resolvers option is not a list of resolvers.
    """
    recursive = dnsio.Recursive(resolvers.parse(resolvers_text))
    found = resolvers.check(recursive)
    if any(f.severity == ERROR for f in found):
        return Lookups(found)
    zones = Zones(recursive, dnsio.Reach(family, authoritative=authoritative))
    return Lookups(found, zones, Router(writers, Follower(zones), alias_list,
                                        follow_cnames=follow_cnames))
