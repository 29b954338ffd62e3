"""What every writer is built from: the `Writer` interface, the `Records` it takes, the keys
it reads (`Keys`, `SectionKeys`) and the checks every writer shares."""

from __future__ import annotations

import abc
import contextlib
import ipaddress
import logging
import os
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from certbot import errors

from .. import names, scrub, statefiles
from ..codes import Code
from ..errors import AutopilotError

#: Every key of ours starts with it: ``dns_autopilot_<kind>_<name>``, ``dns_autopilot_zones``.
PREFIX = "dns_autopilot_"


@dataclass(frozen=True)
class Key:
    """One key of a writer's credentials (``dns_autopilot_<kind>_<name>``): whether it must
    be given, whether its value is a secret (kept out of every log), its default as the docs
    show it, and its help. Each writer module lists its keys in ``KEYS``."""

    name: str
    required: bool = False
    secret: bool = False
    default: str = ""
    help: str = ""

    def row(self, kind: str) -> str:
        """The key's line in the docs' key table (docs/options.md)."""
        default = "(required)" if self.required else self.default
        cells = [f"`{PREFIX}{kind}_{self.name}`", default, self.help]
        return "| " + " | ".join(cell or "" for cell in cells).replace("|  |", "| |") + " |"


# zone -> {record name -> values}; names are normalized, without the trailing dot.
Records = Mapping[str, Set[str]]
ZONES_KEY = "zones"


PROBE_PREFIX = "dns-autopilot-permission-probe-"
#: The TTL of every value written, the probe's included. A TXT set has one TTL (RFC 2181
#: 5.2): an RFC 2136 server gives the values already at the name the TTL of the one added,
#: so a probe written with a TTL of 1 s would leave someone else's values at 1 s.
RECORD_TTL = 60

logger = logging.getLogger(__name__)


def without_userinfo(url: str) -> str:
    """``url`` as labels and messages show it: without ``user:password@``, a credential
    (requests sends it as basic authentication)."""
    parts = urlsplit(str(url).strip())
    if "@" not in parts.netloc:
        return str(url).strip()
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def check_endpoint(url: str, key: str, where: str, code: str = Code.BAD_CONFIG) -> None:
    """An API endpoint must be https://: an http:// one would send the credential across the
    network in clear text. Loopback addresses (a local proxy, an emulator) are the exception.
    A password in its userinfo is a secret from now on (labels show `without_userinfo`).

    :raises AutopilotError: an http:// URL whose host is not a loopback address.
    """
    scrub.register_userinfo(url)
    parts = urlsplit(str(url).strip())
    if parts.scheme.lower() != "http":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise AutopilotError(
            code, f"{key} = {without_userinfo(url)!r} in {where} is an http:// URL: the "
            "credential would cross the network in clear text",
            "use the endpoint's https:// URL (http:// is accepted only on a loopback address, "
            "such as a local proxy or emulator)")


def kept_changing(label: str, what: str, doing: str, tries: int) -> AutopilotError:
    """``write-conflict``: a conditional write (an etag, a batch that must find the set as
    read) lost to another writer's change on every one of ``tries`` re-reads. Nothing of
    this write was applied; the other writer is outside this run, so only finding it helps."""
    return AutopilotError(
        Code.WRITE_CONFLICT,
        f"{label}: {what} kept changing while {doing}: another writer's change landed "
        f"between each read and write ({tries} reads), so the writer gave up",
        "find the other writer at the same name (another certbot, lego or acme.sh, often on "
        "a second host renewing the same names, or a tool syncing the zone) and serialize "
        "them: one issuance at a time per name; then run again")


