"""The Azure DNS writer end to end: real certbot → azure-identity/azure-mgmt-dns → the
emulator of Entra ID and Resource Manager (HTTPS, lab CA) → BIND → the waiter and Pebble."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from emulators.azure import AzureEmulator, Principal
from emulators.bind import ZoneBackend
from labkit import Certbot, Lab, Run, served_everywhere

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import SectionKeys
from certbot_dns_autopilot.writers.azure import AzureWriter

pytestmark = pytest.mark.lab

GROUP = "rg-dns"
OTHER_GROUP = "rg-web"
ZONE = "autopilot.test"


@pytest.fixture
def azure(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureEmulator]:
    # In-process SDK calls and `dns-autopilot doctor` trust the lab CA, as certbot does.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", lab.env["LAB_CA_BUNDLE"])
    emulator = AzureEmulator(ZoneBackend(lab.credentials), Path(lab.env["LAB_CA_BUNDLE"]),
                             lab.run_dir / "pebble" / "ca.key").start()
    emulator.add_group(GROUP, "example.test", ZONE)
    emulator.add_group(OTHER_GROUP, "web.invalid")
    yield emulator
    emulator.stop()


def contributor(azure: AzureEmulator, scope: str, secret: str = "s3cret-Azure~value.1"
                ) -> Principal:
    return azure.add_principal(secret, assignments=[(scope, "DNS Zone Contributor")])


def ini(path: Path, azure: AzureEmulator, principal: Principal, group: str = GROUP,
        secret: str | None = None, extra: str = "") -> Path:
    """The credentials file a user writes, pointing the SDK at the emulator (mode 600)."""
    path.write_text(
        f"dns_autopilot_azure_subscription_id = {azure.subscription}\n"
        f"dns_autopilot_azure_resource_group = {group}\n"
        f"dns_autopilot_azure_tenant_id = {azure.tenant}\n"
        f"dns_autopilot_azure_client_id = {principal.client_id}\n"
        + (f"dns_autopilot_azure_client_secret = {secret or principal.secret}\n"
           if not extra else extra)
        + f"dns_autopilot_azure_resource_manager_url = {azure.url}\n"
        f"dns_autopilot_azure_authority_host = {azure.url}\n")
    path.chmod(0o600)
    return path


def writer(path: Path) -> AzureWriter:
    import configobj

    conf = configobj.ConfigObj(str(path))
    return AzureWriter.from_credentials(SectionKeys(conf, str(path)))


def served(lab: Lab, name: str, expected: set[str], seconds: float = 15) -> None:
    """Cleanup reaches the secondary by NOTIFY + IXFR: allow it a moment, then insist."""
    served_everywhere(lab, name, lambda server, at: lab.txt(server, at) == expected, seconds)


def assert_no_secret(run: Run, *secrets: str) -> None:
    events = json.dumps(run.events)
    for secret in secrets:
        assert secret not in run.output and secret not in run.log and secret not in events


def assert_stopped_before_writing(run: Run, lab: Lab, azure: AzureEmulator, name: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.output
    assert not [e for e in run.steps("write") if e["outcome"] == "ok"], run.events
    assert "Waiting for verification" not in run.output, "a challenge was answered"
    assert not [m for m, _, status in azure.log if m in ("PUT", "PATCH") and status < 300]
    assert lab.txt(lab.primary, name) == set()


def test_certbot_issues_apex_wildcard_www_through_azure_and_keeps_others_values(
        lab: Lab, certbot: Certbot, azure: AzureEmulator, fresh_name: str,
        tmp_path: Path) -> None:
    label = fresh_name.removesuffix(f".{ZONE}")
    principal = contributor(azure, azure.group_scope(GROUP))
    credentials = ini(tmp_path / "azure.ini", azure, principal)
    azure.seed(GROUP, ZONE, f"_acme-challenge.{label}", ["kept-by-someone-else"])
    try:
        run = certbot.certonly(fresh_name, f"*.{fresh_name}", f"www.{fresh_name}",
                               credentials=credentials)
        assert run.returncode == 0, run.output
        assert certbot.cert_names(fresh_name) == {fresh_name, f"*.{fresh_name}",
                                                  f"www.{fresh_name}"}
        # Apex and wildcard share one record set, merged with the value already there.
        writes = [p for m, p, s in azure.log if m == "PUT" and s in (200, 201)]
        assert any(p.endswith(f"/TXT/_acme-challenge.{label}") for p in writes), writes
        assert any(p.endswith(f"/TXT/_acme-challenge.www.{label}") for p in writes), writes
        assert azure.txt(GROUP, ZONE, f"_acme-challenge.{label}") == ["kept-by-someone-else"]
        assert azure.txt(GROUP, ZONE, f"_acme-challenge.www.{label}") is None
        served(lab, f"_acme-challenge.{fresh_name}", {"kept-by-someone-else"})
        served(lab, f"_acme-challenge.www.{fresh_name}", set())
        assert azure.tokens, "the SDK fetched a token from the emulated Entra ID"
        assert_no_secret(run, principal.secret or "", *azure.tokens)
    finally:
        azure.seed(GROUP, ZONE, f"_acme-challenge.{label}", [])


@pytest.mark.parametrize("where", ["another resource group", "a sibling zone"])
def test_principal_scoped_elsewhere_is_denied_before_any_challenge(
        lab: Lab, certbot: Certbot, azure: AzureEmulator, fresh_name: str, tmp_path: Path,
        where: str) -> None:
    scope = (azure.group_scope(OTHER_GROUP) if where == "another resource group"
             else azure.zone_scope(GROUP, "example.test"))
    principal = contributor(azure, scope)
    run = certbot.certonly(fresh_name, f"*.{fresh_name}",
                           credentials=ini(tmp_path / "azure.ini", azure, principal))
    assert "dns-autopilot [permission-denied]" in run.output, run.output
    assert "DNS Zone Contributor" in run.output
    assert f"on {azure.zone_scope(GROUP, ZONE)} " in run.output, run.output
    assert "AuthorizationFailed" in run.output
    assert_stopped_before_writing(run, lab, azure, f"_acme-challenge.{fresh_name}")
    assert_no_secret(run, principal.secret or "")


def test_wrong_client_secret_is_permission_denied_without_the_secret(
        lab: Lab, certbot: Certbot, azure: AzureEmulator, fresh_name: str,
        tmp_path: Path) -> None:
    principal = contributor(azure, azure.group_scope(GROUP))
    wrong = "not-the-Secret~value.2"
    run = certbot.certonly(fresh_name, credentials=ini(tmp_path / "azure.ini", azure, principal,
                                                       secret=wrong))
    assert "dns-autopilot [permission-denied]" in run.output, run.output
    assert "AADSTS7000215" in run.output
    assert "dns_autopilot_azure_client_secret" in run.output
    assert_stopped_before_writing(run, lab, azure, f"_acme-challenge.{fresh_name}")
    assert_no_secret(run, wrong, principal.secret or "")
    assert not azure.tokens, "no token was issued"


def test_wrong_resource_group_is_zone_not_found_naming_where_the_zone_is(
        lab: Lab, certbot: Certbot, azure: AzureEmulator, fresh_name: str,
        tmp_path: Path) -> None:
    principal = contributor(azure, f"/subscriptions/{azure.subscription}")
    run = certbot.certonly(fresh_name, credentials=ini(tmp_path / "azure.ini", azure, principal,
                                                       group="rg-dsn"))
    assert "dns-autopilot [zone-not-found]" in run.output, run.output
    assert "ResourceGroupNotFound" in run.output
    assert f"{ZONE} (resource group {GROUP})" in run.output
    assert_stopped_before_writing(run, lab, azure, f"_acme-challenge.{fresh_name}")


def test_doctor_reports_the_scope_fix_and_probes_a_good_principal(
        lab: Lab, azure: AzureEmulator, fresh_name: str, tmp_path: Path) -> None:
    denied = contributor(azure, azure.group_scope(OTHER_GROUP))
    status, report = lab.doctor(fresh_name,
                                credentials=ini(tmp_path / "denied.ini", azure, denied))
    assert status == 2, report
    codes = {f["code"]: f for f in report["findings"]}
    assert "permission-denied" in codes, report
    assert azure.zone_scope(GROUP, ZONE) in codes["permission-denied"]["fix"]
    assert denied.secret not in json.dumps(report)

    good = contributor(azure, azure.zone_scope(GROUP, ZONE))  # least privilege: the zone only
    status, report = lab.doctor(fresh_name, credentials=ini(tmp_path / "good.ini", azure, good))
    assert not [f for f in report["findings"] if f["severity"] == "error"], report
    assert report["routes"][0]["zone"] == ZONE
    probe = [(m, s) for m, p, s in azure.log
             if p.endswith(f"/TXT/_acme-challenge.{fresh_name.removesuffix('.' + ZONE)}")]
    assert ("PUT", 201) in probe and ("DELETE", 200) in probe, probe
    assert lab.txt(lab.primary, f"_acme-challenge.{fresh_name}") == set()


def test_a_set_that_keeps_changing_is_a_write_conflict(
        lab: Lab, azure: AzureEmulator, fresh_name: str, tmp_path: Path) -> None:
    # Another writer changes the set before each of the writer's five conditional writes:
    # Azure answers 412 each time, and the writer gives up with write-conflict, having
    # written nothing and overwritten none of the other writer's values.
    label = fresh_name.removesuffix(f".{ZONE}")
    relative, name = f"_acme-challenge.{label}", f"_acme-challenge.{fresh_name}"
    az = writer(ini(tmp_path / "azure.ini", azure, contributor(azure, azure.group_scope(GROUP))))
    assert az.find_zone(name) == ZONE
    azure.interfere, azure.interfere_times = (GROUP, ZONE, relative, "another-host"), 5
    try:
        with pytest.raises(AutopilotError) as conflict:
            az.add(ZONE, {name: {"ours"}}, 60)
        assert conflict.value.code == "write-conflict", conflict.value
        assert f"{relative} in zone {ZONE} kept changing" in conflict.value.problem
        assert "serialize" in conflict.value.fix
        assert [m for m, p, s in azure.log if s == 412 and p.endswith(relative)] == ["PUT"] * 5
        others = {"another-host", *(f"another-host-{n}" for n in range(2, 6))}
        assert set(azure.txt(GROUP, ZONE, relative) or []) == others
        assert conflict.value.left_nothing
    finally:
        azure.interfere, azure.interfere_times = None, 1
        azure.seed(GROUP, ZONE, relative, [])


def test_a_concurrent_change_is_merged_not_overwritten(
        lab: Lab, azure: AzureEmulator, fresh_name: str, tmp_path: Path) -> None:
    label = fresh_name.removesuffix(f".{ZONE}")
    relative, name = f"_acme-challenge.{label}", f"_acme-challenge.{fresh_name}"
    az = writer(ini(tmp_path / "azure.ini", azure, contributor(azure, azure.group_scope(GROUP))))
    assert az.find_zone(name) == ZONE
    azure.interfere = (GROUP, ZONE, relative, "written-meanwhile")
    try:
        az.add(ZONE, {name: {"ours-1", "ours-2"}}, 60)
        assert [m for m, p, s in azure.log if s == 412 and p.endswith(relative)] == ["PUT"]
        assert az.values(ZONE, name) == {"ours-1", "ours-2", "written-meanwhile"}
        assert lab.txt(lab.primary, name) == {"ours-1", "ours-2", "written-meanwhile"}
        azure.interfere = (GROUP, ZONE, relative, "written-during-cleanup")
        az.remove(ZONE, {name: {"ours-1", "ours-2"}})
        assert set(azure.txt(GROUP, ZONE, relative) or []) == {"written-meanwhile",
                                                              "written-during-cleanup"}
        assert lab.txt(lab.primary, name) == {"written-meanwhile", "written-during-cleanup"}
    finally:
        azure.seed(GROUP, ZONE, relative, [])


def _certificate_pem(path: Path, password: str | None = None) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dns-autopilot-sp")])
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(password.encode())
                                       if password else serialization.NoEncryption())
                     + cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o600)
    return cert


def test_certificate_credential_and_an_unregistered_certificate(
        lab: Lab, azure: AzureEmulator, tmp_path: Path) -> None:
    registered = _certificate_pem(tmp_path / "sp.pem")
    _certificate_pem(tmp_path / "other.pem")
    principal = azure.add_principal(certificate=registered, assignments=[
        (azure.group_scope(GROUP), "DNS Zone Contributor")])
    for pem, ok in (("sp.pem", True), ("other.pem", False)):
        key = f"dns_autopilot_azure_client_certificate_path = {tmp_path / pem}\n"
        az = writer(ini(tmp_path / f"{pem}.ini", azure, principal, extra=key))
        if ok:
            assert az.find_zone(f"_acme-challenge.www.{ZONE}") == ZONE
            continue
        with pytest.raises(AutopilotError) as caught:
            az.find_zone(f"_acme-challenge.www.{ZONE}")
        assert caught.value.code == "permission-denied"
        assert "AADSTS700027" in str(caught.value)
        assert "BEGIN" not in str(caught.value)



def test_no_client_secret_certificate_password_or_token_reaches_any_log(
        lab: Lab, azure: AzureEmulator, certbot: Certbot, tmp_path: Path) -> None:
    secret, password = "Azure~client.secret-value_1234", "cert-Passw0rd-never-logged"
    registered = _certificate_pem(tmp_path / "sp.pem", password)
    by_secret = contributor(azure, azure.group_scope(GROUP), secret)
    by_cert = azure.add_principal(certificate=registered, assignments=[
        (azure.group_scope(GROUP), "DNS Zone Contributor")])
    cert_keys = (f"dns_autopilot_azure_client_certificate_path = {tmp_path / 'sp.pem'}\n"
                 f"dns_autopilot_azure_client_certificate_password = {password}\n")
    for path in (ini(tmp_path / "secret.ini", azure, by_secret),
                 ini(tmp_path / "cert.ini", azure, by_cert, extra=cert_keys)):
        name = f"t{uuid.uuid4().hex[:10]}.{ZONE}"
        run = certbot.certonly(name, credentials=path)
        assert run.returncode == 0, run.output
        assert "azure" in run.log  # the SDK's own records are there
        for text in (run.log, run.output, json.dumps(run.events)):
            for value in (secret, password, *azure.tokens):
                assert value not in text
