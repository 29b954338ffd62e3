"""Pre-flight probes: what can be known before any record is written or challenge answered.

Each probe returns findings (code, severity, evidence, fix). Decisions stay in small pure
functions (`caa`, `dnssec`, `findings`); one module per probe gathers the answers (`psl`,
`caa_probe`, `delegation`, `dnssec_probe`, `existing`, `permissions`, `ratelimits`), and
`run` asks them all; `cnames` (the chain's CNAMEs at every server) is doctor's and the hint's,
as a run waits for them instead.
Nothing here asks a recursive resolver a question whose answer could deny an
``_acme-challenge`` name: TXT and CAA lookups and zone cuts go to the authoritative servers
(`zones.Zones`), so no negative answer, nor an NSEC proof a resolver could deny a name from
(RFC 8198), is cached where this run or the CA looks next.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from .. import names
from ..codes import Code
from ..plan.routing import Route
from ..zones import Zones
from . import caa
from .caa_probe import caa_findings
from .delegation import delegation
from .dnssec_probe import dnssec_findings
from .existing import existing_values
from .findings import Finding, by_cause
from .permissions import permission
from .psl import public_suffix
from .ratelimits import probe as rate_limits

__all__ = ["ca_identities", "caa_findings", "delegation", "dnssec_findings", "existing_values",
           "permission", "public_suffix", "rate_limits", "run"]


def ca_identities(configured: str | None, directory_url: str | None) -> set[str]:
    """The ``caa-identities`` option, else the ACME directory's meta.caaIdentities."""
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


def run(routes: list[Route], domains: list[str], zones: Zones, identities: set[str],
        probe_permission: bool = False, requester: caa.Requester | None = None
        ) -> list[Finding]:
    """Every probe, for every name and zone of a run, before anything is written."""
    found = public_suffix(domains)
    written = {r.zone for r in routes} | {h.zone for r in routes if r.chain
                                           for h in r.chain.hops if h.zone}
    with ThreadPoolExecutor(max_workers=16) as pool:  # names are independent: ask at once
        for result in pool.map(lambda d: caa_findings(d, zones, identities, requester),
                               domains):
            found += result
        for result in pool.map(lambda z: delegation(z, zones), sorted(written)):
            found += result
        for result in pool.map(lambda z: dnssec_findings(z, zones), sorted(written)):
            found += result
        adding = Counter(names.validation_name(d) for d in domains)  # values per name
        for result in pool.map(lambda r: existing_values(r, zones, set(), adding[r.origin] or 1),
                               routes):
            found += result
    # A bogus CAA answer in a zone whose DS is already reported broken is that same cause.
    broken = {f.name for f in found if f.code == Code.DNSSEC_BROKEN}
    found = [f for f in found if not (f.code == Code.CAA_BLOCKED and f.where
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
