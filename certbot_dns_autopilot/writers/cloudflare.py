"""The Cloudflare writer: TXT records through Cloudflare's API v4 with the official SDK.

Credentials are an API token (preferred: scoped to Zone → DNS → Edit for the zones it
serves) or the account e-mail with the Global API Key. Key names follow
certbot-dns-cloudflare's under our prefix (``dns_cloudflare_api_token`` →
``dns_autopilot_cloudflare_api_token``). Works with the ``cloudflare`` SDK 4.x and 5.x.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import cloudflare

from .. import names
from ..codes import Code
from ..errors import AutopilotError
from . import cloudflare_api
from .cloudflare_api import DASHBOARD, DEFAULT_URL, DNS_EDIT
from .endpoints import check_endpoint, is_url, without_userinfo
from .schema import Key, Shape
from .sections import SectionKeys
from .txt import quote_txt as quote  # TXT content as Cloudflare's API takes it: one string
from .txt import unquote_txt as unquote  # and as it may hold it: quoted strings, or bare
from .writer import Context, Records
from .zonelist import likely_zone

MIN_TTL = 60          # Cloudflare's floor for non-enterprise zones; 1 means "automatic"
AUTOMATIC_TTL = 1
IDENTICAL_RECORD = 81058  # "An identical record already exists.": the value is there
RECORD_GONE = 81044       # "Record does not exist.": already deleted
ZONES_SHOWN = 10


class CloudflareWriter(cloudflare_api.CloudflareApi):
    """Writes TXT records in the Cloudflare zones one credential can see."""

    title = "Cloudflare"
    page = "providers/cloudflare"
    extra = ("cloudflare>=4,<6",)
    KEYS = (
        Key('api_token', secret=True, help='an API token with Zone → DNS → Edit (preferred)'),
        Key('email', help="the login's e-mail, only with the Global API Key",
            shape=Shape("an e-mail address",
                        lambda text: "@" in text and not any(c.isspace() for c in text),
                        "set it to the e-mail address of the Cloudflare login that owns the "
                        "key")),
        Key('api_key', secret=True, help='the Global API Key, only with the e-mail'),
        Key('api_url', default='`https://api.cloudflare.com/client/v4`',
            help='another API base URL (proxy, gateway)',
            shape=Shape("an http(s) URL", is_url,
                        f"set it to the API's base URL (default {DEFAULT_URL}), or remove it")),
    )

    def __init__(self, *, token: str | None = None, email: str | None = None,
                 api_key: str | None = None, url: str | None = None,
                 context: Context | None = None) -> None:
        super().__init__(context)
        self.token, self.email, self._api_key = token, email, api_key
        self.url = url or DEFAULT_URL
        self._client: Any = None
        self._zone_ids: dict[str, str] = {}
        #: how messages name the API: never with the userinfo's password
        self.shown_url = without_userinfo(self.url)
        where = "" if self.url == DEFAULT_URL else f" at {self.shown_url}"
        who = "API token" if token else f"Global API Key of {email}"
        self.label = f"Cloudflare{where} ({who})"

    # -- configuration ---------------------------------------------------------------

    @classmethod
    def from_credentials(cls, keys: SectionKeys, context: Context | None = None
                         ) -> CloudflareWriter:
        settings, where = cls.settings(keys), keys.where
        token, email, api_key = settings["api_token"], settings["email"], settings["api_key"]
        cls._one_credential(token, email or api_key, where)
        if token:
            cls._check_token(token, where)
        else:
            cls._check_global_key(email, api_key, where)
        url = settings["api_url"]
        if url:
            check_endpoint(url, cls.key("api_url"), where)
        return cls(token=token, email=email, api_key=api_key,
                   url=url and url.rstrip("/"), context=context)

    @classmethod
    def _one_credential(cls, token: str | None, global_key: str | None, where: str) -> None:
        """Exactly one kind of credential: an API token, or the e-mail with the Global API
        Key."""
        token_key, email_key, api_key = cls.key("api_token"), cls.key("email"), cls.key("api_key")
        if token and global_key:
            raise cls.bad_config(
                f"{where} sets both {token_key} and the Global API Key ({email_key}/{api_key})",
                f"keep only {token_key} (preferred: a token scoped to {DNS_EDIT}) and remove "
                f"{email_key} and {api_key}, or the other way round")
        if not token and not global_key:
            raise cls.bad_config(
                f"{where} gives no Cloudflare credential",
                f"set {token_key} to an API token with {DNS_EDIT} ({DASHBOARD} → Create Token "
                f"→ template \"Edit zone DNS\"), or set {email_key} and {api_key} (the Global "
                "API Key)")

    @classmethod
    def _check_token(cls, token: str, where: str) -> None:
        """An API token's shape: no 'Bearer ' prefix, not a Global API Key, one line."""
        token_key = cls.key("api_token")
        if token.lower().startswith("bearer "):
            raise cls.bad_config(f"{token_key} in {where} starts with 'Bearer'",
                                 "give the token alone, without the 'Bearer ' prefix")
        if re.fullmatch(r"[0-9a-f]{37}", token):
            raise cls.bad_config(
                f"{token_key} in {where} looks like a Global API Key (37 hex digits), not an "
                "API token", f"create an API token with {DNS_EDIT} ({DASHBOARD} → Create "
                f"Token), or move the key to {cls.key('api_key')} and add {cls.key('email')}")
        if not re.fullmatch(r"[A-Za-z0-9_\-.]+", token):
            raise cls.bad_config(
                f"{token_key} in {where} contains characters an API token never has (spaces, "
                "quotes or line breaks)",
                "copy the token again exactly as Cloudflare showed it, on one line")

    @classmethod
    def _check_global_key(cls, email: str | None, api_key: str | None, where: str) -> None:
        """The Global API Key goes with the e-mail address of the login that owns it."""
        email_key, key_key, token_key = cls.key("email"), cls.key("api_key"), cls.key("api_token")
        if not api_key:
            raise cls.bad_config(
                f"{where} sets {email_key} without {key_key}",
                f"add {key_key} (the Global API Key, {DASHBOARD} → Global API Key), or "
                f"better, use {token_key} instead of both")
        if not email:
            raise cls.bad_config(
                f"{where} sets {key_key} without {email_key}",
                f"add {email_key} (the e-mail address of the Cloudflare login that owns the "
                f"key), or use {token_key} instead of both")

    # -- the SDK ---------------------------------------------------------------------

    # -- zones -----------------------------------------------------------------------

    def _zones_named(self, name: str) -> list[Any]:
        try:
            page = self._call(f"looking up the zone {name}",
                              lambda: self.client.zones.list(name=name, per_page=50))
        except AutopilotError as exc:
            if (not self.token or exc.code != Code.PERMISSION_DENIED
                    or "invalid or revoked" in exc.problem):
                raise
            self._verify_token()  # raises if the token itself is bad
            raise AutopilotError(
                Code.PERMISSION_DENIED, exc.problem,
                f"give the token {DNS_EDIT} and Zone → Zone → Read for the zone that holds "
                f"{name} ({DASHBOARD} → edit the token)", exc.evidence) from None
        return [z for z in (getattr(page, "result", None) or [])
                if names.normalize(str(getattr(z, "name", ""))) == name]

    def _all(self, what: str, first: Callable[[], Any], zone: str | None = None) -> list[Any]:
        """Every item of a paged listing; each page is one call (retried on its own)."""
        items: list[Any] = []
        page = self._call(what, first, zone)
        while page is not None:
            items += list(getattr(page, "result", None) or [])
            if not page.has_next_page():
                break
            page = self._call(what, page.get_next_page, zone)
        return items

    def _verify_token(self) -> None:
        """Prove the token itself is valid and active (GET /user/tokens/verify)."""
        if not self.token:
            return
        result = self._call("verifying the API token", lambda: self.client.user.tokens.verify())
        status = str(getattr(result, "status", "") or "")
        if status and status != "active":
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label}: token invalid or revoked: Cloudflare reports it as {status}",
                f"activate the token or create a new one ({DASHBOARD}) and put it in "
                f"{self.key('api_token')}")

    def find_zone(self, name: str) -> str:
        """The longest zone enclosing ``name`` among those the credential can see."""
        name = names.normalize(name)
        candidates = [c for c in names.ancestors(name) if "." in c]
        for candidate in candidates:
            zones = self._zones_named(candidate)
            if zones:
                active = [z for z in zones if getattr(z, "status", None) in ("active", None)]
                self._zone_ids[candidate] = str((active or zones)[0].id)
                return candidate
        raise self._no_zone(name, candidates)

    def _no_zone(self, name: str, candidates: list[str]) -> AutopilotError:
        """No zone enclosing ``name`` is visible: the evidence lists every zone that is."""
        visible = sorted({names.normalize(str(z.name)) for z in self._all(
            "listing the zones", lambda: self.client.zones.list(per_page=50))})
        shown = ", ".join(visible[:ZONES_SHOWN]) or "none"
        if len(visible) > ZONES_SHOWN:
            shown += f" and {len(visible) - ZONES_SHOWN} more"
        likely = likely_zone(candidates[0]) if candidates else "the zone"
        evidence = (f"Asked Cloudflare for the zones {', '.join(candidates)}: none is visible. "
                    f"This credential sees {len(visible)} zone(s): {shown}")
        elsewhere = "configure the writer of the provider that serves it"
        if self.token:
            return AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label}: the token cannot see any zone enclosing {name} (it is probably "
                f"scoped to other zones, or {likely} is not in this Cloudflare account)",
                f"give the token {DNS_EDIT} for {likely} ({DASHBOARD} → edit the token → Zone "
                f"Resources: Include → Specific zone → {likely}); if {likely} is not in your "
                f"Cloudflare account, add it there, or {elsewhere}", evidence)
        return AutopilotError(
            Code.ZONE_NOT_FOUND,
            f"{self.label}: no zone enclosing {name} is in the Cloudflare account of {self.email}",
            f"add {likely} to this Cloudflare account (and delegate it to Cloudflare's "
            f"nameservers), or {elsewhere}", evidence)

    def _zone_id(self, zone: str) -> str:
        zone = names.normalize(zone)
        if zone not in self._zone_ids:
            found = self._zones_named(zone)
            if not found:
                raise self._no_zone(zone, [zone])
            self._zone_ids[zone] = str(found[0].id)
        return self._zone_ids[zone]

    # -- records ---------------------------------------------------------------------

    def _records(self, zone: str, name: str) -> list[tuple[str, str]]:
        """(record id, unquoted value) of every TXT record at ``name`` (all pages)."""
        zone_id = self._zone_id(zone)
        name = names.normalize(name)
        name_filter: Any = ({"exact": name} if int(cloudflare.__version__.split(".")[0]) >= 5
                            else name)
        found = self._all(f"listing the TXT records at {name}",
                          lambda: self.client.dns.records.list(
                              zone_id=zone_id, type="TXT", name=name_filter, per_page=100),
                          zone)
        return [(str(record.id), unquote(str(record.content or ""))) for record in found
                if getattr(record, "type", "TXT") == "TXT"
                and names.normalize(str(record.name)) == name]

    def add(self, zone: str, records: Records, ttl: int) -> None:
        zone_id = self._zone_id(zone)
        ttl = AUTOMATIC_TTL if ttl == AUTOMATIC_TTL else max(int(ttl), MIN_TTL)
        self.add_each(zone, records, lambda name, value: self._call(
            f"creating a TXT record at {name} in zone {zone}",
            lambda: self.client.dns.records.create(
                zone_id=zone_id, type="TXT", name=name, content=quote(value), ttl=ttl),
            zone, ok_codes=frozenset({IDENTICAL_RECORD})))

    def remove(self, zone: str, records: Records) -> None:
        zone_id = self._zone_id(zone)
        for name, unwanted in sorted(records.items()):
            for record_id, value in self._records(zone, name):
                if value in unwanted:
                    self._call(f"deleting the TXT record {record_id} at {name} in zone {zone}",
                               lambda r=record_id: self.client.dns.records.delete(
                                   r, zone_id=zone_id),
                               zone, ok_codes=frozenset({RECORD_GONE}))

    def values(self, zone: str, name: str) -> set[str]:
        return {value for _, value in self._records(zone, name)}

    def probe(self, zone: str, name: str) -> None:
        """The token itself first (valid, active), then that it sees the zone, then a real
        create/read/delete: only a write proves Zone → DNS → Edit."""
        self._verify_token()
        self._zone_id(zone)
        super().probe(zone, name)
