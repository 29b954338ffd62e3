"""Waiting on evidence: every authoritative address first, then the recursive resolvers.

No fixed sleep: the run goes on as soon as every nameserver address of each target zone
serves every expected value (asked directly, recursion off, concurrently), and then as
soon as each configured resolver returns them for the name the CA will ask. Resolvers are
asked only after the authoritative phase passed, so a negative answer is never cached
where the CA looks next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import dns.exception

from . import dnsio, propagation
from .errors import AutopilotError
from .plan import Target
from .propagation import Observation

logger = logging.getLogger(__name__)

FIRST_INTERVAL = 0.25
MAX_INTERVAL = 5.0
MAX_PARALLEL = 32

Query = Callable[..., dnsio.Answer]


class Waiter:
    """Polls until the evidence says the CA will find the values, or the timeout passes."""

    def __init__(self, recursive: dnsio.Recursive, timeout: float, public_check: bool = True,
                 query: Query = dnsio.ask, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.recursive = recursive
        self.timeout = timeout
        self.public_check = public_check
        self._query = query
        self._clock = clock
        self._sleep = sleep

    def wait(self, targets: Sequence[Target]) -> dict[str, float]:
        """Block until propagated; returns seconds spent per phase. Raises AutopilotError."""
        start = self._clock()
        deadline = start + self.timeout
        servers = {zone: self.nameserver_addresses(zone) for zone in {t.zone for t in targets}}
        self._authoritative(targets, servers, deadline)
        timings = {"authoritative": self._clock() - start}
        if self.public_check:
            public_start = self._clock()
            self._public(targets, deadline)
            timings["public"] = self._clock() - public_start
        return timings

    def nameserver_addresses(self, zone: str) -> list[dnsio.Server]:
        """Every address of every nameserver of ``zone``, as the resolvers see the NS set."""
        try:
            hosts = self.recursive.nameservers(zone)
        except dns.exception.DNSException as exc:
            raise AutopilotError(
                "lame-delegation", f"the NS set of {zone} could not be resolved: {exc}",
                "check the zone's delegation (dig NS at the parent) and "
                "--dns-autopilot-resolvers") from None
        servers = []
        for host in hosts:
            try:
                servers += [dnsio.Server(address=a, name=host)
                            for a in self.recursive.addresses(host)]
            except dns.exception.DNSException as exc:
                logger.warning("dns-autopilot: nameserver %s of %s has no address: %s",
                               host, zone, exc)
        if not servers:
            raise AutopilotError(
                "lame-delegation", f"no nameserver of {zone} ({', '.join(hosts)}) has an address",
                "publish A/AAAA records (and glue) for the zone's nameservers")
        return sorted(servers)

    def _ask_all(self, pairs: Sequence[tuple[dnsio.Server, Target]], recurse: bool
                 ) -> list[Observation]:
        def one(pair: tuple[dnsio.Server, Target]) -> Observation:
            server, target = pair
            answer = self._query(server, target.name, "TXT", recurse=recurse)
            return Observation(server, target.name, target.values, answer, recurse)
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(len(pairs), 1))) as pool:
            return list(pool.map(one, pairs))

    def _authoritative(self, targets: Sequence[Target], servers: dict[str, list[dnsio.Server]],
                       deadline: float) -> None:
        waiting = [(server, t) for t in targets for server in servers[t.zone]]
        total, interval, rounds = len(waiting), FIRST_INTERVAL, 0
        logger.info("dns-autopilot: waiting for %d name(s) on %d authoritative address(es)",
                    len(targets), len({s for s, _ in waiting}))
        while True:
            rounds += 1
            observations = self._ask_all(waiting, recurse=False)
            behind = propagation.pending(observations)
            logger.debug("dns-autopilot: authoritative round %d: %d of %d served", rounds,
                         total - len(behind), total)
            if not behind:
                return
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise self._authoritative_timeout(behind, servers)
            self._sleep(min(interval, remaining))
            interval = min(interval * 1.5, MAX_INTERVAL)
            waiting = [(obs.server, t) for obs in behind for t in targets if t.name == obs.name]

    def _authoritative_timeout(self, behind: list[Observation],
                               servers: dict[str, list[dnsio.Server]]) -> AutopilotError:
        serials: dict[dnsio.Server, int | None] = {}
        for zone, zone_servers in servers.items():
            for server in zone_servers:
                serials[server] = self._query(server, zone, "SOA").serial
        code = propagation.authoritative_code(behind, serials)
        rows = "\n".join(obs.row() + _serial_note(serials.get(obs.server)) for obs in behind)
        fixes = {
            "lame-delegation": "make every listed nameserver answer authoritatively for the "
                               "zone, or remove it from the NS set",
            "secondary-lag": "check the primary's NOTIFY/also-notify and the secondary's "
                             "transfer (allow-transfer, TSIG for XFR, firewall)",
            "propagation-timeout": "check that the writer's server is a primary of this zone "
                                   "and that the others transfer from it; or raise "
                                   "--dns-autopilot-propagation-timeout",
        }
        return AutopilotError(
            code,
            f"not every authoritative server served the challenge value(s) within "
            f"{self.timeout:.0f} s",
            fixes[code], evidence="Servers still behind:\n" + rows)

    def _public(self, targets: Sequence[Target], deadline: float) -> None:
        for resolver in self.recursive.servers:
            for target in targets:
                while True:
                    [obs] = self._ask_all([(resolver, target)], recurse=True)
                    if obs.served:
                        break
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        raise AutopilotError(
                            "resolver-disagreement",
                            f"every authoritative server serves {target.name}, but resolver "
                            f"{resolver} does not within {self.timeout:.0f} s",
                            "if the resolver caches an old answer, wait its TTL out or raise "
                            "--dns-autopilot-propagation-timeout; for split-horizon DNS, list "
                            "resolvers that see the public view in --dns-autopilot-resolvers",
                            evidence=obs.row())
                    pause = min(propagation.cached_wait(obs.answer), remaining)
                    logger.info("dns-autopilot: resolver %s still answers %s for %s (cached "
                                "for up to %d s); waiting %.1f s", resolver,
                                obs.answer.describe(), target.name, obs.answer.ttl or 0, pause)
                    self._sleep(pause)


def _serial_note(serial: int | None) -> str:
    return f"\n      zone SOA serial there: {serial}" if serial is not None else ""
