"""The Cloudflare writer: TXT records through Cloudflare's API v4 with the official SDK.

Credentials are an API token (preferred: scoped to Zone → DNS → Edit for the zones it
serves) or the account e-mail with the Global API Key. Key names follow
certbot-dns-cloudflare's under our prefix (``dns_cloudflare_api_token`` →
``dns_autopilot_cloudflare_api_token``). Works with the ``cloudflare`` SDK 4.x and 5.x.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import cloudflare
import httpx

from .. import names
from ..codes import Code
from ..errors import AutopilotError
from . import apierrors, schema
from .base import Key, Keys, Records, Writer, check_endpoint, quote_txt, without_userinfo

#: The keys this writer reads (``dns_autopilot_cloudflare_<key>``): what INI validation,
#: secret scrubbing and the docs' key table (checked by the docs test) come from.
KEYS: tuple[Key, ...] = (
    Key('api_token', secret=True, help='an API token with Zone → DNS → Edit (preferred)'),
    Key('email', help="the login's e-mail, only with the Global API Key"),
    Key('api_key', secret=True, help='the Global API Key, only with the e-mail'),
    Key('api_url', default='`https://api.cloudflare.com/client/v4`',
        help=('another API base URL (proxy, gateway)')),
)

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://api.cloudflare.com/client/v4"
TIMEOUT = 30.0
MIN_TTL = 60          # Cloudflare's floor for non-enterprise zones; 1 means "automatic"
AUTOMATIC_TTL = 1
IDENTICAL_RECORD = 81058  # "An identical record already exists.": the value is there
RECORD_GONE = 81044       # "Record does not exist.": already deleted
#: Cloudflare error codes that mean "this credential is not accepted at all".
INVALID_CREDENTIAL = {1000, 1001, 6003, 6100, 6101, 6102, 6103, 6111, 9103, 9106, 9109}
ZONES_SHOWN = 10
DASHBOARD = "dash.cloudflare.com → My Profile → API Tokens"
DNS_EDIT = "Zone → DNS → Edit"

T = TypeVar("T")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_QUOTED = re.compile(r'(?:"(?:[^"\\]|\\.)*"\s*)+')


def _key(suffix: str) -> str:
    return f"dns_autopilot_cloudflare_{suffix}"


def unquote(content: str) -> str:
    """The TXT value a resolver serves for Cloudflare's ``content``: Cloudflare may hold it
    as quoted character strings (``"abc"`` or ``"ab" "c"``) or bare (``abc``)."""
    text = content.strip()
    if _QUOTED.fullmatch(text):
        return "".join(re.sub(r"\\(.)", r"\1", part) for part in _STRING.findall(text))
    return text


def quote(value: str) -> str:
    """TXT ``content`` as Cloudflare's API asks for it: one quoted character string."""
    return quote_txt(value)


def _errors(exc: Exception) -> list[tuple[int, str]]:
    """Cloudflare's (code, message) pairs from an SDK error's response body."""
    body = getattr(exc, "body", None)
    items = body.get("errors") if isinstance(body, dict) else None
    found = []
    for item in items or []:
        if isinstance(item, dict):
            try:
                code = int(item.get("code", 0))
            except (TypeError, ValueError):
                code = 0
            found.append((code, str(item.get("message", ""))))
            for inner in item.get("error_chain") or []:
                if isinstance(inner, dict):
                    found.append((int(inner.get("code", 0) or 0), str(inner.get("message", ""))))
    return found


def _bad(problem: str, fix: str) -> AutopilotError:
    return AutopilotError(Code.BAD_CONFIG, problem, fix)


def _one_credential(token: str | None, global_key: str | None, where: str) -> None:
    """Exactly one kind of credential: an API token, or the e-mail with the Global API Key."""
    if token and global_key:
        raise _bad(f"{where} sets both {_key('api_token')} and the Global API Key "
                   f"({_key('email')}/{_key('api_key')})",
                   f"keep only {_key('api_token')} (preferred: a token scoped to {DNS_EDIT}) "
                   f"and remove {_key('email')} and {_key('api_key')}, or the other way round")
    if not token and not global_key:
        raise _bad(f"{where} gives no Cloudflare credential",
                   f"set {_key('api_token')} to an API token with {DNS_EDIT} ({DASHBOARD} → "
                   f"Create Token → template \"Edit zone DNS\"), or set {_key('email')} and "
                   f"{_key('api_key')} (the Global API Key)")


