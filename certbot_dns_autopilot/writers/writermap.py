"""The writer map of one credentials file: which writer serves which zone.

The file holds one writer at its top level (the foundation format, which may serve every
zone) and any number of further writers in sections, each listing its zones; a section's
writer is chosen by its keys (`registry.kinds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import links, names
from ..codes import Code
from ..errors import AutopilotError
from . import registry
from .sections import SectionKeys
from .writer import Context, Writer
from .zonelist import ZONES_KEY, parse_zones


class WriterMap:
    """Which writer serves which zone: listed zones by longest suffix, else the default."""

    def __init__(self, entries: list[tuple[Writer, tuple[str, ...] | None]]) -> None:
        self.entries = entries

    def writer_for(self, name: str) -> Writer | None:
        for writer, _ in self.entries:  # a fixed name (acme-dns) goes to its writer
            if name in getattr(writer, "cname_targets", {}).values():
                return writer
        listed = {zone: writer for writer, zones in self.entries for zone in zones or ()}
        best = names.longest_zone(name, listed)
        if best is not None:
            return listed[best]
        return next((writer for writer, zones in self.entries if zones is None), None)

    @property
    def writers(self) -> list[Writer]:
        return [writer for writer, _ in self.entries]

    def describe(self) -> str:
        return "; ".join(f"{w.label} for "
                         + ("any zone" if z is None else ", ".join(z) or "its registrations")
                         for w, z in self.entries)


def keys_hint() -> str:
    """Every kind and the key that introduces it, for a message that asks for a writer."""
    return ", ".join(f"{found.key} ({name})" for name, found in registry.every_kind().items())


def _writer(keys: SectionKeys, context: Context | None) -> Writer | None:
    found = registry.kinds(keys.present())
    if len(found) > 1:
        raise AutopilotError(
            Code.BAD_CONFIG, f"{keys.where} mixes the keys of {' and '.join(found)} writers",
            "give each writer its own [section] with its dns_autopilot_zones (see "
            f"{links.page('cname-aliases', 'several-writers-in-one-file-the-writer-map')})")
    if not found:
        return None
    kind = registry.kind(found[0])
    assert kind is not None  # `kinds` found it
    return kind.build(keys, context)


def _zones(keys: SectionKeys) -> tuple[str, ...] | None:
    return parse_zones(keys.conf(ZONES_KEY), keys.where) or None


def writers_from_credentials(confobj: Mapping[str, Any], path: str,
                             context: Context | None = None) -> WriterMap:
    """Every writer the credentials file (as configobj read it) configures, each built with
    the run's ``context``, or one clear error naming the fix.

    :raises AutopilotError: ``bad-config``.
    """
    entries: list[tuple[Writer, tuple[str, ...] | None]] = []
    top = SectionKeys(confobj, path)
    writer = _writer(top, context)
    if writer:
        entries.append((writer, _zones(top)))
    for section in getattr(confobj, "sections", []):
        keys = SectionKeys(confobj[section], f"{path} [{section}]")
        writer = _writer(keys, context)
        zones = _zones(keys)
        if writer is None or not (zones or writer.cname_targets):
            raise AutopilotError(
                Code.BAD_CONFIG, f"section [{section}] of {path} does not configure a writer "
                "with its zones",
                f"give the section dns_autopilot_zones (the zones it writes) and the keys of "
                f"one writer ({keys_hint()})")
        entries.append((writer, zones or ()))
    if not entries:
        raise AutopilotError(
            Code.BAD_CONFIG,
            f"the credentials file {path} configures no record writer",
            f"add the keys of a writer ({keys_hint()}; see "
            f"{links.page('options', 'credentials-file-keys-common-to-every-writer')})")
    seen: dict[str, str] = {}
    for writer, zones in entries:
        for zone in zones or ():
            if zone in seen:
                raise AutopilotError(
                    Code.BAD_CONFIG, f"zone {zone} is listed for two writers in {path}",
                    f"list each zone under one writer only ({seen[zone]}; {writer.label})")
            seen[zone] = writer.label
    return WriterMap(entries)
