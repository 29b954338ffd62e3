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


def test_an_autopilot_error_is_prefixed_once(monkeypatch, capsys) -> None:
    from certbot_dns_autopilot.errors import AutopilotError

    def refuse(args):
        raise AutopilotError("bad-config", "the key is wrong", "correct it")
    monkeypatch.setattr(doctor, "diagnose", refuse)
    assert cli_main.main(ARGV) == 2
    err = capsys.readouterr().err
    assert err.startswith("dns-autopilot doctor [bad-config]: the key is wrong")
    assert err.count("dns-autopilot ") == 1


@pytest.mark.parametrize(("argv", "said"), [
    (["doctor", "--all", "-d", "a.example"], "--all checks each lineage with the options "
     "saved in its renewal configuration: drop -d"),
    (["doctor", "--all", "--resolvers", "9.9.9.9", "--follow-cnames", "false"],
     "drop --resolvers, --follow-cnames"),
    (["doctor", "--all", "--jobs", "0"], "argument --jobs: '0' is not a whole number of 1 or "
     "more"),
    (["doctor", "-d", "a..example", "--credentials", "/x"], "-d: "),
    (["doctor", "-d", "a.example", "--credentials", "/x", "--resolvers", "dns.google"],
     "--resolvers: 'dns.google' is not an address"),
    (["doctor", "-d", "a.example", "--credentials", "/x", "--config-dir", "/nonexistent/le"],
     "--config-dir /nonexistent/le is not a directory"),
    (["doctor", "--no-such-option"], "unrecognized arguments"),
    (["acme-dns", "register", "-d", "a.example", "--api-url", "https://auth.example",
      "--registration-file", "/x.json", "--allow-from", "10.0.0.0/33"],
     "'10.0.0.0/33': the prefix length must be a number from 0 to 32 for an IPv4 address"),
    (["acme-dns", "register", "-d", "a.example", "--api-url", "https://auth.example",
      "--registration-file", "/x.json", "--allow-from", "10.0.0.300/8"],
     "'10.0.0.300' in '10.0.0.300/8' is not an IP address"),
], ids=["d-with-all", "per-name-with-all", "jobs-0", "bad-name", "bad-resolver",
        "config-dir", "unknown-option", "cidr-33", "cidr-address"])
def test_a_usage_error_is_one_message_and_status_3(capsys, argv, said) -> None:
    """UNKNOWN in the Nagios convention: no finding was made, nothing was asked."""
    with pytest.raises(SystemExit) as exited:
        cli_main.main(argv)
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert "--dns-autopilot-" not in err  # doctor's own spellings


def test_allow_from_takes_networks_as_acme_dns_does(monkeypatch) -> None:
    from certbot_dns_autopilot.cli import acmedns

    given = []
    monkeypatch.setattr(acmedns, "register", lambda *args: given.append(args[3]) or 0)
    assert cli_main.main(["acme-dns", "register", "-d", "a.example", "--api-url",
                          "https://auth.example", "--registration-file", "/x.json",
                          "--allow-from", "192.0.2.7/32", "--allow-from", "2001:db8::/32"]) == 0
    assert given == [["192.0.2.7/32", "2001:db8::/32"]]


def test_all_on_a_config_dir_without_renewal_configs_is_status_3(tmp_path, capsys) -> None:
    assert cli_main.main(["doctor", "--all", "--config-dir", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("dns-autopilot doctor [renewal-config]: certbot's renewal "
                          "configurations cannot be listed")


def test_doctor_names_its_own_flags_and_the_plugin_certbots(monkeypatch, capsys) -> None:
    """The same message, rendered where the user is; a fix only a certbot run can apply
    (remove-stale) keeps certbot's flag."""
    from certbot_dns_autopilot import options

    def refuse(args):
        raise errors.PluginError(f"check {options.flag('resolvers')} and "
                                 f"{options.flag('remove-stale')}")
    monkeypatch.setattr(doctor, "diagnose", refuse)
    assert cli_main.main(ARGV) == 2
    assert "check --resolvers and --dns-autopilot-remove-stale" in capsys.readouterr().err
    assert options.flag("resolvers") == "--dns-autopilot-resolvers"  # back to the plugin's


def test_the_credentials_help_says_nothing_of_renewal_configurations(capsys) -> None:
    with pytest.raises(SystemExit):
        cli_main.main(["doctor", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--credentials CREDENTIALS" in out and "Stored absolute" not in out
    assert "--address-family any|ipv4|ipv6" in out
