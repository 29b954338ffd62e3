"""The Azure writer's settings and pure decisions: no network (the lab tests cover the API)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport, RequestsTransportResponse
from certbot import errors
from unit_helpers import RecordedEvents

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.names import longest_zone
from certbot_dns_autopilot.writers import SectionKeys, retry
from certbot_dns_autopilot.writers.azure import (
    AzureWriter,
    likely_zone,
    relative_name,
    txt_records,
    txt_values,
)
from certbot_dns_autopilot.writers.azure_api import aad_fix

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
CLIENT = "6f3b1c3e-7d4a-4b8e-9a51-2c0f1e7d9b42"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SECRET = "Xy8Q~not-a-real-secret.value"


def keys(**settings: str) -> SectionKeys:
    base = {"subscription_id": SUB, "resource_group": "rg-dns", "tenant_id": TENANT,
            "client_id": CLIENT, "client_secret": SECRET}
    base.update(settings)
    section = {f"dns_autopilot_azure_{k}": v for k, v in base.items() if v is not None}
    return SectionKeys(section, "azure.ini")


def _aad_fix(text: str) -> str:
    return aad_fix(text, AzureWriter.key)


def error_of(**settings: str) -> AutopilotError:
    with pytest.raises(AutopilotError) as caught:
        AzureWriter.from_credentials(keys(**settings))
    assert SECRET not in str(caught.value)
    return caught.value


def test_a_service_principal_on_the_public_cloud() -> None:
    writer = AzureWriter.from_credentials(keys())
    assert writer.resource_manager == "https://management.azure.com"
    assert writer.client._config.credential_scopes == ["https://management.azure.com/.default"]
    assert CLIENT in writer.label and "rg-dns" in writer.label and SECRET not in writer.label


@pytest.mark.parametrize(("environment", "url"), [
    ("AzureChinaCloud", "https://management.chinacloudapi.cn"),
    ("azureusgovernment", "https://management.usgovcloudapi.net"),
])
def test_sovereign_clouds_pick_their_endpoints(environment: str, url: str) -> None:
    writer = AzureWriter.from_credentials(keys(environment=environment))
    assert writer.client._config.credential_scopes == [f"{url}/.default"]
    assert url in writer.label


def test_explicit_endpoints_win_and_must_come_in_pairs() -> None:
    writer = AzureWriter.from_credentials(keys(
        resource_manager_url="https://management.local.azurestack.external/",
        authority_host="https://adfs.local.azurestack.external"))
    assert writer.resource_manager == "https://management.local.azurestack.external"
    err = error_of(resource_manager_url="https://management.local.azurestack.external")
    assert "dns_autopilot_azure_authority_host" in err.fix


@pytest.mark.parametrize(("settings", "code", "named"), [
    ({"subscription_id": "my-subscription"}, "bad-config", "subscription_id"),
    ({"resource_group": "rg/dns"}, "bad-config", "resource_group"),
    ({"environment": "AzureGermanCloud"}, "bad-config", "AzureChinaCloud"),
    ({"authority_host": "http://127.0.0.1:8443", "resource_manager_url": "https://x"},
     "bad-config", "authority_host"),
    ({"client_id": "my-app"}, "bad-config", "client_id"),
    ({"tenant_id": None}, "bad-config", "tenant_id"),
    ({"client_certificate_path": "/nonexistent.pem"}, "bad-config", "client_secret"),
    ({"client_secret": None}, "bad-config", "client_certificate_path"),
    ({"client_secret": None, "client_certificate_path": "/nonexistent.pem"},
     "bad-config", "client_certificate_path"),
    ({"use_managed_identity": "true"}, "bad-config", "use_managed_identity"),
    ({"use_managed_identity": "maybe"}, "bad-config", "use_managed_identity"),
])
def test_bad_settings_name_their_key(settings: dict, code: str, named: str) -> None:
    err = error_of(**settings)
    assert err.code == code
    assert named in f"{err.problem} {err.fix}"


def test_missing_required_keys_are_listed() -> None:
    with pytest.raises(errors.PluginError) as caught:
        AzureWriter.from_credentials(keys(resource_group=None, subscription_id=" "))
    assert "does not set dns_autopilot_azure_subscription_id and " \
        "dns_autopilot_azure_resource_group" in str(caught.value)
    assert getattr(caught.value, "code", None) == "bad-config"


def test_managed_identities() -> None:
    system = AzureWriter.from_credentials(keys(
        use_managed_identity="true", tenant_id=None, client_id=None, client_secret=None))
    assert "system-assigned managed identity" in system.label
    user = AzureWriter.from_credentials(keys(
        use_managed_identity="yes", tenant_id=None, client_secret=None))
    assert f"user-assigned managed identity {CLIENT}" in user.label


def test_an_unreadable_certificate_is_one_clear_error(tmp_path: Path) -> None:
    pem = tmp_path / "sp.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    err = error_of(client_secret=None, client_certificate_path=str(pem))
    assert err.code == "bad-config" and "client_certificate_path" in err.problem


def test_record_set_names_are_relative_to_the_zone() -> None:
    assert relative_name("_acme-challenge.www.Example.COM.", "example.com") == (
        "_acme-challenge.www")
    assert relative_name("example.com", "example.com") == "@"
    with pytest.raises(ValueError):
        relative_name("_acme-challenge.example.org", "example.com")


def test_the_longest_enclosing_zone_wins() -> None:
    zones = ["example.com", "dev.example.com", "ample.com", "example.org"]
    assert longest_zone("_acme-challenge.a.dev.example.com", zones) == "dev.example.com"
    assert longest_zone("_acme-challenge.example.com", zones) == "example.com"
    assert longest_zone("_acme-challenge.example.net", zones) is None


def test_long_values_are_split_and_joined_again() -> None:
    long_value = "x" * 300
    records = txt_records({long_value, "short"})
    assert sorted(len(s) for r in records for s in r.value) == [5, 45, 255]

    class Set:
        txt_records = records
    assert txt_values(Set) == {long_value, "short"}


def test_entra_errors_get_their_own_fix() -> None:
    assert "secret's *value*" in _aad_fix("Authentication failed: AADSTS7000215: Invalid client")
    assert "expired" in _aad_fix("AADSTS7000222: The provided client secret keys are expired")
    assert "dns_autopilot_azure_tenant_id" in _aad_fix("AADSTS90002: Tenant 'x' not found")


def test_the_zone_named_in_a_fix_is_the_registrable_domain() -> None:
    assert likely_zone("_acme-challenge.www.example.co.uk") == "example.co.uk"
    assert likely_zone("_acme-challenge.t1.autopilot.test") == "autopilot.test"


class Token:
    """A credential that always has a token: the transport decides what Azure answers."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("t0ken", 2**31)


