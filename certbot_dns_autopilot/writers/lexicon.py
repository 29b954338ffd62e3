"""The dns-lexicon writer: the long tail of DNS providers (OVH, Gandi, PowerDNS, …) by name.

The credentials name the provider (the one key of the writer's schema, read with
`schema.read`) and pass its options through unchanged (the provider's own declaration is
their schema: an option it does not declare is kept, and warned about):

    dns_autopilot_lexicon_provider = ovh
    dns_autopilot_lexicon_auth_entrypoint = ovh-eu
    dns_autopilot_lexicon_auth_application_key = …
    dns_autopilot_zones = example.com

Each ``dns_autopilot_lexicon_<option>`` becomes lexicon's ``lexicon:<provider>:<option>``,
as lexicon's own ConfigResolver names it. The zone always comes from
``dns_autopilot_zones`` (longest suffix): lexicon's Client would otherwise guess it with
tldextract (which downloads the Public Suffix List) or a recursive DNS lookup, so the
writer builds the provider itself, exactly as Client does once it knows the zone.

What a provider's API answers is read into an `apierrors.Said` and mapped as for every API
writer. Reads (``authenticate``, the listings) are retried with the shared policy; a create
or delete only when the provider certainly did not apply it (HTTP 429, or a connection that
was never made): an answer lost after the request went out may have been applied.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import re
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.tsig
import requests
from lexicon._private.discovery import find_providers, load_provider_module
from lexicon.config import ConfigResolver
from lexicon.exceptions import AuthenticationError
from lexicon.interfaces import Provider

from .. import dnsio, names
from ..codes import Code
from ..errors import AutopilotError
from . import apierrors, locks, schema
from .base import ZONES_KEY, Key, Keys, Records, Writer, check_endpoint, parse_zones, present_keys

T = TypeVar("T")

#: The keys this writer reads (``dns_autopilot_lexicon_<key>``): what INI validation,
#: secret scrubbing and the docs' key table (checked by the docs test) come from.
KEYS: tuple[Key, ...] = (
    Key('provider', required=True,
        help=("lexicon's provider name (`ovh`, `gandi`, `powerdns`, `ddns`, …; not `auto`)")),
)

logger = logging.getLogger(__name__)

PREFIX = schema.key_name("lexicon", "")
OPTIONS_HELP = ("`lexicon <provider> --help` lists a provider's options: --auth-token is "
                "dns_autopilot_lexicon_auth_token")
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
TIMEOUT = 10.0
_TSIG_REJECTIONS = (dns.tsig.PeerError, dns.tsig.BadSignature, dns.tsig.BadTime,
                    dns.tsig.BadKey, dns.tsig.BadAlgorithm)
#: What a provider raises when it crashed on an option it did not get (None.split …).
_CRASHES = (TypeError, AttributeError, ValueError, KeyError)
#: A credential the provider refused without an HTTP status to say so.
_REFUSALS = (AuthenticationError, *_TSIG_REJECTIONS)
_HINTS = {
    "ddns": "for ddns, auth_token is <algorithm>:<key name>:<secret> (e.g. "
            "hmac-sha512:acme-key:<base64>) of a TSIG key the server grants updates in the "
            "zone, and ddns_server the primary's IP address",
}


def _key(option: str) -> str:
    return schema.key_name("lexicon", option)


def _present_options(keys: Keys) -> list[str]:
    """The ``<option>`` of every dns_autopilot_lexicon_<option> key of this file/section."""
    return sorted(k[len(PREFIX):] for k in present_keys(keys)
                  if k.startswith(PREFIX) and k != _key("provider"))


def _is_option(name: str) -> bool:
    """For `schema.read`: every key but the schema's own is a provider option (checked
    against the provider's declaration later), except a near miss of a schema key
    (``provder``), which is the schema key misspelt."""
    return not difflib.get_close_matches(name, [key.name for key in KEYS], n=1, cutoff=0.8)


def _provider_name(keys: Keys, where: str) -> str:
    """The provider's name: the writer's one schema key, read as every writer's are."""
    settings = schema.read(keys, "lexicon", KEYS, where, title="dns-lexicon", extra=_is_option)
    return (settings["provider"] or "").lower()


def _read_options(keys: Keys, where: str) -> dict[str, str]:
    """The provider's options as given (empty values left out); the writer's own refused."""
    options: dict[str, str] = {}
    for option in _present_options(keys):
        if option in OWN_OPTIONS:
            raise AutopilotError(
                Code.BAD_CONFIG, f"{_key(option)} in {where} cannot be set",
                f"remove it: the writer sets lexicon's {option} itself (the zone comes from "
                f"dns_autopilot_{ZONES_KEY})")
        value = schema.value(keys.conf(f"lexicon_{option}"))
        if value is not None:
            options[option] = value
    return options


