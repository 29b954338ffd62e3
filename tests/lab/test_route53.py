"""The Route 53 writer end to end: real certbot → boto3 → moto (IAM enforced) → BIND → Pebble.

The emulator (tests/lab/emulators/route53.py) holds public hosted zones autopilot.test and
example.test plus a private autopilot.test, and IAM users whose policies each lack one
action, so the classic mistakes of a Route 53 setup are met as a user meets them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulators.bind import ZoneBackend
from emulators.route53 import Route53Emulator
from labkit import Certbot, Lab, route53_ini, wait_absent

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import SectionKeys
from certbot_dns_autopilot.writers.route53 import Route53Writer

pytestmark = pytest.mark.lab

ZONE = "autopilot.test"
KEPT = "kept-by-someone-else"


@pytest.fixture(scope="module")
def route53(lab: Lab) -> Iterator[Route53Emulator]:
    emulator = Route53Emulator(ZoneBackend(lab.credentials), pending_polls=2).start()
    yield emulator
    emulator.stop()


def writer(route53: Route53Emulator, user: str) -> Route53Writer:
    key_id, secret = route53.keys[user]
    section = {"dns_autopilot_route53_access_key_id": key_id,
               "dns_autopilot_route53_secret_access_key": secret,
               "dns_autopilot_route53_endpoint_url": route53.endpoint}
    return Route53Writer.from_credentials(SectionKeys(section, "test"))


def assert_secret_absent(secret: str, certbot: Certbot, *texts: str) -> None:
    events = certbot.logs_dir / "dns-autopilot.jsonl"
    for text in (*texts, events.read_text() if events.exists() else ""):
        assert secret not in text


def test_apex_wildcard_www_issue_through_route53_and_keep_a_foreign_value(
        lab: Lab, certbot: Certbot, route53: Route53Emulator, tmp_path: Path,
        fresh_name: str) -> None:
    apex, www = f"_acme-challenge.{fresh_name}", f"_acme-challenge.www.{fresh_name}"
    route53.client().change_resource_record_sets(  # a colleague's value, in moto and BIND
        HostedZoneId=route53.zone_id(ZONE), ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {
                "Name": apex, "Type": "TXT", "TTL": 300,
                "ResourceRecords": [{"Value": f'"{KEPT}"'}]}}]})
    assert lab.txt(lab.primary, apex) == {KEPT}
    path, secret = route53_ini(tmp_path, route53, "acme")

    run = certbot.certonly(fresh_name, f"*.{fresh_name}", f"www.{fresh_name}", credentials=path)

    assert run.returncode == 0, run.output
    assert certbot.cert_names(fresh_name) == {fresh_name, f"*.{fresh_name}", f"www.{fresh_name}"}
    [write] = run.steps("write")
    assert write["writer"].startswith("Route 53 (access key …") and write["name"] == ZONE
    added = {(name, value) for action, name, value in route53.mirrored if action == "add"}
    assert {name for name, _ in added} >= {apex, www}, "the records reached BIND"
    # Cleanup: our values are gone from moto and BIND, the colleague's value stays in both.
    assert route53.txt(ZONE, apex) == {"TTL": 300, "values": {KEPT}}
    assert route53.txt(ZONE, www) is None
    wait_absent(lab, www)
    wait_absent(lab, apex, values=lab.txt(lab.primary, apex) - {KEPT})
    assert lab.txt(lab.primary, apex) == {KEPT}
    assert_secret_absent(secret, certbot, run.output, run.log)


def test_policy_without_getchange_fails_before_any_challenge_leaving_nothing(
        lab: Lab, certbot: Certbot, route53: Route53Emulator, tmp_path: Path,
        fresh_name: str) -> None:
    path, secret = route53_ini(tmp_path, route53, "acme-no-getchange")
    name = f"_acme-challenge.{fresh_name}"

    run = certbot.certonly(fresh_name, f"*.{fresh_name}", credentials=path)

    assert run.returncode != 0
    assert "dns-autopilot [permission-denied]" in run.output
    assert "route53:GetChange" in run.output and "cannot poll" in run.output
    assert '"Resource": "arn:aws:route53:::change/*"' in run.output
    assert "Traceback" not in run.output
    assert "Waiting for verification" not in run.output + run.log, "no challenge answered"
    assert ("add", name) in {(a, n) for a, n, _ in route53.mirrored}, "it did write first"
    assert route53.txt(ZONE, name) is None, "the values just written were removed"
    assert lab.txt(lab.primary, name) == set()
    assert_secret_absent(secret, certbot, run.output, run.log)


def test_policy_without_change_names_the_action_and_the_zone(
        lab: Lab, certbot: Certbot, route53: Route53Emulator, tmp_path: Path,
        fresh_name: str) -> None:
    path, secret = route53_ini(tmp_path, route53, "acme-no-change")

    run = certbot.certonly(fresh_name, credentials=path)

    assert run.returncode != 0
    assert "dns-autopilot [permission-denied]" in run.output
    assert "route53:ChangeResourceRecordSets" in run.output
    assert f"arn:aws:route53:::hostedzone/{route53.zone_id(ZONE)}" in run.output
    assert "Waiting for verification" not in run.output + run.log
    assert lab.txt(lab.primary, f"_acme-challenge.{fresh_name}") == set()
    assert_secret_absent(secret, certbot, run.output, run.log)


def test_doctor_reports_the_missing_getchange_as_json(
        lab: Lab, route53: Route53Emulator, tmp_path: Path, fresh_name: str) -> None:
    path, secret = route53_ini(tmp_path, route53, "acme-no-getchange")

    status, report = lab.doctor(fresh_name, credentials=path,
                                extra=("--caa-identities", "letsencrypt.org"))

    assert status == 2
    [finding] = [f for f in report["findings"] if f["code"] == "permission-denied"]
    assert finding["severity"] == "error"
    assert "route53:GetChange" in json.dumps(finding)
    assert "arn:aws:route53:::change/*" in finding["fix"]
    assert report["routes"][0]["zone"] == ZONE
    assert secret not in json.dumps(report)
    assert lab.txt(lab.primary, f"_acme-challenge.{fresh_name}") == set()


def test_doctor_is_healthy_with_the_minimal_policy_and_through_an_assumed_role(
        lab: Lab, route53: Route53Emulator, tmp_path: Path) -> None:
    for path, _ in (route53_ini(tmp_path, route53, "acme"),
                    route53_ini(tmp_path, route53, "assumer", role_arn=route53.role_arn)):
        name = f"t{uuid.uuid4().hex[:10]}.example.test"  # each probe on a name of its own
        status, report = lab.doctor(name, credentials=path,
                                    extra=("--caa-identities", "letsencrypt.org"))
        assert (status, report["findings"]) == (0, []), report["findings"]
        assert report["routes"][0]["writer"].startswith("Route 53 (access key …")


def test_doctor_names_listhostedzones_and_a_zone_no_account_holds(
        lab: Lab, route53: Route53Emulator, tmp_path: Path) -> None:
    path, _ = route53_ini(tmp_path, route53, "acme-no-list")
    status, report = lab.doctor("www.example.test", credentials=path)
    assert status == 2
    assert "route53:ListHostedZones" in json.dumps(report["findings"])

    path, _ = route53_ini(tmp_path, route53, "acme")
    status, report = lab.doctor("www.alias.test", credentials=path)
    assert status == 2
    [finding] = [f for f in report["findings"] if f["code"] == "zone-not-found"]
    assert (f"autopilot.test ({route53.zone_id(ZONE)}), "
            f"example.test ({route53.zone_id('example.test')})") in finding["evidence"]


def test_a_wrong_secret_is_permission_denied_without_echoing_it(
        lab: Lab, certbot: Certbot, route53: Route53Emulator, tmp_path: Path,
        fresh_name: str) -> None:
    wrong = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET"
    path, _ = route53_ini(tmp_path, route53, "acme", secret_access_key=wrong)
    run = certbot.certonly(fresh_name, credentials=path)
    assert run.returncode != 0
    assert "dns-autopilot [permission-denied]" in run.output
    assert "AWS rejected the credential (SignatureDoesNotMatch)" in run.output
    assert_secret_absent(wrong, certbot, run.output, run.log)


def test_a_change_never_insync_times_out_and_is_undone(
        lab: Lab, route53: Route53Emulator, fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    r53 = writer(route53, "acme")
    r53.insync_timeout = 2.0
    route53.stuck = True
    try:
        with pytest.raises(AutopilotError) as raised:
            r53.add(r53.find_zone(name), {name: {"token-value"}}, 60)
    finally:
        route53.stuck = False
    assert raised.value.code == "propagation-timeout"
    assert "still PENDING after 2 s" in str(raised.value)
    assert route53.txt(ZONE, name) is None
    assert lab.txt(lab.primary, name) == set()


def test_add_waits_for_insync_and_remove_keeps_other_values(
        lab: Lab, route53: Route53Emulator, fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    r53 = writer(route53, "acme")
    zone = r53.find_zone(name)
    assert r53.zone_id(zone) == route53.zone_id(ZONE) != route53.zone_id(ZONE, private=True)
    r53.add(zone, {name: {"one", "two"}}, 60)  # GetChange answers PENDING twice first
    assert lab.txt(lab.primary, name) == {"one", "two"} == r53.values(zone, name)
    assert route53.txt(ZONE, name, private=True) is None, "the private zone is not written"
    r53.add(zone, {name: {"two", "three"}}, 60)  # "two" is kept once, not duplicated
    assert route53.txt(ZONE, name) == {"TTL": 60, "values": {"one", "two", "three"}}
    r53.remove(zone, {name: {"one", "three"}})
    assert route53.txt(ZONE, name) == {"TTL": 60, "values": {"two"}}
    assert lab.txt(lab.primary, name) == {"two"}
    r53.remove(zone, {name: {"two"}})  # the last value: DELETE with its exact TTL and value
    assert route53.txt(ZONE, name) is None and lab.txt(lab.primary, name) == set()


class Events:
    """The run's event log as the writer sees it: each retry, as the run would log it."""

    def __init__(self) -> None:
        self.retries: list[dict] = []

    def emit(self, step: str, outcome: str, *args: object, **fields: object) -> None:
        self.retries.append({"step": step, "outcome": outcome, **fields})


