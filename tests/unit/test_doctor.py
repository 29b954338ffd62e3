"""`dns-autopilot doctor`'s output and exit status (0 healthy, 1 warnings, 2 errors), with
the probes replaced by their findings (the lab proves the probes themselves)."""

from __future__ import annotations

import json

import pytest
from certbot import errors

from certbot_dns_autopilot.cli import doctor
from certbot_dns_autopilot.cli import main as cli_main
from certbot_dns_autopilot.preflight.findings import ERROR, WARNING, Finding

ROUTE = {"name": "_acme-challenge.a.example", "target": "_acme-challenge.a.example",
         "zone": "a.example", "writer": "RFC 2136 server 192.0.2.1", "chain": None}
ARGV = ["doctor", "-d", "a.example", "--credentials", "/x.ini", "--account",
        "https://ca.example/acct/1"]


def found(*severities: str) -> list[Finding]:
    codes = {ERROR: "caa-blocked", WARNING: "stale-record"}
    return [Finding(codes[s], s, "a.example", f"a {s}", "evidence", "the fix")
            for s in severities]


@pytest.mark.parametrize(("severities", "status", "last"), [
    ((), 0, "healthy: no findings"),
    ((WARNING,), 1, "1 warning(s)"),
    ((WARNING, ERROR), 2, "1 error(s), 1 warning(s)"),
])
def test_the_exit_status_and_last_line_follow_the_worst_finding(
        monkeypatch, capsys, severities, status, last) -> None:
    monkeypatch.setattr(doctor, "diagnose", lambda args: ([ROUTE], found(*severities)))
    assert cli_main.main(ARGV) == status
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ACME account (CAA accounturi): https://ca.example/acct/1"
    assert out[1].startswith("_acme-challenge.a.example: written at ")
    assert out[-1] == last
    for severity in severities:
        assert any(line.startswith(f"[{found(severity)[0].code}] {severity}: ") for line in out)


def test_json_carries_routes_findings_and_status(monkeypatch, capsys) -> None:
    monkeypatch.setattr(doctor, "diagnose", lambda args: ([ROUTE], found(ERROR)))
    assert cli_main.main([*ARGV, "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == 2 and report["routes"] == [ROUTE]
    assert report["findings"][0]["code"] == "caa-blocked"


def test_a_file_doctor_cannot_use_is_one_line_and_status_2(monkeypatch, capsys) -> None:
    def refuse(args):
        raise errors.PluginError("the credentials file /x.ini does not exist. Fix: create it")
    monkeypatch.setattr(doctor, "diagnose", refuse)
    assert cli_main.main(ARGV) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == ("dns-autopilot doctor: the credentials file /x.ini does "
                                    "not exist. Fix: create it")
    assert "Traceback" not in captured.err