def _warn_undeclared(name: str, provider_cls: type[Provider], options: dict[str, str],
                     where: str) -> None:
    """An option the provider does not declare is kept (some read undeclared ones, such as
    api_endpoint) but may be a typo: warned, with the closest declared name."""
    declared = declared_options(provider_cls)
    for option in sorted(set(options) - declared):
        close = difflib.get_close_matches(option, sorted(declared), n=2, cutoff=0.6)
        logger.warning("dns-autopilot: lexicon's %s provider does not declare the option %s "
                       "(%s)%s", name, _key(option), where,
                       f"; did you mean {', '.join(map(_key, close))}?" if close else "")


def _check_endpoints(options: dict[str, str], where: str) -> None:
    """A provider's endpoint option must not send the credential in clear text, nor show a
    password of its userinfo."""
    for option, value in sorted(options.items()):
        if "://" in value:
            check_endpoint(value, _key(option), where, Code.BAD_CONFIG)


def _required_zones(keys: Keys, name: str, where: str) -> tuple[str, ...]:
    zones = parse_zones(keys.conf(ZONES_KEY), where)
    if not zones:
        raise AutopilotError(
            Code.ZONE_NOT_FOUND,
            f"{where} configures lexicon's {name} provider without its zones",
            f"add dns_autopilot_{ZONES_KEY} = <zone>[, <zone>…] (the zones as the provider "
            "holds them, e.g. example.com): lexicon needs the zone for every call and the "
            "writer does not guess it")
    return zones


def declared_options(provider_class: type[Provider]) -> set[str]:
    """The options a provider declares for lexicon's command line (``--auth-token`` …)."""
    parser = argparse.ArgumentParser(add_help=False)
    provider_class.configure_parser(parser)
    return {action.dest for action in parser._actions}


def provider_class(name: str, where: str) -> type[Provider]:
    """Lexicon's Provider class for ``name``, or one error listing close matches."""
    _check_available(name, find_providers(), where)
    module = load_provider_module(name)
    if hasattr(module, "tldextract"):  # godaddy, namecheap: never fetch the PSL
        module.tldextract = types.SimpleNamespace(extract=_offline_tldextract())
    return module.Provider


def _check_available(name: str, available: dict[str, bool], where: str) -> None:
    """``name`` is a lexicon provider, not refused, and its packages are installed."""
    if name in REFUSED_PROVIDERS:
        raise AutopilotError(Code.BAD_CONFIG, f"{_key('provider')} = {name} in {where} is not "
                             "supported by dns-autopilot", REFUSED_PROVIDERS[name])
    if name not in available:
        close = difflib.get_close_matches(name, list(available), n=3, cutoff=0.6)
        raise AutopilotError(
            Code.BAD_CONFIG,
            f"{_key('provider')} = {name!r} in {where} is not a dns-lexicon provider"
            + (f" (did you mean {', '.join(close)}?)" if close else ""),
            f"set it to one of lexicon's provider names (`lexicon --help` lists them; "
            f"{OPTIONS_HELP})")
    if not available[name]:
        raise AutopilotError(
            Code.BAD_CONFIG, f"lexicon's {name} provider needs packages that are not installed",
            f"install them: pip install 'dns-lexicon[{name}]'")


def _offline_tldextract() -> Callable[..., Any]:
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(),
                                 include_psl_private_domains=True)


class _Config(ConfigResolver):
    """Lexicon's resolver over one dict, noting which provider options were asked for and
    unset, so a provider's crash on a missing option can name our key for it."""

    def __init__(self, provider: str, options: dict[str, str], zone: str) -> None:
        super().__init__()
        self.provider = provider
        self.asked_unset: set[str] = set()
        self.runtime: dict[str, Any] = {"ttl": 300}
        self.with_dict(self.runtime)
        # ddns reads its zone as a provider option (lexicon:ddns:domain): give both.
        self.with_dict({"provider_name": provider, "domain": zone,
                        provider: {**options, "domain": zone}})

    def resolve(self, config_key: str) -> Any:
        value = super().resolve(config_key)
        parts = config_key.split(":")
        if value is None and len(parts) == 3 and parts[1] == self.provider:
            self.asked_unset.add(parts[2])
        return value


