"""The CNAMEs of a chain at every nameserver of their zones: one that some do not serve yet
(just added, not transferred to a secondary) answers the CA's resolver NXDOMAIN there, which
it caches for the zone's negative TTL. A run waits for them (`wait.Waiter`); `dns-autopilot
doctor` says so beforehand, and the hint reads the same answers after a failure.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import dnsio
from ..answers import BEHIND, Observation
from ..codes import Code
from ..plan.chain import Chain
from ..zones import Zones
from .findings import WARNING, Finding


def observe(chain: Chain, zones: Zones,
            query: Callable[..., dnsio.Answer] | None = None) -> tuple[Observation, ...]:
    """Each CNAME of ``chain`` asked of every address of its zone (recursion off)."""
    ask = query or zones.reach.ask
    return tuple(Observation(s, link.name, link.values, ask(s, link.name, "CNAME"),
                             rdtype="CNAME", zone=link.zone)
                 for link in chain.links() for s in zones.servers(link.zone))


def behind(observations: tuple[Observation, ...]) -> list[Observation]:
    """The addresses that answer with authority, without the CNAME (pure)."""
    return [obs for obs in observations if obs.status == BEHIND]


def cname_links(origin: str, chain: Chain | None, zones: Zones) -> list[Finding]:
    """A warning per CNAME that not every nameserver of its zone serves yet."""
    late = behind(observe(chain, zones)) if chain else []
    found = []
    for name in sorted({obs.name for obs in late}):
        rows = [obs for obs in late if obs.name == name]
        target = ", ".join(sorted(rows[0].expected))
        found.append(Finding(
            Code.SECONDARY_LAG, WARNING, origin,
            f"{len(rows)} nameserver address(es) of {rows[0].zone} do not serve the CNAME "
            f"{name} -> {target} yet: a CA resolver that asked one of them now would cache "
            "NXDOMAIN for the zone's negative TTL",
            "\n".join(obs.row() for obs in rows),
            "a certbot run with dns-autopilot waits until they serve it; if they never do, "
            "check NOTIFY (also-notify) and zone transfers from the primary (allow-transfer, "
            "TSIG for XFR, firewall)"))
    return found
