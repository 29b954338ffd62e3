"""The certbot glue: the plugin's options, and perform/cleanup/auth_hint handed to a `Run`.

certbot imports every installed plugin's module on every invocation (even `certbot
certificates`), so this module imports only what defining the options needs; the steps,
dnspython and any provider SDK load when a run starts (`run.py`).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from acme import challenges
from certbot import achallenges, interfaces
from certbot.plugins import common

from . import hook
from .errors import AutopilotError

if TYPE_CHECKING:
    from . import dnsio
    from .run import Run

logger = logging.getLogger(__name__)

DEFAULT_PROPAGATION_TIMEOUT = 300


def parse_resolvers(text: str) -> list[dnsio.Server]:
    """``--dns-autopilot-resolvers``: comma-separated ``IP`` / ``IP:PORT`` / ``[IPv6]:PORT`` /
    ``https://host[:port]/path``."""
    from .run import parse_resolvers as parse

    return parse(text)


class BoolValueError(ValueError, argparse.ArgumentTypeError):
    """A yes/no value that is neither; argparse prints its message as it is."""


class ChoiceValueError(ValueError, argparse.ArgumentTypeError):
    """A value outside an option's choices; argparse prints its message as it is."""


def parse_bool(text: str | bool) -> bool:
    """A yes/no option value as the command line and the renewal config spell it."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise BoolValueError(f"{text!r} is not true or false (use true/false, yes/no, on/off, "
                         "1/0)")


def parse_family(text: str) -> str:
    """``--dns-autopilot-address-family``: any, ipv4 or ipv6."""
    value = str(text).strip().lower()
    if value not in ("any", "ipv4", "ipv6"):
        raise ChoiceValueError(f"{text!r} is not any, ipv4 or ipv6")
    return value


class Authenticator(common.Plugin, interfaces.Authenticator):
    """DNS-01 that waits on evidence (every authoritative server, then the resolvers)."""

    description = ("Obtain certificates with DNS-01 TXT records, waiting until every "
                   "authoritative server and resolver serves them, and explaining failures.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._run: Run | None = None

    @classmethod
    def add_parser_arguments(cls, add: Callable[..., None]) -> None:
        add("credentials", help="Path to the credentials INI file (mode 600): the record "
            "writer's keys, e.g. dns_autopilot_rfc2136_server/_name/_secret. Stored absolute "
            "in the renewal configuration (default: none; required).")
        add("resolvers", default="", help="Comma-separated recursive resolvers (IP, IP:PORT, "
            "or https://host[:port]/path for DNS over HTTPS) used to find zones, nameservers, "
            "CAA and for the public check (default: the system's).")
        add("propagation-timeout", type=int, default=DEFAULT_PROPAGATION_TIMEOUT,
            help="Upper bound, in seconds, on waiting for the records to be served; the wait "
            "ends as soon as they are. 0 turns the wait off (the CA may then ask before the "
            "records are served).")
        add("failure-hook", default="", metavar="COMMAND",
            help="A command run (through the shell) once when a run fails, with the "
            "diagnoses as JSON on its standard input: names, codes, evidence, fixes, the CA's "
            f"error and certbot's verb. Bounded to {hook.TIMEOUT:.0f} s; its failure is only "
            "logged. Saved for renewal, so cron renewals can page someone with the cause "
            "(default: none).")
        add("follow-cnames", type=parse_bool, default=True, metavar="true|false",
            help="Follow a CNAME at _acme-challenge.<domain> (asking authoritative servers) "
            "and write the TXT at its target, with the writer configured for the target's "
            "zone.")
        add("preflight", type=parse_bool, default=True, metavar="true|false",
            help="Before writing anything, probe the Public Suffix List, CAA, the zones' "
            "delegation and existing values; errors stop the run before any "
            "challenge is answered. `dns-autopilot doctor` runs the same probes alone.")
        add("caa-identities", default="", help="Comma-separated CAA identities of the CA "
            "(e.g. letsencrypt.org), for CAs whose directory does not publish them (default: "
            "the directory's meta.caaIdentities).")
        add("remove-stale", type=parse_bool, default=False, metavar="true|false",
            help="Before writing, remove TXT values that pre-flight found already sitting at "
            "the names to be written (stale-record), so resolvers stop serving them. "
            "Only safe when no other issuance for the same names may be "
            "running: its value would be removed too.")
        add("authoritative-check", type=parse_bool, default=True, metavar="true|false",
            help="Wait until every reachable authoritative nameserver address serves the "
            "values before asking the resolvers. Set false where port 53 to them is always "
            "filtered: the resolvers alone decide (resolvers only).")
        add("address-family", type=parse_family, default="any", metavar="any|ipv4|ipv6",
            help="Which nameserver addresses to ask directly: any (default; a family this "
            "host has no route for is skipped with a notice), ipv4 or ipv6 only.")
        add("public-check", type=parse_bool, default=True, metavar="true|false",
            help="After every authoritative server serves the values, also wait until the "
            "resolvers do. Set false for split-horizon setups where the "
            "resolvers cannot see the public view.")

    def more_info(self) -> str:
        return ("Writes the DNS-01 TXT records through the writer configured in the "
                "credentials file, then waits until every authoritative nameserver address "
                "and each recursive resolver serves them before the CA is asked to validate.")

    def get_chall_pref(self, domain: str) -> Iterable[type[challenges.Challenge]]:
        return [challenges.DNS01]

    @property
    def run(self) -> Run:
        """This invocation's run: made on first use, which loads the steps."""
        if self._run is None:
            from .run import Run

            self._run = Run(self)
        return self._run

    def prepare(self) -> None:
        """Before anything else: remove what an interrupted run left behind."""
        self.run.prepare()

    def perform(self, achalls: list[achallenges.AnnotatedChallenge]
                ) -> list[challenges.ChallengeResponse]:
        return self.run.perform(achalls)

    def cleanup(self, achalls: list[achallenges.AnnotatedChallenge]) -> None:
        """Remove exactly the values this run added."""
        self.run.cleanup(achalls)

    def auth_hint(self, failed_achalls: list[achallenges.AnnotatedChallenge]) -> str:
        """Diagnose each failed challenge (see `Run.auth_hint`). Never raises."""
        try:
            return self.run.auth_hint(failed_achalls)
        except Exception:  # noqa: BLE001 - auth_hint must never raise
            logger.debug("dns-autopilot: no hint", exc_info=True)
            return "dns-autopilot could not build a hint; see the log for the run's steps."


__all__ = ["Authenticator", "AutopilotError", "parse_bool", "parse_family", "parse_resolvers"]
