"""An emulator of Microsoft Entra ID's token endpoint and Azure Resource Manager's DNS API.

It speaks what azure-identity and azure-mgmt-dns send and expect: the v2.0 token endpoint
(client secret or certificate assertion, AAD's error JSON with AADSTS codes), ARM's zone
lists with ``nextLink`` paging, TXT record sets with etags and ``If-Match`` /
``If-None-Match``, and ARM's error envelope ``{"error": {"code", "message"}}`` (403
``AuthorizationFailed`` naming the action and scope, 404 ``ResourceGroupNotFound``, 412
``PreconditionFailed``). Role assignments are scopes per principal, as ARM checks them:
a request is allowed when one of the principal's scopes encloses the request's scope.

HTTPS only (azure-identity refuses a plain-http authority), with a certificate for
localhost/127.0.0.1 signed by the lab's CA. Every TXT change is written through to BIND.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import hmac
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

from .bind import ZoneBackend

API_VERSION = "2018-05-01"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: Built-in roles as ARM knows them: their allowed actions.
ROLES = {
    "DNS Zone Contributor": ("Microsoft.Network/dnsZones/*",),
    "Reader": ("*/read",),
    "Contributor": ("*",),
}


@dataclass
class Principal:
    """A service principal: its client ID, secret or certificate, and role assignments."""

    client_id: str
    secret: str | None = None
    certificate: x509.Certificate | None = None
    #: (scope, role name) pairs, e.g. ("/subscriptions/…/resourceGroups/dns", "Reader")
    assignments: list[tuple[str, str]] = field(default_factory=list)
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def may(self, action: str, scope: str) -> bool:
        scope = scope.lower().rstrip("/")
        for granted, role in self.assignments:
            granted = granted.lower().rstrip("/")
            if scope == granted or scope.startswith(granted + "/"):
                if any(fnmatch.fnmatch(action.lower(), pattern.lower())
                       for pattern in ROLES[role]):
                    return True
        return False


@dataclass
class RecordSet:
    values: list[str]
    ttl: int
    etag: str = field(default_factory=lambda: str(uuid.uuid4()))
    metadata: dict[str, str] | None = None


class AzureEmulator:
    """Entra ID + ARM DNS on one HTTPS port; a test configures groups, zones and principals."""

    def __init__(self, backend: ZoneBackend | None, ca_pem: Path, ca_key: Path,
                 page_size: int = 1) -> None:
        self.backend = backend
        self.tenant = str(uuid.uuid4())
        self.subscription = str(uuid.uuid4())
        self.page_size = page_size  # small, so the SDK must follow nextLink
        self.groups: dict[str, list[str]] = {}  # resource group (as created) -> zones
        self.principals: dict[str, Principal] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (client id, expiry)
        self.record_sets: dict[tuple[str, str, str], RecordSet] = {}  # (group, zone, rel)
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) per ARM request
        #: (group, zone, relative, value): just before the next write to that record set,
        #: someone else adds the value (a new etag), so the writer's If-Match fails once;
        #: before each of the next ``interfere_times`` writes when more (value-2, value-3…).
        self.interfere: tuple[str, str, str, str] | None = None
        self.interfere_times = 1
        #: a relative record-set name whose writes are refused (HTTP 400): a batch that
        #: fails midway.
        self.refuse: str | None = None
        #: the next Resource Manager calls' answers, in turn: (HTTP status, error code), e.g.
        #: (429, "TooManyRequests") with Retry-After, as ARM throttles a subscription
        self.fail_next: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self._tls = _server_context(ca_pem, ca_key)
        self._server: ThreadingHTTPServer | None = None

    # -- configuration ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def group_scope(self, group: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{group}"

    def zone_scope(self, group: str, zone: str) -> str:
        return f"{self.group_scope(group)}/providers/Microsoft.Network/dnsZones/{zone}"

    def add_group(self, group: str, *zones: str) -> None:
        self.groups[group] = list(zones)

    def add_principal(self, secret: str | None = None, certificate: x509.Certificate | None = None,
                      assignments: list[tuple[str, str]] | None = None) -> Principal:
        principal = Principal(str(uuid.uuid4()), secret, certificate, assignments or [])
        self.principals[principal.client_id] = principal
        return principal

    def seed(self, group: str, zone: str, relative: str, values: list[str], ttl: int = 300
             ) -> None:
        """Someone else's record set, made as the portal would (written through to BIND);
        no values deletes it."""
        with self.lock:
            self._store(group, zone, relative, RecordSet(list(values), ttl) if values else None)

    def txt(self, group: str, zone: str, relative: str) -> list[str] | None:
        found = self.record_sets.get((group.lower(), zone.lower(), relative.lower()))
        return None if found is None else list(found.values)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> AzureEmulator:
        emulator = self

        class Handler(_Handler):
            pass
        Handler.emulator = emulator
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- store ------------------------------------------------------------------------------

    def _zone_of(self, group: str, zone: str) -> str | None:
        for name, zones in self.groups.items():
            if name.lower() == group.lower():
                return next((z for z in zones if z.lower() == zone.lower()), None)
        return None

    def _store(self, group: str, zone: str, relative: str, new: RecordSet | None) -> None:
        """Replace (or delete) a record set and mirror the difference in BIND."""
        key = (group.lower(), zone.lower(), relative.lower())
        old = self.record_sets.get(key)
        before = set(old.values) if old else set()
        after = set(new.values) if new else set()
        fqdn = zone if relative == "@" else f"{relative}.{zone}"
        if self.backend:
            for value in sorted(before - after):
                self.backend.remove(zone, fqdn + ".", value)
            for value in sorted(after - before):
                self.backend.add(zone, fqdn + ".", value, new.ttl if new else 60)
        if new is None:
            self.record_sets.pop(key, None)
        else:
            self.record_sets[key] = new


class _Handler(BaseHTTPRequestHandler):
    emulator: AzureEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
        pass

    # -- plumbing -----------------------------------------------------------------------------

    def _send(self, status: int, body: dict | None, headers: dict[str, str] | None = None
              ) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _arm_error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        parts = urlsplit(self.path).path.strip("/").split("/")
        if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self._discovery(parts[0])
        else:
            self._arm("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._arm("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._arm("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._arm("DELETE")

    def do_POST(self) -> None:  # noqa: N802
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            self._token(parts[0], parse_qs(self._body().decode()))
        else:
            self._body()
            self._arm_error(404, "NotFound", f"No route for POST {self.path}")

    # -- Microsoft Entra ID -------------------------------------------------------------------

    def _aad_error(self, status: int, error: str, code: int, text: str) -> None:
        trace, correlation = uuid.uuid4(), uuid.uuid4()
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        self._send(status, {
            "error": error,
            "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\n"
                                 f"Correlation ID: {correlation}\r\nTimestamp: {now}",
            "error_codes": [code], "timestamp": now, "trace_id": str(trace),
            "correlation_id": str(correlation),
            "error_uri": f"https://login.microsoftonline.com/error?code={code}"})

    def _discovery(self, tenant: str) -> None:
        """The tenant's OpenID configuration, which MSAL reads before asking for a token."""
        if tenant.lower() != self.emulator.tenant:
            return self._aad_error(400, "invalid_tenant", 90002,
                                   f"Tenant '{tenant}' not found. Check to make sure you have "
                                   "the correct tenant ID and are signing into the correct cloud.")
        base = f"{self.emulator.url}/{tenant}"
        self._send(200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "issuer": f"{self.emulator.url}/{tenant}/v2.0",
            "jwks_uri": f"{self.emulator.url}/{tenant}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com"})

    def _token(self, tenant: str, form: dict[str, list[str]]) -> None:
        emulator = self.emulator
        field_ = {k: v[0] for k, v in form.items()}
        if tenant.lower() != emulator.tenant:
            return self._aad_error(400, "invalid_request", 90002,
                                   f"Tenant '{tenant}' not found. Check to make sure you have "
                                   "the correct tenant ID and are signing into the correct cloud.")
        if field_.get("grant_type") != "client_credentials":
            return self._aad_error(400, "unsupported_grant_type", 70003,
                                   "The app requested an unsupported grant type.")
        client_id = field_.get("client_id", "")
        principal = emulator.principals.get(client_id)
        if principal is None:
            return self._aad_error(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.")
        if field_.get("scope") != f"{emulator.url}/.default":
            return self._aad_error(
                400, "invalid_resource", 500011,
                f"The resource principal named {field_.get('scope', '')!r} was not found in the "
                f"tenant named {tenant}.")
        if "client_secret" in field_:
            ok = principal.secret is not None and hmac.compare_digest(
                field_["client_secret"].encode(), principal.secret.encode())
            if not ok:
                return self._aad_error(
                    401, "invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{client_id}'.")
        elif field_.get("client_assertion_type") == JWT_BEARER:
            if not _assertion_valid(field_.get("client_assertion", ""), principal,
                                    f"{emulator.url}/{tenant}/oauth2/v2.0/token"):
                return self._aad_error(
                    401, "invalid_client", 700027,
                    "Client assertion failed signature validation.")
        else:
            return self._aad_error(401, "invalid_client", 7000218,
                                   "The request body must contain the following parameter: "
                                   "'client_assertion' or 'client_secret'.")
        token = "emu." + secrets.token_urlsafe(24)
        with emulator.lock:
            emulator.tokens[token] = (client_id, time.time() + 3599)
        self._send(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                         "access_token": token})

    # -- Azure Resource Manager ---------------------------------------------------------------

    def _arm(self, method: str) -> None:
        body = self._body() if method in ("PUT", "PATCH") else b""
        split = urlsplit(self.path)
        emulator = self.emulator
        with emulator.lock:
            failing = emulator.fail_next.pop(0) if emulator.fail_next else None
            if failing:
                status, code = failing
                self._send(status, {"error": {"code": code, "message": "Try again later."}},
                           {"Retry-After": "1"} if status == 429 else None)
            else:
                status = self._route(method, split.path, parse_qs(split.query), body)
            emulator.log.append((method, unquote(split.path), status))

    def _principal(self) -> Principal | None:
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        entry = self.emulator.tokens.get(token)
        if entry is None or entry[1] < time.time():
            return None
        return self.emulator.principals.get(entry[0])

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> int:
        emulator = self.emulator
        principal = self._principal()
        if principal is None:
            self._arm_error(401, "InvalidAuthenticationToken",
                            "The access token is invalid.")
            return 401
        if query.get("api-version", [""])[0] != API_VERSION:
            self._arm_error(400, "InvalidApiVersionParameter",
                            f"The api-version '{query.get('api-version', [''])[0]}' is invalid.")
            return 400
        parts = [unquote(p) for p in path.strip("/").split("/")]
        lower = [p.lower() for p in parts]
        if len(parts) < 2 or lower[0] != "subscriptions" or parts[1] != emulator.subscription:
            self._arm_error(404, "SubscriptionNotFound",
                            f"The subscription '{parts[1] if len(parts) > 1 else ''}' could "
                            "not be found.")
            return 404
        skip = int(query.get("$skipToken", ["0"])[0])
        # /subscriptions/{s}/providers/Microsoft.Network/dnszones
        if lower[2:] == ["providers", "microsoft.network", "dnszones"] and method == "GET":
            scope = f"/subscriptions/{emulator.subscription}"
            if not self._allowed(principal, "Microsoft.Network/dnsZones/read", scope):
                return 403
            zones = [(g, z) for g, zs in emulator.groups.items() for z in zs]
            return self._page(zones, skip, path)
        if len(parts) < 4 or lower[2] != "resourcegroups":
            self._arm_error(404, "NotFound", f"No route for {method} {path}")
            return 404
        group = parts[3]
        known_group = next((g for g in emulator.groups if g.lower() == group.lower()), None)
        rest = lower[4:]
        if rest[:3] != ["providers", "microsoft.network", "dnszones"]:
            self._arm_error(404, "NotFound", f"No route for {method} {path}")
            return 404
        action = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}[method]
        if len(rest) == 3:  # the group's zones
            if method != "GET":
                self._arm_error(405, "MethodNotAllowed", f"{method} is not allowed here")
                return 405
            if not self._allowed(principal, "Microsoft.Network/dnsZones/read",
                                 emulator.group_scope(group)):
                return 403
            if known_group is None:
                return self._group_not_found(group)
            return self._page([(known_group, z) for z in emulator.groups[known_group]], skip,
                              path)
        zone_name = parts[7]
        record_type = parts[8].upper() if len(parts) > 8 else None
        scope = "/" + "/".join(parts)
        if len(parts) == 8:  # one zone
            if method != "GET":
                self._arm_error(405, "MethodNotAllowed", "this emulator does not change zones")
                return 405
            if not self._allowed(principal, "Microsoft.Network/dnsZones/read", scope):
                return 403
            if known_group is None:
                return self._group_not_found(group)
            zone = emulator._zone_of(group, zone_name)
            if zone is None:
                self._arm_error(404, "ResourceNotFound",
                                f"The Resource 'Microsoft.Network/dnszones/{zone_name}' under "
                                f"resource group '{group}' was not found. For more details "
                                "please go to https://aka.ms/ARMResourceNotFoundFix")
                return 404
            self._send(200, _zone_json(emulator, known_group, zone))
            return 200
        if len(parts) != 10 or record_type != "TXT":
            self._arm_error(404, "NotFound", f"No route for {method} {path}")
            return 404
        relative = parts[9]
        if not self._allowed(principal, f"Microsoft.Network/dnsZones/TXT/{action}", scope):
            return 403
        if known_group is None:
            return self._group_not_found(group)
        zone = emulator._zone_of(group, zone_name)
        if zone is None:
            self._arm_error(404, "ParentResourceNotFound",
                            "Can not perform requested operation on nested resource. Parent "
                            f"resource '{zone_name}' not found.")
            return 404
        return self._record_set(method, known_group, zone, relative, body)

    def _allowed(self, principal: Principal, action: str, scope: str) -> bool:
        if principal.may(action, scope):
            return True
        self._arm_error(
            403, "AuthorizationFailed",
            f"The client '{principal.client_id}' with object id '{principal.object_id}' does not "
            f"have authorization to perform action '{action}' over scope '{scope}' or the scope "
            "is invalid. If access was recently granted, please refresh your credentials.")
        return False

    def _group_not_found(self, group: str) -> int:
        self._arm_error(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be "
                        "found.")
        return 404

    def _page(self, zones: list[tuple[str, str]], skip: int, path: str) -> int:
        emulator = self.emulator
        page = zones[skip:skip + emulator.page_size]
        body: dict[str, Any] = {"value": [_zone_json(emulator, g, z) for g, z in page]}
        if skip + emulator.page_size < len(zones):
            body["nextLink"] = (f"{emulator.url}{quote(path)}?api-version={API_VERSION}"
                                f"&$skipToken={skip + emulator.page_size}")
        self._send(200, body)
        return 200

    def _record_set(self, method: str, group: str, zone: str, relative: str, body: bytes) -> int:
        emulator = self.emulator
        key = (group.lower(), zone.lower(), relative.lower())
        current = emulator.record_sets.get(key)
        if_match = self.headers.get("If-Match")
        if_none_match = self.headers.get("If-None-Match")
        if method != "GET" and emulator.interfere and tuple(
                p.lower() for p in emulator.interfere[:3]) == key:
            value = emulator.interfere[3]
            values = current.values if current else []
            if value in values:
                value = f"{value}-{len(values) + 1}"
            emulator.interfere_times -= 1
            if emulator.interfere_times <= 0:
                emulator.interfere, emulator.interfere_times = None, 1
            values = values + [value]
            emulator._store(group, zone, relative, RecordSet(values, current.ttl if current
                                                             else 300))
            current = emulator.record_sets[key]
        if method != "GET" and emulator.refuse and relative.lower() == emulator.refuse.lower():
            self._arm_error(400, "BadRequest", f"The record set '{relative}' is refused.")
            return 400
        if method == "GET":
            if current is None:
                self._arm_error(404, "NotFound",
                                f"The resource record '{relative}' does not exist in resource "
                                f"group '{group}' of subscription '{emulator.subscription}'.")
                return 404
            self._send(200, _record_set_json(emulator, group, zone, relative, current),
                       {"ETag": current.etag})
            return 200
        if if_match and if_match != "*" and (current is None or current.etag != if_match):
            self._arm_error(412, "PreconditionFailed",
                            f"The Record set {relative} has been modified (etag mismatch).")
            return 412
        if if_match == "*" and current is None:
            self._arm_error(412, "PreconditionFailed",
                            f"The Record set {relative} does not exist.")
            return 412
        if method == "DELETE":
            if current is None:
                self._send(204, None)
                return 204
            emulator._store(group, zone, relative, None)
            self._send(200, None)
            return 200
        if if_none_match == "*" and current is not None:
            self._arm_error(412, "PreconditionFailed",
                            f"The Record set {relative} already exists.")
            return 412
        try:
            properties = json.loads(body or b"{}").get("properties") or {}
        except ValueError:
            self._arm_error(400, "InvalidRequestContent", "The request content was invalid.")
            return 400
        if method == "PATCH" and current is None:
            self._arm_error(404, "NotFound", f"The resource record '{relative}' does not exist.")
            return 404
        records = properties.get("TXTRecords")
        if records is None and method == "PATCH":
            values = list(current.values)
        else:
            values = ["".join(r.get("value") or []) for r in records or []]
        if not values:
            self._arm_error(400, "BadRequest", "A TXT record set must have at least one record.")
            return 400
        ttl = int(properties.get("TTL") or (current.ttl if current else 3600))
        new = RecordSet(values, ttl, metadata=properties.get("metadata"))
        emulator._store(group, zone, relative, new)
        status = 200 if current else 201
        self._send(status, _record_set_json(emulator, group, zone, relative, new),
                   {"ETag": new.etag})
        return status


