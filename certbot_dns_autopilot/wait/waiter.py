"""Waiting on evidence: every authoritative address first, then the recursive resolvers.

No fixed sleep: the run goes on as soon as every nameserver address of each target zone
serves every expected value (asked directly, recursion off, concurrently), and then as
soon as each configured resolver returns them for the name the CA will ask. Resolvers are
asked only after the authoritative phase passed, so a negative answer is never cached
where the CA looks next; a resolver that still holds an old answer is waited out for the
TTL it reports, and the wait is said, not silent.

Each CNAME on the way from the CA's name to the written one is a link every server of its
zone must serve too (``links``): a secondary that has not transferred a CNAME just added
answers NXDOMAIN, which the CA's resolver would cache for the zone's negative TTL. Links are
polled beside the values, in the same rounds; a run without CNAMEs has none.

An address this host cannot reach (no route, an address family it cannot use, nothing
answering over UDP nor TCP) is not the zone's fault: it is asked once, named as not
checked, and the wait goes on without it. When no address of a zone answers at all (port 53
filtered), the resolvers alone decide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import dns.exception
from certbot import errors

from .. import answers, dnsio
from ..answers import Observation
from ..codes import Code
from ..errors import AutopilotError
from ..events import EventLog
from ..options import flag
from ..plan import Target
from ..zones import Zones

logger = logging.getLogger(__name__)

FIRST_INTERVAL = 0.25
MAX_INTERVAL = 5.0
MAX_PARALLEL = 32
PROGRESS_EVERY = 5.0
RESOLVER_STRIKES = 2  # rounds in a row a resolver answers nothing before it is left out
MAX_REPUBLISH = 2  # rewrites of values another writer removed, per run (once per name)
WATCH_EVERY = 1.0  # seconds between two checks that what served the values still does

Query = Callable[..., dnsio.Answer]
Pair = tuple[dnsio.Server, Target]


class Waiter:
    """Polls until the evidence says the CA will find the values, or the timeout passes."""

    def __init__(self, zones: Zones, timeout: float, public_check: bool = True,
                 events: EventLog | None = None, progress: Callable[[str], None] | None = None,
                 query: Query | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 stopping: Callable[[], bool] = lambda: False,
                 authoritative_check: bool = True,
                 republish: Callable[[Target], None] | None = None) -> None:
        """``zones``: the run's zones (their servers as the parents delegate them, and the
        run's reach and resolvers); ``query``: how the resolvers are asked (default: the
        reach's own, past its filter); ``republish``: writes a target's values again, when
        another writer removed them during the wait (None: such a run stops)."""
        self.zones = zones
        self.recursive = zones.recursive
        self.timeout = timeout
        self.public_check = public_check
        self.authoritative_check = authoritative_check
        self.reach = zones.reach
        #: addresses not verified from this host, with why (set by `wait`)
        self.unverified: dict[dnsio.Server, str] = {}
        self.events = events or EventLog()
        self._progress = progress or (lambda text: None)
        self._query = query or self.reach.query  # the resolvers': past the reach's filter
        self._clock = clock
        self._sleep = sleep
        self._stopping = stopping  # a termination signal arrived: stop waiting at once
        self._said: set[tuple[dnsio.Server, str]] = set()  # CNAME links said to be behind
        self._strikes: dict[dnsio.Server, int] = {}  # rounds in a row a resolver failed
        self._silent: dict[dnsio.Server, str] = {}  # resolvers left out, with why
        self._verified = False  # every authoritative address asked served the values
        #: addresses whose answer came truncated over UDP and not over TCP
        self.truncated: dict[dnsio.Server, str] = {}
        self._republish = republish
        self.republished: list[str] = []  # names whose values were written again
        self._serving: set[Pair] = set()  # seen serving this run's values
        self._last_watch = clock()  # when they were last asked again
        self._targets: dict[tuple[str, str], Target] = {}
        #: resolvers that denied a name from a proof cached before the write
        self.denials: dict[tuple[dnsio.Server, str], dnsio.Answer] = {}

    def wait(self, targets: Sequence[Target], asked: Sequence[Target] | None = None,
             links: Sequence[Target] = ()) -> dict[str, float]:
        """Block until every target, and every CNAME link of the chains (``links``), is
        served at its zone's servers, then (public check) until the resolvers answer
        ``asked`` (the CA's names; default: the targets) with their values. Returns seconds
        spent per phase; raises AutopilotError."""
        start = self._clock()
        deadline = start + self.timeout
        timings: dict[str, float] = {}
        if self.authoritative_check:
            polled = [*targets, *links]
            servers = {zone: self.nameserver_addresses(zone)
                       for zone in sorted({t.zone for t in polled})}
            self._skip_unusable(servers)
            pairs = [(server, t) for t in polled for server in servers[t.zone]
                     if server not in self.unverified]
            behind = self._poll("authoritative", pairs, deadline, recurse=False)
            if behind:
                raise self._authoritative_timeout(behind, servers)
            self._whole_answers(pairs)
            self._truncated_caught_up(pairs, deadline)
            self._verified = any(server not in self.unverified and server not in self.truncated
                                 for server, _ in pairs)
            self._resolvers_only(servers)
            timings["authoritative"] = self._clock() - start
        else:
            self.events.emit("authoritative-skipped", "off",
                             reason=f"{flag('authoritative-check')} false")
        if self.public_check:
            public_start = self._clock()
            pairs = [(resolver, t) for t in (asked or targets)
                     for resolver in self.recursive.servers]
            behind = self._poll("public", pairs, deadline, recurse=True)
            if behind:
                raise self._public_timeout(behind)
            timings["public"] = self._clock() - public_start
        self.events.emit("wait-done", "ok", duration_ms=(self._clock() - start) * 1000,
                         unverified=[f"{s}: {why}" for s, why in sorted(self.unverified.items())],
                         resolvers_left_out=[f"{s}: {why}" for s, why in
                                             sorted(self._silent.items())],
                         cached_denials=[f"{name} @ {s}: {a.denial}" for (s, name), a in
                                         sorted(self.denials.items())],
                         **{f"{k}_s": round(v, 3) for k, v in timings.items()})
        return timings

    def serving(self) -> dict[str, frozenset[dnsio.Server]]:
        """Each name's authoritative addresses that served this run's values when the wait
        ended (the hint tells a value removed afterwards from one never served)."""
        found: dict[str, set[dnsio.Server]] = {}
        for server, target in self._serving:
            if target.rdtype == "TXT":
                found.setdefault(target.name, set()).add(server)
        return {name: frozenset(servers) for name, servers in found.items()}

    def _skip_unusable(self, servers: dict[str, list[dnsio.Server]]) -> None:
        """Addresses of a family left out, or this host has no route to: one notice per
        family, naming the nameservers, never an error."""
        by_reason: dict[str, list[dnsio.Server]] = {}
        for server in sorted({s for zone in servers.values() for s in zone}):
            why = self.reach.why_not(server)
            if why:
                self.unverified[server] = why
                by_reason.setdefault(why, []).append(server)
        for why, skipped in by_reason.items():
            self.events.emit("unreachable", "skipped", servers=[str(s) for s in skipped],
                             reason=why)
            self._progress(f"dns-autopilot: {why}: the addresses "
                           f"{', '.join(str(s) for s in skipped)} were not checked; the CA may "
                           "use them")

    def _resolvers_only(self, servers: dict[str, list[dnsio.Server]]) -> None:
        """Say once per zone when none of its addresses could be asked from here."""
        for zone, zone_servers in servers.items():
            if zone_servers and all(s in self.unverified for s in zone_servers):
                decides = ("the resolvers decide" if self.public_check else
                           f"nothing was verified ({flag('public-check')} false)")
                self.events.emit("resolvers-only", "warning", zone,
                                 servers=[str(s) for s in zone_servers])
                logger.warning("dns-autopilot: resolvers only for %s: the authoritative "
                               "servers are unreachable from this host; %s", zone, decides)
                self._progress(f"dns-autopilot: resolvers only for {zone}: the "
                               f"authoritative servers are unreachable from this host; "
                               f"{decides}")

    def nameserver_addresses(self, zone: str) -> list[dnsio.Server]:
        """Every address of every nameserver of ``zone``: the hosts its parent delegates
        to and those its apex lists (`zones.Zones.servers`, found once per run)."""
        with self.events.step("nameservers", zone) as step:
            try:
                servers = self.zones.servers(zone)
                hosts = self.zones.delegation(zone).hosts
            except dns.exception.DNSException as exc:
                raise AutopilotError(
                    Code.LAME_DELEGATION, f"the NS set of {zone} could not be resolved: "
                    f"{dnsio.reason(exc)}", "check the zone's delegation (dig NS at the "
                    f"parent) and {flag('resolvers')}") from None
            step["servers"] = [str(s) for s in servers]
        if not servers:
            raise AutopilotError(
                Code.LAME_DELEGATION,
                f"no nameserver of {zone} ({', '.join(hosts) or 'none found'}) has an address",
                "publish A/AAAA records (and glue) for the zone's nameservers")
        return servers

    def _ask_all(self, phase: str, pairs: Sequence[Pair], recurse: bool,
                 watched: Sequence[Pair] = ()) -> list[Observation]:
        """Each pair asked at once; ``watched`` pairs (seen serving before) are logged only
        when they no longer serve, not at every check."""
        quiet = set(watched)

        def one(pair: Pair) -> Observation:
            server, target = pair
            started = self._clock()
            if recurse:  # with DO: a denial comes with the NSEC it was proven from
                answer = self._query(server, target.name, target.rdtype, recurse=True,
                                     dnssec=True)
            else:
                answer = self.reach.ask(server, target.name, target.rdtype)
            obs = Observation(server, target.name, target.values, answer, recurse,
                              target.rdtype, target.zone)
            if pair in quiet and obs.served:
                return obs
            link = {"rdtype": "CNAME", "cname": answer.cname} if target.rdtype == "CNAME" else {}
            self.events.emit("query", "served" if obs.served else "missing", target.name,
                             (self._clock() - started) * 1000, phase=phase, server=str(server),
                             answer=answer.as_dict(), **link)
            return obs
        asked = list(pairs) + list(watched)
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(len(asked), 1))) as pool:
            return list(pool.map(one, asked))

    def _poll(self, phase: str, pairs: Sequence[Pair], deadline: float, recurse: bool
              ) -> list[Observation]:
        """Re-ask only what is behind until nothing is, or the deadline; returns what is."""
        total, interval, rounds, all_pairs = len(pairs), FIRST_INTERVAL, 0, list(pairs)
        targets = {(t.name, t.rdtype): t for _, t in pairs}
        self._targets.update(targets)
        last_progress = self._clock()
        while True:
            if self._stopping():
                raise errors.SignalExit("a termination signal arrived during the wait")
            rounds += 1
            started = self._clock()
            watched = [] if recurse else self._watched(pairs)
            observed = self._ask_all(phase, pairs, recurse, watched)
            behind = answers.pending(observed[:len(pairs)])
            if not recurse:
                behind += self._regressions(observed)
                behind = self._drop_truncated(self._drop_unreachable(behind))
                self._links_behind(behind)
            else:
                behind = self._drop_silent_resolvers(behind, pairs)
                behind = self._drop_cached_denials(behind)
            unverified = sum(1 for server, _ in all_pairs if server in self.unverified)
            self.events.emit(f"{phase}-round", "done" if not behind else "waiting",
                             duration_ms=(self._clock() - started) * 1000, round=rounds,
                             served=total - len(behind) - unverified, total=total,
                             **({"unverified": unverified} if unverified else {}))
            remaining = deadline - self._clock()
            if not behind or remaining <= 0:
                return behind
            if recurse:
                # A resolver keeps what it cached until the TTL it reports runs out.
                pause = min(answers.cached_wait(obs.answer) for obs in behind)
                for obs in behind:
                    self.events.emit("public-wait", "waiting", obs.name, server=str(obs.server),
                                     answer=obs.answer.as_dict(), seconds=pause,
                                     reason="resolver still serves a cached answer without "
                                            "the value; waiting out its TTL")
            else:
                pause = interval
                interval = min(interval * 1.5, MAX_INTERVAL)
            if self._clock() - last_progress >= PROGRESS_EVERY or (recurse and pause > 2):
                self._progress(_progress_line(phase, behind, total))
                last_progress = self._clock()
            self._sleep(min(pause, remaining))
            pairs = [(obs.server, targets[(obs.name, obs.rdtype)]) for obs in behind]

    def _watched(self, asking: Sequence[Pair]) -> list[Pair]:
        """The pairs already seen serving this run's values, asked again (another writer
        may remove the values while others lag), at most every `WATCH_EVERY` seconds."""
        if self._clock() - self._last_watch < WATCH_EVERY:
            return []
        self._last_watch = self._clock()
        now = set(asking)
        return [pair for pair in self._serving if pair not in now]

    def _regressions(self, observed: list[Observation]) -> list[Observation]:
        """Note what serves the values now, and find what served them and no longer does:
        another writer removed them (the set replaced, the value deleted). The first time
        for a name, its values are written again (`republish`, at most `MAX_REPUBLISH` per
        run) and waited for anew; a second time, the run stops (``write-conflict``)."""
        regressed: list[Observation] = []
        for obs in observed:
            pair = (obs.server, self._targets[(obs.name, obs.rdtype)])
            if obs.served:
                self._serving.add(pair)
            elif pair in self._serving and obs.status == answers.BEHIND and \
                    obs.rdtype == "TXT":
                self._serving.discard(pair)
                regressed.append(obs)
        for target in {self._targets[(o.name, o.rdtype)] for o in regressed}:
            gone = [o for o in regressed if o.name == target.name]
            self._republish_or_stop(target, gone)
        return regressed

    def _republish_or_stop(self, target: Target, gone: list[Observation]) -> None:
        serial = self.reach.ask(gone[0].server, target.zone, "SOA").serial
        rows = [f"{o.server}: {o.answer.describe()}" for o in gone]
        where = f"at serial {serial} of {target.zone}" if serial is not None else "now"
        self.events.emit("values-removed", "regression", target.name, serial=serial,
                         servers=[str(o.server) for o in gone],
                         answers=[o.answer.as_dict() for o in gone])
        if self._republish is None or target.name in self.republished or \
                len(self.republished) >= MAX_REPUBLISH:
            raise AutopilotError(
                Code.WRITE_CONFLICT,
                f"this run's value(s) at {target.name} were served, then removed {where}"
                + (" again, after being written again" if target.name in self.republished
                   else "") + ": another writer keeps replacing the TXT set there",
                answers.ANOTHER_WRITER_FIX,
                evidence="Served before, gone now (server: what it serves now):\n" +
                "\n".join(f"  {row}" for row in rows)
                + f"\n  {gone[0].server.dig(target.name, 'TXT')}")
        self.republished.append(target.name)
        self.events.emit("republish", "rewriting", target.name, zone=target.zone,
                         serial=serial, count=len(self.republished), limit=MAX_REPUBLISH)
        self._progress(f"dns-autopilot warning: [{Code.WRITE_CONFLICT}] this run's value(s) "
                       f"at {target.name} were removed {where} by another writer "
                       f"({'; '.join(rows)}): writing them again and waiting on")
        self._republish(target)

    def _drop_truncated(self, behind: list[Observation]) -> list[Observation]:
        """Addresses whose answer came truncated over UDP and not over TCP cannot hand the
        whole set to anyone: named once (the CA's resolvers fall back to TCP, and fail
        there), not asked again; `wait` stops when no address of a name gives the whole
        answer."""
        for obs in behind:
            if obs.status != answers.TRUNCATED or obs.server in self.truncated:
                continue
            self.truncated[obs.server] = obs.answer.describe()
            self.events.emit("truncated", "warning", obs.name, server=str(obs.server),
                             answer=obs.answer.as_dict(), code=Code.OVERSIZED_ANSWER)
            self._progress(f"dns-autopilot warning: [{Code.OVERSIZED_ANSWER}] {obs.server} "
                           f"does not give the whole answer for {obs.name} "
                           f"({obs.answer.error}): a CA resolver asking it fails over TCP")
        return [obs for obs in behind if obs.status != answers.TRUNCATED]

    def _whole_answers(self, pairs: Sequence[Pair]) -> None:
        """After the authoritative phase: a name for which every address that answered gave
        a truncated answer and none the whole one is lost to every resolver (stops the run
        before the CA is told)."""
        for target in {t for _, t in pairs if t.rdtype == "TXT"}:
            asked = [s for s, t in pairs if t == target and s not in self.unverified]
            if asked and all(s in self.truncated for s in asked):
                rows = "\n".join(f"  {s}: {self.truncated[s]}\n      "
                                 f"{s.dig(target.name, 'TXT')} +tcp" for s in asked)
                raise AutopilotError(
                    Code.OVERSIZED_ANSWER,
                    f"no nameserver address gives the whole TXT answer at {target.name}: it "
                    f"is larger than {dnsio.UDP_SIZE} bytes, truncated over UDP, and TCP port "
                    "53 does not answer", "allow TCP port 53 to every nameserver (RFC 7766 "
                    "makes TCP mandatory), and remove the stale values at the name (or run "
                    f"with {flag('remove-stale')} true)", evidence=rows)

    def _truncated_caught_up(self, pairs: Sequence[Pair], deadline: float) -> None:
        """An address that gives the values truncated (TCP dropped) cannot show them, but
        its SOA serial can show it holds the zone's version that does: wait until it reaches
        the serial of an address seen serving them, before any resolver is asked (one
        asking it before would cache the old set)."""
        zones = {t.zone for s, t in pairs if s in self.truncated}
        for zone in sorted(zones):
            serving = sorted({s for s, t in self._serving if t.zone == zone})
            late = sorted({s for s, t in pairs if t.zone == zone and s in self.truncated})
            reference = max((self.reach.ask(s, zone, "SOA").serial or 0 for s in serving),
                            default=0)
            while late and self._clock() < deadline:
                late = [s for s in late if (self.reach.ask(s, zone, "SOA").serial or 0)
                        < reference]
                if late:
                    self._sleep(min(FIRST_INTERVAL, max(deadline - self._clock(), 0)))
            self.events.emit("truncated-serial", "late" if late else "caught-up", zone,
                             serial=reference, servers=[str(s) for s in late])

    def _drop_silent_resolvers(self, behind: list[Observation], pairs: Sequence[Pair]
                               ) -> list[Observation]:
        """A resolver that answered nothing, or refused, in `RESOLVER_STRIKES` rounds in a
        row is the resolver's fault, not the zone's: named once and left out while another
        resolver answers; with none left, the wait stops (``resolver-unreachable``)."""
        failing = {obs.server: obs for obs in behind if not obs.answer.answered
                   or obs.answer.rcode == "REFUSED"}
        for server in {server for server, _ in pairs}:
            self._strikes[server] = self._strikes.get(server, 0) + 1 \
                if server in failing else 0
        for server, obs in failing.items():
            if self._strikes[server] == RESOLVER_STRIKES:
                self._silent[server] = obs.answer.describe()
                self.events.emit("resolver-dropped", "warning", obs.name, server=str(server),
                                 answer=obs.answer.as_dict(), code=Code.RESOLVER_UNREACHABLE)
                self._progress(f"dns-autopilot warning: [{Code.RESOLVER_UNREACHABLE}] resolver "
                               f"{server} {obs.answer.describe()} in {RESOLVER_STRIKES} rounds "
                               "in a row: no longer asked")
        if self._silent and set(self._silent) >= set(self.recursive.servers):
            rows = "\n".join(f"resolver {s}: {why}\n      {s.dig('.', 'SOA', recurse=True)}"
                             for s, why in sorted(self._silent.items()))
            raise AutopilotError(
                Code.RESOLVER_UNREACHABLE, "every resolver stopped answering during the wait: "
                "whether the resolvers serve the values cannot be known from this host",
                answers.resolver_fix(self.recursive.from_system), evidence=rows)
        return [obs for obs in behind if obs.server not in self._silent]

    def _drop_cached_denials(self, behind: list[Observation]) -> list[Observation]:
        """A resolver denying a name from an NSEC record it cached before the value was
        written (aggressive negative caching, RFC 8198) would deny it until the record's
        TTL runs out, whatever the servers serve. Once every authoritative server was seen
        serving the value, that is this host's resolver cache, not the CA's: named, and not
        waited out. Without the authoritative evidence it is waited for like any cache."""
        if not self._verified:
            return behind
        kept = []
        for obs in behind:
            if not obs.answer.denial or obs.answer.values:
                kept.append(obs)
                continue
            if (obs.server, obs.name) not in self.denials:
                self.denials[(obs.server, obs.name)] = obs.answer
                self.events.emit("cached-denial", "warning", obs.name, server=str(obs.server),
                                 answer=obs.answer.as_dict(), covering=obs.answer.denial,
                                 seconds=obs.answer.denial_ttl, code=Code.CACHED_DENIAL)
                self._progress(
                    f"dns-autopilot warning: [{Code.CACHED_DENIAL}] resolver {obs.server} "
                    f"denies {obs.name} from a proof it cached before the value was written "
                    f"({obs.answer.denial}; {obs.answer.denial_ttl} s left), while every "
                    "nameserver serves it: this host's cache, not the CA's; not waited out")
        return kept

    def _links_behind(self, behind: list[Observation]) -> None:
        """Say once per server and link that a nameserver does not serve a CNAME of the
        chain yet, and that it is waited for (the CA is not told to validate before)."""
        for obs in behind:
            if obs.rdtype != "CNAME" or (obs.server, obs.name) in self._said:
                continue
            self._said.add((obs.server, obs.name))
            target = ", ".join(sorted(obs.expected))
            self.events.emit("cname-behind", "waiting", obs.name, server=str(obs.server),
                             zone=obs.zone, cname=target, answer=obs.answer.as_dict(),
                             reason="this nameserver does not serve the CNAME yet; a resolver "
                                    "asking it would cache the answer for the zone's negative "
                                    "TTL: waiting for it")
            self._progress(f"dns-autopilot: {obs.server} does not serve {obs.name} CNAME "
                           f"{target} yet ({obs.answer.describe(obs.rdtype)}): waiting for it")

    def _drop_unreachable(self, behind: list[Observation]) -> list[Observation]:
        """Addresses that answered nothing (over UDP nor TCP) leave the wait: named once, in
        the event log and in the final line, never waited on until the timeout."""
        for obs in answers.unverified(behind):
            if obs.server not in self.unverified:
                self.unverified[obs.server] = obs.answer.describe()
                self.events.emit("unreachable", "dropped", obs.name, server=str(obs.server),
                                 answer=obs.answer.as_dict(),
                                 reason="this host cannot reach it; the CA may")
                self._progress(f"dns-autopilot: {obs.server} is unreachable from this host "
                               f"({obs.answer.describe()}): not checked; the CA may reach it")
        return [obs for obs in behind if obs.status != answers.UNREACHABLE]

    def _authoritative_timeout(self, behind: list[Observation],
                               servers: dict[str, list[dnsio.Server]]) -> AutopilotError:
        serials = {zone: dnsio.zone_serials(zone, zone_servers, self.recursive, self.reach.ask)
                   for zone, zone_servers in servers.items()
                   if any(obs.zone == zone for obs in behind)}
        code = answers.zones_code(behind, serials)
        unverified = answers.unverified_line(self.unverified)
        rows = "\n".join(obs.row() + _serial_note(serials.get(obs.zone, {}).get(obs.server))
                         for obs in behind)
        links = sorted({f"{o.name} CNAME {', '.join(sorted(o.expected))} (zone {o.zone})"
                        for o in behind if o.rdtype == "CNAME"})
        values = any(o.rdtype != "CNAME" for o in behind)
        what = " and ".join((["the CNAME(s) of the chain"] if links else [])
                            + (["the challenge value(s)"] if values else []))
        fixes = {
            Code.LAME_DELEGATION: "make every listed nameserver answer authoritatively for the "
                               "zone, or remove it from the NS set",
            Code.SECONDARY_LAG: "check the primary's NOTIFY/also-notify and the secondary's "
                             "transfer (allow-transfer, TSIG for XFR, firewall)",
            Code.PROPAGATION_TIMEOUT: "check that the writer's server is a primary of this zone "
                                   "and that the others transfer from it; or raise "
                                   f"{flag('propagation-timeout')}",
        }
        fix = fixes[code]
        if links:
            fix += ("; every nameserver of the CNAME's zone must serve it before the CA asks "
                    "(a resolver that meets one without it caches NXDOMAIN for the zone's "
                    "negative TTL): once they all do, run again")
        self.events.emit("wait-done", "timeout", code=code, phase="authoritative",
                         behind=[f"{o.name} @ {o.server}" for o in behind],
                         unverified=[f"{s}: {why}" for s, why in sorted(self.unverified.items())])
        return AutopilotError(
            code,
            f"not every authoritative server served {what} within {self.timeout:.0f} s"
            + (f": {'; '.join(links)}" if links else ""),
            fix, evidence="Servers still behind (server: answer, then a dig to "
                          "repeat it):\n" + rows + "\n" + "\n".join(
                              f"Zone SOA serials ({zone}): "
                              + ", ".join(f"{s}: {n}" for s, n in sorted(by_server.items()))
                              for zone, by_server in serials.items())
                          + (f"\n{unverified}" if unverified else ""))

    def _public_timeout(self, behind: list[Observation]) -> AutopilotError:
        self.events.emit("wait-done", "timeout", code=Code.RESOLVER_DISAGREEMENT, phase="public",
                         behind=[f"{o.name} @ {o.server}" for o in behind])
        cached = max((o.answer.ttl or 0) for o in behind)
        return AutopilotError(
            Code.RESOLVER_DISAGREEMENT,
            f"every authoritative server serves the value(s), but {len(behind)} resolver "
            f"answer(s) still lacked them after {self.timeout:.0f} s (cached for up to "
            f"{cached} s more)",
            "a resolver holding an old answer serves it until its TTL runs out: raise "
            f"{flag('propagation-timeout')} above that TTL, or lower the record's TTL "
            "next time; for split-horizon DNS, list resolvers that see the public view in "
            f"{flag('resolvers')} or set {flag('public-check')} false",
            evidence="Resolvers still behind:\n" + "\n".join(o.row() for o in behind))


def _progress_line(phase: str, behind: list[Observation], total: int) -> str:
    where: dict[str, int] = {}
    for obs in behind:
        where[str(obs.server)] = where.get(str(obs.server), 0) + 1
    detail = "; ".join(f"{server}: {count} name(s) missing" for server, count in where.items())
    return f"dns-autopilot: {phase}: {total - len(behind)} of {total} served; waiting on {detail}"


def _serial_note(serial: int | None) -> str:
    return f"\n      zone SOA serial there: {serial}" if serial is not None else ""
