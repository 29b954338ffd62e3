"""The exec writer: the user's own commands write and remove each value, as certbot's
``--manual-auth-hook`` / ``--manual-cleanup-hook`` scripts do (an internal DNS, a
registrar's web form, a ticket system).

Each call gets certbot's manual-hook environment (``CERTBOT_DOMAIN``, ``CERTBOT_VALIDATION``,
``CERTBOT_ALL_DOMAINS``, ``CERTBOT_REMAINING_CHALLENGES``, and ``CERTBOT_AUTH_OUTPUT`` for
the cleanup), so such a script works unchanged; its ``sleep`` goes, the waiter does that
part. ``DNS_AUTOPILOT_RECORD`` and ``DNS_AUTOPILOT_ZONE`` say where to write once CNAMEs are
followed. Every call is bounded in time (`commands.execute`) and recorded in the event log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from .. import commands, names
from ..codes import Code
from ..errors import AutopilotError
from ..shown import shown
from .schema import Key, Shape
from .sections import SectionKeys
from .writer import PROBE_PREFIX, Context, Records, Writer

TIMEOUT = 120.0  # seconds per call unless dns_autopilot_exec_timeout says otherwise
TAIL = 800  # characters of a failed hook's stderr shown in the error


def _seconds(text: str) -> bool:
    """A hook call's time limit: a number of seconds from 1 to 3600."""
    try:
        return 0 < float(text) <= 3600
    except ValueError:
        return False


def _not_runnable(command: str, status: int, stderr: str) -> bool:
    """The shell's own 126/127 for the hook's first word (not found, not executable), told
    from the same status of a command inside the hook by the shell naming that word."""
    program = commands.program(command)
    if program is None:
        return False
    first = stderr.splitlines()[0] if stderr else ""
    return status in (126, 127) and f": {program}: " in first and shutil.which(program) is None


