"""doctor --all's pure parts: reading renewal configs, the doctor command line built from
saved options, certbot's renew-now decision, the table, the JSON and the textfile."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from unit_helpers import write_cert

from certbot_dns_autopilot.cli import doctor, fleet, renewal
from certbot_dns_autopilot.cli import main as cli_main
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.preflight.findings import ERROR, WARNING, Finding

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

CONF = """\
version = 5.8.0
archive_dir = /etc/letsencrypt/archive/{name}
cert = /etc/letsencrypt/live/{name}/cert.pem
{top}
[renewalparams]
account = 0123abcd
server = https://acme-v02.api.letsencrypt.org/directory
authenticator = {auth}
dns_autopilot_credentials = /etc/letsencrypt/autopilot.ini
dns_autopilot_resolvers = 9.9.9.9,149.112.112.112
dns_autopilot_propagation_timeout = 600
dns_autopilot_follow_cnames = False
dns_autopilot_address_family = ipv4
dns_autopilot_from_the_future = x
dns_autopilot_caa_identities = letsencrypt.org
{extra}
"""


def write(directory: Path, name: str, auth: str = "dns-autopilot", top: str = "",
          extra: str = "") -> Path:
    (directory / "renewal").mkdir(exist_ok=True)
    path = directory / "renewal" / f"{name}.conf"
    path.write_text(CONF.format(name=name, auth=auth, top=top, extra=extra))
    return path


def test_read_lineages_reads_each_config_with_its_saved_options(tmp_path: Path) -> None:
    write(tmp_path, "b.example", top="renew_before_expiry = 20 days",
          extra="autorenew = False")
    write(tmp_path, "a.example", auth="dns-cloudflare")
    (tmp_path / "renewal" / "notes.txt").write_text("not a lineage")
    a, b = renewal.read_lineages(str(tmp_path))
    assert (a.name, a.authenticator, b.name) == ("a.example", "dns-cloudflare", "b.example")
    assert b.cert == "/etc/letsencrypt/live/b.example/cert.pem"
    assert b.saved["credentials"] == "/etc/letsencrypt/autopilot.ini"
    # unquoted, configobj reads a list; certbot quotes it when it writes: one string either way
    assert b.saved["resolvers"] == "9.9.9.9,149.112.112.112"
    assert (b.renew_before_expiry, b.autorenew, b.account) == ("20 days", False, "0123abcd")
    assert a.autorenew is True and a.renew_before_expiry is None


def test_interpolation_is_off(tmp_path: Path) -> None:
    write(tmp_path, "pct", extra="dns_autopilot_failure_hook = printf '%(x)s' | mail")
    [lineage] = renewal.read_lineages(str(tmp_path))
    assert lineage.problem is None
    assert lineage.saved["failure_hook"] == "printf '%(x)s' | mail"


@pytest.mark.parametrize("content", ["[renewalparams\nx = 1\n", "cert = /x\n"],
                         ids=["unparsable", "no-renewalparams"])
def test_an_unreadable_config_is_a_problem_not_an_exception(tmp_path: Path, content: str
                                                            ) -> None:
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "bad.conf").write_text(content)
    [lineage] = renewal.read_lineages(str(tmp_path))
    assert lineage.name == "bad" and lineage.problem and "bad.conf" in lineage.problem
    report = fleet.check(lineage, str(tmp_path), True, NOW)
    assert [(f.code, f.severity) for f in report.findings] == [("renewal-config", ERROR)]


def test_a_missing_renewal_dir_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AutopilotError, match="--config-dir") as caught:
        renewal.read_lineages(str(tmp_path / "nowhere"))
    assert caught.value.code == "renewal-config"


def test_a_lineage_check_reads_the_saved_options_doctor_takes(tmp_path: Path) -> None:
    """Each option doctor takes, as the options table reads the renewal configuration's
    text; options only a run uses (the propagation timeout), and options this version does
    not know (a newer plugin's), are not doctor's business."""
    [lineage] = renewal.read_lineages(str(write(tmp_path, "x").parents[1]))
    check = fleet.lineage_check(lineage, ["x.example", "*.x.example"], "/etc/letsencrypt",
                                "https://ca/acct/1", no_permission_probe=True)
    assert check.domains == ("x.example", "*.x.example")
    assert check.options == {"credentials": "/etc/letsencrypt/autopilot.ini",
                             "resolvers": "9.9.9.9,149.112.112.112",
                             "caa-identities": "letsencrypt.org", "follow-cnames": False,
                             "address-family": "ipv4"}
    assert (check.server, check.account, check.no_permission_probe) == (
        "https://acme-v02.api.letsencrypt.org/directory", "https://ca/acct/1", True)
    assert check.option("follow-cnames") is False and check.certbot_config == \
        "/etc/letsencrypt"
    defaults = doctor.Check(("x.example",), {})
    assert (defaults.option("follow-cnames"), defaults.option("address-family")) == (True,
                                                                                     "any")


def test_each_lineage_is_checked_with_the_work_dir_its_renewals_lock_under(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """certbot renew restores a saved work_dir per lineage; doctor --all's probes take the
    writers' locks under the same one (else under the work dir doctor is given)."""
    write(tmp_path, "saved", extra="work_dir = /srv/le/work")
    write(tmp_path, "default")
    lineages = renewal.read_lineages(str(tmp_path))
    assert [lin.work_dir for lin in lineages] == [None, "/srv/le/work"]
    seen: dict[str, str | None] = {}

    def probe(check: doctor.Check) -> tuple[list, list]:
        seen[check.domains[0]] = check.work_dir
        return [], []

    monkeypatch.setattr(doctor, "diagnose", probe)
    monkeypatch.setattr(renewal, "certificate", lambda path: (
        [path.split("/")[-2] + ".example"], NOW, NOW + datetime.timedelta(days=90)))
    fleet.check_all(lineages, str(tmp_path), True, now=NOW, work_dir="/var/lib/letsencrypt")
    assert seen == {"default.example": "/var/lib/letsencrypt", "saved.example": "/srv/le/work"}


DAY = datetime.timedelta(days=1)


@pytest.mark.parametrize(("issued_days_ago", "lifetime", "before", "autorenew", "expected"), [
    (59, 90, None, True, False),   # 2/3 of 90 days is 60
    (61, 90, None, True, True),
    (4, 6, None, True, True),      # short-lived: half the lifetime
    (2, 6, None, True, False),
    (50, 90, "45 days", True, True),   # the lineage's own setting wins
    (30, 90, "45 days", True, False),
    (89, 90, "30", True, True),    # a bare number means days
    (89, 90, None, False, False),  # autorenew off
], ids=["default-early", "default-due", "short-due", "short-early", "own-due", "own-early",
        "bare-days", "autorenew-off"])
def test_would_renew_as_certbot_5(issued_days_ago: int, lifetime: int, before: str | None,
                                  autorenew: bool, expected: bool) -> None:
    not_before = NOW - issued_days_ago * DAY
    assert renewal.would_renew(not_before, not_before + lifetime * DAY, NOW, before,
                             autorenew) is expected


def _report(name: str, auth: str = "dns-autopilot", findings: tuple[Finding, ...] = (),
            checked: bool = True) -> fleet.Report:
    return fleet.Report(renewal.Lineage(name, f"/r/{name}.conf", authenticator=auth),
                        domains=[f"{name}.example", f"www.{name}.example"],
                        not_before=NOW - 10 * DAY, expires=NOW + 80 * DAY, renew_now=False,
                        checked=checked, findings=list(findings))


CAA = Finding("caa-blocked", ERROR, "a.example", "no", "ev", "fix")
STALE = Finding("stale-record", WARNING, "a.example", "old", "ev", "fix")


def test_table_and_summary() -> None:
    reports = [_report("a", findings=(STALE, CAA)), _report("b"),
               _report("c", auth="dns-route53", checked=False)]
    lines = fleet.table(reports, NOW).splitlines()
    assert lines[0].split() == ["LINEAGE", "NAMES", "EXPIRES", "DAYS", "RENEW", "NOW",
                                "WORST"]
    assert lines[1].split() == ["a", "a.example", "+1", "2027-02-19", "12:00", "80", "no",
                                "error", "caa-blocked", "(+1)"]
    assert lines[2].endswith("ok") and lines[3].endswith("not checked (dns-route53)")
    assert fleet.summary(reports) == {"lineages": 3, "checked": 2, "not_checked": 1,
                                      "renew_now": 0, "errors": 1, "warnings": 1, "status": 2}
    out = fleet.text(reports, NOW)
    assert "== a (a.example, www.a.example)" in out and "[caa-blocked] error" in out


def test_json_shape() -> None:
    doc = fleet.as_json([_report("a", findings=(STALE,))], NOW)
    [row] = doc["lineages"]
    assert {"name", "domains", "expires", "authenticator", "findings"} <= set(row)
    assert row["name"] == "a" and row["expires"] == "2027-02-19T12:00:00+00:00"
    assert row["findings"][0]["code"] == "stale-record"
    assert row["findings"][0]["severity"] == "warning"
    assert doc["summary"]["status"] == 1


def test_prometheus_text_escapes_labels_and_counts_by_code() -> None:
    text = fleet.prometheus([_report('we"ird\\', findings=(STALE, STALE, CAA)),
                             _report("d", auth="dns-route53", checked=False)], NOW)
    assert 'dns_autopilot_certificate_days_left{lineage="we\\"ird\\\\"} 80.000' in text
    assert ('dns_autopilot_findings{lineage="we\\"ird\\\\",code="stale-record",'
            'severity="warning"} 2') in text
    assert 'dns_autopilot_lineage_severity{lineage="we\\"ird\\\\"} 2' in text
    assert 'lineage_severity{lineage="d"}' not in text
    assert 'dns_autopilot_renew_now{lineage="d"} 0' in text
    for metric in ("certificate_days_left", "renew_now", "lineage_severity", "findings"):
        assert f"# TYPE dns_autopilot_{metric} gauge" in text
    assert text.endswith("\n")


def test_write_atomically_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.prom"
    target.write_text("old")
    fleet.write_atomically(str(target), "new\n")
    assert target.read_text() == "new\n" and os.listdir(tmp_path) == ["x.prom"]
    assert (target.stat().st_mode & 0o777) == 0o644


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from certbot_dns_autopilot import __version__

    with pytest.raises(SystemExit) as exited:
        cli_main.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"dns-autopilot {__version__} (certbot-dns-autopilot)"
    assert f"## [{__version__}]" in Path(__file__).parents[2].joinpath("CHANGELOG.md").read_text()


def test_doctor_without_names_or_all_says_what_it_needs(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["doctor"])
    assert exited.value.code == 3  # UNKNOWN: a usage error is no finding
    assert "-d NAME and --credentials PATH (or --all" in capsys.readouterr().err


def self_signed(path: Path, names: list[str], days: int) -> None:
    write_cert(path, names, datetime.datetime.now(UTC) - DAY, days)


@pytest.mark.parametrize(("extra", "expected", "code", "fix"), [
    ("dns_autopilot_credentials = /nonexistent/autopilot.ini", "/nonexistent/autopilot.ini",
     "bad-config", "create it with a record writer's keys"),  # as the renewal would say
    ("", "no dns_autopilot_credentials is saved", "renewal-config",
     "certbot reconfigure --cert-name a"),
], ids=["credentials-missing", "credentials-not-saved"])
def test_a_lineage_whose_credentials_cannot_be_used_is_one_finding(
        tmp_path: Path, extra: str, expected: str, code: str, fix: str) -> None:
    self_signed(tmp_path / "cert.pem", ["a.example", "*.a.example"], 90)
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "a.conf").write_text(
        f"cert = {tmp_path / 'cert.pem'}\n[renewalparams]\nauthenticator = dns-autopilot\n"
        f"{extra}\n")
    [report] = fleet.check_all(renewal.read_lineages(str(tmp_path)), str(tmp_path), True)
    assert report.checked and report.domains == ["a.example", "*.a.example"]
    assert report.renew_now is False and 88 < report.days_left(datetime.datetime.now(UTC)) < 90
    [finding] = report.findings
    assert (finding.code, finding.severity) == (code, ERROR)
    assert expected in finding.problem and fix in finding.fix


