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

from .. import names, scrub, statefiles
from ..codes import Code
from ..errors import AutopilotError
from ..shown import shown
from . import apierrors, secretfile
from .endpoints import check_endpoint, is_url, without_userinfo
from .schema import Key, Shape
from .sections import SectionKeys
from .writer import Context, Records, Writer

logger = logging.getLogger(__name__)

WINDOW = 2  # values acme-dns keeps per registration
TIMEOUT = 15.0
PROBE_VALUE = "dns-autopilot-probe"  # not 43 characters: acme-dns answers bad_txt, writes nothing
FILE_FORMAT = ('{"<domain>": {"username": …, "password": …, "fulldomain": …, "subdomain": …, '
               '"allowfrom": []}}')


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


def read_registrations(path: str, key: str, where: str) -> dict[str, Registration]:
    """The registration file (no symlink, this user's, not world-readable) that ``key`` in
    ``where`` names. Every password is registered with the log scrubber.

    :raises AutopilotError: (``bad-config``) the file cannot be used, naming the fix.
    """
    path = os.path.abspath(os.path.expanduser(path))
    secretfile.check(path)
    try:
        fd = statefiles.open_file(path, os.O_RDONLY)
    except statefiles.Unsafe as exc:
        raise exc.error() from None
    except OSError as exc:
        raise AutopilotError(
            Code.BAD_CONFIG, f"{key} = {path} in {where} cannot be read ({exc.strerror})",
            "point it at the JSON file of your acme-dns registrations, or create one with "
            "`dns-autopilot acme-dns register`") from None
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
        raise AutopilotError(
            Code.BAD_CONFIG,
            f"the acme-dns registration file {path} ({key} in {where}) {what}",
            f"it must be JSON as acme-dns's certbot hook writes it: {FILE_FORMAT}") from None
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


class Redirected(Exception):
    """A redirect answered to a call carrying credentials: never followed."""

    def __init__(self, status: int, location: str | None) -> None:
        super().__init__(status)
        self.status, self.location = status, location


def post(url: str, **kwargs: Any) -> Any:
    """POST to the acme-dns API, never following a redirect: an update carries the
    registration's key (X-Api-Key, which requests keeps on a redirect), a registration's
    answer carries its new password.

    :raises Redirected: the API answered with a redirect.
    """
    import requests

    response = requests.post(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
    if response.is_redirect or 300 <= response.status_code < 400:
        raise Redirected(response.status_code, response.headers.get("Location"))
    return response


def _error_field(response: Any) -> str:
    """acme-dns's ``error`` field of an answer ("" when it has none)."""
    try:
        return str(response.json().get("error") or "")
    except (ValueError, AttributeError):
        return ""


class AcmeDnsWriter(Writer):
    """Updates the TXT of acme-dns registrations through the server's HTTP API."""

    title = "acme-dns"
    page = "providers/acme-dns"
    KEYS = (
        Key('api_url', required=True,
            help="the acme-dns server's API URL (`https://`; `http://` only on loopback)",
            shape=Shape("a URL", is_url, "give the API's https:// URL")),
        Key('registration_file', required=True,
            help=("the JSON registrations of acme-dns's certbot hook / certbot-dns-acmedns "
                  '(`dns-autopilot acme-dns register` writes it)')),
    )
    #: pre-flight runs the probe on every run, not only in doctor: it writes nothing
    probe_is_free = True

    def __init__(self, api_url: str, path: str, registrations: dict[str, Registration],
                 context: Context | None = None) -> None:
        super().__init__(context)
        self.api_url = api_url.rstrip("/")
        self.path = path
        self.registrations = registrations
        self._by_name = {r.fulldomain: r for r in registrations.values()}
        self.cname_targets = {d: r.fulldomain for d, r in registrations.items()}
        #: how messages name the API: never with the userinfo's password
        self.shown_url = without_userinfo(self.api_url)
        self.label = f"acme-dns {urlsplit(self.shown_url).netloc or self.shown_url}"
        self._said_no_delete = False

    @classmethod
    def from_credentials(cls, keys: SectionKeys, context: Context | None = None
                         ) -> AcmeDnsWriter:
        settings, where = cls.settings(keys), keys.where
        url = settings["api_url"] or ""
        check_endpoint(url, cls.key("api_url"), where)
        registrations = read_registrations(settings["registration_file"] or "",
                                           cls.key("registration_file"), where)
        if not registrations:
            raise cls.bad_config(
                f"the acme-dns registration file of {where} holds no registration",
                "run `dns-autopilot acme-dns register -d <domain> …` and create the CNAME it "
                "prints")
        return cls(url, where, registrations, context)

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

        def update() -> tuple[int, str]:
            response = post(f"{self.api_url}/update",
                            headers={"X-Api-User": registration.username,
                                     "X-Api-Key": registration.password},
                            json={"subdomain": registration.subdomain, "txt": value})
            if response.status_code in _UNAPPLIED:  # for the retry to read
                raise requests.HTTPError(response=response)
            return response.status_code, _error_field(response)

        what = f"the update for {registration.domain}"
        try:
            return self.call(what, update, lambda exc: apierrors.unapplied(
                apierrors.said_by_requests(exc), exc, _UNAPPLIED))
        except Redirected as exc:
            raise apierrors.redirected(self.label, what, exc.status, exc.location,
                                       self.key("api_url")) from None
        except requests.HTTPError as exc:
            return exc.response.status_code, _error_field(exc.response)
        except requests.RequestException as exc:
            said = apierrors.said_by_requests(exc) or apierrors.Said(failure=apierrors.CONNECTION)
            raise self.api_error(what, said, self._fixes(registration),
                                 api=f"the API at {self.shown_url}") from None

    def _fixes(self, registration: Registration) -> apierrors.Fixes:
        return apierrors.Fixes(
            refused=f"check the username and password for {registration.domain} in the "
                    "registration file against the server's, or register again",
            denied="run certbot from an address in the registration's allowfrom",
            zone=f"check {self.key('api_url')}: it must be the acme-dns server's API URL",
            unreachable=f"check {self.key('api_url')} and that this host can reach the server "
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
            return self.api_error(f"the update for {who}", said,
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
