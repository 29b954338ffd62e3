"""`dns-autopilot doctor --all` over a certbot config dir whose lineages real certbot issued
against Pebble: healthy, made unhealthy afterwards (a read-only key saved for renewal, an old
value at the challenge name, an unreadable renewal config), and one renewed by another
authenticator (certbot-dns-rfc2136), whose DNS is not checked; and the same lineages' renewal
settings and this machine's renewal schedule (a --system-root made per test), ready for short
certificate lifetimes or not."""

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


def edit_renewal(config_dir: Path, lineage: str, **top: str | None) -> None:
    """Change a renewal config as an operator (or another tool) would: [renewalparams] keys
    given as params_<key>, top-level keys as they are; None removes the key."""
    conf = configobj.ConfigObj(str(config_dir / "renewal" / f"{lineage}.conf"),
                               encoding="utf-8", interpolation=False)
    for key, value in top.items():
        section = conf["renewalparams"] if key.startswith("params_") else conf
        key = key.removeprefix("params_")
        if value is None:
            section.pop(key, None)
        else:
            section[key] = value
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
    edit_renewal(certbot.config_dir, "readonly",
                 params_dns_autopilot_credentials=lab.env["LAB_CREDENTIALS_READONLY"])
    edit_renewal(certbot.config_dir, "stale", renew_before_expiry="100000 days")
    nsupdate(lab, "autopilot.test", f"_acme-challenge.{names['stale']}", "old-token", ttl=3600)
    (certbot.config_dir / "renewal" / "broken.conf").write_text("[renewalparams\nx = 1\n")
    yield certbot, names
    nsupdate(lab, "autopilot.test", f"_acme-challenge.{names['stale']}", "old-token", add=False)


TIMER = {  # a renewal timer as the install page gives one: twice a day
    "etc/systemd/system/certbot-renew.timer":
        "[Timer]\nOnCalendar=*-*-* 00,12:00:00\nRandomizedDelaySec=1h\n"
        "[Install]\nWantedBy=timers.target\n",
    "etc/systemd/system/certbot-renew.service":
        "[Service]\nType=oneshot\nExecStart=/opt/certbot/bin/certbot renew -q\n",
}


def system_root(path: Path, files: dict[str, str], enabled: tuple[str, ...] = ()) -> Path:
    """A file system with these timers and cron tables, ``enabled`` timers linked as
    `systemctl enable` links them."""
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    wants = path / "etc/systemd/system/timers.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in enabled:
        os.symlink(f"/etc/systemd/system/{unit}", wants / unit)
    return path


@pytest.fixture(scope="module")
def renewing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A machine whose certbot renew runs twice a day, as the docs set it up."""
    return system_root(tmp_path_factory.mktemp("root"), TIMER, ("certbot-renew.timer",))


def doctor_all(lab: Lab, config_dir: Path, *extra: str, root: Path | None = None
               ) -> subprocess.CompletedProcess:
    """doctor --all; the machine's schedule read under ``root`` (default: none at all)."""
    root = root or config_dir / "no-such-root"
    proc = subprocess.run([str(DOCTOR), "doctor", "--all", "--config-dir", str(config_dir),
                           "--system-root", str(root), *extra], capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, REQUESTS_CA_BUNDLE=lab.env["LAB_CA_BUNDLE"]))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def secret(lab: Lab) -> str:
    return next(line.split("=", 1)[1].strip() for line in lab.credentials.read_text()
                .splitlines() if line.startswith("dns_autopilot_rfc2136_secret"))


def test_doctor_all_checks_each_lineage_with_its_saved_options(lab: Lab, fleet, renewing
                                                               ) -> None:
    certbot, names = fleet
    proc = doctor_all(lab, certbot.config_dir, "--json", root=renewing)
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
        ("renewal-window", "error"), ("stale-record", "warning")]
    assert "old-token" in stale["findings"][1]["values"]
    assert stale["renew_now"] is True  # its own renew_before_expiry, longer than the lifetime

    other = by_name["other"]
    assert (other["authenticator"], other["checked"], other["findings"]) == (
        "dns-rfc2136", False, [])
    assert other["domains"] == [names["other"]] and other["expires"]

    [broken] = by_name["broken"]["findings"]
    assert (broken["code"], broken["severity"]) == ("renewal-config", "error")
    assert "broken.conf" in broken["problem"]

    assert report["machine"] == []  # certbot renew runs twice a day
    assert report["summary"] == {"lineages": 5, "checked": 3, "not_checked": 2,
                                 "renew_now": 1, "errors": 3, "warnings": 1, "status": 2}
    assert secret(lab) not in proc.stdout + proc.stderr


def test_no_permission_probe_keeps_it_read_only(lab: Lab, fleet, renewing) -> None:
    certbot, _ = fleet
    proc = doctor_all(lab, certbot.config_dir, "--json", "--no-permission-probe",
                      root=renewing)
    by_name = {lin["name"]: lin for lin in json.loads(proc.stdout)["lineages"]}
    assert by_name["readonly"]["findings"] == []