def test_another_authenticators_lineage_is_listed_not_checked(tmp_path: Path) -> None:
    self_signed(tmp_path / "cert.pem", ["b.example"], 6)  # short-lived, 5 of 6 days left
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "b.conf").write_text(
        f"cert = {tmp_path / 'cert.pem'}\n[renewalparams]\nauthenticator = dns-route53\n")
    [report] = fleet.check_all(renewal.read_lineages(str(tmp_path)), str(tmp_path), False)
    assert (report.checked, report.findings, report.renew_now) == (False, [], False)
    assert report.worst() == "not checked (dns-route53)"


def test_prometheus_without_all_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main.main(["doctor", "-d", "a.example", "--credentials", "/x", "--prometheus", "/p"])
    assert "add --all" in capsys.readouterr().err


def test_the_account_a_lineage_renews_with_is_found_by_its_saved_id(tmp_path: Path) -> None:
    import json

    from certbot_dns_autopilot.preflight import account

    server = "https://acme-v02.api.letsencrypt.org/directory"
    stored = Path(account.accounts_dir(str(tmp_path), server)) / "0123abcd"
    stored.mkdir(parents=True)
    (stored / "regr.json").write_text(json.dumps({"uri": "https://ca/acct/42"}))
    assert account.url_for_id(str(tmp_path), server, "0123abcd") == "https://ca/acct/42"
    assert account.url_for_id(str(tmp_path), server, "other") is None
    assert account.url_for_id(str(tmp_path), None, "0123abcd") is None


