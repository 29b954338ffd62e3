"""The Azure DNS writer: record sets through Azure Resource Manager (azure-mgmt-dns).

Azure holds one TXT *record set* per name, so adding a value is read–merge–write with the
set's etag (``If-Match``): a value someone else keeps at the same name is never overwritten,
and a concurrent change makes the write fail (412) and be redone on the fresh set. How it
signs in (a service principal or a managed identity) and how Azure's answers are read is
`azure_api`.

The SDKs (azure-identity, azure-mgmt-dns) are imported here only: this module is imported
when a credentials file configures an Azure writer, never on certbot's start.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.dns import DnsManagementClient
from azure.mgmt.dns.models import RecordSet, TxtRecord

from .. import names
from ..codes import Code
from ..errors import AutopilotError
from . import apierrors, azure_api
from .azure_api import ROLE_FIX, SDK_ERRORS, zone_scope
from .endpoints import check_endpoint, is_url, without_userinfo
from .schema import Key, Shape
from .sections import SectionKeys
from .writer import Context, Records
from .zonelist import likely_zone

__all__ = ["AzureWriter", "likely_zone", "relative_name", "txt_records", "txt_values"]

def _to_debug(record: logging.LogRecord) -> bool:
    """azure-identity logs a refused token as a WARNING on its own; the writer's error says
    the same with the fix, so the SDK's line goes to the log file only."""
    if record.levelno == logging.WARNING:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    return True


for _name in ("get_token_mixin", "decorators", "msal_managed_identity_client"):
    logging.getLogger(f"azure.identity._internal.{_name}").addFilter(_to_debug)

ETAG_ATTEMPTS = 5  # a record set changed by someone else between our read and our write
TXT_CHUNK = 255  # one TXT string holds at most 255 octets; longer values are split
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}").fullmatch

T = TypeVar("T")


def _https(example: str) -> Shape:
    return Shape("an https:// URL", lambda text: is_url(text, ("https",)),
                 f"set {{key}} to the endpoint's https URL (e.g. {example}), or remove it and "
                 "set {key:environment}")


def relative_name(name: str, zone: str) -> str:
    """The record-set name Azure expects: relative to the zone, ``@`` at the apex."""
    name, zone = names.normalize(name), names.normalize(zone)
    if name == zone:
        return "@"
    if not names.within(name, zone):
        raise ValueError(f"{name} is not in zone {zone}")
    return name[:-len(zone) - 1]


def txt_values(record_set: Any) -> set[str]:
    """The values of a TXT record set, each value's strings joined (as resolvers do)."""
    return {"".join(record.value or []) for record in (record_set.txt_records or [])}


def txt_records(values: Iterable[str]) -> list[Any]:
    return [TxtRecord(value=[v[i:i + TXT_CHUNK] for i in range(0, len(v), TXT_CHUNK)] or [""])
            for v in sorted(values)]


