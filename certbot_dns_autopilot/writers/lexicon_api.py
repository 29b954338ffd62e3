"""The dns-lexicon writer's half that adapts lexicon's providers (`LexiconApi`, its base
class): the configuration one zone's provider reads (noting what it asked for and did not
get), the TXT values a provider lists, and what a provider raises read into one error with
its code and fix.

What a provider's API answers is read into an `apierrors.Said` and mapped as for every API
writer; a refusal without an HTTP status (lexicon's AuthenticationError, a TSIG rejection)
counts as a refused credential. Every text a provider raises is scrubbed of its options'
values (the writer's `scrubbed`) before it is shown.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.tsig
import requests
from lexicon.config import ConfigResolver
from lexicon.exceptions import AuthenticationError
from lexicon.interfaces import Provider

from .. import dnsio, names
from ..codes import Code
from ..errors import AutopilotError
from . import apierrors
from .schema import KEY_PREFIX
from .writer import Writer
from .zonelist import ZONES_KEY

OPTIONS_HELP = ("`lexicon <provider> --help` lists a provider's options: --auth-token is "
                "dns_autopilot_lexicon_auth_token")
TIMEOUT = 10.0
_TSIG_REJECTIONS = (dns.tsig.PeerError, dns.tsig.BadSignature, dns.tsig.BadTime,
                    dns.tsig.BadKey, dns.tsig.BadAlgorithm)
#: What a provider raises when it crashed on an option it did not get (None.split …).
_CRASHES = (TypeError, AttributeError, ValueError, KeyError)
#: A credential the provider refused without an HTTP status to say so.
_REFUSALS = (AuthenticationError, *_TSIG_REJECTIONS)
HINTS = {
    "ddns": "for ddns, auth_token is <algorithm>:<key name>:<secret> (e.g. "
            "hmac-sha512:acme-key:<base64>) of a TSIG key the server grants updates in the "
            "zone, and ddns_server the primary's IP address",
}


class Config(ConfigResolver):
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


def declared_options(provider_class: type[Provider]) -> set[str]:
    """The options a provider declares for lexicon's command line (``--auth-token`` …)."""
    parser = argparse.ArgumentParser(add_help=False)
    provider_class.configure_parser(parser)
    return {action.dest for action in parser._actions}


# -- what a provider lists ---------------------------------------------------------------

def txt_values(records: list[dict[str, Any]], zone: str, name: str) -> dict[str, int | None]:
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


def ddns_listed(provider: Provider, name: str) -> dict[str, int | None]:
    """lexicon 3.25's ddns list_records raises TypeError once the name has a record (its
    _identifier helper takes one argument and is called with three): send the same plain
    query to ddns_server that it would have sent."""
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    response = dnsio.send(query, provider.endpoint, timeout=TIMEOUT, tcp=True)
    owner = dns.name.from_text(name)
    return {b"".join(rdata.strings).decode(): rrset.ttl for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TXT and rrset.name == owner for rdata in rrset}


class LexiconApi(Writer):
    """One provider's options, zones and errors, for the writer's calls."""

    label: str
    provider: str
    cls: type[Provider]
    options: dict[str, str]
    where: str
    _secrets: list[str]

    def scrubbed(self, text: str) -> str:
        """An exception's text without option values (secrets) or URL query strings."""
        text = apierrors.masked(text, self._secrets)
        text = re.sub(r"(https?://[^\s?'\"]+)\?[^\s'\"]*", r"\1?…", text)
        return (text.splitlines()[0] if text else "")[:300]

    def credential_keys(self) -> str:
        """The keys a refused credential is in: those of the options that look like one."""
        credential = [o for o in self.options
                      if re.search(r"auth|token|key|secret|pass|cred|user", o)]
        return ", ".join(map(self.key, credential or self.options)) or f"the {self.key('')}* keys"

    def said(self, exc: Exception) -> apierrors.Said | None:
        """What the provider's API said (through requests or, for ddns, dnspython); None for
        anything else (a refusal without a status, the provider's own exceptions)."""
        answer = apierrors.said_by_requests(exc, self.scrubbed(str(exc)))
        if answer is not None and answer.status:
            return answer
        detail = self.scrubbed(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, (requests.Timeout, dns.exception.Timeout)):
            return apierrors.Said(failure=apierrors.TIMEOUT, message=detail)
        if isinstance(exc, OSError):
            return apierrors.Said(failure=apierrors.CONNECTION, message=detail)
        return None

    def hint(self) -> str:
        """What users of this provider most often get wrong, where known."""
        return f" ({HINTS[self.provider]})" if self.provider in HINTS else ""

    def error(self, exc: BaseException, config: Config, zone: str, what: str,
              configuring: bool = False) -> AutopilotError:
        """Map what lexicon, requests or dnspython raised to a code and a fix. The provider's
        texts are scrubbed here (every option value masked; the fixes, which hold none, are
        left readable). While the provider is only being built (no network yet), an option it
        asked for and did not get is the cause; later, only when the provider crashed on it
        (None.split …)."""
        detail, key = self.scrubbed(f"{type(exc).__name__}: {exc}"), self.key
        unset = sorted(config.asked_unset & declared_options(self.cls) - set(self.options))
        if unset and (configuring or isinstance(exc, _CRASHES)):
            keys = ", ".join(map(key, unset))
            return AutopilotError(
                Code.BAD_CONFIG, f"{self.label} needs {keys}, not set in {self.where}",
                f"set {keys} in {self.where} ({OPTIONS_HELP}){self.hint()}", evidence=detail)
        if configuring:  # no network yet: the provider refused a value it was given
            return AutopilotError(
                Code.BAD_CONFIG, f"{self.label} failed {what} in zone {zone}: {detail}",
                f"check the form of {', '.join(map(key, sorted(self.options))) or 'the keys'} "
                f"in {self.where} ({OPTIONS_HELP}){self.hint()}")
        answer = self.said(exc) if isinstance(exc, Exception) else None
        problem = f"{self.label} failed {what} in zone {zone}: {detail}"
        fixes = self._fixes(zone, unset)
        if answer is None:  # neither an HTTP answer nor a failure to get one: a refusal
            answer = apierrors.Said(status=401 if isinstance(exc, _REFUSALS) else 0,
                                    message=detail)
            return self.api_error(what, answer, fixes, problem=problem, evidence=detail)
        if answer.status and not answer.transient:
            return self.api_error(what, answer, fixes, problem=problem, api=self.api())
        return self.api_error(f"{what} in zone {zone}", answer, fixes, api=self.api())

    def _fixes(self, zone: str, unset: list[str]) -> apierrors.Fixes:
        credential = (f"check {self.credential_keys()} in {self.where}: the credential must "
                      f"be valid and allowed to change TXT records in {zone}{self.hint()}")
        other = credential
        if unset:
            other = (f"set {', '.join(map(self.key, unset))} if the provider needs it (asked "
                     f"for, not set), and {credential}")
        return apierrors.Fixes(
            refused=credential, denied=credential,
            zone=(f"check that {zone} exists at {self.provider} in the account of "
                  f"{self.credential_keys()}, spelled as in {KEY_PREFIX}{ZONES_KEY}"),
            unreachable=(f"check this host reaches {self.api()} (proxy, firewall) and the "
                         f"endpoint options in {self.where}; run again later if it is limiting "
                         f"or failing requests{self.hint()}"),
            other=other)

    def api(self) -> str:
        """How messages name the endpoint: ddns's server, or the provider's API."""
        server = self.options.get("ddns_server") if self.provider == "ddns" else None
        return f"the ddns server {server}" if server else f"{self.provider}'s API"