class ExecWriter(Writer):
    """Runs one command per value to add it, and one per value to remove it."""

    title = "exec"
    page = "providers/exec"
    KEYS = (
        Key('auth_hook', required=True,
            help=("the command publishing one value, with certbot's manual-hook environment "
                  'plus `DNS_AUTOPILOT_RECORD`, `DNS_AUTOPILOT_ZONE`')),
        Key('cleanup_hook', required=True,
            help='the command removing one value (`true` if none is needed)'),
        Key('timeout', default='`120`',
            help='seconds one call may take; then it is stopped with its children',
            shape=Shape("a number of seconds", _seconds, "give the longest one hook call may "
                        f"take, from 1 to 3600 (default {TIMEOUT:.0f})")),
    )

    def __init__(self, auth_hook: str, cleanup_hook: str, timeout: float = TIMEOUT,
                 context: Context | None = None) -> None:
        super().__init__(context)
        self.auth_hook, self.cleanup_hook, self.timeout = auth_hook, cleanup_hook, timeout
        # both hooks: a message then names the one it is about (`_who`)
        self.label = f"exec hooks {commands.label(auth_hook)} / {commands.label(cleanup_hook)}"
        self._lock = threading.Lock()  # one hook at a time, as certbot's manual plugin runs them
        self._calls = 0  # auth calls made in this run: CERTBOT_REMAINING_CHALLENGES counts down
        self._auth_output: dict[tuple[str, str], str] = {}

    @classmethod
    def from_credentials(cls, keys: SectionKeys, context: Context | None = None
                         ) -> ExecWriter:
        settings = cls.settings(keys)
        return cls(settings["auth_hook"] or "", settings["cleanup_hook"] or "",
                   float(settings["timeout"] or TIMEOUT), context)

    def find_zone(self, name: str) -> str:
        return ""  # the zone the DNS says holds the name

    # -- one call ----------------------------------------------------------------------

    def _domain(self, name: str, value: str) -> str:
        """The domain certbot would name for this value (without ``*.``)."""
        for domain, val in self.challenges:
            if val == value:
                return names.normalize(domain.removeprefix("*."))
        return name.removeprefix("_acme-challenge.")

    def _env(self, zone: str, name: str, value: str, remaining: int) -> dict[str, str]:
        """certbot's manual-hook environment for one value. The hook runs as root and may
        paste any of it into a shell line or an nsupdate script: the value must be shaped
        as a DNS-01 value and the names must be host names (the zone comes from the DNS).

        :raises AutopilotError: (``wrong-value``, ``wrong-name``) anything else; the hook
            is not run.
        """
        if not names.is_dns01_value(value):
            raise AutopilotError(
                Code.WRONG_VALUE, f"{self.label}: {shown(value, limit=80)!r} at {name} is not "
                "a DNS-01 value (43 base64url characters): it is not handed to the hooks",
                "remove it by hand if it is not someone's")
        try:
            name, zone = names.normalize(name), names.normalize(zone)
        except names.InvalidName as exc:
            raise AutopilotError(
                Code.WRONG_NAME, f"{self.label}: {shown(exc)}: it is not handed to the hooks",
                "check the zone's delegation (`dig NS` for the name's parents): the zone "
                "and the record must be host names") from None
        domains = [d.removeprefix("*.") for d, _ in self.challenges] or [
            self._domain(name, value)]
        return dict(os.environ, CERTBOT_DOMAIN=self._domain(name, value),
                    CERTBOT_VALIDATION=value, CERTBOT_ALL_DOMAINS=",".join(domains),
                    CERTBOT_REMAINING_CHALLENGES=str(max(remaining, 0)),
                    DNS_AUTOPILOT_RECORD=name, DNS_AUTOPILOT_ZONE=zone)

    def _call(self, which: str, zone: str, name: str, value: str, env: dict[str, str]) -> str:
        """Run one hook for one value; its stdout, or one AutopilotError with its stderr."""
        command = self.auth_hook if which == "auth" else self.cleanup_hook
        who = self._who(which)
        with self._step(which, name, zone) as step:
            try:
                outcome = commands.execute(command, timeout=self.timeout, env=env)
            except (OSError, ValueError) as exc:  # ValueError: what Popen says of its env
                raise AutopilotError(
                    Code.PERMISSION_DENIED, f"{who} could not be started "
                    f"({shown(getattr(exc, 'strerror', None) or exc)})",
                    f"check {self.key(which + '_hook')}") from None
            if outcome.status is None:
                step["status"] = "timeout"
                raise AutopilotError(
                    Code.PROVIDER_UNREACHABLE,
                    f"{who} for {name} did not finish within "
                    f"{self.timeout:.0f} s and was stopped (with every process it started)",
                    f"make the hook return once the provider accepted the value (the waiter "
                    f"checks the nameservers: delete any sleep), or raise {self.key('timeout')}")
            step["status"] = outcome.status
            if outcome.status != 0:
                tail = outcome.stderr.decode("utf-8", "replace").strip()[-TAIL:]
                if _not_runnable(command, outcome.status, tail):
                    raise AutopilotError(
                        Code.BAD_CONFIG, f"{who} could not be run "
                        f"(status {outcome.status}: its program is missing or not executable)",
                        f"set {self.key(which + '_hook')} to a command that exists for the user "
                        "certbot runs as (root under cron/systemd): an absolute path, and "
                        "chmod 700 the script", evidence="The shell said: " + shown(
                            tail.splitlines()[0], limit=200))
                raise AutopilotError(
                    Code.PERMISSION_DENIED,
                    f"{who} for {name} exited with status "
                    f"{outcome.status}",
                    f"fix what its output says, and run it by hand with the same environment "
                    f"(CERTBOT_DOMAIN, CERTBOT_VALIDATION, DNS_AUTOPILOT_RECORD={name})",
                    evidence="Its stderr (last lines): " + (shown(tail, limit=TAIL + 40)
                                                             or "(empty)"))
        # It becomes CERTBOT_AUTH_OUTPUT, and no environment variable can hold a NUL byte.
        return outcome.stdout.decode("utf-8", "replace").replace("\0", "").strip()

    def _who(self, which: str) -> str:
        """How a message names the hook it is about, after the writer's label (which names
        both): the one that failed, so a failed cleanup hook is named as such."""
        command = self.auth_hook if which == "auth" else self.cleanup_hook
        return f"{self.label}: the {which} hook {commands.label(command)}"

    @contextlib.contextmanager
    def _step(self, which: str, name: str, zone: str) -> Iterator[dict[str, Any]]:
        if self.events is None:
            yield {}
            return
        with self.events.step("exec-hook", name, hook=which, zone=zone,
                              command=commands.label(self.auth_hook if which == "auth"
                                                 else self.cleanup_hook)) as step:
            yield step

    # -- the writer ----------------------------------------------------------------------

    def add(self, zone: str, records: Records, ttl: int) -> None:
        """The auth hook per value; when one fails, the cleanup hook for every value the
        auth hook was called for, the failed one included: it may have written before it
        failed."""
        def call(name: str, value: str) -> None:
            with self._lock:
                self._calls += 1
                env = self._env(zone, name, value, len(self.challenges) - self._calls)
                self._auth_output[(name, value)] = self._call("auth", zone, name, value, env)
        self.add_each(zone, records, call)

    def remove(self, zone: str, records: Records) -> None:
        failed: AutopilotError | None = None
        for name, values in sorted(records.items()):
            for value in sorted(values):
                with self._lock:
                    env = self._env(zone, name, value, 0)
                    env["CERTBOT_AUTH_OUTPUT"] = self._auth_output.pop((name, value), "")
                    try:
                        self._call("cleanup", zone, name, value, env)
                    except AutopilotError as exc:  # the others are still removed
                        failed = failed or exc
        if failed:
            raise failed

    def values(self, zone: str, name: str) -> set[str]:
        raise AutopilotError(
            Code.PERMISSION_DENIED, f"{self.label} cannot read records back",
            "the waiter reads them from the zone's nameservers")

    def probe(self, zone: str, name: str) -> None:
        """Run both hooks once with a probe value (no read back: a hook writes only)."""
        records = {name: {PROBE_PREFIX + uuid.uuid4().hex[:12]}}
        self.add(zone, records, 1)
        self.remove(zone, records)
