"""The Azure DNS writer: record sets through Azure Resource Manager (azure-mgmt-dns).

Azure holds one TXT *record set* per name, so adding a value is read–merge–write with the
set's etag (``If-Match``): a value someone else keeps at the same name is never overwritten,
and a concurrent change makes the write fail (412) and be redone on the fresh set.

The SDKs (azure-identity, azure-mgmt-dns) are imported here only: this module is imported
when a credentials file configures an Azure writer, never on certbot's start.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlparse

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    CredentialUnavailableError,
    ManagedIdentityCredential,
)
from azure.mgmt.dns import DnsManagementClient
from azure.mgmt.dns.models import RecordSet, TxtRecord

from .. import names
from ..codes import Code
from ..errors import AutopilotError
from . import apierrors, schema
from .base import Key, Keys, Records, Writer, check_endpoint, kept_changing, without_userinfo

#: The keys this writer reads (``dns_autopilot_azure_<key>``): what INI validation,
#: secret scrubbing and the docs' key table (checked by the docs test) come from.
KEYS: tuple[Key, ...] = (
    Key('subscription_id', required=True, help='the subscription (GUID) holding the zones'),
    Key('resource_group', required=True, help='the resource group holding the zones'),
    Key('tenant_id', help="the service principal's tenant"),
    Key('client_id',
        help=("the service principal's `appId` (or a user-assigned identity's client ID)")),
    Key('client_secret', secret=True, help="the client secret's value"),
    Key('client_certificate_path', help='instead of a secret: a PEM file with certificate and key'),
    Key('client_certificate_password', secret=True, help="that key's password"),
    Key('use_managed_identity', default='`false`',
        help=('use the managed identity of the VM, container or function')),
    Key('environment', default='`AzurePublicCloud`', help='`AzureChinaCloud`, `AzureUSGovernment`'),
    Key('resource_manager_url', default='from the environment',
        help=('explicit Resource Manager URL (Azure Stack Hub)')),
    Key('authority_host', default='from the environment',
        help=('explicit authority host, with the URL above')),
)

logger = logging.getLogger(__name__)


def _to_debug(record: logging.LogRecord) -> bool:
    """azure-identity logs a refused token as a WARNING on its own; the writer's error says
    the same with the fix, so the SDK's line goes to the log file only."""
    if record.levelno == logging.WARNING:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    return True


for _name in ("get_token_mixin", "decorators", "msal_managed_identity_client"):
    logging.getLogger(f"azure.identity._internal.{_name}").addFilter(_to_debug)

