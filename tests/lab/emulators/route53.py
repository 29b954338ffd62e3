"""Route 53 for the lab: moto's server (the real REST/XML API with IAM enforcement) on
127.0.0.1, wrapped so that what it accepts also reaches the lab's BIND primary.

The wrapper does what moto leaves out and a writer depends on:
- every TXT set a change batch touches in a public hosted zone is made the same in BIND
  (`ZoneBackend`) as moto holds it, so the waiter and Pebble see it; private zones stay in
  moto only;
- changes start PENDING with their own change id, and GetChange reports PENDING for the
  first ``pending_polls`` polls (real Route 53 takes seconds), or forever when ``stuck``.

Permission mistakes come from moto's IAM enforcement (its ``INITIAL_NO_AUTH_ACTION_COUNT``
setting, switched on through ``/moto-api/reset-auth`` after setup): each IAM user below has
a policy that lacks one action, or (``acme-other-zone``) the documented minimal policy for
another hosted zone. moto's policy evaluator matches a statement's Resource against the
resource a service's responses name (``_determine_resource``: its IAM, STS and SQS do); its
Route 53 names none, so every route53 action would be checked against "*" and a zone-scoped
statement never matched. The emulator names, for moto, the ARN AWS authorizes each Route 53
call against (``hostedzone/<id>`` for the record sets, ``change/<id>`` for GetChange), so
moto itself allows or denies a zone-scoped policy.

Two moto 5.2 gaps are closed here: its signature check of body-less REST requests (every
Route 53 GET) signs the request headers as if they were a form body, so it rejects every
correctly signed GET; and its auth errors use the query protocol's
``<ErrorResponse><Errors><Error>`` envelope, which boto3 cannot read for Route 53 (whose
errors are ``<ErrorResponse><Error>``): both are rewritten as Route 53 sends them.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import boto3
import requests
from moto import settings
from moto.iam import access_control
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.route53.responses import Route53 as Route53Responses
from werkzeug.serving import BaseWSGIServer, make_server

from .bind import ZoneBackend

NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
RRSET_PATH = re.compile(r"^/2013-04-01/hostedzone/([^/]+)/rrset/?$")
CHANGE_PATH = re.compile(r"^/2013-04-01/change/([^/]+)$")
PUBLIC_ZONES = ("autopilot.test", "example.test")
PRIVATE_ZONES = ("autopilot.test",)  # same name as a public one: a writer must skip it
ALL_ACTIONS = ("route53:ListHostedZones", "route53:ListResourceRecordSets",
               "route53:ChangeResourceRecordSets", "route53:GetChange")
#: IAM user -> the actions its policy allows ("*": everything, e.g. to set up records).
USERS: dict[str, tuple[str, ...]] = {
    "admin": ("*",),
    "acme": ALL_ACTIONS,
    "acme-no-getchange": tuple(a for a in ALL_ACTIONS if a != "route53:GetChange"),
    "acme-no-change": tuple(a for a in ALL_ACTIONS if a != "route53:ChangeResourceRecordSets"),
    "acme-no-list": tuple(a for a in ALL_ACTIONS if a != "route53:ListHostedZones"),
    "assumer": ("sts:AssumeRole",),
}
#: IAM user -> the zone its documented minimal policy (docs/providers/route53.md) names.
SCOPED_USERS: dict[str, str] = {"acme-other-zone": "example.test"}
ROLE = "acme-dns"  # allows ALL_ACTIONS; "assumer" may assume it
ACCOUNT = "123456789012"  # moto's default account


def _route53_resource(self: Any) -> str:
    """The ARN AWS authorizes a Route 53 request against (its service authorization
    reference), for moto's policy evaluator; "*" where the action takes no resource."""
    path = urlsplit(self.uri).path
    zone = re.match(r"^/2013-04-01/hostedzone/([^/]+)(?:/rrset/?)?$", path)
    if zone:
        return f"arn:aws:route53:::hostedzone/{zone.group(1)}"
    change = CHANGE_PATH.match(path)
    return f"arn:aws:route53:::change/{change.group(1)}" if change else "*"


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log line per request on the test's output."""


_original_create_aws_request = access_control.IAMRequestBase._create_aws_request
_signed = threading.local()  # the body the client signed, when the emulator rewrote it


def _create_aws_request(self: Any) -> Any:
    """moto's request to verify: the body the client signed (the emulator may hand moto a
    rewritten batch), and an empty body where Route 53's request had none."""
    original = getattr(_signed, "body", None)
    if self._service == "route53" and original is not None:
        saved, self._body = self._body, original
        try:
            return _original_create_aws_request(self)
        finally:
            self._body = saved
    if self._service == "route53" and not self._body:
        saved, self._data = self._data, {}
        try:
            return _original_create_aws_request(self)
        finally:
            self._data = saved
    return _original_create_aws_request(self)


