"""The dns-lexicon writer: the long tail of DNS providers (OVH, Gandi, PowerDNS, …) by name.

The credentials name the provider (the one key the writer declares) and pass its options
through unchanged (the provider's own declaration is their schema: an option it does not
declare is kept, and warned about):

    dns_autopilot_lexicon_provider = ovh
    dns_autopilot_lexicon_auth_entrypoint = ovh-eu
    dns_autopilot_lexicon_auth_application_key = …
    dns_autopilot_zones = example.com

Each ``dns_autopilot_lexicon_<option>`` becomes lexicon's ``lexicon:<provider>:<option>``,
as lexicon's own ConfigResolver names it. The zone always comes from
``dns_autopilot_zones`` (longest suffix): lexicon's Client would otherwise guess it with
tldextract (which downloads the Public Suffix List) or a recursive DNS lookup, so the
writer builds the provider itself, exactly as Client does once it knows the zone.

Reads (``authenticate``, the listings) are retried with the shared policy; a create or delete
only when the provider certainly did not apply it (HTTP 429, or a connection that was never
made): an answer lost after the request went out may have been applied. How a provider is
configured, read and understood when it fails: `lexicon_api`.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import types
from collections.abc import Callable, Iterator
from typing import Any

from lexicon._private.discovery import find_providers, load_provider_module
from lexicon.interfaces import Provider

from .. import names
from ..codes import Code
from ..errors import AutopilotError
from . import apierrors, lexicon_api, schema
from .endpoints import check_endpoint
from .lexicon_api import OPTIONS_HELP, Config
from .schema import KEY_PREFIX, Key
from .sections import SectionKeys
from .writer import Context, Records
from .zonelist import ZONES_KEY, parse_zones

logger = logging.getLogger(__name__)

#: Options the writer sets itself, per zone and per call: never taken from the file.
OWN_OPTIONS = frozenset({"provider", "provider_name", "domain", "delegated", "resolve_zone_name",
                         "ttl", "name", "content", "type", "action", "identifier", "priority"})
#: lexicon's "auto" picks a provider by looking up the zone's nameservers on the network.
REFUSED_PROVIDERS = {"auto": "name the provider itself (lexicon's auto looks it up over the "
                             "network on every run)"}
#: Providers whose delete_record(name, content) removes exactly that value (ddns: an RFC 2136
#: delete of one record). Another value gone after our delete is then another writer's doing
#: (a concurrent run removing its own value): putting it back would undo that removal.
EXACT_DELETES = frozenset({"ddns"})
# lexicon and the HTTP libraries log requests (URLs with keys, payloads) at debug level:
# certbot's log is at debug level, so scrub.Scrubber masks them (no logger's level changes).


def provider_class(name: str, where: str) -> type[Provider]:
    """Lexicon's Provider class for ``name``, or one error listing close matches."""
    key, available = LexiconWriter.key("provider"), find_providers()
    if name in REFUSED_PROVIDERS:
        raise AutopilotError(Code.BAD_CONFIG, f"{key} = {name} in {where} is not supported by "
                             "dns-autopilot", REFUSED_PROVIDERS[name])
    if name not in available:
        close = difflib.get_close_matches(name, list(available), n=3, cutoff=0.6)
        raise AutopilotError(
            Code.BAD_CONFIG, f"{key} = {name!r} in {where} is not a dns-lexicon provider"
            + (f" (did you mean {', '.join(close)}?)" if close else ""),
            f"set it to one of lexicon's provider names (`lexicon --help` lists them; "
            f"{OPTIONS_HELP})")
    if not available[name]:
        raise AutopilotError(
            Code.BAD_CONFIG, f"lexicon's {name} provider needs packages that are not installed",
            f"install them: pip install 'dns-lexicon[{name}]'")
    module = load_provider_module(name)
    if hasattr(module, "tldextract"):  # godaddy, namecheap: never fetch the PSL
        module.tldextract = types.SimpleNamespace(extract=_offline_tldextract())
    return module.Provider


def _offline_tldextract() -> Callable[..., Any]:
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(),
                                 include_psl_private_domains=True)


