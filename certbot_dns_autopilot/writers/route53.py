"""The Amazon Route 53 writer: boto3, one change batch per hosted zone, waits for INSYNC.

Credentials come from the AWS chain (environment, shared config, instance role) like
certbot-dns-route53, or from the INI file: a key pair or a profile, optionally a role to
assume. Route 53 holds one TXT record set per name, so adding a value means rewriting the
set with every value already there, and removing means rewriting the rest. Each rewrite is
conditional (DELETE of the exact set read + CREATE, in one atomic batch): a concurrent change
makes Route 53 refuse it and the set is read again; processes on one host also take a lock.

Its classic failure (a policy that lets the worker write but not poll with GetChange) is
named as such, with the IAM statement to add, by `add` itself and by the probe.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions

from .. import links, names, scrub
from ..codes import Code
from ..errors import AutopilotError
from . import apierrors, locks, schema
from .base import (
    Key,
    Keys,
    Records,
    Writer,
    check_endpoint,
    kept_changing,
    quote_txt,
    without_userinfo,
)

#: The keys this writer reads (``dns_autopilot_route53_<key>``): what INI validation,
#: secret scrubbing and the docs' key table (checked by the docs test) come from.
KEYS: tuple[Key, ...] = (
    Key('access_key_id',
        help=('IAM access key id; with the secret. Without keys or a profile: the AWS '
              'credential chain')),
    Key('secret_access_key', secret=True, help='its secret'),
    Key('session_token', secret=True, help='for temporary keys only'),
    Key('profile', help='a profile of the AWS config files, instead of a key pair'),
    Key('role_arn', help='a role to assume with the credential above'),
    Key('region', default='`us-east-1`', help='signing and STS region'),
    Key('endpoint_url', default="AWS's", help='another Route 53 endpoint'),
    Key('sts_endpoint_url', default="AWS's", help='another STS endpoint, for `role_arn`'),
)

DOCS = links.page("providers/route53")

logger = logging.getLogger(__name__)

PREFIX = "dns_autopilot_route53_"
DEFAULT_REGION = "us-east-1"
ROLE_SESSION_NAME = "certbot-dns-autopilot"
# botocore's own retries off (one attempt per call): `apierrors.call` retries throttling,
# 5xx and lost connections under the one policy, and reports each retry.
CLIENT_CONFIG = dict(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                     read_timeout=20, user_agent_extra="certbot-dns-autopilot")
CONFLICT_TRIES = 5  # re-reads when another process changed a set between read and write
PROBE_CHANGE_ID = "CDNSAUTOPILOTPROBE"  # a change that never exists: GetChange rights only

_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_BAD_KEYS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId",
             "UnrecognizedClientException", "AuthFailure", "IncompleteSignature",
             "MissingAuthenticationToken"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
_THROTTLED = {"Throttling", "ThrottlingException", "PriorRequestNotComplete",
              "TooManyRequestsException", "RequestLimitExceeded"}
_FAILING = {"ServiceUnavailable", "InternalFailure", "InternalError", "ServiceFailure"}
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_KEY_ID = re.compile(r"^[A-Z0-9]{16,128}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


def _key(suffix: str) -> str:
    return PREFIX + suffix


def statement(action: str, resource: str) -> str:
    """The IAM policy statement granting ``action`` (route53:…) on ``resource``."""
    return json.dumps({"Effect": "Allow", "Action": action, "Resource": resource})


def zone_arn(zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{zone_id}"


def _resource(operation: str, zone_id: str | None) -> str:
    if operation == "GetChange":
        return "arn:aws:route53:::change/*"
    if operation in ("ListResourceRecordSets", "ChangeResourceRecordSets") and zone_id:
        return zone_arn(zone_id)
    return "*"


# -- names and TXT values in Route 53's presentation format --------------------------------

_OCTAL = re.compile(r"\\([0-7]{3})")


def host_name(returned: str) -> str | None:
    """A name as Route 53 returns it, normalized; None when it is not a host name. Route 53
    writes every character other than a-z, 0-9, '-' and '_' as a backslash and three octal
    digits (``\\052`` for ``*``, ``\\040`` for a space); dnspython reads three digits as
    decimal, so each escape is rewritten as the decimal one before the name is read."""
    decimal = _OCTAL.sub(lambda m: f"\\{int(m[1], 8):03d}", returned)
    try:
        return names.normalize(decimal)
    except names.InvalidName:
        return None  # a space, a dot inside a label…: a name no challenge is written at


def quote(value: str) -> str:
    """One TXT value as Route 53 wants it: quoted, split into 255-character strings."""
    return quote_txt(value, 255)


def unquote(raw: str) -> str:
    """The value a resolver sees for Route 53's ``"part" "part"``: the strings joined, with
    \\" and \\\\ unescaped and \\ddd read as an octet in octal (Route 53's escape, unlike
    RFC 1035's decimal one)."""
    out = bytearray()
    i, quoted, n = 0, False, len(raw)
    while i < n:
        char = raw[i]
        if char == '"':
            quoted = not quoted
        elif char == "\\" and i + 1 < n:
            digits = raw[i + 1:i + 4]
            if len(digits) == 3 and all(d in "01234567" for d in digits):
                out.append(int(digits, 8) & 0xFF)
                i += 3
            else:
                out += raw[i + 1].encode()
                i += 1
        elif quoted or not char.isspace():
            out += char.encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def merged(current: tuple[int, list[str]] | None, ours: Iterable[str], ttl: int
           ) -> dict[str, Any] | None:
    """The record set holding ``current`` plus ``ours`` (None: every value is there).
    Values already there keep their spelling and the set keeps its TTL."""
    raw = list(current[1]) if current else []
    have = {unquote(r) for r in raw}
    new = sorted(set(ours) - have)
    if not new:
        return None
    return {"TTL": current[0] if current else ttl, "ResourceRecords": raw + [quote(v) for v in new]}


