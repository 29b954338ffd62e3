"""The Azure DNS writer's half that reaches Azure (`AzureApi`, its base class): it signs in
to Microsoft Entra ID (the cloud's endpoints and the token credential its keys describe: a
service principal with a secret or a certificate, or a managed identity, each checked before
anything is sent), and what Resource Manager and Entra ID answer is read into one error with
its fix (the role to assign and where, an ``AADSTS…`` code's meaning).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

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

from ..codes import Code
from ..errors import AutopilotError
from . import apierrors
from .schema import Settings
from .writer import Writer

#: environment name (lower case) -> (Resource Manager URL, Microsoft Entra authority host)
ENVIRONMENTS = {
    "azurepubliccloud": ("https://management.azure.com", "https://login.microsoftonline.com"),
    "azurechinacloud": ("https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
    "azureusgovernment": ("https://management.usgovcloudapi.net",
                          "https://login.microsoftonline.us"),
}
ENVIRONMENT_NAMES = "AzurePublicCloud, AzureChinaCloud, AzureUSGovernment"
TRUE = {"true", "yes", "1", "on"}
BOOLEANS = TRUE | {"false", "no", "0", "off", ""}

ROLE_FIX = ("assign the role DNS Zone Contributor (or a custom role with "
            "Microsoft.Network/dnsZones/read and Microsoft.Network/dnsZones/TXT/*) on ")
_NO_GROUP = ("ResourceGroupNotFound", "SubscriptionNotFound", "InvalidSubscriptionId")
#: What the SDKs raise for a call: each is read (`said`) into one error (`error`).
SDK_ERRORS = (ClientAuthenticationError, HttpResponseError, ServiceRequestError,
              ServiceResponseError, CredentialUnavailableError)

#: A key's name, as the writer spells it (`Writer.key`).
KeyName = Callable[[str], str]
T = TypeVar("T")
#: (token credential, how the label names it, the secrets to keep out of every text)
Credential = tuple[Any, str, list[str]]


def endpoints(settings: Settings, where: str, key: KeyName) -> tuple[str, str]:
    """(Resource Manager URL, authority host): explicit URLs win over the named cloud."""
    environment = settings["environment"] or "AzurePublicCloud"
    if environment.lower() not in ENVIRONMENTS:
        raise Writer.bad_config(
            f"{key('environment')} = {environment!r} in {where} is not an Azure cloud",
            f"use one of {ENVIRONMENT_NAMES}, or set {key('resource_manager_url')} "
            f"and {key('authority_host')} (Azure Stack Hub)")
    resource_manager, authority = ENVIRONMENTS[environment.lower()]
    explicit_rm = (settings["resource_manager_url"] or "").rstrip("/")
    explicit_authority = (settings["authority_host"] or "").rstrip("/")
    if bool(explicit_rm) != bool(explicit_authority) and not (
            explicit_rm and managed_identity_asked(settings)):
        missing = "authority_host" if explicit_rm else "resource_manager_url"
        raise Writer.bad_config(
            f"{where} sets only one of {key('resource_manager_url')} and "
            f"{key('authority_host')}",
            f"set {key(missing)} too (both belong to one cloud), or neither and use "
            f"{key('environment')}")
    return explicit_rm or resource_manager, explicit_authority or authority


def managed_identity_asked(settings: Settings) -> bool:
    return (settings["use_managed_identity"] or "").lower() in TRUE


def credential(settings: Settings, where: str, authority: str, key: KeyName) -> Credential:
    """The token credential: the managed identity when asked for, else a service
    principal."""
    if managed_identity_asked(settings):
        if settings["client_secret"] or settings["client_certificate_path"] \
                or settings["tenant_id"]:
            raise Writer.bad_config(
                f"{where} sets {key('use_managed_identity')} = true and "
                "service-principal keys",
                f"remove {key('tenant_id')}, {key('client_secret')} and "
                f"{key('client_certificate_path')} (a managed identity needs none), or "
                f"set {key('use_managed_identity')} = false")
        client_id = settings["client_id"]
        kwargs = {"client_id": client_id} if client_id else {}
        who = (f"user-assigned managed identity {client_id}" if client_id
               else "system-assigned managed identity")
        return ManagedIdentityCredential(**kwargs), who, []
    return _service_principal(settings, where, authority, key)


def _service_principal(settings: Settings, where: str, authority: str, key: KeyName
                       ) -> Credential:
    """A service principal: tenant, client ID, and one of a secret or a certificate."""
    tenant, client_id = settings["tenant_id"], settings["client_id"]
    secret, cert_path = settings["client_secret"], settings["client_certificate_path"]
    if not tenant:
        raise Writer.bad_config(
            f"{where} sets no {key('tenant_id')}",
            f"set {key('tenant_id')}, {key('client_id')} and {key('client_secret')} "
            f"(or {key('client_certificate_path')}) of a service principal, or "
            f"{key('use_managed_identity')} = true on an Azure VM, container or function")
    if not client_id:
        raise Writer.bad_config(
            f"{where} sets no {key('client_id')}",
            f"set {key('client_id')} to the service principal's appId")
    if bool(secret) == bool(cert_path):
        raise Writer.bad_config(
            f"{where} sets {'both' if secret else 'neither'} of {key('client_secret')} "
            f"and {key('client_certificate_path')}",
            "set exactly one: the client secret's value, or the path of a PEM file "
            "holding the certificate and its private key")
    options: dict[str, Any] = {"authority": authority, "retry_total": 0}  # the writer retries
    if settings["authority_host"]:
        options["disable_instance_discovery"] = True
    who = f"service principal {client_id}"
    if secret:
        return ClientSecretCredential(tenant, client_id, secret, **options), who, [secret]
    password = settings["client_certificate_password"]
    if not os.path.isfile(cert_path or "") or not os.access(cert_path or "", os.R_OK):
        raise Writer.bad_config(
            f"{key('client_certificate_path')} = {cert_path!r} in {where} is not a "
            "readable file", "give the path of the PEM file holding the service "
            "principal's certificate and private key (`az ad sp create-for-rbac "
            "--create-cert`)")
    try:
        made = CertificateCredential(tenant, client_id, certificate_path=cert_path,
                                     password=password, **options)
    except (ValueError, TypeError) as exc:
        raise Writer.bad_config(
            f"{key('client_certificate_path')} = {cert_path!r} in {where} holds no "
            "usable certificate and private key",
            "use a PEM (or PKCS#12) file with the certificate and its unencrypted "
            f"private key, or set {key('client_certificate_password')}",
            evidence=apierrors.masked(first_line(str(exc)), [password])) from None
    return made, f"{who} (certificate)", [password or ""]


# -- Microsoft Entra ID's refusals ---------------------------------------------------------------

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


def from_entra(exc: Exception) -> bool:
    """A token refused by Microsoft Entra ID, not a token refused by Resource Manager (401)."""
    if not isinstance(exc, ClientAuthenticationError):
        return False
    text = str(exc)
    return exc.status_code is None or "AADSTS" in text or "Entra ID" in text


def aad_code(text: str) -> str:
    match = re.search(r"AADSTS\d+", text)
    error = re.search(r"\((\w+)\)", text)
    return " ".join(p for p in ((error.group(1) if error else ""),
                                (match.group(0) if match else "")) if p) or "no token"


def aad_description(text: str) -> str:
    match = re.search(r"AADSTS\d+:[^\r\n]*", text)
    return (f"Microsoft Entra ID: {match.group(0)}" if match else first_line(text))[:400]


def aad_fix(text: str, key: KeyName) -> str:
    match = re.search(r"AADSTS(\d+)", text)
    template = _AAD_FIXES.get(match.group(1) if match else "", (
        "check {tenant}, {client} and {secret} (or the certificate) against the service "
        "principal in Microsoft Entra ID"))
    return template.format(secret=key("client_secret"), client=key("client_id"),
                           tenant=key("tenant_id"), rm=key("resource_manager_url"),
                           env=key("environment"))


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def zone_scope(subscription: str, group: str, zone: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{group}"
            f"/providers/Microsoft.Network/dnsZones/{zone}")


def said(exc: Exception) -> apierrors.Said | None:
    """What Azure said, from an azure-core or azure-identity error (None: not an answer).
    A subscription or resource group that does not exist counts as 404 (the zone's
    container is not there); a token Microsoft Entra ID refused, as 401."""
    if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
        return apierrors.Said(failure=apierrors.TIMEOUT, message=type(exc).__name__)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return apierrors.Said(failure=apierrors.CONNECTION, message=type(exc).__name__)
    if from_entra(exc):
        status = getattr(exc, "status_code", None) or 0
        return apierrors.Said(status=status if status >= 429 else 401,
                              code=aad_code(str(exc)))
    if not isinstance(exc, HttpResponseError):
        return None
    code = str(getattr(exc.error, "code", None) or exc.reason or "")
    message = str(getattr(exc.error, "message", None) or first_line(str(exc)))
    return apierrors.Said(status=404 if code in _NO_GROUP else int(exc.status_code or 0),
                          code=code, message=message,
                          retry_after=apierrors.retry_after(exc.response))


class AzureApi(Writer):
    """The calls of one principal to Resource Manager, and their errors."""

    label: str
    subscription: str
    group: str
    who: str
    client: Any
    _secrets: list[str]

    said = staticmethod(said)

    def _call(self, what: str, fn: Callable[[], T], zone: str | None = None) -> T:
        """One SDK call, retried while Azure limits or fails it; its failure as one error."""
        try:
            return self.call(what, fn)
        except SDK_ERRORS as exc:
            raise self._error(exc, what, zone) from None

    def _error(self, exc: Exception, what: str, zone: str | None = None) -> AutopilotError:
        """One AutopilotError for an SDK exception of a call: which right is missing where,
        and the fix."""
        key = self.key
        if isinstance(exc, CredentialUnavailableError):
            return AutopilotError(
                Code.PERMISSION_DENIED,
                f"{self.label}: no managed identity is available to {what}",
                "run on an Azure resource with a managed identity assigned (and set "
                f"{key('client_id')} to a user-assigned identity's client ID), or use a "
                f"service principal ({key('tenant_id')}, {key('client_id')}, "
                f"{key('client_secret')})",
                evidence=apierrors.masked(first_line(str(exc)), self._secrets))
        answer = said(exc)
        assert answer is not None  # every SDK error is read
        scope = (zone_scope(self.subscription, self.group, zone) if zone else
                 f"/subscriptions/{self.subscription}/resourceGroups/{self.group}")
        role = (ROLE_FIX + scope + f" for this principal ({self.who}), or on its resource "
                "group; if access was granted just now, wait a few minutes for Azure to apply it")
        entra = from_entra(exc)
        fixes = apierrors.Fixes(
            refused=aad_fix(str(exc), self.key) if entra else role, denied=role,
            zone=self._where_zones_are() if answer.code in _NO_GROUP else (
                f"create the zone there, or set {key('resource_group')} to the resource "
                "group that holds it"),
            unreachable=(f"check {key('resource_manager_url')}/"
                         f"{key('authority_host')} (or {key('environment')}) and this "
                         "host's network and proxy settings") if answer.failure else (
                "retry later; if it persists, check the Azure status page and the message "
                "above"),
            other="the message above says why Azure refused it")
        evidence = ""
        if entra:
            problem = (f"{self.label}: Microsoft Entra ID refused a token to {what} "
                       f"({aad_code(str(exc))})")
            evidence = aad_description(str(exc))
        elif answer.failure:
            problem = f"{self.label}: could not reach Azure to {what}"
            evidence = first_line(str(exc))
        elif answer.status in (401, 403):
            problem = f"{self.label} may not {what}"
        elif answer.code in _NO_GROUP:
            problem = f"{self.label}: {answer.code} when trying to {what}"
        elif answer.status == 404:
            problem = (f"{self.label}: the DNS zone {zone or ''} does not exist in resource "
                       f"group {self.group} ({what})")
        else:
            problem = f"{self.label}: Azure answered HTTP {answer.status} when trying to {what}"
        return self.api_error(what, answer, fixes, api="Azure Resource Manager", problem=problem,
                                evidence=evidence, secrets=self._secrets)


    def _where_zones_are(self) -> str:
        """The fix for a wrong resource group: where the principal does see zones, if anywhere."""
        try:
            seen = self.call("list the DNS zones", lambda: [
                (z.name, _group_of(z.id)) for z in self.client.zones.list()])
        except (HttpResponseError, ServiceRequestError, ServiceResponseError):
            seen = []
        fix = (f"set {self.key('resource_group')} (and {self.key('subscription_id')}) to where "
               "the zone is: `az network dns zone list --query '[].[name,resourceGroup]'` "
               "shows it")
        if seen:
            fix += "; this principal sees " + ", ".join(
                f"{z} (resource group {g})" for z, g in sorted(seen))
        return fix


def _group_of(resource_id: str | None) -> str:
    match = re.search(r"/resourceGroups/([^/]+)", resource_id or "", re.IGNORECASE)
    return match.group(1) if match else "?"
