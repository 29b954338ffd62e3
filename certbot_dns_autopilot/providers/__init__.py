"""Record writers: one per DNS provider, all behind the small `Writer` interface, and the
map from zones to writers that one credentials file configures.

A writer knows how to find the zone that holds a name, add TXT values and remove exactly
those values again. It never sleeps or polls for propagation: the waiter does that for
every writer alike, by asking the zone's nameservers.

The credentials file holds one writer at its top level (the foundation format, which may
serve every zone) and any number of further writers in sections, each listing its zones:

    dns_autopilot_rfc2136_server = 192.0.2.1       # top level: serves any zone ...
    dns_autopilot_rfc2136_name = acme-key          # ... unless dns_autopilot_zones lists them
    dns_autopilot_rfc2136_secret = ...

    [acme-delegation]
    dns_autopilot_zones = acme.example.org
    dns_autopilot_rfc2136_server = 192.0.2.2
    ...
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Set
from typing import Any, Protocol

from certbot import errors

from .. import names
from ..errors import AutopilotError

# zone -> {record name -> values}; names are normalized, without the trailing dot.
Records = Mapping[str, Set[str]]
ZONES_KEY = "zones"


class Writer(abc.ABC):
    """Adds and removes TXT values at one DNS provider."""

    #: How the writer is named in messages, e.g. "RFC 2136 server 192.0.2.1 (key acme)".
    label: str

    @abc.abstractmethod
    def find_zone(self, name: str) -> str:
        """The zone (normalized) this writer must change to publish a record at ``name``."""

    @abc.abstractmethod
    def add(self, zone: str, records: Records, ttl: int) -> None:
        """Add each value to its name's TXT set, keeping values already there; one batch
        per zone where the provider allows it."""

    @abc.abstractmethod
    def remove(self, zone: str, records: Records) -> None:
        """Remove exactly these values; other values at the same names stay."""

    @abc.abstractmethod
    def values(self, zone: str, name: str) -> set[str]:
        """The TXT values currently at ``name``, as the provider holds them."""


class Keys(Protocol):
    """What a writer reads its settings from: certbot's CredentialsConfiguration or a section."""

    def conf(self, var: str) -> Any: ...

    def require(self, required_variables: Mapping[str, str]) -> None: ...


class SectionKeys:
    """One ``[section]`` of the credentials file, read like the top level."""

    def __init__(self, section: Mapping[str, Any], mapper: Callable[[str], str], where: str
                 ) -> None:
        self.section, self.mapper, self.where = section, mapper, where

    def conf(self, var: str) -> Any:
        return self.section.get(self.mapper(var))

    def require(self, required_variables: Mapping[str, str]) -> None:
        missing = [f'Property "{self.mapper(var)}" not set (should be {what}).'
                   for var, what in required_variables.items() if not self.conf(var)]
        if missing:
            raise errors.PluginError(f"Missing properties in {self.where}:\n * "
                                     + "\n * ".join(missing))


WriterFactory = Callable[[Keys, str], Writer]


def _rfc2136(keys: Keys, where: str) -> Writer:
    from .rfc2136 import RFC2136Writer  # imported on use: certbot loads every plugin at start

    return RFC2136Writer.from_credentials(keys, where)


#: writer kind -> (the INI key that selects it, factory)
WRITERS: dict[str, tuple[str, WriterFactory]] = {
    "rfc2136": ("rfc2136_server", _rfc2136),
}


def _writer(keys: Keys, where: str) -> Writer | None:
    chosen = [kind for kind, (key, _) in WRITERS.items() if keys.conf(key)]
    return WRITERS[chosen[0]][1](keys, where) if chosen else None


def _zones(keys: Keys) -> tuple[str, ...] | None:
    value = keys.conf(ZONES_KEY)
    if not value:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(names.normalize(z) for z in items if z.strip())


class WriterMap:
    """Which writer serves which zone: listed zones by longest suffix, else the default."""

    def __init__(self, entries: list[tuple[Writer, tuple[str, ...] | None]]) -> None:
        self.entries = entries

    def writer_for(self, name: str) -> Writer | None:
        best: tuple[int, Writer] | None = None
        for writer, zones in self.entries:
            for zone in zones or ():
                if (name == zone or name.endswith("." + zone)) and (
                        best is None or len(zone) > best[0]):
                    best = (len(zone), writer)
        if best:
            return best[1]
        return next((writer for writer, zones in self.entries if zones is None), None)

    @property
    def writers(self) -> list[Writer]:
        return [writer for writer, _ in self.entries]

    def describe(self) -> str:
        return "; ".join(f"{w.label} for {', '.join(z) if z else 'any zone'}"
                         for w, z in self.entries)


def writers_from_credentials(credentials: Any, path: str) -> WriterMap:
    """Every writer the credentials file configures, or one clear error naming the fix."""
    keys_hint = ", ".join(f"dns_autopilot_{key}" for key, _ in WRITERS.values())
    entries: list[tuple[Writer, tuple[str, ...] | None]] = []
    top = _writer(credentials, path)
    if top:
        entries.append((top, _zones(credentials)))
    confobj = getattr(credentials, "confobj", {})
    for section in getattr(confobj, "sections", []):
        where = f"{path} [{section}]"
        keys = SectionKeys(confobj[section], credentials.mapper, where)
        writer = _writer(keys, where)
        zones = _zones(keys)
        if writer is None or not zones:
            raise AutopilotError(
                "zone-not-found", f"section [{section}] of {path} does not configure a writer "
                "with its zones",
                f"give the section dns_autopilot_zones (the zones it writes) and the keys of "
                f"one writer, e.g. {keys_hint}")
        entries.append((writer, zones))
    if not entries:
        raise AutopilotError(
            "zone-not-found",
            f"the credentials file {path} configures no record writer",
            f"add the keys of a writer, e.g. {keys_hint} (see the Credentials section of "
            "README.md)")
    seen: dict[str, str] = {}
    for writer, zones in entries:
        for zone in zones or ():
            if zone in seen:
                raise AutopilotError(
                    "zone-not-found", f"zone {zone} is listed for two writers in {path}",
                    f"list each zone under one writer only ({seen[zone]}; {writer.label})")
            seen[zone] = writer.label
    return WriterMap(entries)