#: environment name (lower case) -> (Resource Manager URL, Microsoft Entra authority host)
ENVIRONMENTS = {
    "azurepubliccloud": ("https://management.azure.com", "https://login.microsoftonline.com"),
    "azurechinacloud": ("https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
    "azureusgovernment": ("https://management.usgovcloudapi.net",
                          "https://login.microsoftonline.us"),
}
ENVIRONMENT_NAMES = "AzurePublicCloud, AzureChinaCloud, AzureUSGovernment"
ROLE_FIX = ("assign the role DNS Zone Contributor (or a custom role with "
            "Microsoft.Network/dnsZones/read and Microsoft.Network/dnsZones/TXT/*) on ")
ETAG_ATTEMPTS = 5  # a record set changed by someone else between our read and our write
TXT_CHUNK = 255  # one TXT string holds at most 255 octets; longer values are split
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[0-9A-Za-z.-]+$")
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off", ""}

T = TypeVar("T")


def _key(suffix: str) -> str:
    return f"dns_autopilot_azure_{suffix}"


def _https_url(settings: schema.Settings, suffix: str, where: str) -> str | None:
    text = (settings[suffix] or "").rstrip("/")
    if not text:
        return None
    parsed = urlparse(text)
    if parsed.scheme != "https" or not parsed.hostname:
        example = ("https://management.azure.com" if "manager" in suffix
                   else "https://login.microsoftonline.com")
        raise _bad(f"{_key(suffix)} = {text!r} in {where} is not an https:// URL",
                   f"set {_key(suffix)} to the endpoint's https URL (e.g. {example}), or "
                   f"remove it and set {_key('environment')}")
    check_endpoint(text, _key(suffix), where)  # a password in its userinfo: a secret
    return text


def _zone_scope(subscription: str, group: str, zone: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{group}"
            f"/providers/Microsoft.Network/dnsZones/{zone}")


def relative_name(name: str, zone: str) -> str:
    """The record-set name Azure expects: relative to the zone, ``@`` at the apex."""
    name, zone = names.normalize(name), names.normalize(zone)
    if name == zone:
        return "@"
    if not names.within(name, zone):
        raise ValueError(f"{name} is not in zone {zone}")
    return name[:-len(zone) - 1]


def likely_zone(name: str) -> str:
    """For a fix when the zones cannot be listed: the registrable domain of ``name`` (by the
    Public Suffix List), where most zones are cut."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList().privatesuffix(names.normalize(name)) or names.normalize(name)


def txt_values(record_set: Any) -> set[str]:
    """The values of a TXT record set, each value's strings joined (as resolvers do)."""
    return {"".join(record.value or []) for record in (record_set.txt_records or [])}


def txt_records(values: Iterable[str]) -> list[Any]:
    return [TxtRecord(value=[v[i:i + TXT_CHUNK] for i in range(0, len(v), TXT_CHUNK)] or [""])
            for v in sorted(values)]


_NO_GROUP = ("ResourceGroupNotFound", "SubscriptionNotFound", "InvalidSubscriptionId")


def _said(exc: Exception) -> apierrors.Said | None:
    """What Azure said, from an azure-core or azure-identity error (None: not an answer).
    A subscription or resource group that does not exist counts as 404 (the zone's
    container is not there); a token Microsoft Entra ID refused, as 401."""
    if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
        return apierrors.Said(failure=apierrors.TIMEOUT, message=type(exc).__name__)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return apierrors.Said(failure=apierrors.CONNECTION, message=type(exc).__name__)
    if isinstance(exc, ClientAuthenticationError) and _from_entra(exc):
        status = exc.status_code if exc.status_code and exc.status_code >= 429 else 401
        return apierrors.Said(status=status, code=_aad_code(str(exc)))
    if not isinstance(exc, HttpResponseError):
        return None
    code = str(getattr(exc.error, "code", None) or exc.reason or "")
    message = str(getattr(exc.error, "message", None) or _first_line(str(exc)))
    try:
        retry_after = float(exc.response.headers.get("Retry-After"))  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError):
        retry_after = None
    status = 404 if code in _NO_GROUP else int(exc.status_code or 0)
    return apierrors.Said(status=status, code=code, message=message, retry_after=retry_after)