class Scripted(HttpTransport):
    """Answers each request with the next (status, JSON body, headers) of a script."""

    def __init__(self, answers: list[tuple[int, dict, dict]]) -> None:
        self.answers, self.asked = answers, []

    def __enter__(self) -> Scripted:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request, **kwargs):  # noqa: ANN001, ANN201 - azure-core's signature
        self.asked.append(request.method)
        status, body, headers = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response._content = status, json.dumps(body).encode()
        response.headers.update({"Content-Type": "application/json", **headers})
        response.request = requests.Request(request.method, request.url).prepare()
        return RequestsTransportResponse(request, response)


def scripted_writer(answers: list[tuple[int, dict, dict]]) -> tuple[AzureWriter, Scripted]:
    transport = Scripted(answers)
    writer = AzureWriter(Token(), SUB, "rg-dns", "https://management.azure.com", "test",
                         secrets=[SECRET], transport=transport)
    writer.policy = retry.Policy(attempts=3, base=0.0, cap=0.0)
    writer.events = RecordedEvents()
    return writer, transport


ZONES = {"value": [{"id": f"/subscriptions/{SUB}/resourceGroups/rg-dns/providers/"
                          "Microsoft.Network/dnszones/example.com", "name": "example.com",
                    "location": "global"}]}


def test_a_throttled_and_a_failing_call_are_retried_each_as_an_event() -> None:
    busy = {"error": {"code": "TooManyRequests", "message": "slow down"}}
    writer, transport = scripted_writer([(429, busy, {"Retry-After": "0"}),
                                         (503, {"error": {"code": "ServerBusy"}}, {}),
                                         (200, ZONES, {})])
    assert writer.find_zone("_acme-challenge.www.example.com") == "example.com"
    assert transport.asked == ["GET"] * 3, "the SDK retried nothing itself"
    assert [(e["attempt"], e["reason"]) for e in writer.events.retries] == [
        (1, "HTTP 429"), (2, "HTTP 503")]


@pytest.mark.parametrize(("status", "error", "code", "tries"), [
    (403, "AuthorizationFailed", "permission-denied", 1),
    (404, "ResourceGroupNotFound", "zone-not-found", 1),
    (400, "BadRequest", "permission-denied", 1),
    (500, "InternalServerError", "provider-unreachable", 3),
])
def test_each_azure_answer_has_its_code(status: int, error: str, code: str, tries: int
                                        ) -> None:
    body = {"error": {"code": error, "message": f"said with {SECRET}"}}
    writer, transport = scripted_writer([(status, body, {})] * 4 + [(200, {"value": []}, {})])
    with pytest.raises(AutopilotError) as caught:
        writer.probe("example.com", "_acme-challenge.example.com")
    assert caught.value.code == code, caught.value
    assert len(transport.asked) >= tries and len(writer.events.retries) == tries - 1
    assert SECRET not in str(caught.value)


def record_set(etag: str, *values: str) -> dict:
    return {"id": f"/subscriptions/{SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/"
                  "dnszones/example.com/TXT/_acme-challenge", "name": "_acme-challenge",
            "etag": etag, "properties": {"TTL": 60, "TXTRecords": [
                {"value": [value]} for value in values]}}


def test_a_set_another_writer_keeps_changing_is_a_write_conflict() -> None:
    # Every read finds a new etag (another writer's value), every conditional PUT loses
    # (412): after its re-reads the writer gives up with write-conflict, nothing of ours left.
    lost = {"error": {"code": "PreconditionFailed", "message": "etag mismatch"}}
    answers = [answer for n in range(5) for answer in (
        (200, record_set(f"e{n}", f"theirs-{n}"), {}), (412, lost, {}))]
    writer, transport = scripted_writer(answers + [(200, record_set("e9", "theirs-9"), {})])
    with pytest.raises(AutopilotError) as caught:
        writer.add("example.com", {"_acme-challenge.example.com": {"ours"}}, 60)
    error = caught.value
    assert error.code == "write-conflict", error
    assert "_acme-challenge in zone example.com kept changing" in error.problem
    assert "(5 reads)" in error.problem and "serialize" in error.fix
    assert transport.asked == ["GET", "PUT"] * 5 + ["GET"]  # the last GET: the take-back
    assert [e["reason"] for e in writer.events.retries] == [
        "HTTP 412 (the set changed meanwhile)"] * 4  # the fifth loss gives up
    assert error.left_nothing
