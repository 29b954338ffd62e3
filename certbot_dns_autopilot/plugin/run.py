"""One certbot run of the plugin: its state (what was written, where, the journal) and the
steps perform, cleanup and the failure hint drive. Imported on the first call only: certbot
imports every installed plugin's module on every invocation, and this one pulls in dnspython
and every step.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from acme import challenges
from certbot import achallenges, errors
from certbot.display import util as display_util

from .. import (
    answers,
    commands,
    credentials,
    diagnose,
    hook,
    lookups,
    names,
    options,
    plan,
    preflight,
    scrub,
)
from ..cleanup import journal, signals
from ..codes import Code
from ..diagnose import ca_errors, evidence
from ..errors import AutopilotError
from ..events import EventLog
from ..plan.routing import Route, Router
from ..preflight import account, caa
from ..preflight.findings import ERROR, Finding, as_error
from ..shown import shown
from ..wait import Waiter
from ..writers import RECORD_TTL, Context, Locks, Writer
from .state import RunState

logger = logging.getLogger("certbot_dns_autopilot.authenticator")


def _notify(text: str) -> None:
    """A line on certbot's display, which writes to the terminal past the logging filter:
    scrubbed here, as every other output path is."""
    display_util.notify(scrub.scrub(text, patterns=False))


def _one_writer_per_zone(routes: list[Route]) -> None:
    """A batch is one zone's (the write, the journal, cleanup): two writers for one zone in
    one run would have one of them write the other's names. Stops before anything is done."""
    writer_of = {r.zone: r.writer for r in routes}
    for route in routes:
        if writer_of[route.zone] is not route.writer:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND, f"zone {route.zone} would be written by two writers in "
                f"this run ({route.writer.label}; {writer_of[route.zone].label})",
                "let one writer serve the zone (e.g. an acme-dns server's zone holds only "
                "its registrations), or request the names in separate certificates")


