"""Live evidence at failure time: what every server says now, while our records still exist.

certbot calls ``auth_hint`` before cleanup, so this is the moment to ask: every address of
every nameserver of the zone we wrote (recursion off), the zone's serials (its SOA primary
included), the configured resolvers for the name the CA asked, the CNAME chain as it is now
with each of its CNAMEs at every server of its zone, the doubled name, and CAA or DNSSEC
where the CA's words point there. All questions go out at once and the whole gathering is
bounded in time; what did not come back in time is named, never waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from .. import dnsio, preflight
from ..answers import Observation
from ..errors import AutopilotError
from ..plan.chain import Chain, Follower
from ..preflight import caa, links
from ..preflight.findings import Finding
from .ca_errors import CaReading

BUDGET = 15.0  # seconds for all of a hint's questions: certbot's error report waits on them


@dataclass(frozen=True)
class Evidence:
    """One failed name: where we wrote, and what each server says now."""

    origin: str  # _acme-challenge.<domain>: the name the CA asked
    target: str  # where the values were written (after CNAMEs)
    zone: str
    run_values: frozenset[str]  # every value of this run at the target
    authoritative: tuple[Observation, ...] = ()
    serials: tuple[tuple[dnsio.Server, int | None], ...] = ()
    resolvers: tuple[Observation, ...] = ()
    chain_target: str | None = None
    chain_text: str = ""
    chain_error: str = ""
    links: tuple[Observation, ...] = ()  # each CNAME of the chain, at every server of its zone
    doubled: Observation | None = None
    negative_ttl: int | None = None
    findings: tuple[Finding, ...] = ()
    incomplete: str = ""
    #: the addresses the wait saw serving this run's values when it ended (none: no wait)
    served: frozenset[dnsio.Server] = frozenset()
    #: how the zone proves that a name does not exist: "nsec", "nsec3", or "" (unsigned):
    #: with NSEC, a resolver's earlier negative answer near the name denies it for a while
    denials: str = ""

    def before(self, code: str) -> Finding | None:
        """Pre-flight's finding of ``code`` about the records at the target, if any."""
        return next((f for f in self.findings if f.code == code), None)

    def as_dict(self) -> dict[str, Any]:
        """The complete evidence, for the event log and the failure hook."""
        def obs(o: Observation) -> dict[str, Any]:
            return {"server": str(o.server), "name": o.name, **o.answer.as_dict()}
        return {
            "origin": self.origin, "target": self.target, "zone": self.zone,
            "authoritative": [obs(o) for o in self.authoritative],
            "serials": {str(s): n for s, n in self.serials},
            "resolvers": [obs(o) for o in self.resolvers],
            "chain": self.chain_text, "chain_error": self.chain_error or None,
            "links": [obs(o) | {"cname": o.answer.cname} for o in self.links],
            "doubled": obs(self.doubled) if self.doubled else None,
            "negative_ttl": self.negative_ttl,
            "findings": [f.as_dict() for f in self.findings],
            "served": sorted(str(s) for s in self.served), "denials": self.denials or None,
            "incomplete": self.incomplete or None}


def gather(origin: str, target: str, zone: str, run_values: frozenset[str], domain: str,
           reading: CaReading, follower: Follower, identities: set[str],
           budget: float = BUDGET, query: Callable[..., dnsio.Answer] | None = None,
           requester: caa.Requester | None = None) -> Evidence:
    """Ask everything about one failed name at once; give up on what exceeds ``budget``.
    Addresses the run found unreachable are not asked again (the default ``query`` is the
    run's `dnsio.Reach`): they come back as unreachable, named as not checked."""
    zones = follower.zones
    query = query or zones.reach.ask
    deadline = time.monotonic() + budget
    pool = ThreadPoolExecutor(max_workers=16)
    try:
        servers = _bounded(pool, lambda: zones.servers(zone), deadline) or []
        jobs = _jobs(origin, target, zone, run_values, servers, follower, query)
        if reading.kind == "caa" or reading.typ == "caa":
            jobs["caa"] = lambda: tuple(preflight.caa_findings(domain, zones, identities,
                                                                  requester))
        if reading.kind in ("dnssec", "servfail"):
            jobs["dnssec"] = lambda: tuple(preflight.dnssec_findings(zone, zones))
        results, late, chain_error = _collect(pool, jobs, deadline)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    chain, links = results.get("chain") or (None, ())
    soa = next((o.answer for o in results.get("authoritative", ()) if o.answer.minimum), None)
    return Evidence(
        origin=origin, target=target, zone=zone, run_values=run_values,
        authoritative=results.get("authoritative", ()), serials=results.get("serials", ()),
        resolvers=results.get("resolvers", ()),
        chain_target=chain.final if chain else None,
        chain_text=chain.describe() if chain else "", chain_error=chain_error, links=links,
        doubled=results.get("doubled"), denials=results.get("denials", ""),
        negative_ttl=_negative_ttl(soa, servers, zone, query),
        findings=results.get("caa", ()) + results.get("dnssec", ()),
        incomplete=(f"no answer within {budget:.0f} s for: {', '.join(late)}" if late else ""))


