"""The plugin's options, each defined once: name, how its text is read, default, help, and
its spelling on every surface.

The certbot glue adds them to certbot's parser, a run reads them back (from the command line
or, on renewal, as the text certbot saved in ``[renewalparams]``), ``dns-autopilot doctor``
takes those marked ``doctor`` under their short names, and ``doctor --all`` passes them on
from each renewal configuration. Every message that names an option asks `flag` for it, so
the user reads the spelling of the surface they are on: ``--dns-autopilot-resolvers`` under
certbot, ``--resolvers`` under ``dns-autopilot doctor``. The docs test checks
docs/options.md against `OPTIONS`.

Light on purpose, and a leaf of the package (every step names options in its messages, so
this imports no step): certbot imports the plugin (and so this module) on every invocation.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from certbot import errors

from . import hook

PREFIX = "dns-autopilot-"
DEFAULT_PROPAGATION_TIMEOUT = 300

#: The surfaces an option is spelt on. The user is on one of the first two, set once by the
#: entry point (`speaking`); the renewal configuration and certbot's cli.ini are where the
#: plugin's options are also written down.
PLUGIN = "plugin"  # certbot's command line: --dns-autopilot-resolvers
DOCTOR = "doctor"  # dns-autopilot doctor: --resolvers (options doctor takes)
RENEWAL = "renewal"  # [renewalparams] of <config-dir>/renewal/NAME.conf: dns_autopilot_resolvers
INI = "ini"  # certbot's configuration file (cli.ini): dns-autopilot-resolvers = ...

_surface = PLUGIN


@contextlib.contextmanager
def speaking(surface: str) -> Iterator[None]:
    """Every option a message names is spelt for ``surface`` until the block ends.

    The entry point says once where the user is (certbot's plugin needs nothing: `PLUGIN`
    is the default; ``dns-autopilot doctor`` says `DOCTOR`). Process-wide on purpose, not a
    ContextVar: the probes render messages in the worker threads of their own pools (the
    DNS door's, the chain's, pre-flight's), which a ContextVar reaches only where each pool
    copies the context; one process serves one surface."""
    global _surface
    if surface not in (PLUGIN, DOCTOR):
        raise ValueError(f"{surface!r} is not a surface a user runs on")
    before, _surface = _surface, surface
    try:
        yield
    finally:
        _surface = before


def flag(name: str, on: str | None = None) -> str:
    """How the user on ``on`` (default: the current surface) gives option ``name``: doctor's
    short flag where doctor takes the option, else certbot's (a fix that only a certbot run
    can apply names certbot's flag even in doctor)."""
    return BY_NAME[name].spelling(on or _surface)


class OptionValueError(ValueError, argparse.ArgumentTypeError):
    """A value an option cannot take (a yes/no that is neither, a value outside the
    choices); argparse prints its message as it is."""


def parse_bool(text: str | bool) -> bool:
    """A yes/no option value as the command line and the renewal config spell it."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise OptionValueError(f"{text!r} is not true or false (use true/false, yes/no, on/off, "
                         "1/0)")


def parse_family(text: str) -> str:
    """The ``address-family`` option: any, ipv4 or ipv6."""
    value = str(text or "any").strip().lower()
    if value not in ("any", "ipv4", "ipv6"):
        raise OptionValueError(f"{text!r} is not any, ipv4 or ipv6")
    return value


def parse_seconds(text: str | int) -> int:
    """A whole, non-negative number of seconds (the renewal config hands it back as text)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{text!r} is not a whole number of seconds")
    return value


def _text(text: str | None) -> str:
    return "" if text is None else str(text)


class Option(NamedTuple):
    """One plugin option: ``--dns-autopilot-<name>`` for certbot, ``--<name>`` for doctor,
    ``dns_autopilot_<name>`` in the renewal configuration (dashes to underscores).

    A NamedTuple, not a dataclass: certbot imports this module on every invocation, and a
    frozen dataclass costs half a millisecond more to define."""

    name: str
    read: Callable[[Any], Any]  # the value from its text (command line or renewal config)
    default: Any
    help: str
    fix: str = ""  # how to correct a value `read` refuses
    metavar: str | None = None
    doctor: bool = False  # doctor takes it too, and `doctor --all` passes it on
    argtype: Callable[[str], Any] | None = None  # argparse's check at the command line
    doctor_help: str = ""  # doctor's help, where certbot's would mislead there

    @property
    def dest(self) -> str:
        """Its key in certbot's ``[renewalparams]`` (without the plugin's prefix)."""
        return self.name.replace("-", "_")

    def spelling(self, surface: str) -> str:
        """The option as written on ``surface``; doctor's falls back to certbot's flag for an
        option doctor does not take (the fix is then a certbot run's)."""
        if surface == RENEWAL:
            return f"dns_autopilot_{self.dest}"
        if surface == INI:
            return f"{PREFIX}{self.name}"
        if surface == DOCTOR and self.doctor:
            return f"--{self.name}"
        return f"--{PREFIX}{self.name}"

    def spellings(self) -> dict[str, str | None]:
        """Every surface's spelling (None: doctor has no such option)."""
        return {PLUGIN: self.spelling(PLUGIN), DOCTOR: f"--{self.name}" if self.doctor
                else None, RENEWAL: self.spelling(RENEWAL), INI: self.spelling(INI)}

    def parse(self, given: Any) -> Any:
        """The option's value from what certbot hands back.

        :raises AutopilotError: (``bad-config``) naming the option and the fix.
        """
        try:
            return self.read(given)
        except errors.PluginError:
            raise
        except ValueError as exc:
            from .errors import AutopilotError  # on a bad value only: this module loads at start

            raise AutopilotError("bad-config", f"{self.spelling(_surface)}: {exc}", self.fix
                                 ) from None

    def argparse_kwargs(self, surface: str = PLUGIN) -> dict[str, Any]:
        """The keyword arguments of ``add_argument`` (certbot's ``add`` takes the same)."""
        help = self.doctor_help if surface == DOCTOR and self.doctor_help else self.help
        kwargs: dict[str, Any] = {"default": self.default, "help": help}
        if self.argtype:
            kwargs["type"] = self.argtype
        if self.metavar:
            kwargs["metavar"] = self.metavar
        return kwargs


def _switch(name: str, default: bool, help: str, doctor: bool = False) -> Option:
    """A true/false option."""
    return Option(name, parse_bool, default, help, argtype=parse_bool, metavar="true|false",
                  doctor=doctor, fix="set it to true or false (on the command line, or in the "
                  "renewal configuration's [renewalparams])")


OPTIONS: tuple[Option, ...] = (
    Option("credentials", _text, None, doctor=True, help=(
        "Path to the credentials INI file (mode 600): the record writer's keys, e.g. "
        "dns_autopilot_rfc2136_server/_name/_secret. Stored absolute in the renewal "
        "configuration (default: none; required)."), doctor_help=(
        "Path to the credentials INI file (mode 600) the plugin is given: the record "
        "writer's keys, e.g. dns_autopilot_rfc2136_server/_name/_secret (required unless "
        "--all).")),
    Option("resolvers", _text, "", doctor=True, help=(
        "Comma-separated recursive resolvers (IP, IP:PORT, or https://host[:port]/path for "
        "DNS over HTTPS) used to find zones, nameservers, CAA and for the public check "
        "(default: the system's).")),
    Option("propagation-timeout", parse_seconds, DEFAULT_PROPAGATION_TIMEOUT, argtype=int,
           fix="give e.g. 300 (0 turns the wait off)", help=(
               "Upper bound, in seconds, on waiting for the records to be served; the wait "
               "ends as soon as they are. 0 turns the wait off (the CA may then ask before "
               "the records are served).")),
    Option("failure-hook", _text, "", metavar="COMMAND", help=(
        "A command run (through the shell) once when a run fails, with the diagnoses as JSON "
        "on its standard input: names, codes, evidence, fixes, the CA's error and certbot's "
        f"verb. Bounded to {hook.TIMEOUT:.0f} s; its failure is only logged. Saved for "
        "renewal, so cron renewals can page someone with the cause (default: none).")),
    _switch("follow-cnames", True, doctor=True, help=(
               "Follow a CNAME at _acme-challenge.<domain> (asking authoritative servers) and "
               "write the TXT at its target, with the writer configured for the target's "
               "zone.")),
    _switch("preflight", True, help=(
        "Before writing anything, probe the Public Suffix List, CAA, the zones' delegation "
        "and existing values; errors stop the run before any challenge is answered. "
        "`dns-autopilot doctor` runs the same probes alone.")),
    Option("caa-identities", _text, "", doctor=True, help=(
        "Comma-separated CAA identities of the CA (e.g. letsencrypt.org), for CAs whose "
        "directory does not publish them (default: the directory's meta.caaIdentities)."),
        doctor_help=(
        "Comma-separated CAA identities of the CA (e.g. letsencrypt.org) to check CAA "
        "records against (default: the meta.caaIdentities of --server's directory; with "
        "neither, CAA issuers are not checked).")),
    _switch("remove-stale", False, help=(
        "Before writing, remove TXT values that pre-flight found already sitting at the "
        "names to be written (stale-record), so resolvers stop serving them. Only safe when "
        "no other issuance for the same names may be running: its value would be removed "
        "too.")),
    _switch("authoritative-check", True, help=(
               "Wait until every reachable authoritative nameserver address serves the "
               "values before asking the resolvers. Set false where port 53 to them is "
               "always filtered: the resolvers alone decide (resolvers only).")),
    Option("address-family", parse_family, "any", argtype=parse_family,
           fix="set it to any, ipv4 or ipv6", metavar="any|ipv4|ipv6", doctor=True, help=(
               "Which nameserver addresses to ask directly: any (default; a family this host "
               "has no route for is skipped with a notice), ipv4 or ipv6 only.")),
    _switch("public-check", True, help=(
        "After every authoritative server serves the values, also wait until the resolvers "
        "do. Set false for split-horizon setups where the resolvers cannot see the public "
        "view.")),
)

BY_NAME = {option.name: option for option in OPTIONS}