class LexiconWriter(Writer):
    """Writes through one dns-lexicon provider, in the zones the credentials list."""

    #: The retries of every read, and of the writes the provider certainly did not apply.
    policy = apierrors.POLICY

    def __init__(self, provider: str, cls: type[Provider], options: dict[str, str],
                 zones: tuple[str, ...], where: str) -> None:
        self.provider = provider
        self.cls = cls
        self.options = options
        self.zones = zones
        self.where = where
        self.label = f"lexicon provider {provider!r}"
        self._secrets = sorted({part for value in options.values()
                                for part in (value, *value.split(":")) if len(part) >= 6},
                               key=len, reverse=True)

    @classmethod
    def from_credentials(cls, keys: Keys, where: str) -> LexiconWriter:
        """Validate the provider name, its options and the zones; build each zone's provider
        once (no network) so an option the provider cannot do without fails here."""
        name = _provider_name(keys, where)
        provider_cls = provider_class(name, where)
        options = _read_options(keys, where)
        _warn_undeclared(name, provider_cls, options, where)
        _check_endpoints(options, where)
        writer = cls(name, provider_cls, options, _required_zones(keys, name, where), where)
        writer._build_each_zone()
        return writer

    def _build_each_zone(self) -> None:
        """lexicon providers read (and many check) their options on construction."""
        for zone in self.zones:
            config = self._config(zone)
            try:
                self.cls(config)
            except Exception as exc:  # lexicon providers raise anything for a bad option
                raise self._error(exc, config, zone, "reading its options",
                                  configuring=True) from None

    # -- lexicon sessions ------------------------------------------------------------

    def _config(self, zone: str) -> _Config:
        return _Config(self.provider, self.options, zone)

    @contextlib.contextmanager
    def _session(self, zone: str, what: str) -> Iterator[tuple[Provider, _Config]]:
        """One authenticated provider, cleaned up afterwards, as lexicon's Client does; every
        exception becomes one AutopilotError."""
        config = self._config(zone)
        try:
            provider = self.cls(config)
            self._read(provider.authenticate, f"authenticating in zone {zone}")
            try:
                yield provider, config
            finally:
                provider.cleanup()
        except AutopilotError:
            raise
        except Exception as exc:  # requests, dnspython, lexicon's own: mapped in one place
            raise self._error(exc, config, zone, what) from None

    def _scrub(self, text: str) -> str:
        """An exception's text without option values (secrets) or URL query strings."""
        text = apierrors.masked(text, self._secrets)
        text = re.sub(r"(https?://[^\s?'\"]+)\?[^\s'\"]*", r"\1?…", text)
        first = text.splitlines()[0] if text else ""
        return first[:300]

    def _keys_to_check(self) -> str:
        credential = [o for o in self.options
                      if re.search(r"auth|token|key|secret|pass|cred|user", o)]
        return ", ".join(map(_key, credential or self.options)) or f"the {PREFIX}* keys"

    def _error(self, exc: BaseException, config: _Config, zone: str, what: str,
               configuring: bool = False) -> AutopilotError:
        """Map what lexicon, requests or dnspython raised to a code and a fix. The provider's
        texts are scrubbed here (`_scrub` masks every option value; the fixes, which hold
        none, are left readable). While the provider is only being built (no network yet),
        an option it asked for and did not get is the cause; later, only when the provider
        crashed on it (None.split …)."""
        detail = self._scrub(f"{type(exc).__name__}: {exc}")
        unset = sorted(config.asked_unset & declared_options(self.cls) - set(self.options))
        if unset and (configuring or isinstance(exc, _CRASHES)):
            return self._unset_error(unset, detail)
        if configuring:  # no network yet: the provider refused a value it was given
            return AutopilotError(
                Code.BAD_CONFIG, f"{self.label} failed {what} in zone {zone}: {detail}",
                f"check the form of {', '.join(map(_key, sorted(self.options))) or 'the keys'} "
                f"in {self.where} ({OPTIONS_HELP}){self._hint()}")
        return self._call_error(exc, zone, what, detail, unset)

    def _unset_error(self, unset: list[str], detail: str) -> AutopilotError:
        keys = ", ".join(map(_key, unset))
        return AutopilotError(
            Code.BAD_CONFIG, f"{self.label} needs {keys}, not set in {self.where}",
            f"set {keys} in {self.where} ({OPTIONS_HELP}){self._hint()}", evidence=detail)

    def _call_error(self, exc: BaseException, zone: str, what: str, detail: str,
                    unset: list[str]) -> AutopilotError:
        """A call to the provider failed: mapped by `apierrors` from what the API said (the
        credential refused, no such zone, out of reach or failing after the retries); a
        refusal without an HTTP status (lexicon's AuthenticationError, a TSIG rejection)
        counts as a refused credential; anything else as one the provider would not serve."""
        said = self._said(exc) if isinstance(exc, Exception) else None
        problem = f"{self.label} failed {what} in zone {zone}: {detail}"
        fixes = self._fixes(zone, unset)
        if said is None:  # neither an HTTP answer nor a failure to get one: a refusal
            said = apierrors.Said(status=401 if isinstance(exc, _REFUSALS) else 0,
                                  message=detail)
            return apierrors.error(self.label, what, said, fixes, problem=problem,
                                   evidence=detail)
        if said.status and not said.transient:
            return apierrors.error(self.label, what, said, fixes, problem=problem,
                                   api=self._api())
        return apierrors.error(self.label, f"{what} in zone {zone}", said, fixes,
                               api=self._api())

    def _fixes(self, zone: str, unset: list[str]) -> apierrors.Fixes:
        credential = (f"check {self._keys_to_check()} in {self.where}: the credential must be "
                      f"valid and allowed to change TXT records in {zone}{self._hint()}")
        other = credential
        if unset:
            other = (f"set {', '.join(map(_key, unset))} if the provider needs it (asked for, "
                     f"not set), and {credential}")
        return apierrors.Fixes(
            refused=credential, denied=credential,
            zone=(f"check that {zone} exists at {self.provider} in the account of "
                  f"{self._keys_to_check()}, spelled as in dns_autopilot_{ZONES_KEY}"),
            unreachable=(f"check this host reaches {self._api()} (proxy, firewall) and the "
                         f"endpoint options in {self.where}; run again later if it is "
                         f"limiting or failing requests{self._hint()}"),
            other=other)

    def _api(self) -> str:
        """How messages name the endpoint: ddns's server, or the provider's API."""
        server = self.options.get("ddns_server") if self.provider == "ddns" else None
        return f"the ddns server {server}" if server else f"{self.provider}'s API"

    # -- calls to the provider -------------------------------------------------------

    def _said(self, exc: Exception) -> apierrors.Said | None:
        """What the provider's API said (through requests or, for ddns, dnspython); None
        for anything else (a refusal without a status, the provider's own exceptions)."""
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int) and status:
            try:
                retry_after = float(response.headers.get("Retry-After") or "")
            except (ValueError, AttributeError, TypeError):
                retry_after = None
            return apierrors.Said(status=status, message=self._scrub(str(exc)),
                                  retry_after=retry_after)
        detail = self._scrub(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, (requests.Timeout, dns.exception.Timeout)):
            return apierrors.Said(failure=apierrors.TIMEOUT, message=detail)
        if isinstance(exc, OSError):
            return apierrors.Said(failure=apierrors.CONNECTION, message=detail)
        return None

    def _unapplied(self, exc: Exception) -> apierrors.Said | None:
        """`_said` for a create or delete, only when the provider certainly did not apply
        it (a limit, or no connection made): anything else must not be sent again."""
        said = self._said(exc)
        if said is not None and (said.status == 429 or apierrors.never_connected(exc)):
            return said
        return None

    def _read(self, fn: Callable[[], T], what: str) -> T:
        """A call that changes nothing: tried again on every transient answer."""
        return apierrors.call(fn, self._said, what, self.on_retry, self.policy)

    def _write(self, fn: Callable[[], T], what: str) -> T:
        """A create or delete: tried again only when it certainly was not applied."""
        return apierrors.call(fn, self._unapplied, what, self.on_retry, self.policy)

    # -- reading ---------------------------------------------------------------------

    def _listed(self, provider: Provider, zone: str, name: str) -> dict[str, int | None]:
        """TXT values at ``name`` (value -> ttl, where the provider says)."""
        if self.provider == "ddns":
            return self._read(lambda: _ddns_listed(provider, name), f"listing TXT at {name}")
        return _txt_values(self._read(lambda: provider.list_records("TXT", name),
                                      f"listing TXT at {name}") or [], zone, name)

    def find_zone(self, name: str) -> str:
        name = names.normalize(name)
        best = names.longest_zone(name, self.zones)
        if best is None:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND, f"{self.label}: no zone listed for it encloses {name}",
                f"add the zone that holds {name} to dns_autopilot_{ZONES_KEY} in {self.where}")
        return best

    def values(self, zone: str, name: str) -> set[str]:
        with self._session(zone, f"listing TXT at {name}") as (provider, _):
            return set(self._listed(provider, zone, name))

    # -- writing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self, zone: str, what: str) -> Iterator[tuple[Provider, _Config]]:
        """A session holding the zone's lock: a read-modify-write of a TXT set (read,
        change, read back, put back what the provider dropped) must not interleave with
        another run's in the same zone, or each takes the other's change for damage."""
        with locks.held(f"lexicon-{zone}", f"{self.label} in zone {zone}"), \
                self._session(zone, what) as session:
            yield session

    def add(self, zone: str, records: Records, ttl: int) -> None:
        """One create per value; a value already there is fine. Then read back: some
        providers (ddns) report success for a change the server refused."""
        with self.rolled_back(zone, records), \
                self._exclusive(zone, "creating TXT records") as (provider, config):
            for name, values in sorted(records.items()):
                self._add_at(provider, config, zone, name, set(values), ttl)
        logger.debug("dns-autopilot: added %d TXT value(s) in %s via %s",
                     sum(len(v) for v in records.values()), zone, self.label)

    def _add_at(self, provider: Provider, config: _Config, zone: str, name: str,
                values: set[str], ttl: int) -> None:
        config.runtime["ttl"] = ttl
        for value in sorted(values):
            self._create(provider, zone, name, value)
        missing = values - set(self._listed(provider, zone, name))
        if missing:
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label} accepted {len(missing)} TXT value(s) at {name} but does "
                "not list them afterwards: the provider reported success for a change "
                "that was not made (lexicon's ddns provider ignores a REFUSED answer)",
                f"check {self._keys_to_check()} in {self.where} may change records in "
                f"{zone}, and that {zone} is the zone the provider serves{self._hint()}")

    def _create(self, provider: Provider, zone: str, name: str, value: str) -> None:
        """Create one value; a provider refusing it because it is there already is fine."""
        try:
            self._write(lambda: provider.create_record("TXT", name, value),
                        f"creating a TXT value at {name}")
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
                self._remove_at(provider, config, zone, name, set(values))
        logger.debug("dns-autopilot: removed %d TXT value(s) in %s via %s",
                     sum(len(v) for v in records.values()), zone, self.label)

    def _remove_at(self, provider: Provider, config: _Config, zone: str, name: str,
                   values: set[str]) -> None:
        before = self._listed(provider, zone, name)
        for value in sorted(values & set(before)):
            self._write(lambda v=value: provider.delete_record(None, "TXT", name, v),
                        f"deleting a TXT value at {name}")
        after = self._listed(provider, zone, name)
        self._put_back(provider, config, name, before, after, values)
        left = values & set(after)
        if left:
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label} accepted the deletion of {len(left)} TXT value(s) at "
                f"{name} but still lists them",
                f"check {self._keys_to_check()} in {self.where} may delete records in "
                f"{zone}; remove the values by hand meanwhile")

    def _put_back(self, provider: Provider, config: _Config, name: str,
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
            self._write(lambda v=value: provider.create_record("TXT", name, v),
                        f"putting back a TXT value at {name}")

    def _hint(self) -> str:
        return f" ({_HINTS[self.provider]})" if self.provider in _HINTS else ""


def _txt_values(records: list[dict[str, Any]], zone: str, name: str) -> dict[str, int | None]:
    """The TXT values at ``name`` among records as lexicon returns them (value -> ttl)."""
    found: dict[str, int | None] = {}
    for record in records:
        if str(record.get("type", "TXT")).upper() != "TXT":
            continue
        if _absolute(str(record.get("name") or name), zone) != name:
            continue
        content = str(record.get("content", ""))
        if len(content) >= 2 and content[0] == content[-1] == '"':
            content = content[1:-1]  # some providers return the zone-file form
        ttl = record.get("ttl")
        found[content] = int(ttl) if str(ttl).isdigit() else None
    return found


def _absolute(record_name: str, zone: str) -> str:
    """A record name as a provider returned it (FQDN, with or without dot, or relative)."""
    name = record_name.rstrip(".").lower()
    if name in ("", "@"):
        return zone
    return name if names.within(name, zone) else f"{name}.{zone}"


def _ddns_listed(provider: Provider, name: str) -> dict[str, int | None]:
    """lexicon 3.25's ddns list_records raises TypeError once the name has a record (its
    _identifier helper takes one argument and is called with three): send the same plain
    query to ddns_server that it would have sent."""
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    response = dnsio.send(query, provider.endpoint, timeout=TIMEOUT, tcp=True)
    owner = dns.name.from_text(name)
    return {b"".join(rdata.strings).decode(): rrset.ttl for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TXT and rrset.name == owner for rdata in rrset}
