"""A local emulator of acme-dns's HTTP API, writing each registration's TXT through to BIND.

It behaves as acme-dns does (its api, auth and database code): ``POST /register`` answers
201 with ``{"username", "password", "fulldomain", "subdomain", "allowfrom"}`` (an optional
body ``{"allowfrom": [CIDR…]}``; ``malformed_json_payload``, ``invalid_allowfrom_cidr``);
``POST /update`` checks ``X-Api-User`` (a UUID) and ``X-Api-Key`` (40 characters), then
the client's address against ``allowfrom``, then that the body's ``subdomain`` is the
user's, answering 401 ``{"error": "forbidden"}`` for any of them; then ``bad_subdomain``
and ``bad_txt`` (a value that is not 43 characters of base64url) with 400; else it
replaces the older of the registration's two values and answers 200 ``{"txt": …}``. There
is no delete. ``GET /health`` answers 200.

acme-dns is its own nameserver; here the values are served by the lab's BIND: a
registration's ``fulldomain`` is ``<subdomain>.<domain>`` in a lab zone, and every change
of its two values is mirrored there with an RFC 2136 update.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .bind import ZoneBackend

_SUBDOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_PASSWORD_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


@dataclass
class Account:
    username: str
    password: str
    subdomain: str
    allowfrom: list[str]
    slots: list[list[Any]] = field(default_factory=lambda: [["", 0], ["", 0]])  # value, when


class AcmeDnsEmulator:
    def __init__(self, domain: str, zone: str, backend: ZoneBackend) -> None:
        self.domain, self.zone, self.backend = domain, zone, backend
        self.accounts: dict[str, Account] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self._lock = threading.Lock()
        self._clock = itertools.count(1)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def served(self, subdomain: str) -> list[str]:
        return [value for value, _ in self.accounts[subdomain].slots if value]

    # -- the API ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Any, body: bytes, client: str
               ) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, dict(headers)))
        if method == "GET" and path == "/health":
            return 200, {}
        if method == "POST" and path == "/register":
            return self.register(body)
        if method == "POST" and path == "/update":
            return self.update(headers, body, client)
        return 404, {"error": "not_found"}

    def register(self, body: bytes) -> tuple[int, dict[str, Any]]:
        allowfrom: list[str] = []
        if body:
            try:
                allowfrom = list(json.loads(body).get("allowfrom") or [])
            except (ValueError, AttributeError):
                return 400, {"error": "malformed_json_payload"}
        for cidr in allowfrom:
            try:
                ipaddress.ip_network(str(cidr).strip())
            except ValueError:
                return 400, {"error": "invalid_allowfrom_cidr"}
        account = Account(str(uuid.uuid4()),
                          "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(40)),
                          str(uuid.uuid4()), [str(c).strip() for c in allowfrom])
        with self._lock:
            self.accounts[account.subdomain] = account
        return 201, {"username": account.username, "password": account.password,
                     "fulldomain": f"{account.subdomain}.{self.domain}",
                     "subdomain": account.subdomain, "allowfrom": account.allowfrom}

    def _user(self, headers: Any) -> Account | None:
        try:
            username = str(uuid.UUID(headers.get("X-Api-User", "")))
        except ValueError:
            return None
        key = headers.get("X-Api-Key", "")
        if len(key) != 40 or _SAFE.search(key):
            return None
        return next((a for a in self.accounts.values()
                     if a.username == username and a.password == key), None)

    def update(self, headers: Any, body: bytes, client: str) -> tuple[int, dict[str, Any]]:
        user = self._user(headers)
        try:
            post = json.loads(body or b"{}")
        except ValueError:
            post = {}
        if (user is None or not _allowed(client, user.allowfrom)
                or post.get("subdomain") != user.subdomain):
            return 401, {"error": "forbidden"}
        txt = str(post.get("txt", ""))
        if not _SUBDOMAIN.match(user.subdomain):
            return 400, {"error": "bad_subdomain"}
        if len(txt) != 43 or _SAFE.search(txt):
            return 400, {"error": "bad_txt"}
        with self._lock:
            oldest = min(user.slots, key=lambda slot: slot[1])
            old = oldest[0]
            oldest[:] = [txt, next(self._clock)]
            name = f"{user.subdomain}.{self.domain}"
            if old and old not in self.served(user.subdomain):
                self.backend.remove(self.zone, name, old)
            self.backend.add(self.zone, name, txt, ttl=1)
        return 200, {"txt": txt}

    # -- the server -------------------------------------------------------------------------

    def start(self) -> AcmeDnsEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = emulator.handle(self.command, self.path, self.headers, body,
                                                  self.client_address[0])
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for account in self.accounts.values():  # nothing left in the lab's zone
            for value in {v for v, _ in account.slots if v}:
                self.backend.remove(self.zone, f"{account.subdomain}.{self.domain}", value)


def _allowed(client: str, allowfrom: list[str]) -> bool:
    if not allowfrom:
        return True
    ip = ipaddress.ip_address(client)
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in allowfrom)