class Writer(abc.ABC):
    """Adds and removes TXT values at one DNS provider.

    Every error a writer raises is an `AutopilotError` whose text starts with its label and
    carries a diagnosis code (``permission-denied``, ``zone-not-found``, …) and the
    provider-specific fix; SDKs are imported inside the writer's module, on first use.
    """

    #: How the writer is named in messages, e.g. "RFC 2136 server 192.0.2.1 (key acme)".
    #: Never holds a secret.
    label: str
    #: The run's event log, set by the plugin: retries are reported there.
    events: Any = None
    #: The run's challenges in certbot's order, (domain, value, name written), set by the
    #: plugin before the first add: for writers that hand certbot's own view on (exec).
    challenges: tuple[tuple[str, str, str], ...] = ()
    #: domain -> the name its ``_acme-challenge`` must be a CNAME to, for writers that can
    #: write at fixed names only (acme-dns: each registration's fulldomain). The writer map
    #: routes those names to the writer; the router checks each domain's CNAME against them.
    cname_targets: Mapping[str, str] = {}

    def on_retry(self, what: str, attempt: int, pause: float, exc: Exception | str) -> None:
        """Report a retry (`retry.call`'s hook): an event, and a line in certbot's log."""
        reason = exc if isinstance(exc, str) else type(exc).__name__
        logger.info("dns-autopilot: %s: %s failed (%s, attempt %d); retrying in %.1f s",
                    self.label, what, reason, attempt, pause)
        if self.events is not None:
            self.events.emit("retry", "retrying", writer=self.label, what=what,
                             attempt=attempt, pause_s=round(pause, 2), reason=reason)

    @abc.abstractmethod
    def find_zone(self, name: str) -> str:
        """The zone (normalized) this writer must change to publish a record at ``name``;
        "" for writers with no zones of their own (exec, acme-dns): the router then takes
        the zone the DNS says holds ``name``."""

    @abc.abstractmethod
    def add(self, zone: str, records: Records, ttl: int) -> None:
        """Add each value to its name's TXT set, keeping values already there; one batch
        per zone where the provider allows it. Returns once the provider accepted it (for
        providers with a change status, once it reports the change as applied). An add
        that raises leaves none of its values behind (it rolls back what it created)."""

    @abc.abstractmethod
    def remove(self, zone: str, records: Records) -> None:
        """Remove exactly these values; other values at the same names stay. Idempotent:
        values that are not there are no error (it also takes back an add that failed
        midway, or that may have been applied after all)."""

    @contextlib.contextmanager
    def rolled_back(self, zone: str, records: Records) -> Iterator[None]:
        """For `add`: when the block raises, remove the whole batch (values never written
        are skipped) before the error goes on, so a failed add leaves nothing behind."""
        try:
            yield
        except Exception as failed:
            try:
                self.remove(zone, records)
            except Exception as exc:  # noqa: BLE001 - the add's own error is the one to raise
                logger.warning("dns-autopilot: %s: could not take back the values of a failed "
                               "add in %s (%s); the run's cleanup retries", self.label, zone,
                               getattr(exc, "problem", type(exc).__name__))
            else:
                if isinstance(failed, AutopilotError):
                    failed.left_nothing = True
            raise

    @abc.abstractmethod
    def values(self, zone: str, name: str) -> set[str]:
        """The TXT values currently at ``name``, as the provider holds them."""

    def probe(self, zone: str, name: str) -> None:
        """Prove the credential can create, read back and delete a value at ``name`` in
        ``zone``; raise AutopilotError (``permission-denied``, ``zone-not-found``) naming
        the provider's fix. Writers override this to check provider-specific rights first
        (e.g. Route 53's GetChange, which a write alone does not exercise)."""
        value = PROBE_PREFIX + uuid.uuid4().hex[:12]
        records = {name: {value}}
        self.add(zone, records, RECORD_TTL)
        try:
            if value not in self.values(zone, name):
                raise AutopilotError(
                    Code.PERMISSION_DENIED,
                    f"{self.label}: a probe value written at {name} could not be read back",
                    f"check that the credential may read records in {zone} and that the "
                    "writer changes the zone the nameservers serve")
        finally:
            self.remove(zone, records)


class Keys(Protocol):
    """What a writer reads its settings from: certbot's CredentialsConfiguration or a section."""

    def conf(self, var: str) -> Any: ...


def present_keys(keys: Any) -> list[str]:
    """The key names a file's top level (certbot's CredentialsConfiguration) or a section
    holds: writers check them for misspellings, which would otherwise go unnoticed."""
    holder = getattr(keys, "section", None)
    if holder is None:
        holder = getattr(keys, "confobj", {})
    scalars = getattr(holder, "scalars", None)
    return [str(k) for k in (scalars if scalars is not None else list(holder))]


class SectionKeys:
    """One ``[section]`` of the credentials file, read like the top level."""

    def __init__(self, section: Mapping[str, Any], mapper: Callable[[str], str], where: str
                 ) -> None:
        self.section, self.mapper, self.where = section, mapper, where

    def conf(self, var: str) -> Any:
        return self.section.get(self.mapper(var))


def parse_zones(value: Any, where: str) -> tuple[str, ...]:
    """``dns_autopilot_zones`` (configobj hands a comma-separated value over as a list):
    domain names, normalized; anything else is one PluginError naming the key and ``where``."""
    key = f"{PREFIX}{ZONES_KEY}"
    zones = []
    for item in value if isinstance(value, list) else str(value or "").split(","):
        item = str(item).strip()
        if not item:
            continue
        try:
            zone = names.normalize(item)
        except names.InvalidName as exc:
            raise errors.PluginError(
                f"{key} in {where}: {exc}. Fix: list the zones as domain names separated by "
                "commas, e.g. example.com, example.net (IDN and a trailing dot are "
                "fine)") from None
        if zone.startswith("*"):
            raise errors.PluginError(
                f"{key} in {where}: {item!r} is a wildcard, not a zone. Fix: list the zone "
                f"itself ({zone[2:]}): a zone covers every name below it")
        zones.append(zone)
    return tuple(zones)


def check_mode(path: str) -> None:
    """A file of secrets root acts on: one anybody but its owner (root or this user) can
    change, or that sits where anybody else can replace it, is refused (with the exec writer
    it names commands root runs); one every local user can read is refused; one its group
    can read, warned about."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # a missing file is reported by the reader, with its own message
    try:
        statefiles.check_trusted(path)
    except statefiles.Unsafe as exc:
        raise errors.PluginError(
            f"refusing the file {path}: {exc.path}: {exc.why}. Fix: keep it in a directory "
            "only root (or the user certbot runs as) can write, such as /etc/letsencrypt, "
            "owned by that user, and chmod 600 it (directories above it: chmod go-w, chown "
            "root)") from None
    except OSError:
        return
    if mode & stat.S_IROTH:
        raise errors.PluginError(
            f"the credentials file {path} is readable by every user of this machine "
            f"(mode {stat.S_IMODE(mode):o}); it holds secrets. Fix: chmod 600 {path}")
    if mode & stat.S_IRGRP:
        logger.warning("dns-autopilot: the credentials file %s is readable by its group "
                       "(mode %o); consider chmod 600 %s", path, stat.S_IMODE(mode), path)


def quote_txt(value: str, chunk: int | None = None) -> str:
    """A TXT value in zone-file presentation, as RFC 2136 messages and the providers' APIs
    take it: quoted character strings (of at most ``chunk`` characters each when given),
    backslash and quote escaped."""
    parts = ([value[i:i + chunk] for i in range(0, len(value), chunk)] or [""]) if chunk \
        else [value]
    return " ".join('"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for part in parts)