class LexiconWriter(lexicon_api.LexiconApi):
    """Writes through one dns-lexicon provider, in the zones the credentials list."""

    title = "dns-lexicon"
    page = "providers/lexicon"
    extra = ("dns-lexicon>=3.14,<4", "requests>=2.28", "tldextract>=3.1")
    KEYS = (
        Key('provider', required=True,
            help="lexicon's provider name (`ovh`, `gandi`, `powerdns`, `ddns`, …; not `auto`)"),
    )

    def __init__(self, provider: str, cls: type[Provider], options: dict[str, str],
                 zones: tuple[str, ...], where: str, context: Context | None = None) -> None:
        super().__init__(context)
        self.provider, self.cls, self.options = provider, cls, options
        self.zones, self.where = zones, where
        self.label = f"lexicon provider {provider!r}"
        self._secrets = sorted({part for value in options.values()
                                for part in (value, *value.split(":")) if len(part) >= 6},
                               key=len, reverse=True)

    # -- configuration ---------------------------------------------------------------

    @classmethod
    def from_credentials(cls, keys: SectionKeys, context: Context | None = None
                         ) -> LexiconWriter:
        """The provider name, its options and the zones; each zone's provider built once
        (no network) so an option the provider cannot do without fails here."""
        where = keys.where
        name = (cls.settings(keys, cls._is_option)["provider"] or "").lower()
        provider = provider_class(name, where)
        options = cls._options(keys)
        declared = lexicon_api.declared_options(provider)
        for option, value in sorted(options.items()):
            if option not in declared:  # kept (some read undeclared ones): maybe a typo
                close = difflib.get_close_matches(option, sorted(declared), n=2, cutoff=0.6)
                logger.warning("dns-autopilot: lexicon's %s provider does not declare the "
                               "option %s (%s)%s", name, cls.key(option), where,
                               f"; did you mean {', '.join(map(cls.key, close))}?" if close
                               else "")
            if "://" in value:  # no credential in clear text, no password shown
                check_endpoint(value, cls.key(option), where, Code.BAD_CONFIG)
        zones = parse_zones(keys.conf(ZONES_KEY), where)
        if not zones:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND,
                f"{where} configures lexicon's {name} provider without its zones",
                f"add {KEY_PREFIX}{ZONES_KEY} = <zone>[, <zone>…] (the zones as the provider "
                "holds them, e.g. example.com): lexicon needs the zone for every call and the "
                "writer does not guess it")
        writer = cls(name, provider, options, zones, where, context)
        for zone in zones:  # lexicon providers read (and many check) their options here
            config = writer._config(zone)
            try:
                writer.cls(config)
            except Exception as exc:  # lexicon providers raise anything for a bad option
                raise writer.error(exc, config, zone, "reading its options",
                                        configuring=True) from None
        return writer

    @classmethod
    def _is_option(cls, name: str) -> bool:
        """For `settings`: every key but the declared one is a provider option (checked
        against the provider's declaration later), except a near miss of a declared key
        (``provder``), which is that key misspelt."""
        return not difflib.get_close_matches(name, [key.name for key in cls.KEYS], n=1,
                                             cutoff=0.8)

    @classmethod
    def _options(cls, keys: SectionKeys) -> dict[str, str]:
        """The provider's options as given (empty values left out); the writer's own refused."""
        prefix, options = cls.key(""), {}
        for option in sorted(k[len(prefix):] for k in keys.present()
                             if k.startswith(prefix) and k != cls.key("provider")):
            if option in OWN_OPTIONS:
                raise AutopilotError(
                    Code.BAD_CONFIG, f"{cls.key(option)} in {keys.where} cannot be set",
                    f"remove it: the writer sets lexicon's {option} itself (the zone comes "
                    f"from {KEY_PREFIX}{ZONES_KEY})")
            value = schema.value(keys.conf(f"{cls.kind}_{option}"))
            if value is not None:
                options[option] = value
        return options

    # -- lexicon sessions ------------------------------------------------------------

    def _config(self, zone: str) -> Config:
        return Config(self.provider, self.options, zone)

    @contextlib.contextmanager
    def _session(self, zone: str, what: str) -> Iterator[tuple[Provider, Config]]:
        """One authenticated provider, cleaned up afterwards, as lexicon's Client does; every
        exception becomes one AutopilotError."""
        config = self._config(zone)
        try:
            provider = self.cls(config)
            self.call(f"authenticating in zone {zone}", provider.authenticate)
            try:
                yield provider, config
            finally:
                provider.cleanup()
        except AutopilotError:
            raise
        except Exception as exc:  # requests, dnspython, lexicon's own: mapped in one place
            raise self.error(exc, config, zone, what) from None

    @contextlib.contextmanager
    def _exclusive(self, zone: str, what: str) -> Iterator[tuple[Provider, Config]]:
        """A session holding the zone's lock: a read-modify-write of a TXT set (read,
        change, read back, put back what the provider dropped) must not interleave with
        another run's in the same zone, or each takes the other's change for damage."""
        with self.locks.held(f"lexicon-{zone}", f"{self.label} in zone {zone}"), \
                self._session(zone, what) as session:
            yield session

    def _write(self, what: str, fn: Callable[[], Any]) -> Any:
        """A create or delete: tried again only when it certainly was not applied."""
        return self.call(what, fn, lambda exc: apierrors.unapplied(self.said(exc), exc))

    def _listed(self, provider: Provider, zone: str, name: str) -> dict[str, int | None]:
        """TXT values at ``name`` (value -> ttl, where the provider says)."""
        what = f"listing TXT at {name}"
        if self.provider == "ddns":
            return self.call(what, lambda: lexicon_api.ddns_listed(provider, name))
        return lexicon_api.txt_values(self.call(what, lambda: provider.list_records(
            "TXT", name)) or [], zone, name)

    # -- the writer ------------------------------------------------------------------

    def find_zone(self, name: str) -> str:
        name = names.normalize(name)
        best = names.longest_zone(name, self.zones)
        if best is None:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND, f"{self.label}: no zone listed for it encloses {name}",
                f"add the zone that holds {name} to {KEY_PREFIX}{ZONES_KEY} in {self.where}")
        return best

    def values(self, zone: str, name: str) -> set[str]:
        with self._session(zone, f"listing TXT at {name}") as (provider, _):
            return set(self._listed(provider, zone, name))

    def add(self, zone: str, records: Records, ttl: int) -> None:
        """One create per value; a value already there is fine. Then read back: some
        providers (ddns) report success for a change the server refused."""
        with self.rolled_back(zone, records), \
                self._exclusive(zone, "creating TXT records") as (provider, config):
            config.runtime["ttl"] = ttl
            for name, values in sorted(records.items()):
                for value in sorted(values):
                    self._create(provider, zone, name, value)
                missing = set(values) - set(self._listed(provider, zone, name))
                if missing:
                    raise AutopilotError(
                        Code.PERMISSION_DENIED,
                        f"{self.label} accepted {len(missing)} TXT value(s) at {name} but "
                        "does not list them afterwards: the provider reported success for a "
                        "change that was not made (lexicon's ddns provider ignores a REFUSED "
                        "answer)",
                        f"check {self.credential_keys()} in {self.where} may change records "
                        f"in {zone}, and that {zone} is the zone the provider serves"
                        f"{self.hint()}")

    def _create(self, provider: Provider, zone: str, name: str, value: str) -> None:
        """Create one value; a provider refusing it because it is there already is fine."""
        try:
            self._write(f"creating a TXT value at {name}",
                        lambda: provider.create_record("TXT", name, value))
        except Exception:
            with contextlib.suppress(Exception):
                if value in self._listed(provider, zone, name):
                    return  # "already exists": what we wanted
            raise

    def remove(self, zone: str, records: Records) -> None:
        """Delete by name and content; values that vanished with ours (a provider that deletes
        whole record sets) are put back, and ours must be gone afterwards."""
        with self._exclusive(zone, "deleting TXT records") as (provider, config):
            for name, values in sorted(records.items()):
                before = self._listed(provider, zone, name)
                for value in sorted(set(values) & set(before)):
                    self._write(f"deleting a TXT value at {name}", lambda n=name, v=value:
                                provider.delete_record(None, "TXT", n, v))
                after = self._listed(provider, zone, name)
                self._put_back(provider, config, name, before, after, set(values))
                left = set(values) & set(after)
                if left:
                    raise AutopilotError(
                        Code.PERMISSION_DENIED,
                        f"{self.label} accepted the deletion of {len(left)} TXT value(s) at "
                        f"{name} but still lists them",
                        f"check {self.credential_keys()} in {self.where} may delete records "
                        f"in {zone}; remove the values by hand meanwhile")

    def _put_back(self, provider: Provider, config: Config, name: str,
                  before: dict[str, int | None], after: dict[str, int | None],
                  ours: set[str]) -> None:
        """Values other than ours that our delete took with it (a provider deleting the
        whole set) are created again, with their TTL. Never for providers that
        change single values: there a vanished value was removed by someone else."""
        if self.provider in EXACT_DELETES:
            return
        for value, ttl in sorted((v, t) for v, t in before.items()
                                 if v not in ours and v not in after):
            logger.warning("dns-autopilot: %s deleted %s's other TXT value %r with "
                           "ours; putting it back", self.label, name, value)
            config.runtime["ttl"] = ttl or 300
            self._write(f"putting back a TXT value at {name}", lambda v=value:
                        provider.create_record("TXT", name, v))
