"""The writers, as a table: which keys introduce a writer kind, and where its class lives.

A writer's module (and its SDK) is imported only when a credentials file configures it:
certbot imports every installed plugin on every invocation. Adding a writer is one module
here and one row in `WRITERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from certbot import errors

from .. import links, names, scrub
from ..codes import Code
from ..errors import AutopilotError
from . import schema
from .base import PREFIX, ZONES_KEY, Keys, SectionKeys, Writer, parse_zones, present_keys


@dataclass(frozen=True)
class Kind:
    """One writer kind: ``dns_autopilot_<kind>_…`` keys select it."""

    key: str  # the key that introduces it in messages
    module: str  # its module in this package
    cls: str  # its class there, built with ``from_credentials(keys, where)``

    def build(self, keys: Keys, where: str) -> Writer:
        """The writer, its secrets registered with the log scrubber first (from its
        ``KEYS``), so that nothing the SDK logs while it starts can show them.

        :raises AutopilotError: (``bad-config``) a secret too short to be masked wherever it
            appears (it would mask ordinary words): no credential is that short.
        """
        module = importlib.import_module(f".{self.module}", __package__)
        for key in module.KEYS:
            secret = schema.value(keys.conf(f"{self.module}_{key.name}")) if key.secret \
                else None
            if secret is not None and len(secret) < scrub.MIN_SECRET:
                raise AutopilotError(
                    Code.BAD_CONFIG, f"{schema.key_name(self.module, key.name)} in {where} is "
                    f"{len(secret)} characters long: too short for a secret, and too short to "
                    "be kept out of logs (it would be masked in ordinary words)",
                    f"give the whole secret as the provider issued it (at least "
                    f"{scrub.MIN_SECRET} characters)")
            scrub.register([secret])
        return getattr(module, self.cls).from_credentials(keys, where)


#: writer kind -> how to build it. A section's writer is chosen by its keys.
WRITERS: dict[str, Kind] = {
    "rfc2136": Kind("dns_autopilot_rfc2136_server", "rfc2136", "RFC2136Writer"),
    "cloudflare": Kind("dns_autopilot_cloudflare_api_token", "cloudflare", "CloudflareWriter"),
    "route53": Kind("dns_autopilot_route53_access_key_id", "route53", "Route53Writer"),
    "azure": Kind("dns_autopilot_azure_subscription_id", "azure", "AzureWriter"),
    "lexicon": Kind("dns_autopilot_lexicon_provider", "lexicon", "LexiconWriter"),
    "acmedns": Kind("dns_autopilot_acmedns_registration_file", "acmedns", "AcmeDnsWriter"),
    "exec": Kind("dns_autopilot_exec_auth_hook", "exec", "ExecWriter"),
}


def kinds(keys: Iterable[str]) -> list[str]:
    """The writer kinds whose keys (dns_autopilot_<kind>_…) appear among ``keys``."""
    keys = list(keys)
    return [kind for kind in WRITERS if any(key.startswith(f"{PREFIX}{kind}_") for key in keys)]


def _writer(keys: Keys, present: Iterable[str], where: str) -> Writer | None:
    found = kinds(present)
    if len(found) > 1:
        raise AutopilotError(
            Code.BAD_CONFIG, f"{where} mixes the keys of {' and '.join(found)} writers",
            "give each writer its own [section] with its dns_autopilot_zones (see "
            f"{links.page('cname-aliases', 'several-writers-in-one-file-the-writer-map')})")
    if not found:
        return None
    try:
        return WRITERS[found[0]].build(keys, where)
    except ImportError as exc:  # the provider's SDK is an extra: say which one to install
        raise errors.PluginError(
            f"{where} configures a {found[0]} writer, but its SDK ({exc.name}) is not "
            f"installed. Fix: pip install 'certbot-dns-autopilot[{found[0]}]' into certbot's "
            "environment") from None


def _zones(keys: Keys, where: str) -> tuple[str, ...] | None:
    return parse_zones(keys.conf(ZONES_KEY), where) or None


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


def writers_from_credentials(credentials: Any, path: str) -> WriterMap:
    """Every writer the credentials file configures, or one clear error naming the fix."""
    keys_hint = ", ".join(f"{w.key} ({kind})" for kind, w in WRITERS.items())
    entries: list[tuple[Writer, tuple[str, ...] | None]] = []
    confobj = getattr(credentials, "confobj", {})
    top = _writer(credentials, present_keys(credentials), path)
    if top:
        entries.append((top, _zones(credentials, path)))
    for section in getattr(confobj, "sections", []):
        where = f"{path} [{section}]"
        keys = SectionKeys(confobj[section], credentials.mapper, where)
        writer = _writer(keys, present_keys(keys), where)
        zones = _zones(keys, where)
        if writer is None or not (zones or writer.cname_targets):
            raise AutopilotError(
                Code.BAD_CONFIG, f"section [{section}] of {path} does not configure a writer "
                "with its zones",
                f"give the section dns_autopilot_zones (the zones it writes) and the keys of "
                f"one writer ({keys_hint})")
        entries.append((writer, zones or ()))
    if not entries:
        raise AutopilotError(
            Code.BAD_CONFIG,
            f"the credentials file {path} configures no record writer",
            f"add the keys of a writer ({keys_hint}; see "
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