def _check_token(token: str, where: str) -> None:
    """An API token's shape: no 'Bearer ' prefix, not a Global API Key, one line."""
    if token.lower().startswith("bearer "):
        raise _bad(f"{_key('api_token')} in {where} starts with 'Bearer'",
                   "give the token alone, without the 'Bearer ' prefix")
    if re.fullmatch(r"[0-9a-f]{37}", token):
        raise _bad(f"{_key('api_token')} in {where} looks like a Global API Key (37 hex "
                   "digits), not an API token",
                   f"create an API token with {DNS_EDIT} ({DASHBOARD} → Create Token), or "
                   f"move the key to {_key('api_key')} and add {_key('email')}")
    if not re.fullmatch(r"[A-Za-z0-9_\-.]+", token):
        raise _bad(f"{_key('api_token')} in {where} contains characters an API token never "
                   "has (spaces, quotes or line breaks)",
                   "copy the token again exactly as Cloudflare showed it, on one line")


def _check_global_key(email: str | None, api_key: str | None, where: str) -> None:
    """The Global API Key goes with the e-mail address of the login that owns it."""
    if not api_key:
        raise _bad(f"{where} sets {_key('email')} without {_key('api_key')}",
                   f"add {_key('api_key')} (the Global API Key, {DASHBOARD} → Global API "
                   f"Key), or better, use {_key('api_token')} instead of both")
    if not email:
        raise _bad(f"{where} sets {_key('api_key')} without {_key('email')}",
                   f"add {_key('email')} (the e-mail address of the Cloudflare login that "
                   f"owns the key), or use {_key('api_token')} instead of both")
    if "@" not in email or any(c.isspace() for c in email):
        raise _bad(f"{_key('email')} = {email!r} in {where} is not an e-mail address",
                   "set it to the e-mail address of the Cloudflare login that owns the key")