def test_sets_that_keep_changing_are_a_write_conflict(
        lab: Lab, route53: Route53Emulator, fresh_name: str) -> None:
    # Another writer adds a value between each of the writer's reads and its batch: Route 53
    # refuses each batch (its DELETE no longer matches), and after five reads the writer
    # gives up with write-conflict; none of ours was written, the other values stay.
    name = f"_acme-challenge.{fresh_name}"
    r53 = writer(route53, "acme")
    r53.events = Events()
    zone = r53.find_zone(name)
    route53.interfere, route53.interfere_times = (ZONE, name, "another-host"), 5
    try:
        with pytest.raises(AutopilotError) as conflict:
            r53.add(zone, {name: {"ours"}}, 60)
        assert conflict.value.code == "write-conflict", conflict.value
        assert f"the TXT sets of {name} in {ZONE} kept changing" in conflict.value.problem
        assert "serialize" in conflict.value.fix and conflict.value.left_nothing
        assert [e["reason"] for e in r53.events.retries] == ["the set changed meanwhile"] * 4
        others = {f"another-host-{n}" for n in range(1, 6)}
        assert route53.txt(ZONE, name) == {"TTL": 60, "values": others}
    finally:
        route53.interfere, route53.interfere_times = None, 0
        current = route53.txt(ZONE, name)
        if current:
            route53.client().change_resource_record_sets(
                HostedZoneId=route53.zone_id(ZONE), ChangeBatch={"Changes": [{
                    "Action": "DELETE", "ResourceRecordSet": {
                        "Name": name + ".", "Type": "TXT", "TTL": current["TTL"],
                        "ResourceRecords": [{"Value": f'"{v}"'}
                                            for v in sorted(current["values"])]}}]})