def _jobs(origin: str, target: str, zone: str, run_values: frozenset[str],
          servers: list[dnsio.Server], follower: Follower,
          query: Callable[..., dnsio.Answer]) -> dict[str, Callable[[], Any]]:
    """The questions every failed name gets: each server for the target, the serials, the
    resolvers for the name the CA asked, the chain as it is now, the doubled name."""
    recursive = follower.zones.recursive
    return {
        "authoritative": lambda: tuple(
            Observation(s, target, run_values, query(s, target, "TXT")) for s in servers),
        "serials": lambda: tuple(dnsio.zone_serials(zone, servers, recursive, query).items()),
        "resolvers": lambda: tuple(
            Observation(r, origin, run_values, query(r, origin, "TXT", recurse=True), True)
            for r in recursive.servers),
        "chain": lambda: _chain_and_links(origin, follower, query),
        "denials": lambda: _denials(zone, servers, follower),
        "doubled": lambda: next((Observation(s, f"{target}.{zone}", run_values,
                                             query(s, f"{target}.{zone}", "TXT"))
                                 for s in servers if follower.zones.reach.usable(s)), None),
    }


def _chain_and_links(origin: str, follower: Follower, query: Callable[..., dnsio.Answer]
                     ) -> tuple[Chain, tuple[Observation, ...]]:
    """The chain as it is now, and each of its CNAMEs asked of every server of its zone: one
    without it answered the CA's resolver with no CNAME (cached for the negative TTL)."""
    chain = follower.follow(origin)
    return chain, links.observe(chain, follower.zones, query)


def _collect(pool: ThreadPoolExecutor, jobs: dict[str, Callable[[], Any]], deadline: float
             ) -> tuple[dict[str, Any], list[str], str]:
    """Run every job at once until ``deadline``: (results, what came late or failed, the
    chain follower's own diagnosis if it raised one)."""
    futures = {key: pool.submit(job) for key, job in jobs.items()}
    wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
    results: dict[str, Any] = {}
    late, chain_error = [], ""
    for key, future in futures.items():
        if not future.done():
            late.append(key)
            continue
        try:
            results[key] = future.result()
        except AutopilotError as exc:  # the chain follower's own diagnosis
            chain_error = exc.problem
        except Exception as exc:  # noqa: BLE001 - evidence is best effort, never fatal
            late.append(f"{key} ({type(exc).__name__})")
    return results, late, chain_error


def _bounded(pool: ThreadPoolExecutor, job: Callable[[], Any], deadline: float) -> Any:
    future = pool.submit(job)
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except Exception:  # noqa: BLE001 - a lookup that fails or hangs leaves the list empty
        return None


def _negative_ttl(answer: dnsio.Answer | None, servers: list[dnsio.Server], zone: str,
                  query: Callable[..., dnsio.Answer]) -> int | None:
    """The zone's negative-caching TTL (RFC 2308: the SOA minimum), from one nameserver."""
    if answer is not None and answer.minimum is not None:
        return answer.minimum
    if not servers:
        return None
    return query(servers[0], zone, "SOA").minimum


def _denials(zone: str, servers: list[dnsio.Server], follower: Follower) -> str:
    """How the zone denies names: "nsec3" when it publishes NSEC3PARAM, "nsec" when it is
    signed otherwise (its parent holds DS), "" when unsigned. Asked of its servers."""
    from ..preflight.dnssec_probe import signed

    reach = follower.zones.reach
    for server in [s for s in servers if reach.usable(s)][:1]:
        if dnsio.records(reach.fetch(server, zone, "NSEC3PARAM"), zone, "NSEC3PARAM"):
            return "nsec3"
    return "nsec" if signed(follower.zones, zone) else ""