def _route53_error(payload: bytes) -> bytes:
    """moto's ``<ErrorResponse><Errors><Error>…`` in Route 53's own error envelope."""
    match = re.search(rb"<Error>(.*?)</Error>", payload, re.S)
    if b"<Errors>" not in payload or not match:
        return payload
    return (b'<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/'
            b'2013-04-01/"><Error>' + match.group(1) + b"</Error><RequestId>"
            + uuid.uuid4().hex.encode() + b"</RequestId></ErrorResponse>")


def _refusal(message: str) -> bytes:
    """Route 53's answer refusing a whole change batch."""
    return _error("InvalidChangeBatch", message)


def _error(code: str, message: str) -> bytes:
    """Route 53's error envelope."""
    return ('<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/'
            f'2013-04-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>'
            f"{message}</Message></Error><RequestId>{uuid.uuid4().hex}</RequestId>"
            "</ErrorResponse>").encode()


def _txt_values(raw: Iterable[str]) -> set[str]:
    """Route 53's presentation values ("a" "b") as the strings a resolver would join."""
    out = set()
    for value in raw:
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', value)
        text = "".join(parts) if parts else value
        out.add(re.sub(r"\\(.)", r"\1", text))
    return out


class Route53Emulator:
    """moto in server mode plus write-through to BIND; ``start()`` then ``stop()``."""

    def __init__(self, backend: ZoneBackend | None, pending_polls: int = 1) -> None:
        self.backend = backend
        self.pending_polls = pending_polls
        self.stuck = False
        #: the next Route 53 calls' answers, in turn: (HTTP status, error code), e.g.
        #: (400, "Throttling") as Route 53 answers a burst, (503, "ServiceUnavailable")
        self.fail_next: list[tuple[int, str]] = []
        #: (zone, name, value): just before each of the next ``interfere_times`` change
        #: batches touching that name is checked, another writer adds a value to its TXT set
        #: (value-1, value-2, …; in moto only), so a batch that deletes the set as it was
        #: read is refused
        self.interfere: tuple[str, str, str] | None = None
        self.interfere_times = 0
        self.public_zones: dict[str, str] = {}  # zone id -> name (written through)
        self.private_zones: dict[str, str] = {}
        self.keys: dict[str, tuple[str, str]] = {}  # IAM user -> (key id, secret)
        self.role_arn = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
        self.mirrored: list[tuple[str, str, str]] = []  # (action, name, value) sent to BIND
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        #: one change batch at a time, from its check to its write-through to BIND: Route 53
        #: applies batches atomically, so two runs' batches never interleave
        self._batches = threading.Lock()
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._auth_before: float | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> Route53Emulator:
        access_control.IAMRequestBase._create_aws_request = _create_aws_request
        Route53Responses._determine_resource = _route53_resource
        self._server = make_server("127.0.0.1", 0, self, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        # moto keeps its backends per process: an emulator started earlier in the same test
        # session (another module's) must not leave its users and zones behind.
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=5).raise_for_status()
        self._setup()
        return self

    def stop(self) -> None:
        if self._auth_before is not None:
            requests.post(f"{self.endpoint}/moto-api/reset-auth",
                          data=str(self._auth_before).encode(), timeout=5)
            settings.INITIAL_NO_AUTH_ACTION_COUNT = self._auth_before
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        access_control.IAMRequestBase._create_aws_request = _original_create_aws_request
        with contextlib.suppress(AttributeError):
            del Route53Responses._determine_resource

    def client(self, service: str = "route53", user: str = "admin") -> Any:
        """A boto3 client of ``service`` at the emulator, signed with ``user``'s key."""
        key_id, secret = self.keys.get(user, ("AKIAIOSFODNN7EXAMPLE", "bootstrap"))
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    def _setup(self) -> None:
        """Zones and IAM users first (unauthenticated), then IAM enforcement for all."""
        iam = self.client("iam")
        for user, actions in USERS.items():
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="dns", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": list(actions),
                    "Resource": "*"}]}))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/assumer"}}]}))
        iam.put_role_policy(RoleName=ROLE, PolicyName="dns", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": list(ALL_ACTIONS), "Resource": "*"}]}))
        route53 = self.client()
        for zone in PUBLIC_ZONES:
            created = route53.create_hosted_zone(Name=zone, CallerReference=uuid.uuid4().hex)
            self.public_zones[created["HostedZone"]["Id"].rsplit("/", 1)[-1]] = zone
        for user, zone in SCOPED_USERS.items():
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="dns", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "route53:ListHostedZones", "Resource": "*"},
                    {"Effect": "Allow", "Action": ["route53:ListResourceRecordSets",
                                                   "route53:ChangeResourceRecordSets"],
                     "Resource": f"arn:aws:route53:::hostedzone/{self.zone_id(zone)}"},
                    {"Effect": "Allow", "Action": "route53:GetChange",
                     "Resource": "arn:aws:route53:::change/*"}]}))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        for zone in PRIVATE_ZONES:
            created = route53.create_hosted_zone(
                Name=zone, CallerReference=uuid.uuid4().hex,
                HostedZoneConfig={"PrivateZone": True, "Comment": "internal view"},
                VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-0123456789abcdef0"})
            self.private_zones[created["HostedZone"]["Id"].rsplit("/", 1)[-1]] = zone
        answer = requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0", timeout=5)
        answer.raise_for_status()
        self._auth_before = float(answer.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])

    def zone_id(self, name: str, private: bool = False) -> str:
        zones = self.private_zones if private else self.public_zones
        return next(i for i, z in zones.items() if z == name)

    # -- what moto holds -------------------------------------------------------------------

    def txt(self, zone: str, name: str, private: bool = False) -> dict[str, Any] | None:
        """The TXT record set at ``name`` in moto (TTL, values), read with the admin key."""
        sets = self.client().list_resource_record_sets(
            HostedZoneId=self.zone_id(zone, private), StartRecordName=name + ".",
            StartRecordType="TXT", MaxItems="10")["ResourceRecordSets"]
        for rrset in sets:
            if rrset["Type"] == "TXT" and rrset["Name"].rstrip(".") == name:
                return {"TTL": rrset["TTL"],
                        "values": _txt_values(r["Value"] for r in rrset["ResourceRecords"])}
        return None

    def hold(self, zone: str, name: str, values: Iterable[str]) -> None:
        """A TXT set in moto only (not in BIND), its name kept exactly as given: Route 53
        returns a name with characters other than a-z, 0-9, '-' and '_' in octal escapes
        (``\\052`` for ``*``, ``\\040`` for a space), and so does this one when given such."""
        from moto.route53.models import route53_backends

        route53_backends[ACCOUNT]["global"].change_resource_record_sets(
            self.zone_id(zone), [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": name + ".", "Type": "TXT", "TTL": 300,
                "ResourceRecords": [{"Value": f'"{v}"'} for v in values]}}])

    # -- the WSGI wrapper ------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> list[bytes]:
        with self._lock:
            failing = (self.fail_next.pop(0) if self.fail_next and environ.get(
                "PATH_INFO", "").startswith("/2013-04-01/") else None)
        if failing:
            status, code = failing
            data = _error(code, "Rate exceeded" if status == 400 else "Service unavailable")
            start_response(f"{status} {'Bad Request' if status == 400 else 'Unavailable'}",
                           [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
            return [data]
        if environ["REQUEST_METHOD"] == "POST" and RRSET_PATH.match(environ.get("PATH_INFO", "")):
            with self._batches:  # checked and applied before another batch is checked
                return self._serve(environ, start_response)
        return self._serve(environ, start_response)

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]
               ) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        rrset = RRSET_PATH.match(path)
        if method == "POST" and rrset:
            with self._lock:  # Route 53 applies one batch at a time, atomically
                self._interfering(rrset.group(1), body)
                refused = self._transactional(rrset.group(1), body)
            if isinstance(refused, str):
                self._mirror(rrset.group(1), body)
                data = _refusal(refused)
                start_response("400 Bad Request", [("Content-Type", "text/xml"),
                                                   ("Content-Length", str(len(data)))])
                return [data]
            _signed.body, body = body, refused
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        answered: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None
                    ) -> Callable[[bytes], None]:
            answered.update(status=status, headers=headers)
            return lambda data: None

        try:
            result = self._app(environ, capture)
            try:
                payload = b"".join(result)
            finally:
                getattr(result, "close", lambda: None)()
        finally:
            _signed.body = None
        ok = answered["status"].startswith("200")
        change = CHANGE_PATH.match(path)
        if ok and method == "POST" and rrset:
            self._mirror(rrset.group(1), body)
            change_id = "C" + uuid.uuid4().hex[:13].upper()
            with self._lock:
                self._pending[change_id] = self.pending_polls
            payload = re.sub(rb"<Id>/change/[^<]*</Id>", f"<Id>/change/{change_id}</Id>".encode(),
                             payload)
            payload = payload.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
        elif path.startswith("/2013-04-01/") and answered["status"][:1] in "45":
            payload = _route53_error(payload)
        elif ok and method == "GET" and change:
            with self._lock:
                left = self._pending.get(change.group(1), 0)
                self._pending[change.group(1)] = left - 1
            if self.stuck or left > 0:
                payload = payload.replace(b"<Status>INSYNC</Status>",
                                          b"<Status>PENDING</Status>")
        headers = [(k, v) for k, v in answered["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(payload))))
        start_response(answered["status"], headers)
        return [payload]

    def _interfering(self, zone_id: str, body: bytes) -> None:
        """Another writer's change landing between a writer's read and its batch (see
        ``interfere``), made in moto directly."""
        if not self.interfere or self.interfere_times <= 0:
            return
        zone, name, value = self.interfere
        if self.public_zones.get(zone_id) != zone or f"<Name>{name}.".encode() not in body:
            return
        from moto.route53.models import route53_backends

        backend = route53_backends[ACCOUNT]["global"]
        current = next((r for r in backend.get_hosted_zone(zone_id).get_record_sets(
            start_type="TXT", start_name=name + ".") if r.name == name + "." and
            r.type == "TXT"), None)
        values = list(current.records) if current else []
        self.interfere_times -= 1
        backend.change_resource_record_sets(zone_id, [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": name + ".", "Type": "TXT", "TTL": int(current.ttl) if current else 60,
            "ResourceRecords": [{"Value": v} for v in [
                *values, f'"{value}-{len(values) + 1}"']]}}])

    def _transactional(self, zone_id: str, body: bytes) -> bytes | str:
        """Route 53's batch semantics, which moto lacks: a DELETE must name the current set
        exactly (TTL and values) and a CREATE must find no set, judged against the state
        before the batch; a DELETE + CREATE of one set replaces it. Returns the batch moto
        should apply (the pair as one UPSERT), or Route 53's refusal."""
        from moto.route53.models import route53_backends

        zone = route53_backends[ACCOUNT]["global"].get_hosted_zone(zone_id)
        tree = ET.fromstring(body)
        changes = tree.find(f"{NS}ChangeBatch/{NS}Changes")
        deleted: dict[str, ET.Element] = {}
        for change in list(changes if changes is not None else ()):
            action = change.findtext(f"{NS}Action")
            rrset = change.find(f"{NS}ResourceRecordSet")
            if rrset is None or rrset.findtext(f"{NS}Type") != "TXT":
                continue
            name = (rrset.findtext(f"{NS}Name") or "").rstrip(".") + "."
            current = next((r for r in zone.get_record_sets(start_type="TXT", start_name=name)
                            if r.name == name and r.type == "TXT"), None)
            values = [v.text or "" for v in rrset.iter(f"{NS}Value")]
            where = f"[name='{name}', type='TXT']"
            if action == "DELETE":
                if current is None or (int(current.ttl), list(current.records)) != (
                        int(rrset.findtext(f"{NS}TTL") or 0), values):
                    return (f"Tried to delete resource record set {where} but the values "
                            "provided do not match the current values")
                deleted[name] = change
            elif action == "CREATE" and current is not None and name not in deleted:
                return f"Tried to create resource record set {where} but it already exists"
            elif action == "CREATE":
                if name in deleted:  # the pair replaces the set: one UPSERT for moto
                    changes.remove(deleted.pop(name))  # type: ignore[union-attr]
                change.find(f"{NS}Action").text = "UPSERT"  # type: ignore[union-attr]
        ET.register_namespace("", NS[1:-1])
        return ET.tostring(tree, xml_declaration=True, encoding="UTF-8")

    def _mirror(self, zone_id: str, body: bytes) -> None:
        """Make BIND serve, at each name a batch touched, the TXT set moto now holds (public
        zones only), changing only the values that differ: a batch is atomic at Route 53, so
        a DELETE + CREATE of one name never leaves a moment without the values both sets
        hold. Read from moto rather than from the batch: when moto applied a batch but BIND
        was too slow to take it (under load), the client's retry, which moto refuses as
        applied already, still brings BIND level."""
        from moto.route53.models import route53_backends

        zone = self.public_zones.get(zone_id)
        if zone is None or self.backend is None:
            return
        hosted = route53_backends[ACCOUNT]["global"].get_hosted_zone(zone_id)
        touched = {(rrset.findtext(f"{NS}Name") or "").rstrip(".") + "."
                   for rrset in ET.fromstring(body).iter(f"{NS}ResourceRecordSet")
                   if rrset.findtext(f"{NS}Type") == "TXT"}
        for name in sorted(touched):
            held = next((r for r in hosted.get_record_sets(start_type="TXT", start_name=name)
                         if r.name == name and r.type == "TXT"), None)
            wanted = _txt_values(held.records) if held else set()
            served = self.backend.values(name)
            for value in served - wanted:
                self._send("remove", zone, name, value)
            for value in wanted - served:
                self._send("add", zone, name, value, int(held.ttl) if held else 300)

    def _send(self, action: str, zone: str, name: str, value: str, ttl: int = 60) -> None:
        assert self.backend is not None
        if action == "add":
            self.backend.add(zone, name, value, ttl)
        else:
            self.backend.remove(zone, name, value)
        self.mirrored.append((action, name.rstrip("."), value))
