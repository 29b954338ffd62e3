"""The acme-dns writer: ``_acme-challenge.<domain>`` is a CNAME to a registration's
``fulldomain`` in an acme-dns server, whose HTTP API can set that one TXT and nothing else.

No SDK: acme-dns's API is two calls (``POST /register``, ``POST /update`` with ``X-Api-User``
and ``X-Api-Key``), made with ``requests``. The registration file is the JSON that acme-dns's
certbot hook and certbot-dns-acmedns already write (``{"<domain>": {"username", "password",
"fulldomain", "subdomain", "allowfrom"}}``), so existing registrations work unchanged.

acme-dns keeps two values per registration and each update replaces the older one; it has no
delete. So more than two values for one registration at once stops before writing, and a
removal is a no-op that says so once: the values roll out with the next updates.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from certbot import errors

from .. import names, scrub, statefiles
from ..codes import Code
from ..errors import AutopilotError
from ..shown import shown
from . import apierrors, schema
from .base import Key, Keys, Records, Writer, check_endpoint, check_mode, without_userinfo

#: The keys this writer reads (``dns_autopilot_acmedns_<key>``): what INI validation,
#: secret scrubbing and the docs' key table (checked by the docs test) come from.
KEYS: tuple[Key, ...] = (
    Key('api_url', required=True,
        help=("the acme-dns server's API URL (`https://`; `http://` only on loopback)")),
    Key('registration_file', required=True,
        help=("the JSON registrations of acme-dns's certbot hook / certbot-dns-acmedns "
              '(`dns-autopilot acme-dns register` writes it)')),
)

logger = logging.getLogger(__name__)

WINDOW = 2  # values acme-dns keeps per registration
TIMEOUT = 15.0
PROBE_VALUE = "dns-autopilot-probe"  # not 43 characters: acme-dns answers bad_txt, writes nothing


def _key(suffix: str) -> str:
    return f"dns_autopilot_acmedns_{suffix}"


@dataclass(frozen=True)
class Registration:
    domain: str
    username: str
    password: str
    fulldomain: str
    subdomain: str
    allowfrom: tuple[str, ...] = ()

    def cname(self) -> str:
        """The record to create in the domain's zone, as a zone-file line."""
        return f"{names.validation_name(self.domain)}. CNAME {self.fulldomain}."


