"""The certbot glue: options, and perform/cleanup/auth_hint delegating to the steps.

Kept thin on purpose: planning, writing and waiting live in their own modules so they
run the same from tests, the lab and (later) the ``doctor`` command.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from acme import challenges
from certbot import achallenges, errors, interfaces
from certbot.display import util as display_util
from certbot.plugins import common

from . import ca_errors, credentials, diagnose, dnsio, evidence, hook, names, plan, preflight
from .chain import Follower
from .errors import AutopilotError
from .events import EventLog
from .findings import ERROR, Finding, as_error
from .providers import Writer
from .routing import Route, Router
from .waiter import Waiter

logger = logging.getLogger(__name__)

DEFAULT_PROPAGATION_TIMEOUT = 300
RECORD_TTL = 60


def parse_resolvers(text: str) -> list[dnsio.Server]:
    """``--dns-autopilot-resolvers``: comma-separated ``IP`` / ``IP:PORT`` / ``[IPv6]:PORT``."""
    servers = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        try:
            servers.append(dnsio.parse_server(item))
        except ValueError:
            raise errors.PluginError(
                f"--dns-autopilot-resolvers: {item!r} is not an address. Give recursive "
                "resolvers as IP, IP:PORT or [IPv6]:PORT, separated by commas "
                "(e.g. 9.9.9.9,[2620:fe::fe]:53)") from None
    return servers


def parse_bool(text: str | bool) -> bool:
    """A yes/no option value as the command line and the renewal config spell it."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


