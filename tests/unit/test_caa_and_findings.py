"""CAA decisions (RFC 8659) and how findings become exit codes and one error."""

from __future__ import annotations

from certbot_dns_autopilot.caa import CAA, authorizes, line_to_add, relevant
from certbot_dns_autopilot.findings import ERROR, WARNING, Finding, as_error, exit_status

LE = {"letsencrypt.org"}


def test_no_caa_anywhere_allows_every_ca() -> None:
    assert relevant([("www.example.com", []), ("example.com", [])]) is None


def test_the_closest_non_empty_set_rules() -> None:
    sets = [("www.example.com", []), ("example.com", [CAA(0, "issue", "digicert.com")]),
            ("com", [CAA(0, "issue", "letsencrypt.org")])]
    owner, records = relevant(sets)
    assert owner == "example.com"
    assert not authorizes(records, LE, wildcard=False)


def test_issue_value_parameters_and_case_are_ignored() -> None:
    assert authorizes([CAA(0, "issue", "LetsEncrypt.org; validationmethods=dns-01")], LE, False)


def test_issuewild_rules_wildcards_and_falls_back_to_issue() -> None:
    records = [CAA(0, "issue", "letsencrypt.org"), CAA(0, "issuewild", ";")]
    assert authorizes(records, LE, wildcard=False)
    assert not authorizes(records, LE, wildcard=True)
    assert authorizes([CAA(0, "issue", "letsencrypt.org")], LE, wildcard=True)


def test_only_iodef_allows_issuance_but_an_unknown_critical_tag_forbids_it() -> None:
    assert authorizes([CAA(0, "iodef", "mailto:x@example.com")], LE, False)
    assert not authorizes([CAA(128, "futuretag", "x"), CAA(0, "issue", "letsencrypt.org")],
                          LE, False)


def test_the_line_to_add_names_the_tag() -> None:
    assert line_to_add("example.com", "letsencrypt.org", True) == \
        'example.com. CAA 0 issuewild "letsencrypt.org"'


def finding(severity: str, code: str = "caa-blocked") -> Finding:
    return Finding(code, severity, "example.com", "problem", "evidence", "fix")


def test_exit_status_and_error_from_findings() -> None:
    assert exit_status([]) == 0
    assert exit_status([finding(WARNING, "stale-record")]) == 1
    assert exit_status([finding(WARNING), finding(ERROR)]) == 2
    assert as_error([finding(WARNING)]) is None
    error = as_error([finding(WARNING, "stale-record"), finding(ERROR), finding(ERROR, "x")])
    assert error.code == "caa-blocked" and "[x] error" in str(error)