class AzureWriter(Writer):
    """Writes TXT record sets in the Azure DNS zones of one subscription's resource group."""

    #: The retries of every API call (429, 5xx, a dropped connection, a timeout).
    policy = apierrors.POLICY

    def __init__(self, credential: Any, subscription: str, group: str, resource_manager: str,
                 who: str, secrets: Iterable[str] = (), **client_options: Any) -> None:
        self.subscription = subscription
        self.group = group
        self.resource_manager = resource_manager
        self.who = who
        self._secrets = [s for s in secrets if s]
        self._zones: list[str] | None = None
        self.client = DnsManagementClient(
            credential, subscription, base_url=resource_manager,
            credential_scopes=[f"{resource_manager}/.default"],
            retry_total=0, connection_timeout=15, read_timeout=60,  # apierrors.call retries
            **client_options)
        custom = resource_manager != ENVIRONMENTS["azurepubliccloud"][0]
        self.label = (f"Azure DNS (subscription {subscription}, resource group {group}, {who}"
                      + (f", {without_userinfo(resource_manager)}" if custom else "") + ")")

    @classmethod
    def from_credentials(cls, keys: Keys, where: str) -> AzureWriter:
        """Validate the INI keys one by one, each failure naming its key and the fix."""
        settings = schema.read(keys, "azure", KEYS, where, title="Azure")
        subscription, group = _scope(settings, where)
        resource_manager, authority = _endpoints(settings, where)
        credential, who, secrets = _credential(settings, where, authority)
        return cls(credential, subscription, group, resource_manager, who, secrets)

    # -- errors ----------------------------------------------------------------------------

    def _fail(self, exc: Exception, what: str, zone: str | None = None) -> NoReturn:
        """One AutopilotError for an SDK exception: which right is missing where, and the fix."""
        scope = (_zone_scope(self.subscription, self.group, zone) if zone else
                 f"/subscriptions/{self.subscription}/resourceGroups/{self.group}")
        if isinstance(exc, CredentialUnavailableError):
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label}: no managed identity is available to {what}",
                "run on an Azure resource with a managed identity assigned (and set "
                f"{_key('client_id')} to a user-assigned identity's client ID), or use a "
                f"service principal ({_key('tenant_id')}, {_key('client_id')}, "
                f"{_key('client_secret')})",
                evidence=apierrors.masked(_first_line(str(exc)), self._secrets)) from None
        said = _said(exc)
        if said is None:
            raise exc
        entra = isinstance(exc, ClientAuthenticationError) and _from_entra(exc)
        fixes = apierrors.Fixes(
            refused=_aad_fix(str(exc)) if entra else ROLE_FIX + scope + (
                f" for this principal ({self.who}), or on its resource group; if access was "
                "granted just now, wait a few minutes for Azure to apply it"),
            denied=ROLE_FIX + scope + f" for this principal ({self.who}), or on its resource "
            "group; if access was granted just now, wait a few minutes for Azure to apply it",
            zone=self._where_zones_are() if said.code in _NO_GROUP else (
                f"create the zone there, or set {_key('resource_group')} to the resource "
                "group that holds it"),
            unreachable=(f"check {_key('resource_manager_url')}/{_key('authority_host')} (or "
                         f"{_key('environment')}) and this host's network and proxy settings")
            if said.failure else ("retry later; if it persists, check the Azure status page "
                                  "and the message above"),
            other="the message above says why Azure refused it")
        evidence = ""
        if entra:
            problem = (f"{self.label}: Microsoft Entra ID refused a token to {what} "
                       f"({_aad_code(str(exc))})")
            evidence = _aad_description(str(exc))
        elif said.failure:
            problem = f"{self.label}: could not reach Azure to {what}"
            evidence = _first_line(str(exc))
        elif said.status in (401, 403):
            problem = f"{self.label} may not {what}"
        elif said.code in _NO_GROUP:
            problem = f"{self.label}: {said.code} when trying to {what}"
        elif said.status == 404:
            problem = (f"{self.label}: the DNS zone {zone or ''} does not exist in resource "
                       f"group {self.group} ({what})")
        else:
            problem = f"{self.label}: Azure answered HTTP {said.status} when trying to {what}"
        raise apierrors.error(self.label, what, said, fixes, api="Azure Resource Manager",
                              problem=problem, evidence=evidence,
                              secrets=self._secrets) from None

    def _api(self, what: str, fn: Callable[[], T]) -> T:
        """One SDK call, retried while Azure limits or fails it (`apierrors.call`); its
        errors are raised as they came, for the caller's own handling."""
        return apierrors.call(fn, _said, what, self.on_retry, self.policy)

    def _call(self, what: str, fn: Callable[[], T], zone: str | None = None) -> T:
        try:
            return self._api(what, fn)
        except (ClientAuthenticationError, HttpResponseError, ServiceRequestError,
                ServiceResponseError, CredentialUnavailableError) as exc:
            self._fail(exc, what, zone)

    def _where_zones_are(self) -> str:
        """The fix for a wrong resource group: where the principal does see zones, if anywhere."""
        try:
            seen = self._api("list the DNS zones", lambda: [
                (z.name, _group_of(z.id)) for z in self.client.zones.list()])
        except (HttpResponseError, ServiceRequestError, ServiceResponseError):
            seen = []
        fix = (f"set {_key('resource_group')} (and {_key('subscription_id')}) to where the zone "
               "is: `az network dns zone list --query '[].[name,resourceGroup]'` shows it")
        if seen:
            fix += "; this principal sees " + ", ".join(
                f"{z} (resource group {g})" for z, g in sorted(seen))
        return fix

    # -- the Writer interface ----------------------------------------------------------------

    def find_zone(self, name: str) -> str:
        """The longest zone of the resource group enclosing ``name``. A principal allowed only
        on the zone itself may not list the group: then each enclosing name is asked for."""
        name = names.normalize(name)
        try:
            if self._zones is None:  # one listing per run: apex, www, … share it
                self._zones = self._api(f"list the DNS zones of resource group {self.group}",
                                        lambda: [z.name for z in self.client.zones
                                                 .list_by_resource_group(self.group)])
            zones = self._zones
        except HttpResponseError as exc:
            if exc.status_code != 403:
                self._fail(exc, f"list the DNS zones of resource group {self.group}")
            return self._find_zone_one_by_one(name, exc)
        except (ClientAuthenticationError, ServiceRequestError, ServiceResponseError,
                CredentialUnavailableError) as exc:
            self._fail(exc, f"list the DNS zones of resource group {self.group}")
        zone = names.longest_zone(name, zones)
        if zone is None:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND,
                f"{self.label}: no DNS zone in resource group {self.group} encloses {name}",
                f"create the zone in that resource group, or set {_key('resource_group')} to "
                "the one that holds it",
                evidence="Zones in the resource group: " + (", ".join(sorted(zones)) or "none"))
        return zone

    def _find_zone_one_by_one(self, name: str, listing: HttpResponseError) -> str:
        candidates = [c for c in names.ancestors(name) if "." in c]
        denied = False
        for candidate in candidates:
            try:
                return str(self._api(f"read the DNS zone {candidate}", lambda c=candidate:
                                     self.client.zones.get(self.group, c)).name).lower()
            except HttpResponseError as exc:
                if exc.status_code == 403:
                    denied = True
                elif exc.status_code != 404 or getattr(exc.error, "code", "") in (
                        "ResourceGroupNotFound", "SubscriptionNotFound"):
                    self._fail(exc, f"read the DNS zone {candidate}", candidate)
            except (ClientAuthenticationError, ServiceRequestError, ServiceResponseError) as exc:
                self._fail(exc, f"read the DNS zone {candidate}", candidate)
        message = apierrors.masked(getattr(listing.error, "message", None) or str(listing),
                                   self._secrets)
        if denied:
            zone = likely_zone(name)
            others = [c for c in candidates[1:] if c != zone]
            raise AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label} may neither list the DNS zones of resource group {self.group} nor "
                f"read a zone enclosing {name}",
                ROLE_FIX + _zone_scope(self.subscription, self.group, zone)
                + f" for this principal ({self.who})"
                + (f" (or on {' or '.join(others)} if that is the zone holding {name})"
                   if others else "")
                + f", or on the resource group; and check that {_key('resource_group')} = "
                f"{self.group} is the zone's resource group",
                evidence=f"Azure Resource Manager: HTTP 403 "
                f"{getattr(listing.error, 'code', '')}: {message}")
        raise AutopilotError(
            Code.ZONE_NOT_FOUND,
            f"{self.label}: no DNS zone in resource group {self.group} encloses {name}",
            f"create the zone in that resource group, or set {_key('resource_group')} to the "
            "one that holds it", evidence=f"Tried: {', '.join(candidates)}")

    def _get(self, zone: str, relative: str) -> Any | None:
        try:
            return self._api(f"read the TXT record set {relative} in zone {zone}", lambda:
                             self.client.record_sets.get(self.group, zone, relative, "TXT"))
        except HttpResponseError as exc:
            if exc.status_code == 404 and getattr(exc.error, "code", "") not in (
                    "ResourceGroupNotFound", "ParentResourceNotFound", "ResourceNotFound"):
                return None
            self._fail(exc, f"read the TXT record set {relative} in zone {zone}", zone)
        except (ClientAuthenticationError, ServiceRequestError, ServiceResponseError,
                CredentialUnavailableError) as exc:
            self._fail(exc, f"read the TXT record set {relative} in zone {zone}", zone)

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
                self._api(f"{what} the TXT record set {relative}",
                          lambda c=current, a=after: self._write(zone, relative, c, a, ttl))
                return
            except HttpResponseError as exc:
                if exc.status_code == 412:  # changed meanwhile: read it again at once
                    if attempt < ETAG_ATTEMPTS:  # the last one gives up: no retry to report
                        self.on_retry(f"{what} the TXT record set {relative}", attempt,
                                      0.0, "HTTP 412 (the set changed meanwhile)")
                    continue
                self._fail(exc, f"{what} the TXT record set {relative} in zone {zone}", zone)
            except (ClientAuthenticationError, ServiceRequestError, ServiceResponseError,
                    CredentialUnavailableError) as exc:
                self._fail(exc, f"{what} the TXT record set {relative} in zone {zone}", zone)
        raise kept_changing(self.label, f"the TXT record set {relative} in zone {zone}",
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
        logger.debug("dns-autopilot: added %d TXT value(s) in %s via %s",
                     sum(len(v) for v in records.values()), zone, self.label)

    def remove(self, zone: str, records: Records) -> None:
        for name, values in sorted(records.items()):
            self._change(zone, name, lambda before, v=values: before - set(v), 0, "clean up")
        logger.debug("dns-autopilot: removed %d TXT value(s) in %s via %s",
                     sum(len(v) for v in records.values()), zone, self.label)

    def values(self, zone: str, name: str) -> set[str]:
        current = self._get(zone, relative_name(name, zone))
        return txt_values(current) if current is not None else set()

    def probe(self, zone: str, name: str) -> None:
        """Read the zone first (its own right, and a clear zone-not-found), then write, read
        back and delete a probe value."""
        self._call(f"read the DNS zone {zone}", lambda: self.client.zones.get(self.group, zone),
                   zone)
        super().probe(zone, name)


# -- settings --------------------------------------------------------------------------------


def _bad(problem: str, fix: str) -> AutopilotError:
    return AutopilotError(Code.BAD_CONFIG, problem, fix)


def _scope(settings: schema.Settings, where: str) -> tuple[str, str]:
    """(subscription ID, resource group name), each checked for its shape."""
    subscription, group = settings["subscription_id"] or "", settings["resource_group"] or ""
    if not _GUID.match(subscription):
        raise _bad(f"{_key('subscription_id')} = {subscription!r} in {where} is not a "
                   "subscription ID",
                   "copy the subscription ID (a GUID) from `az account show --query id`")
    if not _RESOURCE_GROUP.match(group) or group.endswith("."):
        raise _bad(f"{_key('resource_group')} = {group!r} in {where} is not a resource group "
                   "name", "set it to the name (not the ID) of the resource group that holds "
                   "the zones, as `az network dns zone list --query '[].resourceGroup'` prints it")
    return subscription, group


def _endpoints(settings: schema.Settings, where: str) -> tuple[str, str]:
    """(Resource Manager URL, authority host): explicit URLs win over the named cloud."""
    environment = settings["environment"] or "AzurePublicCloud"
    if environment.lower() not in ENVIRONMENTS:
        raise _bad(f"{_key('environment')} = {environment!r} in {where} is not an Azure cloud",
                   f"use one of {ENVIRONMENT_NAMES}, or set {_key('resource_manager_url')} "
                   f"and {_key('authority_host')} (Azure Stack Hub)")
    resource_manager, authority = ENVIRONMENTS[environment.lower()]
    explicit_rm = _https_url(settings, "resource_manager_url", where)
    explicit_authority = _https_url(settings, "authority_host", where)
    if bool(explicit_rm) != bool(explicit_authority) and not (
            explicit_rm and _truthy(settings, "use_managed_identity", where)):
        missing = "authority_host" if explicit_rm else "resource_manager_url"
        raise _bad(f"{where} sets only one of {_key('resource_manager_url')} and "
                   f"{_key('authority_host')}",
                   f"set {_key(missing)} too (both belong to one cloud), or neither and use "
                   f"{_key('environment')}")
    return explicit_rm or resource_manager, explicit_authority or authority


def _truthy(settings: schema.Settings, suffix: str, where: str) -> bool:
    text = (settings[suffix] or "").lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _bad(f"{_key(suffix)} = {text!r} in {where} is not true or false",
               f"set {_key(suffix)} = true or false")


def _credential(settings: schema.Settings, where: str, authority: str
                ) -> tuple[Any, str, list[str]]:
    """The token credential, how the label names it, and the secrets to keep out of text."""
    client_id = settings["client_id"]
    if client_id and not _GUID.match(client_id):
        raise _bad(f"{_key('client_id')} = {client_id!r} in {where} is not a client "
                   "(application) ID",
                   "copy the appId (a GUID) that `az ad sp create-for-rbac` printed, or the "
                   "managed identity's clientId")
    if _truthy(settings, "use_managed_identity", where):
        return _managed_identity(settings, where)
    return _service_principal(settings, where, authority)


def _managed_identity(settings: schema.Settings, where: str) -> tuple[Any, str, list[str]]:
    """The VM's, container's or function's own identity: no service-principal keys."""
    if settings["client_secret"] or settings["client_certificate_path"] or settings["tenant_id"]:
        raise _bad(f"{where} sets {_key('use_managed_identity')} = true and service-principal "
                   "keys", f"remove {_key('tenant_id')}, {_key('client_secret')} and "
                   f"{_key('client_certificate_path')} (a managed identity needs none), or set "
                   f"{_key('use_managed_identity')} = false")
    client_id = settings["client_id"]
    kwargs = {"client_id": client_id} if client_id else {}
    who = (f"user-assigned managed identity {client_id}" if client_id
           else "system-assigned managed identity")
    return ManagedIdentityCredential(**kwargs), who, []


def _service_principal(settings: schema.Settings, where: str, authority: str
                       ) -> tuple[Any, str, list[str]]:
    """A service principal: tenant, client ID, and one of a secret or a certificate."""
    tenant, client_id = settings["tenant_id"], settings["client_id"]
    secret, cert_path = settings["client_secret"], settings["client_certificate_path"]
    if not tenant:
        raise _bad(f"{where} sets no {_key('tenant_id')}",
                   f"set {_key('tenant_id')}, {_key('client_id')} and {_key('client_secret')} "
                   f"(or {_key('client_certificate_path')}) of a service principal, or "
                   f"{_key('use_managed_identity')} = true on an Azure VM, container or function")
    if not _TENANT.match(tenant):
        raise _bad(f"{_key('tenant_id')} = {tenant!r} in {where} is not a tenant ID",
                   "copy the tenant (directory) ID, a GUID, from `az account show --query "
                   "tenantId`")
    if not client_id:
        raise _bad(f"{where} sets no {_key('client_id')}",
                   f"set {_key('client_id')} to the service principal's appId")
    if bool(secret) == bool(cert_path):
        raise _bad(f"{where} sets {'both' if secret else 'neither'} of {_key('client_secret')} "
                   f"and {_key('client_certificate_path')}",
                   "set exactly one: the client secret's value, or the path of a PEM file "
                   "holding the certificate and its private key")
    options: dict[str, Any] = {"authority": authority, "retry_total": 0}  # ours retry
    if settings["authority_host"]:
        options["disable_instance_discovery"] = True
    who = f"service principal {client_id}"
    if secret:
        return ClientSecretCredential(tenant, client_id, secret, **options), who, [secret]
    return _certificate(settings, where, tenant, client_id, options), f"{who} (certificate)", [
        settings["client_certificate_password"] or ""]


def _certificate(settings: schema.Settings, where: str, tenant: str, client_id: str,
                 options: dict[str, Any]) -> Any:
    cert_path, password = settings["client_certificate_path"] or "", settings[
        "client_certificate_password"]
    if not os.path.isfile(cert_path) or not os.access(cert_path, os.R_OK):
        raise _bad(f"{_key('client_certificate_path')} = {cert_path!r} in {where} is not a "
                   "readable file", "give the path of the PEM file holding the service "
                   "principal's certificate and private key (`az ad sp create-for-rbac "
                   "--create-cert`)")
    try:
        return CertificateCredential(tenant, client_id, certificate_path=cert_path,
                                     password=password, **options)
    except (ValueError, TypeError) as exc:
        raise AutopilotError(
            Code.BAD_CONFIG, f"{_key('client_certificate_path')} = {cert_path!r} in {where} "
            "holds no usable certificate and private key",
            "use a PEM (or PKCS#12) file with the certificate and its unencrypted private key, "
            f"or set {_key('client_certificate_password')}",
            evidence=apierrors.masked(_first_line(str(exc)), [password])) from None


# -- Microsoft Entra ID errors ------------------------------------------------------------------

_AAD_FIXES = {
    "7000215": "the client secret is wrong: set {secret} to the secret's *value* (not its ID), "
               "or create a new one: `az ad sp credential reset --id <client id>`",
    "7000222": "the client secret has expired: create a new one (`az ad sp credential reset "
               "--id <client id>`) and put it in {secret}",
    "700016": "no application with that client ID exists in the tenant: check {client} and "
              "{tenant}",
    "90002": "the tenant does not exist: check {tenant} (`az account show --query tenantId`)",
    "900023": "the tenant ID is malformed: check {tenant}",
    "700027": "the certificate is not registered for this application: upload it "
              "(`az ad app credential reset --id <client id> --cert @cert.pem --append`)",
    "500011": "the token audience does not match Resource Manager: check "
              "{rm} (or {env})",
}


def _aad_code(text: str) -> str:
    match = re.search(r"AADSTS\d+", text)
    error = re.search(r"\((\w+)\)", text)
    return " ".join(p for p in ((error.group(1) if error else ""),
                                (match.group(0) if match else "")) if p) or "no token"


def _aad_description(text: str) -> str:
    match = re.search(r"AADSTS\d+:[^\r\n]*", text)
    return (f"Microsoft Entra ID: {match.group(0)}" if match else _first_line(text))[:400]


def _aad_fix(text: str) -> str:
    match = re.search(r"AADSTS(\d+)", text)
    template = _AAD_FIXES.get(match.group(1) if match else "", (
        "check {tenant}, {client} and {secret} (or the certificate) against the service "
        "principal in Microsoft Entra ID"))
    return template.format(secret=_key("client_secret"), client=_key("client_id"),
                           tenant=_key("tenant_id"), rm=_key("resource_manager_url"),
                           env=_key("environment"))


def _from_entra(exc: ClientAuthenticationError) -> bool:
    """A token refused by Microsoft Entra ID, not a token refused by Resource Manager (401)."""
    text = str(exc)
    return exc.status_code is None or "AADSTS" in text or "Entra ID" in text


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _group_of(resource_id: str | None) -> str:
    match = re.search(r"/resourceGroups/([^/]+)", resource_id or "", re.IGNORECASE)
    return match.group(1) if match else "?"