class Run:
    """The plugin's state for one certbot invocation, behind the thin `Authenticator`."""

    def __init__(self, plugin: Any) -> None:
        self.config = plugin.config
        self.conf = plugin.conf
        self.dest = plugin.dest
        self._events = EventLog()
        self._state: RunState | None = None  # made once the credentials file is read
        self._hook_ran = False
        self._signalled = threading.Event()  # a termination signal during perform
        self._requester: caa.Requester | None = None  # the run's ACME account, for CAA
        #: the wait's time: tests give a clock that moves only when the wait sleeps
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], None] = time.sleep

    @property
    def state(self) -> RunState:
        """This run's state; only steps that run after `_setup` ask for it."""
        if self._state is None:  # a step called out of certbot's order: a bug, not a setup's
            raise RuntimeError("dns-autopilot: the run has not read its credentials file yet")
        return self._state

    def option(self, name: str) -> Any:
        """An option's value, as given or as the renewal config hands it back (text).

        :raises AutopilotError: (``bad-config``) naming the option and the fix.
        """
        return options.BY_NAME[name].parse(self.conf(name))

    def prepare(self) -> None:
        """Before anything else: remove what an interrupted run left behind."""
        scrub.install()  # before any writer or SDK logs a record
        self._events = EventLog(getattr(self.config, "logs_dir", None))
        self._recover()

    def _context(self, challenges: tuple[tuple[str, str], ...] = ()) -> Context:
        """What each writer of this run is built with: the event log (retries), the
        challenges in certbot's order, and the locks under certbot's work dir, shared with
        its renewals and doctor's probes."""
        return Context(self._events, challenges, Locks(getattr(self.config, "work_dir", None)))

    def _recover(self) -> None:
        """Values a killed run wrote and never removed (its journal outlived it). Nothing
        here may stop the run: a journal that cannot be acted on now is kept for later, one
        this user did not write (or that holds anything but DNS-01 values) is left alone."""
        try:
            self._recover_each()
        except Exception:  # noqa: BLE001 - recovery must never stop the run
            logger.warning("dns-autopilot: looking for what interrupted runs left failed (see "
                           "the log); a later run looks again")
            logger.debug("dns-autopilot: recovery failed", exc_info=True)

    def _recover_each(self) -> None:
        for left in journal.leftovers(getattr(self.config, "work_dir", None)):
            if isinstance(left, journal.Refused):
                logger.log(logging.WARNING if left.first else logging.DEBUG,
                           "dns-autopilot: not acting on the journal %s: %s. It was not "
                           "written by a run of this plugin as this user; it is left as it "
                           "is (remove it once you know where it came from)",
                           left.path, left.why)
                self._events.emit("recover", "refused", str(left.path), why=left.why)
                continue
            records = {zone: {n: set(v) for n, v in names_.items()}
                       for zone, names_ in left.zones.items()}
            where = "; ".join(f"{name} TXT {sorted(values)}" for zone in records.values()
                              for name, values in zone.items())
            try:
                with self._events.step("recover", str(left.path), records=where):
                    _, writers, _ = credentials.load(left.credentials, self._context())
                    for zone, zone_records in records.items():
                        writer = writers.writer_for(next(iter(zone_records), zone))
                        if writer is None:
                            raise AutopilotError(Code.ZONE_NOT_FOUND, f"no writer for {zone} "
                                                 f"in {left.credentials} any more",
                                                 "remove the values by hand")
                        writer.remove(zone, zone_records)
            except Exception as exc:  # noqa: BLE001 - recovery must never stop the run
                journal.keep(left)
                logger.warning("dns-autopilot: an interrupted run left %s; removing it failed "
                               "(%s): a later run will retry, or remove it by hand", where,
                               exc if isinstance(exc, errors.PluginError)
                               else type(exc).__name__)
                logger.debug("dns-autopilot: recovery of %s failed", left.path, exc_info=True)
                continue
            journal.done(left)
            _notify(f"dns-autopilot: removed what an interrupted run had left: {where}")

    def _setup(self, challenges: tuple[tuple[str, str], ...] = ()) -> tuple[Router, Waiter]:
        """The run's writers (built with its `Context`, ``challenges`` as (domain, value) in
        certbot's order), every option read, then (the first question) the resolvers
        checked; the router and the waiter over the run's zones."""
        path = self.option("credentials")
        if not path:
            from .. import links

            raise AutopilotError(
                Code.BAD_CONFIG, f"{options.flag('credentials')} is required",
                "give the path to an INI file with the record writer's keys (see "
                f"{links.page('options', 'credentials-file-keys-common-to-every-writer')})")
        path, writers, alias_list = credentials.load(path, self._context(challenges))
        # Stored absolute, so `certbot renew` from another directory finds it.
        setattr(self.config, self.dest("credentials"), path)
        run_journal = journal.Journal(getattr(self.config, "work_dir", None),
                                        self._events.run, path)
        timeout = self.option("propagation-timeout")
        authoritative = self.option("authoritative-check")
        public_check = self.option("public-check")
        with self._events.step("resolvers") as step:
            built = lookups.build(writers, alias_list, self.option("resolvers"),
                                  self.option("address-family"), authoritative,
                                  self.option("follow-cnames"))
            step["findings"] = [f.as_dict() for f in built.findings]
            step["outcome"] = "error" if built.router is None else "ok"
        error = as_error(built.findings)
        if error:
            raise error
        assert built.router is not None and built.zones is not None  # built unless an error
        self._warn(built.findings)
        self._state = RunState(run_journal, built.router.follower, wait_off=timeout == 0,
                               warnings=list(built.findings))
        waiter = Waiter(built.zones, timeout=float(timeout), public_check=public_check,
                        events=self._events, progress=_notify, republish=self._rewrite,
                        stopping=self._signalled.is_set, authoritative_check=authoritative,
                        clock=self.clock, sleep=self.sleep)
        return built.router, waiter

    def _warn(self, findings: list[Finding]) -> None:
        """Warnings on the terminal once, and in certbot's log."""
        for finding in findings:
            logger.info("dns-autopilot: %s", finding.text())
            _notify(f"dns-autopilot warning: {finding.text()}")

    def perform(self, achalls: list[achallenges.AnnotatedChallenge]
                ) -> list[challenges.ChallengeResponse]:
        with signals.noted() as self._signalled:
            try:
                return self._perform(achalls)
            except errors.PluginError as exc:  # stopped before any challenge was answered
                if self._state and self._state.written:  # failed after writing: a warning
                    # may be the cause
                    for line in self._earlier_warnings():
                        logger.warning("dns-autopilot: %s", line)
                named = self._requested(achalls)
                domains = ", ".join(named)
                if isinstance(exc, AutopilotError):
                    diagnosis = {"code": exc.code, "domain": domains, "problem": exc.problem,
                                 "evidence": exc.evidence.splitlines(), "fix": exc.fix}
                else:  # a bad option or credentials file: no code, the message says all
                    diagnosis = {"code": None, "domain": domains, "problem": str(exc),
                                 "evidence": [], "fix": None}
                self._failure_hook("before-validation", [diagnosis], named)
                raise

    def _perform(self, achalls: list[achallenges.AnnotatedChallenge]
                 ) -> list[challenges.ChallengeResponse]:
        """The steps of one run, in order: plan, pre-flight, write, wait."""
        domains = self._requested(achalls)
        wanted = [plan.Challenge.of(domain, a.validation(a.account_key))
                  for domain, a in zip(domains, achalls, strict=True)]
        router, waiter = self._setup(tuple((c.domain, c.value) for c in wanted))
        routes, targets = self._plan(router, wanted)
        if self.option("preflight"):
            found = self._preflight(list(routes.values()), [c.domain for c in wanted],
                                    achalls[0].account_key if achalls else None)
            self.state.before = [f for f in found if f.where]
            if self.option("remove-stale"):
                self._remove_stale(found, {r.zone: r.writer for r in routes.values()})
        self._say_routes(routes.values())
        writer_of = {r.zone: r.writer for r in routes.values()}
        self._write(writer_of, plan.by_zone(targets))
        _notify(
            f"dns-autopilot: wrote {len(wanted)} TXT value(s) at {len(targets)} name(s) via "
            f"{', '.join(sorted({w.label for w in writer_of.values()}))}; waiting until they "
            "are served")
        self._wait(waiter, routes, targets, wanted)
        return [a.response(a.account_key) for a in achalls]

    def _plan(self, router: Router, wanted: list[plan.Challenge]
              ) -> tuple[dict[str, Route], list[plan.Target]]:
        """Each validation name's route (CNAME chains followed at once: names are
        independent), and the values grouped per written name."""
        with self._events.step("plan", writers=router.writers.describe()) as step:
            first: dict[str, str] = {}  # one domain per validation name
            for challenge in wanted:
                first.setdefault(challenge.name, challenge.domain)
            with ThreadPoolExecutor(max_workers=min(16, len(first))) as pool:
                routes = dict(zip(first, pool.map(router.route, first.values()), strict=True))
            targets = plan.group(wanted, lambda c: (routes[c.name].zone, routes[c.name].name))
            self.state.routes = routes
            _one_writer_per_zone(list(routes.values()))
            self.state.targets = {t.name: t.values for t in targets}
            step["routes"] = [r.as_dict() for r in routes.values()]
        return routes, targets

    @staticmethod
    def _say_routes(routes: Iterable[Route]) -> None:
        for route in routes:
            if route.name != route.origin:
                _notify(f"dns-autopilot: {route.origin} is an alias: writing at "
                        f"{route.name} (zone {route.zone})")
            if route.note:
                logger.warning("dns-autopilot: %s", route.note)

    def _wait(self, waiter: Waiter, routes: dict[str, Route], targets: list[plan.Target],
              wanted: list[plan.Challenge]) -> None:
        """Until every authoritative address and every resolver serves the values (and each
        CNAME on the way), or say that the wait is off."""
        if waiter.timeout <= 0:
            logger.warning("dns-autopilot: not waiting (%s 0): the CA may ask before every "
                           "nameserver serves the values", options.flag("propagation-timeout"))
            self._events.emit("wait-done", "off")
            return
        links = {(t.name, t.zone): t for r in routes.values() if r.chain
                 for t in r.chain.links()}  # every CNAME on the way, at all its servers
        timings = waiter.wait(targets, asked=plan.origins(wanted), links=list(links.values()))
        self.state.served = waiter.serving()
        unverified = answers.unverified_line(waiter.unverified)
        if not timings:
            logger.warning("dns-autopilot: nothing was checked (%s false and %s false): "
                           "the CA may ask before the values are served",
                           options.flag("authoritative-check"), options.flag("public-check"))
            return
        _notify(f"dns-autopilot: served {'where checked' if unverified else 'everywhere'} "
                "after " + ", ".join(f"{phase} {secs:.1f} s" for phase, secs in timings.items())
                + (f"; {unverified} (the CA may use them)" if unverified else ""))

    def requester(self, key: Any) -> caa.Requester:
        """This run's ACME account (found in certbot's store by the key the challenges are
        signed with) and server, for CAA accounturi; kept once found."""
        if self._requester is None or (key is not None and self._requester.account is None):
            server = getattr(self.config, "server", None)
            url = None
            if key is not None:
                try:
                    url = account.url_for_key(self.config.accounts_dir, key)
                except (AttributeError, TypeError, ValueError):
                    url = None
            self._requester = caa.Requester(url, server, account.is_staging(
                server, bool(getattr(self.config, "dry_run", False))))
        return self._requester

    def _preflight(self, routes: list[Route], domains: list[str], key: Any) -> list[Finding]:
        """Probe before writing: warnings are shown, errors stop the run here."""
        with self._events.step("preflight") as step:
            identities = preflight.ca_identities(self.option("caa-identities"),
                                                 getattr(self.config, "server", None))
            requester = self.requester(key)
            step["account"] = requester.account
            found = preflight.run(routes, domains, self.state.follower.zones, identities,
                                  requester=requester)
            found += preflight.rate_limits(domains, getattr(self.config, "server", None),
                                           getattr(self.config, "config_dir", None))
            step["findings"] = [f.as_dict() for f in found]
            step["outcome"] = "error" if any(f.severity == ERROR for f in found) else "ok"
        # Each cause once (pre-flight merged the names it rules), on the terminal once; the
        # log file keeps it too. A failed run repeats them at its end (`_earlier_warnings`).
        warnings = [f for f in found if f.severity != ERROR]
        self.state.warnings += warnings
        self._warn(warnings)
        error = as_error(found)
        if error:
            raise error
        return found

    def _remove_stale(self, found: list[Finding], writer_of: dict[str, Writer]) -> None:
        """The remove-stale option: drop the old values pre-flight found, before writing.
        They were read over DNS, where anyone may have put anything: only values shaped as
        a DNS-01 value are handed to the writer (and so to a cleanup hook run as root); the
        others are reported and left where they are."""
        for finding in found:
            if finding.code != Code.STALE_RECORD or not finding.where:
                continue
            zone, name = finding.where
            stale = sorted(v for v in finding.values if names.is_dns01_value(v))
            left = [shown(v, limit=80) for v in finding.values if not names.is_dns01_value(v)]
            with self._events.step("remove-stale", name, zone=zone, values=stale,
                                   left=left):
                if stale:
                    writer_of[zone].remove(zone, {name: set(stale)})
            if stale:
                _notify(f"dns-autopilot: removed {len(stale)} stale value(s) at {name} "
                        f"({options.flag('remove-stale')})")
            if left:
                logger.warning(
                    "dns-autopilot: %s left %d value(s) that are not DNS-01 values at %s: "
                    "%s. Only values shaped as the CA's (43 base64url characters) are "
                    "removed; remove these by hand if they are not someone's",
                    options.flag("remove-stale"), len(left), name, ", ".join(left))

    def _write(self, writer_of: dict[str, Writer],
               batches: dict[str, dict[str, frozenset[str]]]) -> None:
        """One batch per zone, zones concurrently; what succeeded is kept for cleanup. The
        journal notes each batch before the writer is called: a run killed during the call
        leaves a note the next run acts on. A failed add may still have left values (a
        rollback that failed, an UPDATE applied after its answer was lost): the batch is
        removed again (idempotently), and its note dropped only once the writer confirms."""
        state = self.state

        def one(zone: str) -> Exception | None:
            records, writer = batches[zone], writer_of[zone]
            state.journal.record(zone, records)
            try:
                with self._events.step("write", zone, writer=writer.label,
                                       names=sorted(records),
                                       values=sum(len(v) for v in records.values())):
                    writer.add(zone, records, RECORD_TTL)
            except Exception as exc:  # re-raised below, after every zone has answered
                if getattr(exc, "left_nothing", False):
                    state.journal.forget(zone)
                else:
                    self._take_back(zone, writer, records)
                return exc
            state.written[zone] = (writer, records)
            return None
        with ThreadPoolExecutor(max_workers=min(8, max(len(batches), 1))) as pool:
            failures = [exc for exc in pool.map(one, sorted(batches)) if exc is not None]
        if failures:
            raise failures[0]

    def _rewrite(self, target: plan.Target) -> None:
        """The values of one name again, after another writer removed them during the wait
        (the journal still holds them: cleanup and recovery stay as they were)."""
        writer, _ = self.state.written[target.zone]
        with self._events.step("rewrite", target.name, zone=target.zone, writer=writer.label):
            writer.add(target.zone, {target.name: target.values}, RECORD_TTL)

    def _take_back(self, zone: str, writer: Writer, records: dict[str, frozenset[str]]
                   ) -> None:
        """After a failed add: remove whatever of the batch may exist; the journal keeps the
        zone unless the writer confirmed the removal (the next run then retries)."""
        try:
            with self._events.step("take-back", zone, writer=writer.label,
                                   names=sorted(records)):
                writer.remove(zone, records)
        except Exception as exc:  # noqa: BLE001 - the add's error is the run's error
            logger.warning("dns-autopilot: after a failed write, could not make sure no value "
                           "is left at %s (%s); the next run retries (journal %s)",
                           ", ".join(sorted(records)),
                           getattr(exc, "problem", type(exc).__name__), self.state.journal.path)
            return
        self.state.journal.forget(zone)

    def cleanup(self) -> None:
        """Remove exactly the values this run added (whatever challenges certbot names: a
        value is ours because this run wrote it); say what is left if that fails."""
        state = self._state
        if state is None:  # stopped before the credentials file was read: nothing written
            return
        written, state.written = state.written, {}
        for zone, (writer, records) in written.items():
            try:
                with self._events.step("cleanup", zone, names=sorted(records),
                                       values=sum(len(v) for v in records.values())):
                    writer.remove(zone, records)
            except Exception as exc:  # noqa: BLE001 - every other zone is still cleaned
                leftovers = ", ".join(f"{name} TXT {sorted(vals)}"
                                      for name, vals in records.items())
                logger.warning("dns-autopilot: could not remove %s from %s: %s. The next run "
                               "retries (journal %s), or remove them by hand.", leftovers, zone,
                               exc if isinstance(exc, errors.PluginError)
                               else type(exc).__name__, state.journal.path)
                logger.debug("dns-autopilot: cleanup of %s failed", zone, exc_info=True)
                continue
            state.journal.forget(zone)

    def auth_hint(self, failed_achalls: list[achallenges.AnnotatedChallenge]) -> str:
        """Diagnose each failed challenge from the CA's error and live evidence, while our
        records still exist (certbot calls this before cleanup). Never raises."""
        try:
            found = self._diagnose(failed_achalls)
        except Exception:  # noqa: BLE001 - auth_hint must never raise
            logger.debug("dns-autopilot: diagnosis failed", exc_info=True)
            readings = "; ".join(ca_errors.read_error(a.error).describe() for a in failed_achalls
                                 if getattr(a, "error", None))
            return ("dns-autopilot could not gather live evidence for a diagnosis (see the log); "
                    f"the CA's reading: {readings or 'none given'}.")
        self._failure_hook("validation", [d.as_dict() for d in found], [d.domain for d in found])
        blocks = "\n".join([d.text() for d in found] + self._earlier_warnings())
        return (f"dns-autopilot diagnosed {len(found)} failed challenge(s) from the CA's error "
                f"and the servers' answers now, before cleanup:\n{blocks}")

    def _earlier_warnings(self) -> list[str]:
        """Pre-flight's warnings in one line each, for the end of a failed run."""
        return [f"pre-flight warned earlier in this run: [{f.code}] {f.name}: {f.problem}"
                for f in (self._state.warnings if self._state else [])]

    def _diagnose(self, failed_achalls: list[achallenges.AnnotatedChallenge]
                  ) -> list[diagnose.Diagnosis]:
        failed = [(a.identifier.value, a.validation(a.account_key), a) for a in failed_achalls]
        origins = {names.validation_name(domain): domain for domain, _, _ in failed}
        identities = preflight.ca_identities(self.option("caa-identities"),
                                             getattr(self.config, "server", None))
        state = self.state

        def gather(origin: str, domain: str, reading: ca_errors.CaReading) -> evidence.Evidence:
            route = state.routes.get(origin)
            target = route.name if route else origin
            zone = route.zone if route else state.follower.zones.zone_of(origin)
            found = evidence.gather(origin, target, zone,
                                    frozenset(state.targets.get(target, ())), domain, reading,
                                    state.follower, identities,
                                    requester=self.requester(failed[0][2].account_key))
            # What sat at the name before this run (stale values with the TTL caches may
            # still hold them for, an answer too large for UDP), and who served ours.
            before = tuple(f for f in state.before if f.where == (zone, target))
            return dataclasses.replace(found, findings=found.findings + before,
                                       served=state.served.get(target, frozenset()))

        readings = {names.validation_name(domain): ca_errors.read_error(achall.error)
                    for domain, _, achall in failed}
        with ThreadPoolExecutor(max_workers=min(8, len(origins))) as pool:
            gathered = dict(zip(origins, pool.map(
                lambda o: gather(o, origins[o], readings[o]), origins), strict=True))
        found = []
        for domain, value, achall in failed:
            origin = names.validation_name(domain)
            reading = ca_errors.read_error(achall.error)
            diagnosis = diagnose.diagnose(domain, value, reading, gathered[origin],
                                          state.wait_off)
            self._events.emit("diagnosis", diagnosis.code, origin, domain=domain,
                              diagnosis=diagnosis.as_dict(),
                              evidence=gathered[origin].as_dict())
            found.append(diagnosis)
        return found

    def _requested(self, achalls: list[achallenges.AnnotatedChallenge]) -> list[str]:
        """The name each challenge is for, wildcards restored (certbot hands them bare)."""
        requested = [str(d) for d in getattr(self.config, "domains", None) or []]
        return plan.requested_names([a.identifier.value for a in achalls], requested)

    def _failure_hook(self, stage: str, diagnoses: list[dict[str, object]], names: list[str]
                      ) -> None:
        """The failure-hook option's command, once per run; its own failure is only logged, and
        nothing in its path may replace certbot's error or the hint."""
        try:
            command = self.option("failure-hook")
            if not command or self._hook_ran:
                return
            self._hook_ran = True
            payload = {"plugin": "dns-autopilot", "stage": stage,
                       "verb": getattr(self.config, "verb", None),
                       "dry_run": bool(getattr(self.config, "dry_run", False)),
                       "server": getattr(self.config, "server", None),
                       "names": sorted(set(names)),
                       "run": self._events.run, "event_log": self._events.path,
                       "diagnoses": diagnoses}
            with self._events.step("failure-hook", stage=stage,
                                   command=commands.label(command)) as step:
                step["outcome"] = hook.run(command, payload)
        except Exception:  # noqa: BLE001 - the hook must never hide the run's own error
            logger.warning("dns-autopilot: the failure hook could not be run (see the log)")
            logger.debug("dns-autopilot: failure hook error", exc_info=True)
