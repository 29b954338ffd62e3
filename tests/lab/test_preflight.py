"""Pre-flight probes against lab zones broken on purpose, from `dns-autopilot doctor` and
from `certbot certonly`; and a healthy zone that yields no finding at all."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from labkit import Certbot, Lab, nsupdate, served_everywhere, wait_absent
from netconditions import transfers_held

pytestmark = pytest.mark.lab

LE = ("--caa-identities", "letsencrypt.org")
KILLED = "LeftByAKilledRun-shapedAsTheCAsValuesAre_01"  # a DNS-01 value: 43 base64url


def codes(report: dict) -> dict[str, str]:
    return {f["code"]: f["severity"] for f in report["findings"]}


def test_a_healthy_zone_gives_no_finding(lab: Lab, fresh_name: str) -> None:
    status, report = lab.doctor(fresh_name, f"*.{fresh_name}", extra=LE)
    assert (status, report["findings"]) == (0, [])
    assert report["routes"][0]["zone"] == "autopilot.test"


def test_caa_for_another_ca_is_an_error_with_the_line_to_add(lab: Lab) -> None:
    status, report = lab.doctor("caa.autopilot.test", extra=LE)
    assert status == 2
    [finding] = report["findings"]
    assert finding["code"] == "caa-blocked" and finding["severity"] == "error"
    assert 'issue "other-ca.example"' in finding["evidence"]
    assert 'caa.autopilot.test. CAA 0 issue "letsencrypt.org"' in finding["fix"]


def test_issuewild_forbids_only_the_wildcard(lab: Lab) -> None:
    assert lab.doctor("wildonly.autopilot.test", extra=LE)[0] == 0
    status, report = lab.doctor("*.wildonly.autopilot.test", extra=LE)
    assert status == 2 and codes(report) == {"caa-blocked": "error"}
    assert "issuewild" in report["findings"][0]["fix"]


@pytest.mark.parametrize("domains", [("wildonly.autopilot.test", "*.wildonly.autopilot.test"),
                                     ("*.wildonly.autopilot.test",)],
                         ids=["apex-and-wildcard", "wildcard-only"])
def test_certbot_reads_issuewild_for_a_wildcard(lab: Lab, certbot: Certbot,
                                               domains: tuple[str, ...]) -> None:
    """certbot hands the wildcard's challenge with the bare name; the run still reads
    issuewild for it and stops before writing."""
    run = certbot.certonly(*domains, extra=("--dns-autopilot-caa-identities",
                                            "letsencrypt.org"))
    assert run.returncode != 0, run.output
    assert "dns-autopilot [caa-blocked]" in run.output and "Traceback" not in run.output
    assert "*.wildonly.autopilot.test" in run.output and "issuewild" in run.output
    assert not run.steps("write")
    [preflight] = run.steps("preflight")
    assert {f["name"] for f in preflight["findings"]} == {"*.wildonly.autopilot.test"}


def test_certbot_stops_on_caa_before_any_record_or_challenge(lab: Lab, certbot: Certbot) -> None:
    run = certbot.certonly("caa.autopilot.test",
                           extra=("--dns-autopilot-caa-identities", "letsencrypt.org"))
    assert run.returncode != 0
    assert "dns-autopilot [caa-blocked]" in run.output and "Traceback" not in run.output
    assert not run.steps("write")
    assert "Waiting for verification" not in run.output


def test_a_public_suffix_is_refused(lab: Lab) -> None:
    status, report = lab.doctor("github.io", extra=LE)
    assert status == 2 and "public-suffix" in codes(report)


def test_parent_and_apex_disagree_and_a_listed_server_is_lame(lab: Lab) -> None:
    status, report = lab.doctor(f"t{uuid.uuid4().hex[:8]}.mismatch.test", extra=LE)
    assert status == 2
    found = {f["code"]: f for f in report["findings"]}
    assert found["lame-delegation"]["severity"] == "error"
    assert "ns3.alias.test" in found["lame-delegation"]["evidence"]
    assert "REFUSED" in found["lame-delegation"]["evidence"]
    assert found["ns-mismatch"]["severity"] == "warning"
    assert "ns3.alias.test" in found["ns-mismatch"]["evidence"]


def test_an_old_value_with_a_long_ttl_is_a_stale_record_warning(lab: Lab, certbot: Certbot,
                                                                fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    nsupdate(lab, "autopilot.test", name, "old-token-from-a-failed-run", ttl=3600)
    status, report = lab.doctor(fresh_name, extra=LE)
    assert status == 1
    [finding] = report["findings"]
    assert finding["code"] == "stale-record" and "3600 s" in finding["problem"]
    assert "old-token-from-a-failed-run" in finding["evidence"]
    # A warning does not stop issuance; the old value is left alone.
    run = certbot.certonly(fresh_name)
    assert run.returncode == 0, run.output
    assert "dns-autopilot warning: [stale-record]" in run.output
    assert lab.txt(lab.primary, name) == {"old-token-from-a-failed-run"}


def test_remove_stale_drops_the_old_value_before_writing(lab: Lab, certbot: Certbot,
                                                         fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    nsupdate(lab, "autopilot.test", name, KILLED, ttl=3600)
    status, report = lab.doctor(fresh_name, extra=LE)
    [finding] = report["findings"]
    assert finding["code"] == "stale-record"
    assert finding["values"] == [KILLED]
    assert finding["where"] == ["autopilot.test", name]

    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-remove-stale", "true"))
    assert run.returncode == 0, run.output
    [removed] = run.steps("remove-stale")
    assert removed["outcome"] == "ok" and removed["values"] == [KILLED]
    assert removed["ts"] < run.steps("write")[0]["ts"], "removed before our write"
    wait_absent(lab, name)


def test_a_record_at_the_doubled_name_is_a_wrong_name_warning(lab: Lab) -> None:
    status, report = lab.doctor("doubled.autopilot.test", extra=LE)
    assert status == 1 and codes(report) == {"wrong-name": "warning"}
    assert "_acme-challenge.doubled.autopilot.test.autopilot.test" in \
        report["findings"][0]["problem"]


def test_a_key_without_update_rights_is_permission_denied(lab: Lab, certbot: Certbot,
                                                          fresh_name: str) -> None:
    readonly = Path(lab.env["LAB_CREDENTIALS_READONLY"])
    status, report = lab.doctor(fresh_name, credentials=readonly, extra=LE)
    assert status == 2
    [finding] = report["findings"]
    assert finding["code"] == "permission-denied" and "REFUSED" in finding["problem"]
    assert "update-policy" in finding["fix"]
    run = certbot.certonly(fresh_name, credentials=readonly)
    assert run.returncode != 0 and "dns-autopilot [permission-denied]" in run.output
    assert lab.txt(lab.primary, f"_acme-challenge.{fresh_name}") == set()


def test_preflight_can_be_skipped(lab: Lab, certbot: Certbot) -> None:
    run = certbot.certonly("caa.autopilot.test", extra=("--dns-autopilot-preflight", "false"))
    assert not run.steps("preflight")


def test_a_signed_zone_with_a_matching_ds_is_healthy_and_issues(lab: Lab, certbot: Certbot
                                                                ) -> None:
    name = f"t{uuid.uuid4().hex[:8]}.signed.test"
    status, report = lab.doctor(name, extra=LE)
    assert (status, report["findings"]) == (0, [])
    run = certbot.certonly(name)  # Pebble asks the validating Unbound
    assert run.returncode == 0, run.output


def test_a_stale_ds_at_the_parent_is_dnssec_broken(lab: Lab, certbot: Certbot) -> None:
    name = f"t{uuid.uuid4().hex[:8]}.badds.test"
    status, report = lab.doctor(name, extra=LE)
    assert status == 2
    [finding] = [f for f in report["findings"] if f["code"] == "dnssec-broken"]
    assert "no DNSKEY of the zone matches a DS" in finding["problem"]
    assert "key tag" in finding["evidence"] and f"resolver {lab.resolver}: SERVFAIL" in \
        finding["evidence"]
    assert "registrar" in finding["fix"]
    out_run = certbot.certonly(name)
    assert "dns-autopilot [dnssec-broken]" in out_run.output
    assert not out_run.steps("write")


def test_a_doctor_run_does_not_call_an_earlier_runs_probe_stale(lab: Lab,
                                                                fresh_name: str) -> None:
    """doctor's permission probe writes a value at the name and removes it. The secondary
    serves the value until the removal reaches it (after BIND's notify-delay, then a
    transfer): a doctor run in that moment finds it there, the plugin's own and nobody's stale
    record. Here the moment is held open: the earlier run's probe is written and removed as
    the writer does it (an RFC 2136 UPDATE each), the removal held back from the secondary
    while doctor asks."""
    from certbot_dns_autopilot.writers import PROBE_PREFIX

    name = f"_acme-challenge.{fresh_name}"
    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex[:12]}"
    nsupdate(lab, "autopilot.test", name, probe, ttl=60)
    served_everywhere(lab, name, lambda server, n: probe in lab.txt(server, n))
    with transfers_held(lab):
        nsupdate(lab, "autopilot.test", name, probe, add=False)
        status, report = lab.doctor(fresh_name, extra=(*LE, "--no-permission-probe"))
        assert probe in lab.txt(lab.secondary, name) and probe not in lab.txt(lab.primary, name)
    assert (status, report["findings"]) == (0, [])
    wait_absent(lab, name)


def test_apex_and_wildcard_share_one_finding_per_cause_in_doctors_words(lab: Lab) -> None:
    """One unknown-CA note for both names (no --server, no --caa-identities: no CA named),
    and one zone-not-found for a name no writer serves; doctor's flags in the fixes."""
    status, report = lab.doctor("caa.autopilot.test", "*.caa.autopilot.test")
    [note] = report["findings"]
    assert (status, note["code"], note["severity"]) == (1, "caa-blocked", "warning")
    assert note["name"] == "caa.autopilot.test, *.caa.autopilot.test"
    assert "no CA was named" in note["problem"] and "directory" not in note["problem"]
    assert "--caa-identities" in note["fix"] and "--dns-autopilot-" not in note["fix"]
    name = f"x{uuid.uuid4().hex[:8]}.nozone.invalid"
    status, report = lab.doctor(name, f"*.{name}", extra=LE)
    [missing] = report["findings"]
    assert (status, missing["code"], missing["name"]) == (2, "zone-not-found",
                                                          f"{name}, *.{name}")