def _zone_json(emulator: AzureEmulator, group: str, zone: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{emulator.subscription}/resourceGroups/{group}/providers/"
              f"Microsoft.Network/dnszones/{zone}",
        "name": zone, "type": "Microsoft.Network/dnszones", "location": "global",
        "etag": "00000002-0000-0000-0000-000000000000", "tags": {},
        "properties": {"maxNumberOfRecordSets": 10000, "numberOfRecordSets": 2,
                       "nameServers": ["ns1-01.azure-dns.com.", "ns2-01.azure-dns.net."],
                       "zoneType": "Public"}}


def _record_set_json(emulator: AzureEmulator, group: str, zone: str, relative: str,
                     record_set: RecordSet) -> dict[str, Any]:
    fqdn = f"{zone}." if relative == "@" else f"{relative}.{zone}."
    return {
        "id": f"/subscriptions/{emulator.subscription}/resourceGroups/{group}/providers/"
              f"Microsoft.Network/dnszones/{zone}/TXT/{relative}",
        "name": relative, "type": "Microsoft.Network/dnszones/TXT", "etag": record_set.etag,
        "properties": {"metadata": record_set.metadata, "TTL": record_set.ttl, "fqdn": fqdn,
                       "provisioningState": "Succeeded",
                       "TXTRecords": [{"value": [v[i:i + 255] for i in range(0, len(v), 255)]}
                                      for v in record_set.values]}}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _assertion_valid(assertion: str, principal: Principal, audience: str) -> bool:
    """A client assertion as Entra ID checks it: signed (PS256 or RS256) with the registered
    certificate, named by its thumbprint, for this token endpoint, not expired."""
    if principal.certificate is None:
        return False
    try:
        header_b64, payload_b64, signature_b64 = assertion.split(".")
        header, payload = json.loads(_b64(header_b64)), json.loads(_b64(payload_b64))
        cert = principal.certificate
        if header.get("alg") == "PS256":  # found by the SHA-256 thumbprint
            found = _b64(header.get("x5t#S256", "")) == cert.fingerprint(hashes.SHA256())
            scheme: Any = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        elif header.get("alg") == "RS256":  # the SHA-1 thumbprint, as MSAL sends it
            found = _b64(header.get("x5t", "")) == cert.fingerprint(hashes.SHA1())  # noqa: S303
            scheme = padding.PKCS1v15()
        else:
            return False
        if not found:
            return False
        cert.public_key().verify(_b64(signature_b64), f"{header_b64}.{payload_b64}".encode(),
                                 scheme, hashes.SHA256())
    except (ValueError, InvalidSignature, TypeError):
        return False
    return (payload.get("aud") == audience and payload.get("iss") == principal.client_id
            and payload.get("exp", 0) > time.time())


def _server_context(ca_pem: Path, ca_key: Path) -> ssl.SSLContext:
    """A TLS context with a fresh certificate for localhost/127.0.0.1 from the lab's CA."""
    ca_cert = x509.load_pem_x509_certificate(Path(ca_pem).read_bytes())
    ca_private = serialization.load_pem_private_key(Path(ca_key).read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_private, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                              + ca_cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
    return context

