"""Record writers: one per DNS provider, all behind the small `Writer` interface.

A writer knows how to find the zone that holds a name, add TXT values and remove exactly
those values again. It never sleeps or polls for propagation: the waiter does that for
every writer alike, by asking the zone's nameservers.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Set

from certbot.plugins.dns_common import CredentialsConfiguration

from ..errors import AutopilotError

# zone -> {record name -> values}; names are normalized, without the trailing dot.
Records = Mapping[str, Set[str]]


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


WriterFactory = Callable[[CredentialsConfiguration, str], Writer]


def _rfc2136(credentials: CredentialsConfiguration, path: str) -> Writer:
    from .rfc2136 import RFC2136Writer  # imported on use: certbot loads every plugin at start

    return RFC2136Writer.from_credentials(credentials, path)


#: writer kind -> (the INI key that selects it, factory)
WRITERS: dict[str, tuple[str, WriterFactory]] = {
    "rfc2136": ("rfc2136_server", _rfc2136),
}


def writer_from_credentials(credentials: CredentialsConfiguration, path: str) -> Writer:
    """The writer a credentials file configures, or a clear error if it configures none."""
    chosen = [kind for kind, (key, _) in WRITERS.items() if credentials.conf(key)]
    if not chosen:
        keys = ", ".join(f"dns_autopilot_{key}" for key, _ in WRITERS.values())
        raise AutopilotError(
            "zone-not-found",
            f"the credentials file {path} configures no record writer",
            f"add the keys of a writer, e.g. {keys} (see the Credentials section of README.md)",
        )
    return WRITERS[chosen[0]][1](credentials, path)