def test_machine_findings_count_in_json_text_textfile_and_status() -> None:
    machine = [Finding("renewal-schedule", ERROR, "this machine", "no timer", "", "add one")]
    reports = [_report("a")]
    doc = fleet.as_json(reports, NOW, machine)
    assert doc["machine"][0]["code"] == "renewal-schedule"
    assert doc["summary"]["errors"] == 1 and doc["summary"]["status"] == 2
    assert "== this machine (certbot renew)\n[renewal-schedule] error" in fleet.text(
        reports, NOW, machine)
    assert ('dns_autopilot_findings{lineage="",code="renewal-schedule",severity="error"} 1'
            in fleet.prometheus(reports, NOW, machine))


def test_every_lineages_renewal_settings_are_checked(tmp_path: Path) -> None:
    """must_staple from Let's Encrypt and a renew_before_expiry longer than a 6-day lifetime,
    on a lineage doctor does not check the DNS of (another authenticator)."""
    self_signed(tmp_path / "cert.pem", ["b.example"], 6)
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "b.conf").write_text(
        f"renew_before_expiry = 30 days\ncert = {tmp_path / 'cert.pem'}\n[renewalparams]\n"
        "authenticator = dns-route53\nmust_staple = True\n"
        "server = https://acme-v02.api.letsencrypt.org/directory\n")
    [report] = fleet.check_all(renewal.read_lineages(str(tmp_path)), str(tmp_path), True)
    assert [(f.code, f.severity) for f in report.findings] == [("must-staple", ERROR),
                                                               ("renewal-window", ERROR)]
    assert not report.checked and report.worst() == "error must-staple (+1)"