def reduced(current: tuple[int, list[str]] | None, ours: Iterable[str]
            ) -> dict[str, Any] | None | bool:
    """The record set left once ``ours`` is removed from ``current`` (None: nothing is
    left; False: none of ours is there, no change)."""
    if not current:
        return False
    ttl, raw = current
    drop = set(ours)
    keep = [r for r in raw if unquote(r) not in drop]
    if len(keep) == len(raw):
        return False
    return {"TTL": ttl, "ResourceRecords": keep} if keep else None


def replacing(name: str, current: tuple[int, list[str]] | None,
              new: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Changes that turn ``current`` into ``new`` only if the set is still ``current``:
    DELETE with its exact TTL and values (Route 53 refuses it when they differ) then CREATE
    (refused when a set appeared meanwhile), applied together or not at all."""
    changes = []
    if current:
        changes.append({"Action": "DELETE", "ResourceRecordSet": {
            "Name": name + ".", "Type": "TXT", "TTL": current[0],
            "ResourceRecords": _records(current[1])}})
    if new:
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": name + ".", "Type": "TXT", "TTL": new["TTL"],
            "ResourceRecords": _records(new["ResourceRecords"])}})
    return changes


def _records(values: list[str]) -> list[dict[str, str]]:
    return [{"Value": v} for v in values]


class _Conflict(Exception):
    """A conditional batch found a record set changed by someone else since it was read."""


# -- the writer ------------------------------------------------------------------------------

def _bad(problem: str, fix: str) -> AutopilotError:
    return AutopilotError(Code.BAD_CONFIG, problem, fix)


def _check_combination(settings: schema.Settings, path: str) -> None:
    """A whole key pair or none, not beside a profile; a session token only with keys."""
    key_id, secret = settings["access_key_id"], settings["secret_access_key"]
    if bool(key_id) != bool(secret):
        given, missing = (("access_key_id", "secret_access_key") if key_id
                          else ("secret_access_key", "access_key_id"))
        raise _bad(f"{path} sets {_key(given)} but not {_key(missing)}",
                   f"set both keys of the IAM access key pair, or neither (then the default "
                   f"AWS credential chain or {_key('profile')} is used)")
    if key_id and settings["profile"]:
        raise _bad(f"{path} sets both an access key pair and {_key('profile')} = "
                   f"{settings['profile']!r}",
                   "keep one: the key pair, or the profile that holds the keys")
    if settings["session_token"] and not key_id:
        raise _bad(f"{path} sets {_key('session_token')} without a key pair",
                   f"a session token belongs to temporary keys: set {_key('access_key_id')} "
                   f"and {_key('secret_access_key')} too, or remove it")


def _check_values(settings: schema.Settings, path: str) -> None:
    """Each value's shape: key id, secret, region, endpoints, role ARN."""
    key_id, secret = settings["access_key_id"], settings["secret_access_key"]
    region, role_arn = settings["region"] or DEFAULT_REGION, settings["role_arn"]
    if key_id and not _KEY_ID.match(key_id):
        raise _bad(f"{_key('access_key_id')} in {path} is not an AWS access key id",
                   "copy the access key id (AKIA… or ASIA…, 20 characters) from IAM")
    if secret and any(c.isspace() for c in secret):
        raise _bad(f"{_key('secret_access_key')} in {path} contains white space",
                   "copy the secret access key exactly as IAM showed it when the key was "
                   "created")
    if not _REGION.match(region):
        raise _bad(f"{_key('region')} = {region!r} in {path} is not an AWS region",
                   f"use a region name such as {DEFAULT_REGION} (the default; Route 53 is "
                   "global, the region only selects the signing and STS endpoints)")
    for suffix in ("endpoint_url", "sts_endpoint_url"):
        url = settings[suffix]
        parsed = urlparse(url or "")
        if url and (parsed.scheme not in ("http", "https") or not parsed.hostname):
            raise _bad(f"{_key(suffix)} = {url!r} in {path} is not an http(s) URL",
                       "give the API endpoint's URL, e.g. https://route53.amazonaws.com, or "
                       "remove the key to use AWS's own endpoint")
        if url:
            check_endpoint(url, _key(suffix), path)
    if role_arn and not _ROLE_ARN.match(role_arn):
        raise _bad(f"{_key('role_arn')} = {role_arn!r} in {path} is not an IAM role ARN",
                   "use the role's ARN as IAM shows it: arn:aws:iam::<account id>:role/<name>")


def _session(settings: schema.Settings, path: str) -> tuple[str, Callable[[], Any]]:
    """The label's start and how to make the boto3 session: keys, a profile, or the chain."""
    key_id, secret = settings["access_key_id"], settings["secret_access_key"]
    token, profile = settings["session_token"], settings["profile"]
    region = settings["region"] or DEFAULT_REGION
    if key_id:
        return f"Route 53 (access key …{key_id[-4:]}", lambda: boto3.Session(
            aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
            region_name=region)
    if not profile:
        return "Route 53 (default AWS credential chain", lambda: boto3.Session(
            region_name=region)

    def session() -> Any:
        return boto3.Session(profile_name=profile, region_name=region)
    try:
        session()
    except botocore.exceptions.ProfileNotFound:
        raise _bad(f"{_key('profile')} = {profile!r} in {path} names no profile in the AWS "
                   "config files",
                   "create it (`aws configure --profile NAME`) in the config of the user "
                   "certbot runs as (root for cron and systemd timers), or fix the "
                   "name") from None
    return f"Route 53 (profile {profile!r}", session


class Route53Writer(Writer):
    """Writes through the Route 53 API of one AWS credential (and optional role)."""

    #: Upper bound on waiting for Route 53 to report a change INSYNC.
    insync_timeout = 120.0
    #: The retries of every API call (throttling, 5xx, a dropped connection, a timeout).
    policy = apierrors.POLICY

    def __init__(self, session_factory: Callable[[], Any], label: str, region: str,
                 endpoint_url: str | None = None, role_arn: str | None = None,
                 sts_endpoint_url: str | None = None) -> None:
        self._session_factory = session_factory
        self.label = label
        self.region = region
        self.endpoint_url = endpoint_url
        self.role_arn = role_arn
        self.sts_endpoint_url = sts_endpoint_url
        self._lock = threading.Lock()
        self._client: Any = None
        self._role_expiry = 0.0
        self._zones: list[dict[str, Any]] | None = None
        self._zone_ids: dict[str, str] = {}

    @classmethod
    def from_credentials(cls, credentials: Keys, path: str) -> Route53Writer:
        """Validate the INI keys one by one; nothing is sent to AWS yet."""
        settings = schema.read(credentials, "route53", KEYS, path, title="Route 53")
        _check_combination(settings, path)
        _check_values(settings, path)
        label, session = _session(settings, path)
        role_arn, endpoint_url = settings["role_arn"], settings["endpoint_url"]
        label += f", role {role_arn}" if role_arn else ""
        label += f", endpoint {without_userinfo(endpoint_url)}" if endpoint_url else ""
        return cls(session, label + ")", settings["region"] or DEFAULT_REGION, endpoint_url,
                   role_arn, settings["sts_endpoint_url"])

    # -- API access ------------------------------------------------------------------------

    def _route53(self) -> Any:
        """The Route 53 client, made once (for the assumed role: again before it expires)."""
        with self._lock:
            if self._client is None or (self.role_arn and time.time() > self._role_expiry):
                config = botocore.config.Config(**CLIENT_CONFIG)
                session = self._session_factory()
                if self.role_arn:
                    session = self._assume_role(session, config)
                self._client = session.client("route53", endpoint_url=self.endpoint_url,
                                              region_name=self.region, config=config)
            return self._client

    def _assume_role(self, session: Any, config: Any) -> Any:
        sts = session.client("sts", endpoint_url=self.sts_endpoint_url,
                             region_name=self.region, config=config)
        try:
            creds = apierrors.call(
                lambda: sts.assume_role(RoleArn=self.role_arn, RoleSessionName=ROLE_SESSION_NAME),
                _said, "sts:AssumeRole", self.on_retry, self.policy)["Credentials"]
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in _DENIED:
                grant = statement("sts:AssumeRole", str(self.role_arn))
                raise AutopilotError(
                    Code.PERMISSION_DENIED,
                    f"{self.label}: the credential may not assume the role {self.role_arn}",
                    f"allow it in the credential's policy ({grant}) and name the "
                    "credential's principal in the role's trust policy",
                    evidence=_message(exc)) from None
            raise self._error(exc, "AssumeRole", None) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "AssumeRole", None) from None
        self._role_expiry = creds["Expiration"].timestamp() - 300
        scrub.register([creds["SecretAccessKey"], creds["SessionToken"]])  # never logged
        return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                             aws_secret_access_key=creds["SecretAccessKey"],
                             aws_session_token=creds["SessionToken"], region_name=self.region)

    def _call(self, operation: str, zone_id: str | None = None, ok: tuple[str, ...] = (),
              conflict: bool = False, **params: Any) -> Any:
        """One Route 53 API call; every failure becomes one AutopilotError with its fix
        (error codes in ``ok`` are expected answers: None is returned; with ``conflict``, a
        batch refused because a set changed meanwhile raises _Conflict)."""
        try:
            client = self._route53()
            method = getattr(client, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
            return apierrors.call(lambda: method(**params), _said, f"route53:{operation}",
                                  self.on_retry, self.policy)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ok:
                return None
            if conflict and _code(exc) == "InvalidChangeBatch" and re.search(
                    r"not match|already exists|not found", _message(exc)):
                raise _Conflict from None
            raise self._error(exc, operation, zone_id) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, operation, zone_id) from None

    def _error(self, exc: Exception, operation: str, zone_id: str | None) -> AutopilotError:
        action = f"route53:{operation}" if operation != "AssumeRole" else "sts:AssumeRole"
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return AutopilotError(
                Code.PERMISSION_DENIED, f"{self.label} found no AWS credentials",
                f"set {_key('access_key_id')} and {_key('secret_access_key')} (or "
                f"{_key('profile')}) in the credentials file, or give the user certbot runs as "
                "(root under cron/systemd) AWS_* variables, ~/.aws/credentials or an instance "
                "role")
        said = _said(exc)
        if said is None:
            return AutopilotError(
                Code.PERMISSION_DENIED, f"{self.label}: {action} failed ({type(exc).__name__})",
                f"check the AWS credential settings (see {DOCS})")
        where = without_userinfo(self.endpoint_url) if self.endpoint_url else "the Route 53 API"
        expired = said.code in _EXPIRED
        fixes = apierrors.Fixes(
            refused=("refresh the temporary credential (or use a long-lived key or a role), "
                     "and check this host's clock") if expired else (
                f"copy {_key('access_key_id')} and {_key('secret_access_key')} again from IAM "
                "(the secret is shown only when the key is created), or create a new key; "
                "check that the key is active"),
            denied=self._grant(operation, zone_id),
            zone="run again (the zone list is read afresh), or recreate the hosted zone",
            unreachable=(f"check this host's network, proxy and firewall towards {where}"
                         + (f", and {_key('endpoint_url')}" if self.endpoint_url else ""))
            if said.failure else ("run again later; several processes changing the same "
                                  "account's zones at once share Route 53's limit of 5 "
                                  "requests per second"),
            other=f"the message above says why; see {DOCS}")
        if said.failure:
            problem = f"{self.label} could not reach {where} for {action}: {said.message}"
        elif said.status == 403:
            problem = self._not_allowed(operation)
        elif said.status == 401:
            problem = (f"{self.label}: AWS says the credential or request expired ({said.code})"
                       if expired else f"{self.label}: AWS rejected the credential ({said.code})")
        elif said.status == 404:
            problem = f"{self.label}: hosted zone {zone_id} no longer exists"
        elif said.transient:
            problem = f"{self.label}: Route 53 kept refusing {action} ({said.code}) after retries"
        else:
            problem = f"{self.label}: Route 53 refused {action} ({said.code})"
        return apierrors.error(self.label, action, said, fixes, api=where, problem=problem)

    def _not_allowed(self, operation: str) -> str:
        """What a missing IAM action stops the run from doing."""
        action = f"route53:{operation}"
        return {
            "GetChange": f"{self.label} is not allowed {action}: the worker can write records "
                         "but cannot poll the change until Route 53 reports it INSYNC",
            "ChangeResourceRecordSets": f"{self.label} is not allowed {action}: it cannot "
                                        "create or delete records in the hosted zone",
            "ListHostedZones": f"{self.label} is not allowed {action}: it cannot find the "
                               "hosted zone of a name",
            "ListResourceRecordSets": f"{self.label} is not allowed {action}: it cannot read "
                                      "the TXT values already at a name (needed to keep them)",
        }.get(operation, f"{self.label} is not allowed {action}")

    @staticmethod
    def _grant(operation: str, zone_id: str | None) -> str:
        """The IAM policy statement to add for a missing action."""
        action = f"route53:{operation}"
        return (f"add to the credential's IAM policy the statement "
                f"{statement(action, _resource(operation, zone_id))} (the full minimal policy "
                f"is in {DOCS}#minimal-iam-policy)")

    # -- zones -----------------------------------------------------------------------------

    def _hosted_zones(self) -> list[dict[str, Any]]:
        """Every hosted zone the credential sees (ListHostedZones, all pages), read once."""
        with self._lock:
            if self._zones is not None:
                return self._zones
        zones: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            page = self._call("ListHostedZones", **params)
            zones += page.get("HostedZones", [])
            if not page.get("IsTruncated") or not page.get("NextMarker"):
                break
            params = {"Marker": page["NextMarker"]}
        with self._lock:
            self._zones = zones
        return zones

    def find_zone(self, name: str) -> str:
        """The public hosted zone whose name is the longest suffix of ``name``."""
        name = names.normalize(name)
        public, private = [], []
        for zone in self._hosted_zones():
            zone_name = host_name(zone["Name"])
            if zone_name is None:
                continue
            zone_id = zone["Id"].rsplit("/", 1)[-1]
            is_private = bool(zone.get("Config", {}).get("PrivateZone"))
            (private if is_private else public).append((zone_name, zone_id))
        longest = names.longest_zone(name, (z for z, _ in public))
        if longest is None:
            seen = ", ".join(f"{z} ({i})" for z, i in sorted(public)) or "none"
            skipped = [f"{z} ({i})" for z, i in sorted(private)
                       if names.within(name, z)]
            evidence = f"public hosted zones this credential sees: {seen}"
            if skipped:
                evidence += ("\nprivate hosted zones skipped (the CA cannot query them): "
                             + ", ".join(skipped))
            raise AutopilotError(
                Code.ZONE_NOT_FOUND, f"{self.label}: no public hosted zone encloses {name}",
                "create a public hosted zone for the domain and delegate it to the zone's "
                "name servers, or use a credential of the AWS account that holds it",
                evidence=evidence)
        best = [(z, i) for z, i in public if z == longest]
        if len(best) > 1:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND, f"{self.label}: {len(best)} public hosted zones are named "
                f"{best[0][0]} ({', '.join(i for _, i in best)})",
                "delete the hosted zone(s) the parent does not delegate to (compare each "
                f"zone's NS records with `dig NS {best[0][0]}`), so the writer changes the "
                "zone the CA queries")
        zone_name, zone_id = best[0]
        with self._lock:
            self._zone_ids[zone_name] = zone_id
        return zone_name

    def zone_id(self, zone: str) -> str:
        zone = names.normalize(zone)
        with self._lock:
            known = self._zone_ids.get(zone)
        if known:
            return known
        if self.find_zone(zone) != zone:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND, f"{self.label}: {zone} is not a public hosted zone",
                "create the hosted zone, or configure the zone that encloses it")
        return self._zone_ids[zone]

    # -- records ---------------------------------------------------------------------------

    def _current(self, zone_id: str, name: str) -> tuple[int, list[str]] | None:
        """(TTL, raw values) of the simple TXT record set at ``name``, if any."""
        page = self._call("ListResourceRecordSets", zone_id, HostedZoneId=zone_id,
                          StartRecordName=name + ".", StartRecordType="TXT", MaxItems="10")
        for rrset in page.get("ResourceRecordSets", []):
            if (rrset["Type"] == "TXT" and host_name(rrset["Name"]) == name
                    and "SetIdentifier" not in rrset and "ResourceRecords" in rrset):
                return int(rrset["TTL"]), [r["Value"] for r in rrset["ResourceRecords"]]
        return None

    def _change(self, zone: str, zone_id: str, changes: list[dict[str, Any]], what: str) -> str:
        """Send one batch; raises _Conflict when a set is no longer what it was read as."""
        response = self._call("ChangeResourceRecordSets", zone_id, conflict=True,
                              HostedZoneId=zone_id,
                              ChangeBatch={"Comment": f"certbot-dns-autopilot: {what}",
                                           "Changes": changes})
        change_id = response["ChangeInfo"]["Id"].rsplit("/", 1)[-1]
        logger.debug("dns-autopilot: %s in %s via %s: change %s", what, zone, self.label,
                     change_id)
        return change_id

    def _wait(self, change_id: str) -> None:
        """Poll GetChange at a growing interval until INSYNC, within ``insync_timeout``."""
        deadline = time.monotonic() + self.insync_timeout
        delay = 0.5
        while True:
            status = self._call("GetChange", Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return
            if time.monotonic() + delay > deadline:
                raise AutopilotError(
                    Code.PROPAGATION_TIMEOUT,
                    f"{self.label}: change {change_id} was still {status} after "
                    f"{self.insync_timeout:.0f} s",
                    "Route 53 usually applies a change within 60 s: check the AWS Health "
                    "Dashboard for Route 53 and run again (the values were removed)")
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    def _rewrite(self, zone: str, zone_id: str, records: Records, what: str,
                 rewrite: Callable[[tuple[int, list[str]] | None, set[str]], Any]
                 ) -> tuple[str | None, dict[str, set[str]]]:
        """Read each name's set, rewrite it, and send one conditional batch; when another
        process changed a set in between, read again (bounded). Returns the change id (None
        when nothing needed changing) and the names changed."""
        with locks.held(f"route53-{zone_id}", f"Route 53 zone {zone}"):
            for attempt in range(1, CONFLICT_TRIES + 1):
                changes, touched = [], {}
                for name, values in sorted(records.items()):
                    name = names.normalize(name)
                    current = self._current(zone_id, name)
                    new = rewrite(current, set(values))
                    if new is not False:
                        changes += replacing(name, current, new)
                        touched[name] = set(values)
                if not changes:
                    return None, {}
                try:
                    return self._change(zone, zone_id, changes, what), touched
                except _Conflict:  # another process's change landed first: read again
                    if attempt == CONFLICT_TRIES:
                        break  # no retry left to report or wait for
                    pause = random.random()
                    self.on_retry(what, attempt, pause, "the set changed meanwhile")
                    time.sleep(pause)
        conflict = kept_changing(self.label, f"the TXT sets of {', '.join(sorted(records))} "
                                 f"in {zone}", what, CONFLICT_TRIES)
        conflict.left_nothing = True  # one batch, refused every time: none of it applied
        raise conflict

    def add(self, zone: str, records: Records, ttl: int) -> None:
        zone_id = self.zone_id(zone)
        count = sum(len(v) for v in records.values())
        change_id, added = self._rewrite(
            zone, zone_id, records, f"adding {count} TXT value(s)",
            lambda current, ours: merged(current, ours, ttl) or False)
        if change_id is None:
            return
        try:
            self._wait(change_id)
        except AutopilotError:
            self._undo(zone, zone_id, added)
            raise

    def _undo(self, zone: str, zone_id: str, added: Records) -> None:
        """Remove what `add` just wrote before its error is raised: nothing left behind."""
        try:
            self._remove(zone, zone_id, added)
        except AutopilotError as exc:
            logger.warning("dns-autopilot: could not remove the TXT values just written at %s "
                           "(%s): remove them by hand", ", ".join(sorted(added)), exc.problem)

    def remove(self, zone: str, records: Records) -> None:
        """One batch; returns once Route 53 accepted it (cleanup need not wait for INSYNC)."""
        self._remove(zone, self.zone_id(zone), records)

    def _remove(self, zone: str, zone_id: str, records: Records) -> None:
        count = sum(len(v) for v in records.values())
        self._rewrite(zone, zone_id, records, f"removing {count} TXT value(s)", reduced)

    def values(self, zone: str, name: str) -> set[str]:
        current = self._current(self.zone_id(zone), names.normalize(name))
        return {unquote(r) for r in current[1]} if current else set()

    def probe(self, zone: str, name: str) -> None:
        """Each IAM action the run needs, named when missing: read, poll, then a real
        create/read/delete (ChangeResourceRecordSets, and GetChange on a real change)."""
        zone_id = self.zone_id(zone)  # ListHostedZones
        self._current(zone_id, names.normalize(name))  # ListResourceRecordSets
        # A change that does not exist: NoSuchChange (or InvalidInput) means "allowed".
        self._call("GetChange", ok=("NoSuchChange", "InvalidInput"), Id=PROBE_CHANGE_ID)
        super().probe(zone, name)


def _said(exc: Exception) -> apierrors.Said | None:
    """What AWS said, from a botocore error (None: not an API answer). AWS answers several
    refusals with a 400 and its own code: the code decides (a refused key counts as 401, a
    missing right as 403, throttling as 429)."""
    if isinstance(exc, (botocore.exceptions.ConnectTimeoutError,
                        botocore.exceptions.ReadTimeoutError)):
        return apierrors.Said(failure=apierrors.TIMEOUT, message=type(exc).__name__)
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError,
                        botocore.exceptions.ProxyConnectionError,
                        botocore.exceptions.ConnectionClosedError)):
        return apierrors.Said(failure=apierrors.CONNECTION, message=type(exc).__name__)
    if isinstance(exc, botocore.exceptions.SSLError):  # not worth another try
        return apierrors.Said(failure="tls", message=type(exc).__name__)
    if not isinstance(exc, botocore.exceptions.ClientError):
        return None
    code = _code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400)
    status = (403 if code in _DENIED else 401 if code in _BAD_KEYS | _EXPIRED
              else 404 if code == "NoSuchHostedZone" else 429 if code in _THROTTLED
              else 503 if code in _FAILING else 400 if status == 404 else status)
    return apierrors.Said(status=status, code=code, message=_message(exc))


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))