class AzureWriter(azure_api.AzureApi):
    """Writes TXT record sets in the Azure DNS zones of one subscription's resource group."""

    title = "Azure"
    page = "providers/azure"
    extra = ("azure-mgmt-dns>=8", "azure-identity>=1.13", "azure-core>=1.26")
    KEYS = (
        Key('subscription_id', required=True, help='the subscription (GUID) holding the zones',
            shape=Shape("a subscription ID", _GUID,
                        "copy the subscription ID (a GUID) from `az account show --query id`")),
        Key('resource_group', required=True, help='the resource group holding the zones',
            shape=Shape("a resource group name", lambda text: re.fullmatch(
                r"[-\w._()]{1,90}", text) and not text.endswith("."),
                "set it to the name (not the ID) of the resource group that holds the zones, "
                "as `az network dns zone list --query '[].resourceGroup'` prints it")),
        Key('tenant_id', help="the service principal's tenant",
            shape=Shape("a tenant ID", re.compile(r"[0-9A-Za-z.-]+").fullmatch,
                        "copy the tenant (directory) ID, a GUID, from `az account show "
                        "--query tenantId`")),
        Key('client_id',
            help="the service principal's `appId` (or a user-assigned identity's client ID)",
            shape=Shape("a client (application) ID", _GUID,
                        "copy the appId (a GUID) that `az ad sp create-for-rbac` printed, or "
                        "the managed identity's clientId")),
        Key('client_secret', secret=True, help="the client secret's value"),
        Key('client_certificate_path',
            help='instead of a secret: a PEM file with certificate and key'),
        Key('client_certificate_password', secret=True, help="that key's password"),
        Key('use_managed_identity', default='`false`',
            help='use the managed identity of the VM, container or function',
            shape=Shape("true or false", lambda text: text.lower() in azure_api.BOOLEANS,
                        "set {key} = true or false")),
        Key('environment', default='`AzurePublicCloud`',
            help='`AzureChinaCloud`, `AzureUSGovernment`'),
        Key('resource_manager_url', default='from the environment',
            help='explicit Resource Manager URL (Azure Stack Hub)',
            shape=_https("https://management.azure.com")),
        Key('authority_host', default='from the environment',
            help='explicit authority host, with the URL above',
            shape=_https("https://login.microsoftonline.com")),
    )

    def __init__(self, credential: Any, subscription: str, group: str, resource_manager: str,
                 who: str, secrets: Iterable[str] = (), context: Context | None = None,
                 **client_options: Any) -> None:
        super().__init__(context)
        self.subscription, self.group, self.who = subscription, group, who
        self.resource_manager = resource_manager
        self._secrets = [s for s in secrets if s]
        self._zones: list[str] | None = None
        self.client = DnsManagementClient(
            credential, subscription, base_url=resource_manager,
            credential_scopes=[f"{resource_manager}/.default"],
            retry_total=0, connection_timeout=15, read_timeout=60,  # `call` retries
            **client_options)
        custom = resource_manager != azure_api.ENVIRONMENTS["azurepubliccloud"][0]
        self.label = (f"Azure DNS (subscription {subscription}, resource group {group}, {who}"
                      + (f", {without_userinfo(resource_manager)}" if custom else "") + ")")

    @classmethod
    def from_credentials(cls, keys: SectionKeys, context: Context | None = None
                         ) -> AzureWriter:
        settings, where = cls.settings(keys), keys.where
        for name in ("resource_manager_url", "authority_host"):  # a password: a secret
            if settings[name]:
                check_endpoint(settings[name] or "", cls.key(name), where)
        resource_manager, authority = azure_api.endpoints(settings, where, cls.key)
        credential, who, secrets = azure_api.credential(settings, where, authority,
                                                             cls.key)
        return cls(credential, settings["subscription_id"] or "",
                   settings["resource_group"] or "", resource_manager, who, secrets, context)

    # -- zones -------------------------------------------------------------------------------

    def find_zone(self, name: str) -> str:
        """The longest zone of the resource group enclosing ``name``. A principal allowed only
        on the zone itself may not list the group: then each enclosing name is asked for."""
        name = names.normalize(name)
        what = f"list the DNS zones of resource group {self.group}"
        try:
            if self._zones is None:  # one listing per run: apex, www, … share it
                self._zones = self.call(what, lambda: [
                    z.name for z in self.client.zones.list_by_resource_group(self.group)])
            zones = self._zones
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise self._error(exc, what) from None
            return self._find_zone_one_by_one(name, exc)
        except SDK_ERRORS as exc:
            raise self._error(exc, what) from None
        zone = names.longest_zone(name, zones)
        if zone is None:
            raise self._no_zone(name, "Zones in the resource group: "
                                + (", ".join(sorted(zones)) or "none"))
        return zone

    def _no_zone(self, name: str, evidence: str) -> AutopilotError:
        return AutopilotError(
            Code.ZONE_NOT_FOUND,
            f"{self.label}: no DNS zone in resource group {self.group} encloses {name}",
            f"create the zone in that resource group, or set {self.key('resource_group')} to "
            "the one that holds it", evidence=evidence)

    def _find_zone_one_by_one(self, name: str, listing: HttpResponseError) -> str:
        candidates = [c for c in names.ancestors(name) if "." in c]
        denied = False
        for candidate in candidates:
            what = f"read the DNS zone {candidate}"
            try:
                return str(self.call(what, lambda c=candidate: self.client.zones.get(
                    self.group, c)).name).lower()
            except HttpResponseError as exc:
                if exc.status_code == 403:
                    denied = True
                elif exc.status_code != 404 or getattr(exc.error, "code", "") in (
                        "ResourceGroupNotFound", "SubscriptionNotFound"):
                    raise self._error(exc, what, candidate) from None
            except (ClientAuthenticationError, ServiceRequestError, ServiceResponseError) as exc:
                raise self._error(exc, what, candidate) from None
        if not denied:
            raise self._no_zone(name, f"Tried: {', '.join(candidates)}")
        message = apierrors.masked(getattr(listing.error, "message", None) or str(listing),
                                   self._secrets)
        zone = likely_zone(name)
        others = [c for c in candidates[1:] if c != zone]
        raise AutopilotError(
            Code.PERMISSION_DENIED,
            f"{self.label} may neither list the DNS zones of resource group {self.group} nor "
            f"read a zone enclosing {name}",
            ROLE_FIX + zone_scope(self.subscription, self.group, zone)
            + f" for this principal ({self.who})"
            + (f" (or on {' or '.join(others)} if that is the zone holding {name})"
               if others else "")
            + f", or on the resource group; and check that {self.key('resource_group')} = "
            f"{self.group} is the zone's resource group",
            evidence=f"Azure Resource Manager: HTTP 403 "
            f"{getattr(listing.error, 'code', '')}: {message}")

    # -- record sets -------------------------------------------------------------------------

    def _get(self, zone: str, relative: str) -> Any | None:
        what = f"read the TXT record set {relative} in zone {zone}"
        try:
            return self.call(what, lambda: self.client.record_sets.get(
                self.group, zone, relative, "TXT"))
        except HttpResponseError as exc:
            if exc.status_code == 404 and getattr(exc.error, "code", "") not in (
                    "ResourceGroupNotFound", "ParentResourceNotFound", "ResourceNotFound"):
                return None
            raise self._error(exc, what, zone) from None
        except SDK_ERRORS as exc:
            raise self._error(exc, what, zone) from None

    def _change(self, zone: str, name: str, change: Callable[[set[str]], set[str]],
                ttl: int, what: str) -> None:
        """Read the set, compute its new values, write them with If-Match; redo on 412."""
        relative = relative_name(name, zone)
        for attempt in range(1, ETAG_ATTEMPTS + 1):
            current = self._get(zone, relative)
            before = txt_values(current) if current is not None else set()
            after = change(before)
            if after == before:
                return
            try:
                self.call(f"{what} the TXT record set {relative}",
                          lambda c=current, a=after: self._write(zone, relative, c, a, ttl))
                return
            except HttpResponseError as exc:
                if exc.status_code != 412:
                    raise self._error(exc, f"{what} the TXT record set {relative} in zone "
                                      f"{zone}", zone) from None
                if attempt < ETAG_ATTEMPTS:  # changed meanwhile: read it again at once
                    self.on_retry(f"{what} the TXT record set {relative}", attempt, 0.0,
                                  "HTTP 412 (the set changed meanwhile)")
            except SDK_ERRORS as exc:
                raise self._error(exc, f"{what} the TXT record set {relative} in zone {zone}",
                                  zone) from None
        raise self.kept_changing(f"the TXT record set {relative} in zone {zone}",
                                 f"trying to {what} it", ETAG_ATTEMPTS)

    def _write(self, zone: str, relative: str, current: Any, after: set[str], ttl: int) -> None:
        """Replace the record set read as ``current`` by ``after`` (none left: delete it),
        only if it is still that set (If-Match its etag; If-None-Match when there was none)."""
        if not after:
            self.client.record_sets.delete(self.group, zone, relative, "TXT",
                                           if_match=current.etag)
            return
        record_set = RecordSet(ttl=current.ttl if current is not None and current.ttl else ttl,
                               metadata=current.metadata if current is not None else None,
                               txt_records=txt_records(after))
        self.client.record_sets.create_or_update(
            self.group, zone, relative, "TXT", record_set,
            if_match=current.etag if current is not None else None,
            if_none_match="*" if current is None else None)

    def add(self, zone: str, records: Records, ttl: int) -> None:
        with self.rolled_back(zone, records):  # one record set per name: undo the others
            for name, values in sorted(records.items()):
                self._change(zone, name, lambda before, v=values: before | set(v), ttl,
                             "update")

    def remove(self, zone: str, records: Records) -> None:
        for name, values in sorted(records.items()):
            self._change(zone, name, lambda before, v=values: before - set(v), 0, "clean up")

    def values(self, zone: str, name: str) -> set[str]:
        current = self._get(zone, relative_name(name, zone))
        return txt_values(current) if current is not None else set()

    def probe(self, zone: str, name: str) -> None:
        """Read the zone first (its own right, and a clear zone-not-found), then write, read
        back and delete a probe value."""
        self._call(f"read the DNS zone {zone}", lambda: self.client.zones.get(self.group, zone),
                   zone)
        super().probe(zone, name)

