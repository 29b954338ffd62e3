"""``dns_autopilot_zones``: the zones a writer of the credentials file serves, read."""

from __future__ import annotations

from typing import Any

from .. import names
from ..codes import Code
from ..errors import AutopilotError
from .schema import KEY_PREFIX

#: The key, without the prefix: ``dns_autopilot_zones``.
ZONES_KEY = "zones"


def parse_zones(value: Any, where: str) -> tuple[str, ...]:
    """The zones listed (configobj hands a comma-separated value over as a list): domain
    names, normalized.

    :raises AutopilotError: (``bad-config``) an item that is not a domain name, or a
        wildcard, naming the key and ``where``.
    """
    key = f"{KEY_PREFIX}{ZONES_KEY}"
    zones = []
    for item in value if isinstance(value, list) else str(value or "").split(","):
        item = str(item).strip()
        if not item:
            continue
        try:
            zone = names.normalize(item)
        except names.InvalidName as exc:
            raise AutopilotError(
                Code.BAD_CONFIG, f"{key} in {where}: {exc}",
                "list the zones as domain names separated by commas, e.g. example.com, "
                "example.net (IDN and a trailing dot are fine)") from None
        if zone.startswith("*"):
            raise AutopilotError(
                Code.BAD_CONFIG, f"{key} in {where}: {item!r} is a wildcard, not a zone",
                f"list the zone itself ({zone[2:]}): a zone covers every name below it")
        zones.append(zone)
    return tuple(zones)


def likely_zone(name: str) -> str:
    """For a fix when a provider shows no zone enclosing ``name``: its registrable domain (by
    the Public Suffix List), where most zones are cut; ``name`` itself if there is none."""
    name = names.normalize(name)
    try:
        return names.public_suffix_list().privatesuffix(name) or name
    except Exception:  # noqa: BLE001 - only a better guess for a message
        return name
