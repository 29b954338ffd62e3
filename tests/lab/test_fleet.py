"""`dns-autopilot doctor --all` over a certbot config dir whose lineages real certbot issued
against Pebble: healthy, made unhealthy afterwards (a read-only key saved for renewal, an old
value at the challenge name, an unreadable renewal config), and one renewed by another
authenticator (certbot-dns-rfc2136), which is listed but not checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import configobj
import pytest
from conftest import (
    DOCTOR,
    Certbot,
    Lab,
    fresh_lineage,
    issue_with_rfc2136,
    nsupdate,
)

pytestmark = pytest.mark.lab


def edit_renewal(certbot: Certbot, lineage: str, **top: str) -> None:
    """Change a renewal config as an operator (or another tool) would: [renewalparams] keys
    given as params_<key>, top-level keys as they are."""
    conf = configobj.ConfigObj(str(certbot.config_dir / "renewal" / f"{lineage}.conf"),
                               encoding="utf-8", interpolation=False)
    for key, value in top.items():
        if key.startswith("params_"):
            conf["renewalparams"][key.removeprefix("params_")] = value
        else:
            conf[key] = value
    conf.write()


@pytest.fixture(scope="module")
def fleet(lab: Lab, tmp_path_factory: pytest.TempPathFactory):
    """A config dir with five lineages; yields (certbot, {lineage: name})."""
    certbot = Certbot(lab, tmp_path_factory.mktemp("fleet"))
    names = {lineage: fresh_lineage() for lineage in ("healthy", "readonly", "stale", "other")}
    for lineage in ("healthy", "readonly", "stale"):
        run = certbot.certonly(names[lineage], extra=("--cert-name", lineage))
        assert run.returncode == 0, run.output
    issue_with_rfc2136(lab, certbot, names["other"], "other")
    # Made unhealthy after issuance, as happens between renewals:
    edit_renewal(certbot, "readonly",
                 params_dns_autopilot_credentials=lab.env["LAB_CREDENTIALS_READONLY"])
    edit_renewal(certbot, "stale", renew_before_expiry="100000 days")
    nsupdate(lab, "autopilot.test", f"_acme-challenge.{names['stale']}", "old-token", ttl=3600)
    (certbot.config_dir / "renewal" / "broken.conf").write_text("[renewalparams\nx = 1\n")
    yield certbot, names
    nsupdate(lab, "autopilot.test", f"_acme-challenge.{names['stale']}", "old-token", add=False)


def doctor_all(lab: Lab, config_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(DOCTOR), "doctor", "--all", "--config-dir", str(config_dir),
                           *extra], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, REQUESTS_CA_BUNDLE=lab.env["LAB_CA_BUNDLE"]))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def secret(lab: Lab) -> str:
    return next(line.split("=", 1)[1].strip() for line in lab.credentials.read_text()
                .splitlines() if line.startswith("dns_autopilot_rfc2136_secret"))


def test_doctor_all_checks_each_lineage_with_its_saved_options(lab: Lab, fleet) -> None:
    certbot, names = fleet
    proc = doctor_all(lab, certbot.config_dir, "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    by_name = {lin["name"]: lin for lin in report["lineages"]}
    assert sorted(by_name) == ["broken", "healthy", "other", "readonly", "stale"]

    healthy = by_name["healthy"]
    assert healthy["domains"] == [names["healthy"]] and healthy["findings"] == []
    assert healthy["authenticator"] == "dns-autopilot" and healthy["checked"] is True
    assert healthy["expires"] and healthy["days_left"] > 1 and healthy["renew_now"] is False

    # The read-only key saved in this lineage's renewal config, not the others' key.
    [denied] = by_name["readonly"]["findings"]
    assert (denied["code"], denied["severity"]) == ("permission-denied", "error")
    assert "readonly-key" in denied["problem"]

    stale = by_name["stale"]
    assert [(f["code"], f["severity"]) for f in stale["findings"]] == [
        ("stale-record", "warning")]
    assert "old-token" in stale["findings"][0]["values"]
    assert stale["renew_now"] is True  # its own renew_before_expiry

    other = by_name["other"]
    assert (other["authenticator"], other["checked"], other["findings"]) == (
        "dns-rfc2136", False, [])
    assert other["domains"] == [names["other"]] and other["expires"]

    [broken] = by_name["broken"]["findings"]
    assert (broken["code"], broken["severity"]) == ("renewal-config", "error")
    assert "broken.conf" in broken["problem"]

    assert report["summary"] == {"lineages": 5, "checked": 3, "not_checked": 2,
                                 "renew_now": 1, "errors": 2, "warnings": 1, "status": 2}
    assert secret(lab) not in proc.stdout + proc.stderr


def test_no_permission_probe_keeps_it_read_only(lab: Lab, fleet) -> None:
    certbot, _ = fleet
    proc = doctor_all(lab, certbot.config_dir, "--json", "--no-permission-probe")
    by_name = {lin["name"]: lin for lin in json.loads(proc.stdout)["lineages"]}
    assert by_name["readonly"]["findings"] == []


def test_table_findings_and_exit_status_by_the_worst_finding(lab: Lab, fleet,
                                                             tmp_path: Path) -> None:
    certbot, names = fleet
    proc = doctor_all(lab, certbot.config_dir, "--no-permission-probe")
    assert proc.returncode == 2  # broken.conf
    header, *rows = proc.stdout.split("\n\n")[0].splitlines()
    assert header.split()[:2] == ["LINEAGE", "NAMES"]
    line = {row.split()[0]: row for row in rows}
    assert names["healthy"] in line["healthy"] and line["healthy"].endswith("  ok")
    assert line["other"].endswith("not checked (dns-rfc2136)")
    assert "warning stale-record" in line["stale"] and " yes " in line["stale"]
    assert "[stale-record] warning" in proc.stdout and "[renewal-config] error" in proc.stdout

    # Warnings only: exit 1. The renewal configs name their certificates by absolute path.
    only = tmp_path / "config"
    (only / "renewal").mkdir(parents=True)
    for lineage in ("healthy", "stale", "other"):
        shutil.copy(certbot.config_dir / "renewal" / f"{lineage}.conf", only / "renewal")
    assert doctor_all(lab, only).returncode == 1
    os.remove(only / "renewal" / "stale.conf")
    assert doctor_all(lab, only).returncode == 0


def test_prometheus_textfile(lab: Lab, fleet, tmp_path: Path) -> None:
    certbot, _ = fleet
    target = tmp_path / "dns_autopilot.prom"
    target.write_text("old content\n")
    proc = doctor_all(lab, certbot.config_dir, "--no-permission-probe",
                      "--prometheus", str(target))
    assert proc.returncode == 2
    text = target.read_text()
    assert "old content" not in text
    assert 'dns_autopilot_lineage_severity{lineage="healthy"} 0' in text
    assert 'dns_autopilot_lineage_severity{lineage="stale"} 1' in text
    assert 'dns_autopilot_lineage_severity{lineage="broken"} 2' in text
    assert ('dns_autopilot_findings{lineage="stale",code="stale-record",severity="warning"} 1'
            in text)
    assert 'dns_autopilot_renew_now{lineage="stale"} 1' in text
    assert 'dns_autopilot_certificate_days_left{lineage="other"}' in text
    assert 'lineage_severity{lineage="other"}' not in text  # not checked
    assert [p.name for p in tmp_path.iterdir()] == ["dns_autopilot.prom"]  # no temp left