def _api_url(url: str | None, where: str) -> str | None:
    """Another API base URL: http(s), and https:// unless on a loopback address."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(f"{_key('api_url')} = {url!r} in {where} is not an http(s) URL",
                   f"set it to the API's base URL (default {DEFAULT_URL}), or remove it")
    check_endpoint(url, _key("api_url"), where)
    return url.rstrip("/")


def _said(exc: Exception) -> apierrors.Said | None:
    """What Cloudflare said, from an SDK error (None: not an API error). Cloudflare's own
    codes for a refused credential count as 401 and 10000 ("Authentication error") as 403,
    whatever HTTP status carried them."""
    if isinstance(exc, cloudflare.APITimeoutError):
        return apierrors.Said(failure=apierrors.TIMEOUT)
    if isinstance(exc, cloudflare.APIConnectionError):
        return apierrors.Said(failure=apierrors.CONNECTION)
    if isinstance(exc, cloudflare.APIStatusError):
        found = _errors(exc)
        codes = {code for code, _ in found}
        status = int(getattr(exc, "status_code", 0) or 0)
        if codes & INVALID_CREDENTIAL:
            status = 401
        elif 10000 in codes and status < 500:
            status = 403
        try:
            retry_after = float(exc.response.headers.get("retry-after") or "")
        except (ValueError, AttributeError):
            retry_after = None
        return apierrors.Said(status=status, message="; ".join(
            f"{code} {msg}".strip() for code, msg in found), retry_after=retry_after)
    if isinstance(exc, cloudflare.APIError):  # an answer that is not Cloudflare's API
        return apierrors.Said(failure=apierrors.MALFORMED, message=type(exc).__name__)
    return None


class CloudflareWriter(Writer):
    """Writes TXT records in the Cloudflare zones one credential can see."""

    #: The retries of every API call (429, 5xx, a dropped connection, a timeout).
    policy = apierrors.POLICY

    def __init__(self, *, token: str | None = None, email: str | None = None,
                 api_key: str | None = None, url: str | None = None) -> None:
        self._token, self._email, self._api_key = token, email, api_key
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
    def from_credentials(cls, keys: Keys, where: str) -> CloudflareWriter:
        """Validate the INI keys one by one; each failure names its key and the fix."""
        settings = schema.read(keys, "cloudflare", KEYS, where, title="Cloudflare")
        token, email, api_key = settings["api_token"], settings["email"], settings["api_key"]
        _one_credential(token, email or api_key, where)
        if token:
            _check_token(token, where)
        else:
            _check_global_key(email, api_key, where)
        return cls(token=token, email=email, api_key=api_key,
                   url=_api_url(settings["api_url"], where))

    # -- the SDK ---------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The SDK client, made on first use; only our own credential is sent (the SDK
        would otherwise also pick CLOUDFLARE_* variables from the environment). The SDK's
        own retries are off: `_call` retries, and reports each retry."""
        if self._client is None:
            # No redirect is followed: httpx keeps X-Auth-Email/X-Auth-Key (the Global API
            # Key) on a redirect, to http:// or to another host alike.
            client = cloudflare.Cloudflare(
                api_token=self._token, api_email=self._email, api_key=self._api_key,
                base_url=self.url, timeout=TIMEOUT, max_retries=0,
                http_client=httpx.Client(follow_redirects=False, timeout=TIMEOUT))
            if self._token:
                client.api_email = client.api_key = None
            else:
                client.api_token = None
            if hasattr(client, "user_service_key"):
                client.user_service_key = None
            self._client = client
        return self._client

    def _call(self, what: str, fn: Callable[[], T], zone: str | None = None,
              ok_codes: frozenset[int] = frozenset()) -> T | None:
        """Run one API call, retried while Cloudflare limits or fails it (`apierrors.call`);
        every SDK error becomes one AutopilotError with Cloudflare's own code and message as
        evidence, and the fix for this credential. An error carrying one of ``ok_codes``
        means the wanted state already holds: None."""
        try:
            return apierrors.call(fn, _said, what, self.on_retry, self.policy)
        except cloudflare.APIError as exc:
            if ok_codes & {code for code, _ in _errors(exc)}:
                return None
            status = int(getattr(exc, "status_code", 0) or 0)
            if 300 <= status < 400:
                raise apierrors.redirected(self.label, what, status,
                                           exc.response.headers.get("location"),
                                           _key("api_url")) from None
            said = _said(exc)
            assert said is not None  # every APIError is read
            return self._raise(what, said, zone)

    def _raise(self, what: str, said: apierrors.Said, zone: str | None) -> NoReturn:
        target = f"for {zone} " if zone else ""
        if self._token:
            refused = (f"the API token is invalid, expired or revoked: create a new one "
                       f"({DASHBOARD} → Create Token → \"Edit zone DNS\") and put it in "
                       f"{_key('api_token')}")
            denied = (f"add the permission {DNS_EDIT} {target}to the token ({DASHBOARD} → "
                      "edit the token → Permissions; Zone Resources must include the zone)")
        else:
            refused = (f"Cloudflare does not accept {_key('email')} with that "
                       f"{_key('api_key')}: copy the Global API Key again ({DASHBOARD} → "
                       f"Global API Key) or, better, use an API token in {_key('api_token')}")
            denied = (f"give the Cloudflare login {self._email} a role that may edit DNS "
                      f"{target}(e.g. DNS Administrator), or use an API token with {DNS_EDIT}")
        if said.failure:
            unreachable = (f"check that this host reaches {self.shown_url} over HTTPS (DNS, "
                           f"firewall, HTTPS_PROXY) and that {_key('api_url')}, if set, is the "
                           f"API's base URL of Cloudflare's API v4 (default {DEFAULT_URL})")
        else:
            unreachable = ("Cloudflare's API is limiting or failing requests: retry later "
                           "(see https://www.cloudflarestatus.com)")
        fixes = apierrors.Fixes(
            refused=refused, denied=denied, unreachable=unreachable,
            zone=f"check that {zone or 'the zone'} still exists in the Cloudflare account",
            other="Cloudflare refused the request as shown; check the zone's DNS settings in "
                  "the dashboard")
        problem = ""
        if said.status == 401 and self._token:
            problem = f"{self.label}: {what}: token invalid or revoked: HTTP {said.status} " \
                      f"({said.detail})"
        raise apierrors.error(self.label, what, said, fixes, api=f"the API at {self.shown_url}",
                              problem=problem, secrets=(self._token, self._api_key))

    # -- zones -----------------------------------------------------------------------

    def _zones_named(self, name: str) -> list[Any]:
        try:
            page = self._call(f"looking up the zone {name}",
                              lambda: self.client.zones.list(name=name, per_page=50))
        except AutopilotError as exc:
            if (not self._token or exc.code != Code.PERMISSION_DENIED
                    or "invalid or revoked" in exc.problem):
                raise
            self._verify_token()  # raises if the token itself is bad
            raise AutopilotError(
                Code.PERMISSION_DENIED, exc.problem,
                f"give the token {DNS_EDIT} and Zone → Zone → Read for the zone that holds "
                f"{name} ({DASHBOARD} → edit the token)", exc.evidence) from None
        return [z for z in (getattr(page, "result", None) or [])
                if names.normalize(str(getattr(z, "name", ""))) == name]

    def _visible_zones(self) -> list[str]:
        """Every zone the credential sees (all pages), for the evidence of a missing zone."""
        found = self._all("listing the zones", lambda: self.client.zones.list(per_page=50))
        return sorted({names.normalize(str(z.name)) for z in found})

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
        if not self._token:
            return
        result = self._call("verifying the API token", lambda: self.client.user.tokens.verify())
        status = str(getattr(result, "status", "") or "")
        if status and status != "active":
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label}: token invalid or revoked: Cloudflare reports it as {status}",
                f"activate the token or create a new one ({DASHBOARD}) and put it in "
                f"{_key('api_token')}")

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
        raise self._no_zone(name, candidates, self._visible_zones())

    def _no_zone(self, name: str, candidates: list[str], visible: list[str]) -> AutopilotError:
        shown = ", ".join(visible[:ZONES_SHOWN]) or "none"
        if len(visible) > ZONES_SHOWN:
            shown += f" and {len(visible) - ZONES_SHOWN} more"
        likely = _registered(candidates)
        evidence = (f"Asked Cloudflare for the zones {', '.join(candidates)}: none is visible. "
                    f"This credential sees {len(visible)} zone(s): {shown}")
        if self._token:
            return AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label}: the token cannot see any zone enclosing {name} (it is probably "
                f"scoped to other zones, or {likely} is not in this Cloudflare account)",
                f"give the token {DNS_EDIT} for {likely} ({DASHBOARD} → edit the token → Zone "
                f"Resources: Include → Specific zone → {likely}); if {likely} is not in your "
                "Cloudflare account, add it there, or configure the writer of the provider "
                "that serves it", evidence)
        return AutopilotError(
            Code.ZONE_NOT_FOUND,
            f"{self.label}: no zone enclosing {name} is in the Cloudflare account of {self._email}",
            f"add {likely} to this Cloudflare account (and delegate it to Cloudflare's "
            "nameservers), or configure the writer of the provider that serves it", evidence)

    def _zone_id(self, zone: str) -> str:
        zone = names.normalize(zone)
        if zone not in self._zone_ids:
            found = self._zones_named(zone)
            if not found:
                raise self._no_zone(zone, [zone], self._visible_zones())
            self._zone_ids[zone] = str(found[0].id)
        return self._zone_ids[zone]

    # -- records ---------------------------------------------------------------------

    def _records(self, zone: str, name: str) -> list[tuple[str, str]]:
        """(record id, unquoted value) of every TXT record at ``name`` (all pages)."""
        zone_id = self._zone_id(zone)
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
        done: dict[str, set[str]] = {}
        try:
            for name, wanted in sorted(records.items()):
                for value in sorted(wanted):
                    self._create(zone, zone_id, name, value, ttl)
                    done.setdefault(name, set()).add(value)
        except AutopilotError:
            # The caller keeps only a whole batch for cleanup: take back this batch's part.
            try:
                self.remove(zone, done)
            except AutopilotError as exc:
                logger.warning("dns-autopilot: could not take back %s: %s", done, exc)
            raise
        logger.debug("dns-autopilot: added %d TXT value(s) in %s via %s",
                     sum(len(v) for v in records.values()), zone, self.label)

    def _create(self, zone: str, zone_id: str, name: str, value: str, ttl: int) -> None:
        self._call(f"creating a TXT record at {name} in zone {zone}",
                   lambda: self.client.dns.records.create(
                       zone_id=zone_id, type="TXT", name=name, content=quote(value), ttl=ttl),
                   zone, ok_codes=frozenset({IDENTICAL_RECORD}))

    def remove(self, zone: str, records: Records) -> None:
        zone_id = self._zone_id(zone)
        for name, unwanted in sorted(records.items()):
            for record_id, value in self._records(zone, names.normalize(name)):
                if value in unwanted:
                    self._delete(zone, zone_id, name, record_id)
        logger.debug("dns-autopilot: removed %d TXT value(s) in %s via %s",
                     sum(len(v) for v in records.values()), zone, self.label)

    def _delete(self, zone: str, zone_id: str, name: str, record_id: str) -> None:
        self._call(f"deleting the TXT record {record_id} at {name} in zone {zone}",
                   lambda: self.client.dns.records.delete(record_id, zone_id=zone_id),
                   zone, ok_codes=frozenset({RECORD_GONE}))

    def values(self, zone: str, name: str) -> set[str]:
        return {value for _, value in self._records(zone, names.normalize(name))}

    def probe(self, zone: str, name: str) -> None:
        """The token itself first (valid, active), then that it sees the zone, then a real
        create/read/delete: only a write proves Zone → DNS → Edit."""
        self._verify_token()
        self._zone_id(zone)
        super().probe(zone, name)


def _registered(candidates: Iterable[str]) -> str:
    """The registrable domain among ``candidates``: the zone a user most likely means."""
    items = list(candidates)
    try:
        from publicsuffixlist import PublicSuffixList

        private = PublicSuffixList().privatesuffix(items[0]) if items else None
    except Exception:  # noqa: BLE001 - only a better guess for a message
        private = None
    return private or (items[-1] if items else "the zone")