def test_table_findings_and_exit_status_by_the_worst_finding(lab: Lab, fleet, renewing,
                                                             tmp_path: Path) -> None:
    certbot, names = fleet
    proc = doctor_all(lab, certbot.config_dir, "--no-permission-probe", root=renewing)
    assert proc.returncode == 2  # broken.conf
    header, *rows = proc.stdout.split("\n\n")[0].splitlines()
    assert header.split()[:2] == ["LINEAGE", "NAMES"]
    line = {row.split()[0]: row for row in rows}
    assert names["healthy"] in line["healthy"] and line["healthy"].endswith("  ok")
    assert line["other"].endswith("not checked (dns-rfc2136)")
    assert "error renewal-window (+1)" in line["stale"] and " yes " in line["stale"]
    assert "[stale-record] warning" in proc.stdout and "[renewal-config] error" in proc.stdout

    # Warnings only: exit 1. The renewal configs name their certificates by absolute path.
    only = tmp_path / "config"
    (only / "renewal").mkdir(parents=True)
    for lineage in ("healthy", "stale", "other"):
        shutil.copy(certbot.config_dir / "renewal" / f"{lineage}.conf", only / "renewal")
    edit_renewal(only, "stale", renew_before_expiry=None)  # certbot decides
    assert doctor_all(lab, only, root=renewing).returncode == 1
    os.remove(only / "renewal" / "stale.conf")
    assert doctor_all(lab, only, root=renewing).returncode == 0


def test_prometheus_textfile(lab: Lab, fleet, renewing, tmp_path: Path) -> None:
    certbot, _ = fleet
    target = tmp_path / "dns_autopilot.prom"
    target.write_text("old content\n")
    proc = doctor_all(lab, certbot.config_dir, "--no-permission-probe",
                      "--prometheus", str(target), root=renewing)
    assert proc.returncode == 2
    text = target.read_text()
    assert "old content" not in text
    assert 'dns_autopilot_lineage_severity{lineage="healthy"} 0' in text
    assert 'dns_autopilot_lineage_severity{lineage="stale"} 2' in text
    assert 'dns_autopilot_lineage_severity{lineage="broken"} 2' in text
    assert ('dns_autopilot_findings{lineage="stale",code="stale-record",severity="warning"} 1'
            in text)
    assert 'dns_autopilot_renew_now{lineage="stale"} 1' in text
    assert 'dns_autopilot_certificate_days_left{lineage="other"}' in text
    assert 'lineage_severity{lineage="other"}' not in text  # not checked
    assert [p.name for p in tmp_path.iterdir()] == ["dns_autopilot.prom"]  # no temp left


def test_doctor_all_checks_readiness_for_short_lifetimes(lab: Lab, fleet, renewing,
                                                         tmp_path: Path) -> None:
    """Must-Staple from Let's Encrypt, a renew_before_expiry for another lifetime, and this
    machine's certbot renew schedule: missing, too rare for a 6-day certificate, enough."""
    certbot, _ = fleet
    config = tmp_path / "config"
    (config / "renewal").mkdir(parents=True)
    for lineage in ("healthy", "other"):
        shutil.copy(certbot.config_dir / "renewal" / f"{lineage}.conf", config / "renewal")
    # Another authenticator's lineage: its renewal settings are checked, its DNS is not (so
    # nothing asks the real Let's Encrypt directory named here).
    edit_renewal(config, "other", params_must_staple="True",
                 params_server="https://acme-staging-v02.api.letsencrypt.org/directory")
    edit_renewal(config, "healthy", renew_before_expiry="1 day")  # of a 5-year certificate
    # A 6-day certificate, as Let's Encrypt's shortlived profile issues (Pebble 2.4 has no
    # profiles): the same renewal config, another certificate.
    short = tmp_path / "short.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "6", "-subj", "/CN=short.test",
                    "-addext", "subjectAltName=DNS:short.test", "-keyout",
                    str(tmp_path / "short.key"), "-out", str(short)], check=True,
                   capture_output=True)
    shutil.copy(config / "renewal" / "other.conf", config / "renewal" / "short.conf")
    edit_renewal(config, "short", cert=str(short), params_must_staple=None,
                 params_server=lab.env["LAB_ACME_DIRECTORY"])

    proc = doctor_all(lab, config, "--json", "--no-permission-probe")  # nothing renews
    report = json.loads(proc.stdout)
    by_name = {lin["name"]: lin for lin in report["lineages"]}
    assert [(f["code"], f["severity"]) for f in by_name["other"]["findings"]] == [
        ("must-staple", "error")]
    assert [(f["code"], f["severity"]) for f in by_name["healthy"]["findings"]] == [
        ("renewal-window", "warning")]
    assert by_name["short"]["findings"] == []
    [none] = report["machine"]
    assert (none["code"], none["severity"], none["name"]) == ("renewal-schedule", "error",
                                                              "this machine")
    assert proc.returncode == 2

    daily = system_root(tmp_path / "daily", {
        "etc/cron.d/certbot": "17 3 * * * root /opt/certbot/bin/certbot renew -q\n"})
    [rare] = json.loads(doctor_all(lab, config, "--json", "--no-permission-probe",
                                   root=daily).stdout)["machine"]
    assert (rare["code"], rare["severity"], rare["name"]) == ("renewal-schedule", "warning",
                                                              "short")
    assert "cron.d/certbot:1" in rare["evidence"]

    text = doctor_all(lab, config, "--no-permission-probe", root=renewing)
    assert "== this machine" not in text.stdout and "[must-staple] error: other" in text.stdout
    assert "Fix: remove the line must_staple = True" in text.stdout
