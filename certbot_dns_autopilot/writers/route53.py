"""The Amazon Route 53 writer: boto3, one change batch per hosted zone, waits for INSYNC.

Credentials come from the AWS chain (environment, shared config, instance role) like
certbot-dns-route53, or from the INI file: a key pair or a profile, optionally a role to
assume. Route 53 holds one TXT record set per name, so adding a value means rewriting the
set with every value already there, and removing means rewriting the rest. Each rewrite is
conditional (DELETE of the exact set read + CREATE, in one atomic batch: `route53_sets`): a
concurrent change makes Route 53 refuse it and the set is read again; processes on one host
also take a lock.

Its classic failure (a policy that lets the worker write but not poll with GetChange) is
named as such, with the IAM statement to add, by `add` itself and by the probe.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions

from .. import names
from ..codes import Code
from ..errors import AutopilotError
from . import route53_api
from .endpoints import check_endpoint, is_url, without_userinfo
from .route53_sets import host_name, merged, quote, reduced, replacing, unquote
from .schema import Key, Settings, Shape
from .sections import SectionKeys
from .writer import Context, Records

__all__ = ["Route53Writer", "host_name", "merged", "quote", "reduced", "replacing", "unquote"]

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
CONFLICT_TRIES = 5  # re-reads when another process changed a set between read and write
PROBE_CHANGE_ID = "CDNSAUTOPILOTPROBE"  # a change that never exists: GetChange rights only

_URL_FIX = ("give the API endpoint's URL, e.g. https://route53.amazonaws.com, or remove the "
            "key to use AWS's own endpoint")


class Route53Writer(route53_api.Route53Api):
    """Writes through the Route 53 API of one AWS credential (and optional role)."""

    title = "Route 53"
    page = "providers/route53"
    extra = ("boto3>=1.28", "botocore>=1.31")
    KEYS = (
        Key('access_key_id',
            help=('IAM access key id; with the secret. Without keys or a profile: the AWS '
                  'credential chain'),
            shape=Shape("an AWS access key id", re.compile(r"[A-Z0-9]{16,128}").fullmatch,
                        "copy the access key id (AKIA… or ASIA…, 20 characters) from IAM",
                        quoted=False)),
        Key('secret_access_key', secret=True, help='its secret'),
        Key('session_token', secret=True, help='for temporary keys only'),
        Key('profile', help='a profile of the AWS config files, instead of a key pair'),
        Key('role_arn', help='a role to assume with the credential above',
            shape=Shape("an IAM role ARN",
                        re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+").fullmatch,
                        "use the role's ARN as IAM shows it: "
                        "arn:aws:iam::<account id>:role/<name>")),
        Key('region', default='`us-east-1`', help='signing and STS region',
            shape=Shape("an AWS region", re.compile(r"[a-z]{2}(-[a-z]+)+-\d+").fullmatch,
                        f"use a region name such as {DEFAULT_REGION} (the default; Route 53 "
                        "is global, the region only selects the signing and STS endpoints)")),
        Key('endpoint_url', default="AWS's", help='another Route 53 endpoint',
            shape=Shape("an http(s) URL", is_url, _URL_FIX)),
        Key('sts_endpoint_url', default="AWS's", help='another STS endpoint, for `role_arn`',
            shape=Shape("an http(s) URL", is_url, _URL_FIX)),
    )

    #: Upper bound on waiting for Route 53 to report a change INSYNC.
    insync_timeout = 120.0

    def __init__(self, session_factory: Callable[[], Any], label: str, region: str,
                 endpoint_url: str | None = None, role_arn: str | None = None,
                 sts_endpoint_url: str | None = None, context: Context | None = None) -> None:
        super().__init__(session_factory, role_arn, sts_endpoint_url, context)
        self.label, self.region, self.endpoint_url = label, region, endpoint_url
        self._lock = threading.Lock()
        self._zones: list[dict[str, Any]] | None = None
        self._zone_ids: dict[str, str] = {}

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def from_credentials(cls, keys: SectionKeys, context: Context | None = None
                         ) -> Route53Writer:
        settings, where = cls.settings(keys), keys.where
        cls._check_combination(settings, where)
        for name in ("endpoint_url", "sts_endpoint_url"):
            if settings[name]:
                check_endpoint(settings[name] or "", cls.key(name), where)
        label, session = cls._session(settings, where)
        role_arn, endpoint_url = settings["role_arn"], settings["endpoint_url"]
        label += f", role {role_arn}" if role_arn else ""
        label += f", endpoint {without_userinfo(endpoint_url)}" if endpoint_url else ""
        return cls(session, label + ")", settings["region"] or DEFAULT_REGION, endpoint_url,
                   role_arn, settings["sts_endpoint_url"], context)

    @classmethod
    def _check_combination(cls, settings: Settings, where: str) -> None:
        """A whole key pair or none, not beside a profile; a session token only with keys."""
        key_id, secret = settings["access_key_id"], settings["secret_access_key"]
        if bool(key_id) != bool(secret):
            given, missing = (("access_key_id", "secret_access_key") if key_id
                              else ("secret_access_key", "access_key_id"))
            raise cls.bad_config(f"{where} sets {cls.key(given)} but not {cls.key(missing)}",
                                 f"set both keys of the IAM access key pair, or neither (then "
                                 f"the default AWS credential chain or {cls.key('profile')} "
                                 "is used)")
        if key_id and settings["profile"]:
            raise cls.bad_config(f"{where} sets both an access key pair and "
                                 f"{cls.key('profile')} = {settings['profile']!r}",
                                 "keep one: the key pair, or the profile that holds the keys")
        if settings["session_token"] and not key_id:
            raise cls.bad_config(f"{where} sets {cls.key('session_token')} without a key pair",
                                 f"a session token belongs to temporary keys: set "
                                 f"{cls.key('access_key_id')} and "
                                 f"{cls.key('secret_access_key')} too, or remove it")
        if secret and any(c.isspace() for c in secret):
            raise cls.bad_config(f"{cls.key('secret_access_key')} in {where} contains white "
                                 "space", "copy the secret access key exactly as IAM showed "
                                 "it when the key was created")

    @classmethod
    def _session(cls, settings: Settings, where: str) -> tuple[str, Callable[[], Any]]:
        """The label's start and how to make the boto3 session: keys, a profile, or the
        chain."""
        key_id, secret = settings["access_key_id"], settings["secret_access_key"]
        token, profile = settings["session_token"], settings["profile"]
        region = settings["region"] or DEFAULT_REGION
        if key_id:
            return f"Route 53 (access key …{key_id[-4:]}", lambda: boto3.Session(
                aws_access_key_id=key_id, aws_secret_access_key=secret,
                aws_session_token=token, region_name=region)
        if not profile:
            return "Route 53 (default AWS credential chain", lambda: boto3.Session(
                region_name=region)

        def session() -> Any:
            return boto3.Session(profile_name=profile, region_name=region)
        try:
            session()
        except botocore.exceptions.ProfileNotFound:
            raise cls.bad_config(
                f"{cls.key('profile')} = {profile!r} in {where} names no profile in the AWS "
                "config files", "create it (`aws configure --profile NAME`) in the config of "
                "the user certbot runs as (root for cron and systemd timers), or fix the name"
            ) from None
        return f"Route 53 (profile {profile!r}", session

    # -- zones ---------------------------------------------------------------------------

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
            if zone_name is not None:
                is_private = bool(zone.get("Config", {}).get("PrivateZone"))
                (private if is_private else public).append(
                    (zone_name, zone["Id"].rsplit("/", 1)[-1]))
        longest = names.longest_zone(name, (z for z, _ in public))
        if longest is None:
            seen = ", ".join(f"{z} ({i})" for z, i in sorted(public)) or "none"
            skipped = [f"{z} ({i})" for z, i in sorted(private) if names.within(name, z)]
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

    # -- records -------------------------------------------------------------------------

    def _current(self, zone_id: str, name: str) -> tuple[int, list[str]] | None:
        """(TTL, raw values) of the simple TXT record set at ``name``, if any."""
        page = self._call("ListResourceRecordSets", zone_id, HostedZoneId=zone_id,
                          StartRecordName=name + ".", StartRecordType="TXT", MaxItems="10")
        for rrset in page.get("ResourceRecordSets", []):
            if (rrset["Type"] == "TXT" and host_name(rrset["Name"]) == name
                    and "SetIdentifier" not in rrset and "ResourceRecords" in rrset):
                return int(rrset["TTL"]), [r["Value"] for r in rrset["ResourceRecords"]]
        return None

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

    def _rewrite(self, zone: str, records: Records, what: str,
                 rewrite: Callable[[tuple[int, list[str]] | None, set[str]], Any]
                 ) -> tuple[str | None, dict[str, set[str]]]:
        """Read each name's set, rewrite it, and send one conditional batch; when another
        process changed a set in between, read again (bounded). Returns the change id (None
        when nothing needed changing) and the names changed."""
        zone_id = self.zone_id(zone)
        with self.locks.held(f"route53-{zone_id}", f"Route 53 zone {zone}"):
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
                    response = self._call(
                        "ChangeResourceRecordSets", zone_id, conflict=True, HostedZoneId=zone_id,
                        ChangeBatch={"Comment": f"certbot-dns-autopilot: {what}",
                                     "Changes": changes})
                    change_id = response["ChangeInfo"]["Id"].rsplit("/", 1)[-1]
                    logger.debug("dns-autopilot: %s in %s via %s: change %s", what, zone,
                                 self.label, change_id)
                    return change_id, touched
                except route53_api.Conflict:  # another process's change landed first: read again
                    if attempt == CONFLICT_TRIES:
                        break  # no retry left to report or wait for
                    pause = random.random()
                    self.on_retry(what, attempt, pause, "the set changed meanwhile")
                    time.sleep(pause)
        conflict = self.kept_changing(f"the TXT sets of {', '.join(sorted(records))} in {zone}",
                                      what, CONFLICT_TRIES)
        conflict.left_nothing = True  # one batch, refused every time: none of it applied
        raise conflict

    def add(self, zone: str, records: Records, ttl: int) -> None:
        count = sum(len(v) for v in records.values())
        change_id, added = self._rewrite(zone, records, f"adding {count} TXT value(s)",
                                         lambda current, ours: merged(current, ours, ttl)
                                         or False)
        if change_id is not None:
            with self.rolled_back(zone, added):  # not INSYNC in time: what was written goes
                self._wait(change_id)

    def remove(self, zone: str, records: Records) -> None:
        """One batch; returns once Route 53 accepted it (cleanup need not wait for INSYNC)."""
        count = sum(len(v) for v in records.values())
        self._rewrite(zone, records, f"removing {count} TXT value(s)", reduced)

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