def test_a_saved_value_the_plugin_refuses_is_named_by_its_renewal_key(tmp_path: Path) -> None:
    self_signed(tmp_path / "cert.pem", ["a.example"], 90)
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "a.conf").write_text(
        f"cert = {tmp_path / 'cert.pem'}\n[renewalparams]\nauthenticator = dns-autopilot\n"
        "dns_autopilot_credentials = /x.ini\ndns_autopilot_address_family = ipv5\n")
    [report] = fleet.check_all(renewal.read_lineages(str(tmp_path)), str(tmp_path), True)
    [finding] = report.findings
    assert finding.code == "renewal-config"
    assert finding.problem.startswith("dns_autopilot_address_family = ipv5 in [renewalparams]")
    assert "certbot reconfigure --cert-name a --dns-autopilot-address-family" in finding.fix


def test_a_closed_output_pipe_ends_quietly(tmp_path: Path) -> None:
    """`doctor --all --json | head -1`: no traceback, the status a shell gives a command
    SIGPIPE ended (141)."""
    import subprocess
    import sys

    for i in range(300):  # more than a pipe's buffer of output (a finding each: no cert)
        write(tmp_path, f"b{i}", auth="dns-route53")
    read, write_end = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([str(Path(sys.executable).parent / "dns-autopilot"), "doctor",
                               "--all", "--json", "--config-dir", str(tmp_path),
                               "--system-root", str(tmp_path)], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