class Authenticator(common.Plugin, interfaces.Authenticator):
    """DNS-01 that waits on evidence (every authoritative server, then the resolvers)."""

    description = ("Obtain certificates with DNS-01 TXT records, waiting until every "
                   "authoritative server and resolver serves them, and explaining failures.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._written: dict[str, tuple[Writer, dict[str, frozenset[str]]]] = {}
        self._events = EventLog()
        self._routes: dict[str, Route] = {}  # origin -> route, kept for the failure hint
        self._targets: dict[str, frozenset[str]] = {}  # written name -> this run's values
        self._follower = Follower(dnsio.Recursive())
        self._hook_ran = False
        self._stale: list[Finding] = []  # pre-flight's stale-record findings, for the hint

    @classmethod
    def add_parser_arguments(cls, add: Callable[..., None]) -> None:
        add("credentials", help="Path to the credentials INI file (mode 600): the record "
            "writer's keys, e.g. dns_autopilot_rfc2136_server/_name/_secret. Stored absolute "
            "in the renewal configuration.")
        add("resolvers", default="", help="Comma-separated recursive resolvers (IP or IP:PORT) "
            "used to find nameservers and for the public check. Default: the system's.")
        add("propagation-timeout", type=int, default=DEFAULT_PROPAGATION_TIMEOUT,
            help="Upper bound, in seconds, on waiting for the records to be served "
            f"(default {DEFAULT_PROPAGATION_TIMEOUT}). The wait ends as soon as they are. "
            "0 turns the wait off (the CA may then ask before the records are served).")
        add("failure-hook", default="", metavar="COMMAND",
            help="A command run (through the shell) once when a run fails, with the "
            "diagnoses as JSON on its standard input: names, codes, evidence, fixes, the CA's "
            f"error and certbot's verb. Bounded to {hook.TIMEOUT:.0f} s; its failure is only "
            "logged. Saved for renewal, so cron renewals can page someone with the cause.")
        add("follow-cnames", type=parse_bool, default=True, metavar="true|false",
            help="Follow a CNAME at _acme-challenge.<domain> (asking authoritative servers) "
            "and write the TXT at its target, with the writer configured for the target's "
            "zone (default true).")
        add("preflight", type=parse_bool, default=True, metavar="true|false",
            help="Before writing anything, probe the Public Suffix List, CAA, the zones' "
            "delegation and existing values (default true); errors stop the run before any "
            "challenge is answered. `dns-autopilot doctor` runs the same probes alone.")
        add("caa-identities", default="", help="Comma-separated CAA identities of the CA "
            "(e.g. letsencrypt.org), for CAs whose directory does not publish them.")
        add("remove-stale", type=parse_bool, default=False, metavar="true|false",
            help="Before writing, remove TXT values that pre-flight found already sitting at "
            "the names to be written (stale-record), so resolvers stop serving them "
            "(default false). Only safe when no other issuance for the same names may be "
            "running: its value would be removed too.")
        add("public-check", type=parse_bool, default=True, metavar="true|false",
            help="After every authoritative server serves the values, also wait until the "
            "resolvers do (default true). Set false for split-horizon setups where the "
            "resolvers cannot see the public view.")

    def more_info(self) -> str:
        return ("Writes the DNS-01 TXT records through the writer configured in the "
                "credentials file, then waits until every authoritative nameserver address "
                "and each recursive resolver serves them before the CA is asked to validate.")

    def prepare(self) -> None:
        pass

    def get_chall_pref(self, domain: str) -> Iterable[type[challenges.Challenge]]:
        return [challenges.DNS01]

    # -- the run -----------------------------------------------------------------------

    def _setup(self) -> tuple[Router, Waiter]:
        path = self.conf("credentials")
        if not path:
            raise errors.PluginError(
                "--dns-autopilot-credentials is required: the path to an INI file with the "
                "record writer's keys (see the Credentials section of README.md)")
        path, writers, alias_list = credentials.load(path)
        # Stored absolute, so `certbot renew` from another directory finds it.
        setattr(self.config, self.dest("credentials"), path)
        timeout = self.conf("propagation-timeout")
        if timeout is None or int(timeout) < 0:
            raise errors.PluginError("--dns-autopilot-propagation-timeout must be a number of "
                                     "seconds (0 turns the wait off)")
        recursive = dnsio.Recursive(parse_resolvers(self.conf("resolvers")))
        self._events = EventLog(getattr(self.config, "logs_dir", None))
        self._follower = Follower(recursive)
        router = Router(writers, self._follower, alias_list,
                        follow_cnames=parse_bool(self.conf("follow-cnames")))
        waiter = Waiter(recursive, timeout=float(timeout),
                        public_check=parse_bool(self.conf("public-check")),
                        events=self._events, progress=display_util.notify)
        return router, waiter

    def perform(self, achalls: list[achallenges.AnnotatedChallenge]
                ) -> list[challenges.ChallengeResponse]:
        try:
            return self._perform(achalls)
        except AutopilotError as exc:  # stopped before any challenge was answered
            self._failure_hook("before-validation", [{
                "code": exc.code, "domain": ", ".join(a.identifier.value for a in achalls),
                "problem": exc.problem, "evidence": exc.evidence.splitlines(),
                "fix": exc.fix}])
            raise

    def _perform(self, achalls: list[achallenges.AnnotatedChallenge]
                 ) -> list[challenges.ChallengeResponse]:
        router, waiter = self._setup()
        events = self._events
        wanted = [plan.Challenge.of(a.identifier.value, a.validation(a.account_key))
                  for a in achalls]
        with events.step("plan", writers=router.writers.describe()) as step:
            routes = {}
            for challenge in wanted:
                if challenge.name not in routes:
                    routes[challenge.name] = router.route(challenge.domain)
            targets = plan.group(wanted, lambda c: (routes[c.name].zone, routes[c.name].name))
            self._routes = routes
            self._targets = {t.name: t.values for t in targets}
            step["routes"] = [{"name": r.origin, "target": r.name, "zone": r.zone,
                               "writer": r.writer.label,
                               "chain": [h.name for h in r.chain.hops] if r.chain else None}
                              for r in routes.values()]
        if parse_bool(self.conf("preflight")):
            found = self._preflight(list(routes.values()), [c.domain for c in wanted])
            self._stale = [f for f in found if f.code == "stale-record" and f.where]
            if parse_bool(self.conf("remove-stale")):
                self._remove_stale(found, {r.zone: r.writer for r in routes.values()})
        for route in routes.values():
            if route.name != route.origin:
                display_util.notify(f"dns-autopilot: {route.origin} is an alias: writing at "
                                    f"{route.name} (zone {route.zone})")
            if route.note:
                logger.warning("dns-autopilot: %s", route.note)
        writer_of = {r.zone: r.writer for r in routes.values()}
        self._write(writer_of, plan.by_zone(targets))
        display_util.notify(
            f"dns-autopilot: wrote {len(wanted)} TXT value(s) at {len(targets)} name(s) via "
            f"{', '.join(sorted({w.label for w in writer_of.values()}))}; waiting until they "
            "are served")
        if waiter.timeout <= 0:
            logger.warning("dns-autopilot: not waiting (--dns-autopilot-propagation-timeout 0): "
                           "the CA may ask before every nameserver serves the values")
            self._events.emit("wait-done", "off")
        else:
            timings = waiter.wait(targets, asked=plan.origins(wanted))
            display_util.notify(
                "dns-autopilot: served everywhere after "
                + ", ".join(f"{phase} {secs:.1f} s" for phase, secs in timings.items()))
        return [a.response(a.account_key) for a in achalls]

    def _preflight(self, routes: list[Route], domains: list[str]) -> list[Finding]:
        """Probe before writing: warnings are shown, errors stop the run here."""
        with self._events.step("preflight") as step:
            identities = preflight.ca_identities(self.conf("caa-identities"),
                                                 getattr(self.config, "server", None))
            found = preflight.run(routes, domains, self._follower, identities)
            found += preflight.rate_limits(domains, getattr(self.config, "server", None),
                                           getattr(self.config, "config_dir", None))
            step["findings"] = [f.as_dict() for f in found]
            step["outcome"] = "error" if any(f.severity == ERROR for f in found) else "ok"
        for finding in found:
            if finding.severity != ERROR:
                logger.warning("dns-autopilot: %s", finding.text())
                display_util.notify(f"dns-autopilot warning: {finding.text()}")
        error = as_error(found)
        if error:
            raise error
        return found

    def _remove_stale(self, found: list[Finding], writer_of: dict[str, Writer]) -> None:
        """--dns-autopilot-remove-stale: drop the old values pre-flight found, before writing."""
        for finding in found:
            if finding.code != "stale-record" or not finding.where:
                continue
            zone, name = finding.where
            with self._events.step("remove-stale", name, zone=zone, values=list(finding.values)):
                writer_of[zone].remove(zone, {name: set(finding.values)})
            display_util.notify(f"dns-autopilot: removed {len(finding.values)} stale value(s) "
                                f"at {name} (--dns-autopilot-remove-stale)")

    def _write(self, writer_of: dict[str, Writer],
               batches: dict[str, dict[str, frozenset[str]]]) -> None:
        """One batch per zone, zones concurrently; what succeeded is kept for cleanup."""
        def one(zone: str) -> Exception | None:
            records, writer = batches[zone], writer_of[zone]
            try:
                with self._events.step("write", zone, writer=writer.label,
                                       names=sorted(records),
                                       values=sum(len(v) for v in records.values())):
                    writer.add(zone, records, RECORD_TTL)
            except Exception as exc:  # re-raised below, after every zone has answered
                return exc
            self._written[zone] = (writer, records)
            return None
        with ThreadPoolExecutor(max_workers=min(8, max(len(batches), 1))) as pool:
            failures = [exc for exc in pool.map(one, sorted(batches)) if exc is not None]
        if failures:
            raise failures[0]

    def cleanup(self, achalls: list[achallenges.AnnotatedChallenge]) -> None:
        """Remove exactly the values this run added; say what is left if that fails."""
        written, self._written = self._written, {}
        for zone, (writer, records) in written.items():
            try:
                with self._events.step("cleanup", zone, names=sorted(records),
                                       values=sum(len(v) for v in records.values())):
                    writer.remove(zone, records)
            except errors.PluginError as exc:
                leftovers = ", ".join(f"{name} TXT {sorted(vals)}"
                                      for name, vals in records.items())
                logger.warning("dns-autopilot: could not remove %s from %s: %s. Remove them by "
                               "hand.", leftovers, zone, exc)

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
        self._failure_hook("validation", [d.as_dict() for d in found])
        blocks = "\n".join(d.text() for d in found)
        return (f"dns-autopilot diagnosed {len(found)} failed challenge(s) from the CA's error "
                f"and the servers' answers now, before cleanup:\n{blocks}")

    def _diagnose(self, failed_achalls: list[achallenges.AnnotatedChallenge]
                  ) -> list[diagnose.Diagnosis]:
        failed = [(a.identifier.value, a.validation(a.account_key), a) for a in failed_achalls]
        origins = {names.validation_name(domain): domain for domain, _, _ in failed}
        identities = preflight.ca_identities(self.conf("caa-identities"),
                                             getattr(self.config, "server", None))

        def gather(origin: str, domain: str, reading: ca_errors.CaReading) -> evidence.Evidence:
            route = self._routes.get(origin)
            target = route.name if route else origin
            zone = route.zone if route else self._follower.recursive.zone_of(
                origin.split(".", 1)[1])
            found = evidence.gather(origin, target, zone,
                                    frozenset(self._targets.get(target, ())), domain, reading,
                                    self._follower, identities)
            # What sat at the name before this run, with the TTL caches may still hold it for.
            before = tuple(f for f in self._stale if f.where == (zone, target))
            return dataclasses.replace(found, findings=found.findings + before)

        readings = {names.validation_name(domain): ca_errors.read_error(achall.error)
                    for domain, _, achall in failed}
        with ThreadPoolExecutor(max_workers=min(8, len(origins))) as pool:
            gathered = dict(zip(origins, pool.map(
                lambda o: gather(o, origins[o], readings[o]), origins), strict=True))
        wait_off = int(self.conf("propagation-timeout") or 0) <= 0
        found = []
        for domain, value, achall in failed:
            origin = names.validation_name(domain)
            reading = ca_errors.read_error(achall.error)
            diagnosis = diagnose.diagnose(domain, value, reading, gathered[origin], wait_off)
            self._events.emit("diagnosis", diagnosis.code, origin, domain=domain,
                              diagnosis=diagnosis.as_dict(),
                              evidence=gathered[origin].as_dict())
            found.append(diagnosis)
        return found

    def _failure_hook(self, stage: str, diagnoses: list[dict[str, object]]) -> None:
        """--dns-autopilot-failure-hook, once per run; its own failure is only logged."""
        command = self.conf("failure-hook")
        if not command or self._hook_ran:
            return
        self._hook_ran = True
        payload = {"plugin": "dns-autopilot", "stage": stage,
                   "verb": getattr(self.config, "verb", None),
                   "dry_run": bool(getattr(self.config, "dry_run", False)),
                   "server": getattr(self.config, "server", None),
                   "names": sorted({str(d.get("domain")) for d in diagnoses}),
                   "run": self._events.run, "event_log": self._events.path,
                   "diagnoses": diagnoses}
        with self._events.step("failure-hook", stage=stage) as step:
            step["outcome"] = hook.run(command, payload)


__all__ = ["Authenticator", "AutopilotError"]