def test_throttling_then_service_is_retried_once_each_as_a_retry_event(
        lab: Lab, route53: Route53Emulator, fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    r53 = writer(route53, "acme")
    r53.events = Events()
    route53.fail_next = [(400, "Throttling"), (503, "ServiceUnavailable")]
    zone = r53.find_zone(name)  # ListHostedZones: throttled, failing, then answered
    r53.add(zone, {name: {"one"}}, 60)
    assert lab.txt(lab.primary, name) == {"one"}
    r53.remove(zone, {name: {"one"}})
    assert [(e["step"], e["what"], e["attempt"], e["reason"]) for e in r53.events.retries] == [
        ("retry", "route53:ListHostedZones", 1, "HTTP 429"),
        ("retry", "route53:ListHostedZones", 2, "HTTP 503")]
    assert lab.txt(lab.primary, name) == set()


def assumed_role_secrets() -> list[str]:
    """The temporary route53_ini moto (in this process) issued for AssumeRole calls."""
    from moto.sts.models import sts_backends

    found = []
    for account in list(sts_backends.values()):
        for backend in list(account.values()):
            for role in backend.assumed_roles:
                found += [role.secret_access_key, role.session_token]
    return found


def test_no_secret_reaches_certbots_log_the_event_log_or_the_hook_through_a_role(
        lab: Lab, certbot: Certbot, route53: Route53Emulator, tmp_path: Path,
        fresh_name: str) -> None:
    # certbot's log holds every library's DEBUG records: botocore's request headers
    # (X-Amz-Security-Token) and the AssumeRole answer (a temporary SecretAccessKey).
    path, secret = route53_ini(tmp_path, route53, "assumer", role_arn=route53.role_arn)
    name = f"_acme-challenge.{fresh_name}"
    assert lab.txt(lab.ca_resolver, name, recurse=True) == set()  # the CA will fail: a hook
    hook = tmp_path / "hook.json"
    run = certbot.certonly(fresh_name, credentials=path,
                           extra=("--dns-autopilot-failure-hook", f"cat > {hook}"))
    assert run.returncode != 0 and run.hint, run.output
    temporary = assumed_role_secrets()
    assert temporary, "the run assumed no role"
    assert "botocore" in run.log and "X-Amz-Security-Token" in run.log  # logged, masked
    assert "<SessionToken>" in run.log or "SessionToken" in run.log
    artefacts = {"certbot's log": run.log, "output": run.output,
                 "event log": json.dumps(run.events), "hook": hook.read_text()}
    for what, text in artefacts.items():
        for value in [secret, *temporary]:
            assert value not in text, f"a secret in {what}"


def test_names_route53_returns_in_octal_escapes_sit_beside_the_validation_name(
        lab: Lab, certbot: Certbot, route53: Route53Emulator, tmp_path: Path,
        fresh_name: str) -> None:
    """Route 53 escapes '*' as \\052 and a space as \\040 (octal); dnspython reads \\DDD as
    decimal. Record sets listed beside ours and a hosted zone so named must neither stop a
    renewal (add, take-back, cleanup) nor be taken for another name."""
    validation = f"_acme-challenge.{fresh_name}"
    escaped = {f"\\052.{validation}": "a wildcard's value",
               f"a\\040b.{validation}": "a name with a space",
               f"\\056dot.{validation}": "a label holding a dot"}
    for name, text in escaped.items():
        route53.hold(ZONE, name, [text])
    odd = route53.client().create_hosted_zone(Name="odd\\040zone.test",
                                              CallerReference=uuid.uuid4().hex)
    path, _ = route53_ini(tmp_path, route53, "acme")
    try:
        status, report = lab.doctor(fresh_name, credentials=path,
                                    extra=("--caa-identities", "letsencrypt.org"))
        run = certbot.certonly(fresh_name, f"*.{fresh_name}", credentials=path)
    finally:
        route53.client().delete_hosted_zone(Id=odd["HostedZone"]["Id"])
    assert run.returncode == 0, run.output
    assert "Traceback" not in run.output and "Traceback" not in run.log
    assert status == 0, report
    assert route53.txt(ZONE, validation) is None  # ours removed
    for name, text in escaped.items():  # theirs untouched
        assert route53.txt(ZONE, name) == {"TTL": 300, "values": {text}}
    wait_absent(lab, validation)
