"""A local emulator of Cloudflare's API v4, for the official SDK, writing through to BIND.

It speaks the real shapes: every answer is the envelope ``{"success", "errors": [{"code",
"message"}], "messages", "result", "result_info"}``, lists are paged (``page``,
``per_page``, ``result_info.total_pages``), and the failures carry Cloudflare's own codes
(10000 Authentication error, 9109 Invalid access token, 81058 An identical record already
exists, …). A test configures who may do what: API tokens with the zones they see and
whether they may edit DNS, and Global API Keys (which see every zone).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .bind import ZoneBackend

PREFIX = "/client/v4"
AUTOMATIC_TTL_SECONDS = 300  # what Cloudflare serves for ttl 1 ("automatic")


@dataclass
class Token:
    """An API token: the zones in its Zone Resources (None: all) and its DNS permission."""
    zones: set[str] | None
    dns_edit: bool
    active: bool = True
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Record:
    id: str
    zone: str
    name: str
    content: str
    ttl: int
    created_on: str

    def as_json(self, zone_id: str) -> dict[str, Any]:
        return {"id": self.id, "zone_id": zone_id, "zone_name": self.zone, "name": self.name,
                "type": "TXT", "content": self.content, "proxiable": False, "proxied": False,
                "ttl": self.ttl, "settings": {}, "meta": {}, "comment": None, "tags": [],
                "created_on": self.created_on, "modified_on": self.created_on}


class ApiError(Exception):
    """One failed answer: HTTP status and Cloudflare's errors."""

    def __init__(self, status: int, code: int, message: str,
                 chain: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        error: dict[str, Any] = {"code": code, "message": message}
        if chain:
            error["error_chain"] = [{"code": c, "message": m} for c, m in chain]
        self.errors = [error]


def txt_strings(content: str) -> str:
    """What DNS serves for a TXT ``content``: quoted character strings joined, else as is."""
    text = content.strip()
    if re.fullmatch(r'(?:"(?:[^"\\]|\\.)*"\s*)+', text):
        return "".join(re.sub(r"\\(.)", r"\1", s)
                       for s in re.findall(r'"((?:[^"\\]|\\.)*)"', text))
    return text


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class CloudflareEmulator:
    """The API for a fixed set of zones; TXT changes in ``backed`` zones reach BIND."""

    def __init__(self, zones: Iterable[str], backend: ZoneBackend | None = None,
                 backed: Iterable[str] | None = None) -> None:
        self.zone_ids = {name: uuid.uuid4().hex for name in zones}
        self.backend = backend
        self.backed = set(self.zone_ids if backed is None else backed)
        self.records: dict[str, dict[str, Record]] = {z: {} for z in self.zone_ids}
        self.tokens: dict[str, Token] = {}
        self.global_keys: dict[tuple[str, str], bool] = {}
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, JSON body) in order
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        #: fault injection: every other API call fails, alternately 429 (with Retry-After)
        #: and 502, as Cloudflare's edge does under load
        self.fail_every_other = False
        #: the next calls' answers, in turn, before the API serves again (e.g. [429, 503])
        self.fail_next: list[int] = []
        self.failed = 0
        #: a record name whose creates are refused (HTTP 400): a batch that fails midway
        self.refuse: str | None = None
        self._calls = 0

    # -- test configuration ----------------------------------------------------------

    def token(self, zones: Iterable[str] | None = None, dns_edit: bool = True) -> str:
        """A new API token (40 characters, like Cloudflare's) scoped to ``zones``."""
        value = secrets.token_urlsafe(30)[:40]
        self.tokens[value] = Token(None if zones is None else set(zones), dns_edit)
        return value

    def global_key(self, email: str) -> str:
        key = secrets.token_hex(19)[:37]
        self.global_keys[(email, key)] = True
        return key

    def put(self, zone: str, name: str, content: str, ttl: int = 120) -> str:
        """Someone else's record, made in the dashboard: stored and written through."""
        with self.lock:
            return self._create(zone, name, content, ttl).id

    def txt(self, name: str) -> set[str]:
        """The DNS values of the TXT records Cloudflare holds at ``name``."""
        return {txt_strings(r.content) for records in self.records.values()
                for r in records.values() if r.name == name}

    def sent(self, method: str) -> list[Any]:
        """The JSON bodies (None when empty) of every request with ``method``."""
        return [body for m, _, body in self.requests if m == method]

    def delete(self, zone: str, record_id: str) -> None:
        """Someone else deletes a record in the dashboard."""
        with self.lock:
            record = self.records[zone].pop(record_id)
            if self.backend and zone in self.backed:
                self.backend.remove(zone, record.name, txt_strings(record.content))

    # -- serving ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"

    def start(self) -> CloudflareEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: the tests read .requests
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = emulator.handle(self.command, self.path, self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def handle(self, method: str, target: str, headers: Any, body: bytes
               ) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(target)
        path = parts.path.rstrip("/")
        try:
            sent = json.loads(body) if body else None
        except ValueError:
            sent = body
        self.requests.append((method, path, sent))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            with self.lock:
                self._calls += 1
                flaky = self.fail_every_other and self._calls % 2 == 1
                self.failed += flaky
                scripted = self.fail_next.pop(0) if self.fail_next else None
                self.failed += scripted is not None
            if scripted == 429:
                raise ApiError(429, 971, "Please wait and consider throttling your request "
                               "speed")
            if scripted is not None:
                raise ApiError(scripted, 10000, "Service unavailable")
            if flaky and self.failed % 2 == 1:
                raise ApiError(429, 971, "Please wait and consider throttling your request "
                               "speed")
            if flaky:
                raise ApiError(502, 10000, "Bad gateway")
            if not path.startswith(PREFIX):
                raise ApiError(404, 7000, "No route for that URI")
            path = path[len(PREFIX):]
            if path == "/user/tokens/verify" and method == "GET":
                return 200, self._verify(headers)
            visible, dns_edit = self._authenticate(headers)
            with self.lock:
                return 200, self._route(method, path, query, body, visible, dns_edit)
        except ApiError as exc:
            return exc.status, {"success": False, "errors": exc.errors, "messages": [],
                                "result": None}

    # -- authentication --------------------------------------------------------------

    def _bearer(self, headers: Any) -> Token:
        auth = headers.get("Authorization", "")
        match = re.fullmatch(r"Bearer ([A-Za-z0-9_\-.]+)", auth)
        if not match:
            raise ApiError(400, 6003, "Invalid request headers",
                           [(6111, "Invalid format for Authorization header")])
        token = self.tokens.get(match.group(1))
        if token is None or not token.active:
            raise ApiError(403, 9109, "Invalid access token")
        return token

    def _verify(self, headers: Any) -> dict[str, Any]:
        if not headers.get("Authorization"):
            raise ApiError(400, 1001, 'Missing "Authorization" header')
        try:
            token = self._bearer(headers)
        except ApiError as exc:
            if exc.status == 403:
                raise ApiError(401, 1000, "Invalid API Token") from None
            raise
        return {"success": True, "errors": [], "result": {"id": token.id, "status": "active"},
                "messages": [{"code": 10000, "message": "This API Token is valid and active",
                              "type": None}]}

    def _authenticate(self, headers: Any) -> tuple[set[str], bool]:
        """(zones the caller sees, whether it may edit DNS)."""
        if headers.get("Authorization"):
            token = self._bearer(headers)
            zones = set(self.zone_ids) if token.zones is None else token.zones & set(
                self.zone_ids)
            return zones, token.dns_edit
        email, key = headers.get("X-Auth-Email"), headers.get("X-Auth-Key")
        if email or key:
            if not email:
                raise ApiError(400, 6003, "Invalid request headers",
                               [(6102, "No X-Auth-Email header or X-Auth-Email is invalid")])
            if (email, key) not in self.global_keys:
                raise ApiError(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
            return set(self.zone_ids), True
        raise ApiError(400, 10000, "Authentication error")

    # -- endpoints -------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes,
               visible: set[str], dns_edit: bool) -> dict[str, Any]:
        if path == "/zones" and method == "GET":
            zones = sorted(visible)
            if "name" in query:
                zones = [z for z in zones if z == query["name"].lower().rstrip(".")]
            return _page([self._zone_json(z) for z in zones], query, default=20, maximum=50)
        match = re.fullmatch(r"/zones/([0-9a-f]+)(/dns_records(?:/([0-9a-f]+))?)?", path)
        if not match:
            raise ApiError(404, 7000, "No route for that URI")
        zone = next((z for z, i in self.zone_ids.items() if i == match.group(1)), None)
        if zone is None:
            raise ApiError(404, 7003, f"Could not route to {path}, perhaps your object "
                           "identifier is invalid?")
        if zone not in visible:
            raise ApiError(403, 10000, "Authentication error")
        if not match.group(2):
            if method == "GET":
                return _ok(self._zone_json(zone))
            raise ApiError(405, 10405, "Method not allowed")
        record_id = match.group(3)
        if method == "GET" and not record_id:
            return self._list(zone, query)
        if method not in ("POST", "DELETE") or (method == "POST") == bool(record_id):
            raise ApiError(405, 10405, "Method not allowed")
        if not dns_edit:
            raise ApiError(403, 10000, "Authentication error")
        if method == "DELETE":
            record = self.records[zone].pop(str(record_id), None)
            if record is None:
                raise ApiError(404, 81044, "Record does not exist.")
            if self.backend and zone in self.backed:
                self.backend.remove(zone, record.name, txt_strings(record.content))
            return _ok({"id": record.id})
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, 9207, "Request body is invalid.") from None
        if data.get("type") != "TXT":
            raise ApiError(400, 9004, "This record type is not supported by the emulator.")
        name = str(data.get("name") or "").lower().rstrip(".")
        if name == "@":
            name = zone
        elif name != zone and not name.endswith("." + zone):
            name = f"{name}.{zone}" if name else ""
        content = str(data.get("content") or "")
        ttl = int(data.get("ttl") or 1)
        if not name or not content:
            raise ApiError(400, 1004, "DNS Validation Error",
                           [(9005, "Content or name for record is invalid.")])
        if ttl != 1 and not 60 <= ttl <= 86400:
            raise ApiError(400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, "
                           "or 1 for Automatic.")
        return _ok(self._create(zone, name, content, ttl).as_json(self.zone_ids[zone]))

    def _create(self, zone: str, name: str, content: str, ttl: int) -> Record:
        value = txt_strings(content)
        if name == self.refuse:
            raise ApiError(400, 1004, "DNS Validation Error")
        if any(r.name == name and txt_strings(r.content) == value
               for r in self.records[zone].values()):
            raise ApiError(400, 81058, "An identical record already exists.")
        record = Record(uuid.uuid4().hex, zone, name, content, ttl, _now())
        if self.backend and zone in self.backed:
            self.backend.add(zone, name, value,
                             ttl=AUTOMATIC_TTL_SECONDS if ttl == 1 else ttl)
        self.records[zone][record.id] = record
        return record

    def _list(self, zone: str, query: dict[str, str]) -> dict[str, Any]:
        records = sorted(self.records[zone].values(), key=lambda r: (r.name, r.created_on))
        if query.get("type", "TXT") != "TXT":
            records = []
        name = query.get("name.exact", query.get("name"))
        if name:
            records = [r for r in records if r.name == name.lower().rstrip(".")]
        if "content" in query or "content.exact" in query:
            wanted = query.get("content.exact", query.get("content", ""))
            records = [r for r in records if r.content == wanted]
        return _page([r.as_json(self.zone_ids[zone]) for r in records], query,
                     default=100, maximum=5000)

    def _zone_json(self, zone: str) -> dict[str, Any]:
        return {"id": self.zone_ids[zone], "name": zone, "status": "active", "paused": False,
                "type": "full", "development_mode": 0,
                "name_servers": ["ns1.autopilot.test", "ns2.autopilot.test"],
                "original_name_servers": None, "original_registrar": None,
                "account": {"id": "0" * 32, "name": "lab account"},
                "owner": {"id": None, "type": "user", "email": None},
                "meta": {"phishing_detected": False}, "permissions": [],
                "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website"},
                "created_on": "2024-01-01T00:00:00.000000Z",
                "modified_on": "2024-01-01T00:00:00.000000Z",
                "activated_on": "2024-01-01T00:00:00.000000Z"}


def _ok(result: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result}


def _page(items: list[Any], query: dict[str, str], default: int, maximum: int
          ) -> dict[str, Any]:
    """One page of ``items`` with Cloudflare's result_info; a page past the end is empty."""
    try:
        page = max(1, int(float(query.get("page", 1))))
        per_page = int(float(query.get("per_page", default)))
    except ValueError:
        raise ApiError(400, 1001, "Invalid page or per_page parameter") from None
    if not 5 <= per_page <= maximum:
        raise ApiError(400, 1001, f"per_page must be between 5 and {maximum}")
    chunk = items[(page - 1) * per_page: page * per_page]
    total_pages = max(1, -(-len(items) // per_page))
    return {"success": True, "errors": [], "messages": [], "result": chunk,
            "result_info": {"page": page, "per_page": per_page, "count": len(chunk),
                            "total_count": len(items), "total_pages": total_pages}}