def read_registrations(path: str, where: str) -> dict[str, Registration]:
    """The registration file (no symlink, this user's, not world-readable); one PluginError
    naming the fix for anything else. Every password is registered with the log scrubber."""
    path = os.path.abspath(os.path.expanduser(path))
    check_mode(path)
    try:
        fd = statefiles.open_file(path, os.O_RDONLY)
    except statefiles.Unsafe as exc:
        raise exc.error() from None
    except OSError as exc:
        raise errors.PluginError(
            f"{_key('registration_file')} = {path} in {where} cannot be read "
            f"({exc.strerror}). Fix: point it at the JSON file of your acme-dns registrations, "
            "or create one with `dns-autopilot acme-dns register`") from None
    with os.fdopen(fd, "rb") as file:
        text = file.read(1024 * 1024)
    try:
        data = json.loads(text or b"{}")
        if not isinstance(data, dict):
            raise ValueError("not an object")
        found = {}
        for domain, entry in data.items():
            passwords = [entry.get("password")] if isinstance(entry, dict) else []
            scrub.register(p for p in passwords if isinstance(p, str))
            bare = names.normalize(str(domain).removeprefix("*."))
            found[bare] = Registration(
                bare, str(entry["username"]), str(entry["password"]),
                names.normalize(str(entry["fulldomain"])), str(entry["subdomain"]),
                tuple(str(c) for c in entry.get("allowfrom") or ()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        what = f"lacks the field {exc}" if isinstance(exc, KeyError) else "is not valid"
        raise errors.PluginError(
            f"the acme-dns registration file {path} ({_key('registration_file')} in {where}) "
            f"{what}. Fix: it must be JSON as acme-dns's certbot hook writes it: "
            '{"<domain>": {"username": …, "password": …, "fulldomain": …, "subdomain": …, '
            '"allowfrom": []}}') from None
    return found


def source_address(url: str) -> str | None:
    """The address this host sends from to reach ``url`` (no packet is sent)."""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
            return str(probe.getsockname()[0])
    except (OSError, IndexError):
        return None


def allowed(address: str | None, allowfrom: tuple[str, ...]) -> bool:
    """Whether acme-dns's ``allowfrom`` lets ``address`` update (an empty list: anyone)."""
    if not allowfrom:
        return True
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    for cidr in allowfrom:
        try:
            if ip in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


#: Answers after which acme-dns certainly wrote nothing: worth another try.
_UNAPPLIED = (429, 502, 503, 504)


class _Redirected(Exception):
    """A redirect answered to a call carrying credentials: never followed."""

    def __init__(self, status: int, location: str | None) -> None:
        super().__init__(status)
        self.status, self.location = status, location


def _post(url: str, **kwargs: Any) -> Any:
    """POST to the acme-dns API, never following a redirect: an update carries the
    registration's key (X-Api-Key, which requests keeps on a redirect), a registration's
    answer carries its new password.

    :raises _Redirected: the API answered with a redirect.
    """
    import requests

    response = requests.post(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
    if response.is_redirect or 300 <= response.status_code < 400:
        raise _Redirected(response.status_code, response.headers.get("Location"))
    return response


class _Unapplied(Exception):
    """An answer of `_UNAPPLIED`, raised inside the retried call."""

    def __init__(self, status: int, error: str, retry_after: str | None) -> None:
        super().__init__(status)
        self.status, self.error = status, error
        try:
            self.retry_after: float | None = float(retry_after or "")
        except ValueError:
            self.retry_after = None


def _said(exc: Exception) -> apierrors.Said | None:
    """What the acme-dns API said; a connection that was never made counts as a dropped
    one (worth another try), a timeout or a break once the request was sent does not."""
    import requests

    if isinstance(exc, _Unapplied):
        return apierrors.Said(status=exc.status, message=exc.error, retry_after=exc.retry_after)
    if isinstance(exc, requests.ConnectTimeout):
        return apierrors.Said(failure=apierrors.TIMEOUT, message=type(exc).__name__)
    if isinstance(exc, requests.ConnectionError) and apierrors.never_connected(exc):
        return apierrors.Said(failure=apierrors.CONNECTION, message=type(exc).__name__)
    if isinstance(exc, requests.RequestException):  # sent: it may have been applied
        return apierrors.Said(failure="no answer", message=type(exc).__name__)
    return None


class AcmeDnsWriter(Writer):
    """Updates the TXT of acme-dns registrations through the server's HTTP API."""

    def __init__(self, api_url: str, path: str, registrations: dict[str, Registration]
                 ) -> None:
        self.api_url = api_url.rstrip("/")
        self.path = path
        self.registrations = registrations
        self._by_name = {r.fulldomain: r for r in registrations.values()}
        self.cname_targets = {d: r.fulldomain for d, r in registrations.items()}
        #: how messages name the API: never with the userinfo's password
        self.shown_url = without_userinfo(self.api_url)
        self.label = f"acme-dns {urlsplit(self.shown_url).netloc or self.shown_url}"
        self._said_no_delete = False

    #: pre-flight runs the probe on every run, not only in doctor: it writes nothing
    probe_is_free = True
    #: The retries of an update acme-dns certainly did not apply.
    policy = apierrors.POLICY

    @classmethod
    def from_credentials(cls, credentials: Keys, path: str) -> AcmeDnsWriter:
        settings = schema.read(credentials, "acmedns", KEYS, path, title="acme-dns")
        url = settings["api_url"] or ""
        if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
            raise AutopilotError(Code.BAD_CONFIG, f"{_key('api_url')} = {shown(url)!r} in {path} "
                                 "is not a URL", "give the API's https:// URL")
        check_endpoint(url, _key("api_url"), path)
        registrations = read_registrations(settings["registration_file"] or "", path)
        if not registrations:
            raise errors.PluginError(
                f"the acme-dns registration file of {path} holds no registration. Fix: "
                "run `dns-autopilot acme-dns register -d <domain> …` and create the CNAME "
                "it prints")
        return cls(url, path, registrations)

    def _registration(self, name: str) -> Registration:
        registration = self._by_name.get(name)
        if registration is None:
            raise AutopilotError(
                Code.CNAME_ALIAS, f"{name} is not the fulldomain of any registration in the "
                f"acme-dns registration file of {self.path}",
                "point _acme-challenge.<domain> at its registration's fulldomain (`dns-autopilot "
                "acme-dns register -d <domain>` prints the record)")
        return registration

    def find_zone(self, name: str) -> str:
        self._registration(name)
        return ""  # the zone the DNS says holds the fulldomain

    # -- the API --------------------------------------------------------------------------

    def _update(self, registration: Registration, value: str) -> tuple[int, str]:
        """POST /update: (HTTP status, acme-dns's ``error`` field). An answer that certainly
        changed nothing (429, a proxy's 502/503/504, no connection made) is retried; a
        timeout after the request was sent is not: acme-dns keeps two values, and the same
        value sent twice would push the other one out."""
        import requests  # imported on use: certbot loads every plugin at start

        def post() -> tuple[int, str]:
            response = _post(
                f"{self.api_url}/update",
                headers={"X-Api-User": registration.username,
                         "X-Api-Key": registration.password},
                json={"subdomain": registration.subdomain, "txt": value})
            try:
                error = str(response.json().get("error") or "")
            except (ValueError, AttributeError):
                error = ""
            if response.status_code in _UNAPPLIED:
                raise _Unapplied(response.status_code, error,
                                 response.headers.get("Retry-After"))
            return response.status_code, error

        what = f"the update for {registration.domain}"
        try:
            return apierrors.call(post, _said, what, self.on_retry, self.policy)
        except _Unapplied as exc:
            return exc.status, exc.error
        except _Redirected as exc:
            raise apierrors.redirected(self.label, what, exc.status, exc.location,
                                       _key("api_url")) from None
        except requests.RequestException as exc:
            said = _said(exc) or apierrors.Said(failure=apierrors.CONNECTION)
            raise apierrors.error(self.label, what, said, self._fixes(registration),
                                  api=f"the API at {self.shown_url}") from None

    def _fixes(self, registration: Registration) -> apierrors.Fixes:
        return apierrors.Fixes(
            refused=f"check the username and password for {registration.domain} in the "
                    "registration file against the server's, or register again",
            denied="run certbot from an address in the registration's allowfrom",
            zone=f"check {_key('api_url')}: it must be the acme-dns server's API URL",
            unreachable=f"check {_key('api_url')} and that this host can reach the server "
                        "(firewall, proxy, TLS certificate); retry later if it is overloaded",
            other="check the server's logs; a value acme-dns rejects (bad_txt) is not an ACME "
                  "value")

    def _refused(self, registration: Registration, status: int, error: str) -> AutopilotError:
        who = f"the registration of {registration.domain} (user {registration.username})"
        if status == 401 or error == "forbidden":
            address = source_address(self.api_url)
            if not allowed(address, registration.allowfrom):
                return AutopilotError(
                    Code.PERMISSION_DENIED,
                    f"{self.label} refused the update for {registration.domain}: this host's "
                    f"address ({address or 'unknown'}) is outside the registration's allowfrom "
                    f"({', '.join(registration.allowfrom)})",
                    "run certbot from an address in allowfrom, or register again from here "
                    "(`dns-autopilot acme-dns register -d "
                    f"{registration.domain} --allow-from <this host's network>`)")
            return AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label} refused the credentials of {who} (HTTP {status} forbidden)",
                f"check the username and password for {registration.domain} in the "
                f"registration file against the server's, or register again; if the server "
                "sees another address than this host (a proxy), check allowfrom too")
        if error == "bad_subdomain":
            return AutopilotError(
                Code.PERMISSION_DENIED, f"{self.label} rejected the subdomain of {who} "
                "(bad_subdomain)", "copy the registration's subdomain exactly as /register "
                "returned it")
        said = apierrors.Said(status=status, message=shown(error or "no error field", limit=80))
        if status in _UNAPPLIED or status >= 500 or status == 404:
            if status == 404:  # no /update there: the URL is not acme-dns's API
                said = apierrors.Said(failure=apierrors.MALFORMED)
            return apierrors.error(self.label, f"the update for {who}", said,
                                   self._fixes(registration), api=f"the API at {self.shown_url}")
        return AutopilotError(
            Code.PERMISSION_DENIED, f"{self.label} answered HTTP {status} "
            f"({said.message}) to the update for {who}",
            "check the server's logs; a value acme-dns rejects (bad_txt) is not an ACME value")

    # -- the writer -----------------------------------------------------------------------

    def add(self, zone: str, records: Records, ttl: int) -> None:
        plan = [(self._registration(name), sorted(values)) for name, values in
                sorted(records.items())]
        for registration, values in plan:
            if len(values) > WINDOW:
                limit = AutopilotError(
                    Code.MULTIPLE_VALUES,
                    f"{len(values)} values must sit at {registration.fulldomain} at once, but "
                    f"acme-dns keeps only {WINDOW} per registration (a third pushes the first "
                    "out before the CA reads it)",
                    "give each domain its own registration (`dns-autopilot acme-dns register`) "
                    "and CNAME, or request the names in separate certificates; apex and "
                    "wildcard of one domain fit one registration")
                limit.left_nothing = True
                raise limit
        for registration, values in plan:
            for value in values:
                status, error = self._update(registration, value)
                if status != 200:
                    raise self._refused(registration, status, error)
                logger.debug("dns-autopilot: %s: updated %s", self.label,
                             registration.fulldomain)

    def remove(self, zone: str, records: Records) -> None:
        if not self._said_no_delete:
            self._said_no_delete = True
            logger.info("dns-autopilot: %s cannot delete values: they stay at %s until the "
                        "next updates of those registrations replace them (acme-dns keeps "
                        "the last %d)", self.label, ", ".join(sorted(records)), WINDOW)
            if self.events is not None:
                self.events.emit("cleanup", "not-deletable", zone, writer=self.label,
                                 names=sorted(records))

    def values(self, zone: str, name: str) -> set[str]:
        raise AutopilotError(Code.PERMISSION_DENIED, f"{self.label} has no API to read values",
                             "the waiter reads them from the nameservers")

    def probe(self, zone: str, name: str) -> None:
        """The API reachable, the credentials and allowfrom accepted, without writing: an
        update with a value acme-dns refuses (bad_txt) after checking all three."""
        registration = self._registration(name)
        status, error = self._update(registration, PROBE_VALUE)
        if status == 400 and error == "bad_txt":
            return
        raise self._refused(registration, status, error)




# -- `dns-autopilot acme-dns register` --------------------------------------------------------

def _load_raw(path: str) -> dict[str, Any]:
    """The registration file as JSON (empty when it does not exist yet)."""
    try:
        fd = statefiles.open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    with os.fdopen(fd, "rb") as file:
        data = json.loads(file.read() or b"{}")
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _save(path: str, data: dict[str, Any], domain: str) -> None:
    """Write the file anew beside itself and rename it into place, mode 600: a crash or a
    full disk leaves the registrations stored before as they were.

    :raises PluginError: it could not be written (the registration just made is not kept).
    """
    try:
        statefiles.write_replacing(path, json.dumps(data, indent=2).encode() + b"\n", 0o600)
    except (OSError, statefiles.Unsafe) as exc:
        why = exc.why if isinstance(exc, statefiles.Unsafe) else exc.strerror
        raise errors.PluginError(
            f"the registration of {domain} could not be stored in {path} ({why}); the "
            "registrations stored before are unchanged. Fix: make room (or correct the "
            "directory's permissions) and register it again: the registration just made "
            "at the server stays unused") from None


def register(api_url: str, path: str, domains: list[str], allow_from: list[str],
             say: Any = print) -> int:
    """Register each domain not yet in the file, store its credentials, print its CNAME."""
    import requests

    check_endpoint(api_url, "--api-url", "the command line")
    path = os.path.abspath(os.path.expanduser(path))
    try:
        data = _load_raw(path)
    except statefiles.Unsafe as exc:
        raise exc.error() from None
    except (OSError, ValueError) as exc:
        raise errors.PluginError(f"the registration file {path} cannot be read ({exc}). Fix: "
                                 "point --registration-file at a JSON file of registrations, "
                                 "or at a new path") from None
    scrub.register(e.get("password") for e in data.values() if isinstance(e, dict))
    records = []
    for domain in dict.fromkeys(names.normalize(d.removeprefix("*.")) for d in domains):
        if domain not in data:
            body = {"allowfrom": allow_from} if allow_from else None
            try:
                response = _post(f"{api_url.rstrip('/')}/register", json=body)
            except _Redirected as exc:
                raise apierrors.redirected(f"the acme-dns API at {api_url}",
                                           f"the registration of {domain}", exc.status,
                                           exc.location, "--api-url") from None
            except requests.RequestException as exc:
                raise AutopilotError(
                    Code.PROVIDER_UNREACHABLE,
                    f"the acme-dns API at {api_url} could not be reached "
                    f"({type(exc).__name__})", "check --api-url and this host's route to it"
                ) from None
            try:
                entry = response.json()
            except ValueError:
                entry = {}
            if response.status_code != 201 or "fulldomain" not in entry:
                error = shown(str(entry.get("error") or response.status_code), limit=80)
                fix = ("give each --allow-from as a CIDR, e.g. 192.0.2.0/24"
                       if error == "invalid_allowfrom_cidr" else "check the server's logs")
                raise AutopilotError(Code.PERMISSION_DENIED, f"the acme-dns API at {api_url} "
                                     f"refused the registration of {domain} ({error})", fix)
            scrub.register([entry.get("password")])
            data[domain] = entry
            _save(path, data, domain)  # after each: a registration made is never lost
            say(f"registered {domain} at {api_url}; credentials stored in {path} (mode 600)")
        else:
            say(f"{domain} is already registered in {path}")
        records.append(f"{names.validation_name(domain)}. CNAME "
                       f"{names.normalize(str(data[domain]['fulldomain']))}.")
    say("Create these records in your DNS (once; they never change):")
    for record in records:
        say(f"  {record}")
    return 0
