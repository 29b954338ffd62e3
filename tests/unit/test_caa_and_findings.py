"""CAA decisions (RFC 8659, RFC 8657 parameters read as Boulder reads them) and how findings
become exit codes and one error."""

from __future__ import annotations

import pytest

from certbot_dns_autopilot.dnsio import Answer, Reach
from certbot_dns_autopilot.preflight import caa
from certbot_dns_autopilot.preflight.caa import (
    CAA,
    authorizes,
    evaluate,
    line_to_add,
    parse,
    relevant,
)
from certbot_dns_autopilot.preflight.findings import ERROR, WARNING, Finding, as_error, exit_status

LE = {"letsencrypt.org"}


def test_no_caa_anywhere_allows_every_ca() -> None:
    assert relevant([("www.example.com", []), ("example.com", [])]) is None


def test_the_closest_non_empty_set_rules() -> None:
    sets = [("www.example.com", []), ("example.com", [CAA(0, "issue", "digicert.com")]),
            ("com", [CAA(0, "issue", "letsencrypt.org")])]
    owner, records = relevant(sets)
    assert owner == "example.com"
    assert not authorizes(records, LE, wildcard=False)


def test_an_issuer_in_capitals_allows_but_is_flagged() -> None:
    # RFC 8659 domain names fold case; Boulder compares the issuer exactly: a warning.
    verdict = evaluate([CAA(0, "issue", "LetsEncrypt.org; validationmethods=dns-01")], LE, False)
    assert verdict.allowed and verdict.case_only
    both = evaluate([CAA(0, "issue", "LetsEncrypt.org"), CAA(0, "issue", " letsencrypt.org")],
                    LE, False)
    assert both.allowed and not both.case_only


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


ACCT = "https://acme-v02.api.letsencrypt.org/acme/acct/1234"
OTHER = "https://acme-v02.api.letsencrypt.org/acme/acct/9999"
STAGING_ACCT = "https://acme-staging-v02.api.letsencrypt.org/acme/acct/55"


@pytest.mark.parametrize(("value", "allowed"), [
    ("letsencrypt.org; validationmethods=dns-01", True),
    ("letsencrypt.org; validationmethods=http-01", False),
    ("letsencrypt.org; validationmethods=http-01,dns-01", True),
    ("letsencrypt.org; validationmethods=tls-alpn-01,http-01", False),
    ("letsencrypt.org; validationmethods=dns-01,made-up-method", True),  # unknown: skipped
    ("letsencrypt.org; validationmethods=made-up-method", False),
    ("letsencrypt.org; validationmethods=DNS-01", False),  # a well-formed label, no method
    ("letsencrypt.org; ValidationMethods=http-01", False),  # parameter names: lower-cased
    ("letsencrypt.org; VALIDATIONMETHODS=dns-01", True),
    ("letsencrypt.org;", True),  # a lone trailing ';' after the issuer
    ("letsencrypt.org; ", True),
    ("  letsencrypt.org\t; validationmethods=dns-01  ", True),  # spaces and tabs trimmed
    ("letsencrypt.org; unknownparam=x", True),  # unknown parameters change nothing
    ("letsencrypt.org; a=b; validationmethods=dns-01", True),
    (";", False),  # forbids every CA
    ("", False),
    ("other-ca.example; validationmethods=dns-01", False),
], ids=lambda v: repr(v) if isinstance(v, str) else str(v))
def test_validationmethods_as_boulder_reads_them(value: str, allowed: bool) -> None:
    assert authorizes([CAA(0, "issue", value)], LE, wildcard=False) is allowed


@pytest.mark.parametrize(("value", "named"), [
    ("letsencrypt.org; validationmethods=dns-01, http-01", "' http-01'"),  # space: value
    ("letsencrypt.org; validationmethods=dns-01,,http-01", "''"),  # an empty label
    ("letsencrypt.org; validationmethods=dns_01", "'dns_01'"),
    ("letsencrypt.org; validationmethods=,dns-01", "''"),
    ("letsencrypt.org; validationmethods=", "''"),
    ("letsencrypt.org; validationmethods", "'validationmethods' is not tag=value"),
    ("letsencrypt.org; validationmethods=dns-01;", "'' is not tag=value"),  # trailing ';'
    ("letsencrypt.org; bad_tag=x; validationmethods=dns-01", "'bad_tag'"),
    ("letsencrypt.org; validation-methods=dns-01", "'validation-methods'"),
    ("letsencrypt.org; accounturi=https://x/acct/1 2", "holds a space"),
])
def test_a_malformed_record_is_unusable_and_says_why(value: str, named: str) -> None:
    """Boulder skips the whole record: even a well-formed dns-01 elsewhere in it is lost."""
    prop = parse(value)
    assert prop.malformed and named in prop.malformed
    verdict = evaluate([CAA(0, "issue", value)], LE, wildcard=False)
    assert not verdict.allowed
    assert verdict.readings[0].why.startswith("the CA cannot use this record")


ACCT_123 = "https://letsencrypt.org/acct/reg/123"
ACCT_321 = "https://letsencrypt.org/acct/reg/321"


def issue(value: str, flags: int = 0) -> CAA:
    return CAA(flags, "issue", value)


def wild(value: str) -> CAA:
    return CAA(0, "issuewild", value)


# The record sets of Boulder's TestCAAChecking (va/caa_test.go), asked as this plugin asks:
# by dns-01 (Boulder's table asks by http-01, so the method cases are mirrored), for the
# account ACCT_123.
@pytest.mark.parametrize(("records", "wildcard", "valid"), [
    pytest.param([issue("ca.com")], False, False, id="reserved"),
    pytest.param([CAA(0, "iSsUe", "ca.com")], False, False, id="mixed-case Issue tag"),
    pytest.param([issue("ca.com", flags=1)], False, False, id="critical issue, other CA"),
    pytest.param([issue("letsencrypt.org")], False, True, id="present"),
    pytest.param([issue("ca.com", 1), issue("letsencrypt.org", 1)], False, True,
                 id="several critical issue, one matching"),
    pytest.param([CAA(128, "foo", "bar")], False, False, id="unknown critical"),
    pytest.param([CAA(1, "foo", "bar")], False, False, id="unknown critical, flag 1"),
    pytest.param([CAA(0x7E, "foo", "bar")], False, True, id="unknown non-critical"),
    pytest.param([issue("  letsencrypt.org  ;foo=bar;baz=bar")], False, True,
                 id="unknown parameters"),
    pytest.param([issue("letsencrypt.org; a_b=123")], False, False, id="invalid tag"),
    pytest.param([issue("letsencrypt.org; ab=1 2 3")], False, False, id="invalid value"),
    pytest.param([issue("letsencrypt.org; validationmethods=http-01")], False, False,
                 id="http-01 only, asked by dns-01"),
    pytest.param([issue("letsencrypt.org; validationmethods=dns-01")], False, True,
                 id="dns-01 only"),
    pytest.param([issue("letsencrypt.org; validationmethods=http-01,dns-01")], False, True,
                 id="http-01 or dns-01"),
    pytest.param([issue(f"letsencrypt.org; accounturi={ACCT_123}")], False, True,
                 id="correct accounturi"),
    pytest.param([issue(f"letsencrypt.org; accounturi={ACCT_123}; validationmethods=dns-01")],
                 False, True, id="dns-01 and correct accounturi"),
    pytest.param([issue(f"letsencrypt.org; accounturi={ACCT_123}; validationmethods=http-01")],
                 False, False, id="http-01 and correct accounturi"),
    pytest.param([issue(f"letsencrypt.org; accounturi={ACCT_321}; validationmethods=dns-01")],
                 False, False, id="dns-01 and incorrect accounturi"),
    pytest.param([issue(f"letsencrypt.org; accounturi={ACCT_321}")], False, False,
                 id="incorrect accounturi"),
    pytest.param([issue(f"letsencrypt.org; accounturi={ACCT_321}"),
                  issue(f"letsencrypt.org; accounturi={ACCT_123}")], False, True,
                 id="several accounturi, one correct"),
    pytest.param([issue(";")], False, False, id="unsatisfiable"),
    pytest.param([issue(";")], True, False, id="unsatisfiable issue, wildcard"),
    pytest.param([wild(";")], True, False, id="unsatisfiable issuewild"),
    pytest.param([issue("letsencrypt.org"), wild("ca.com")], True, False,
                 id="issuewild overrides issue: forbids"),
    pytest.param([issue("ca.com"), wild("letsencrypt.org")], True, True,
                 id="issuewild overrides issue: allows"),
    pytest.param([wild("ca.com"), wild("letsencrypt.org")], True, True,
                 id="several issuewild, one allows"),
    pytest.param([wild("letsencrypt.org")], True, True, id="issuewild allows"),
    pytest.param([wild(";")], False, True, id="issuewild only, not a wildcard"),
])
def test_boulders_checking_cases(records: list[CAA], wildcard: bool, valid: bool) -> None:
    assert authorizes(records, LE, wildcard, account=ACCT_123) is valid


def test_a_repeated_parameter_must_pass_every_time() -> None:
    # Boulder keeps the last of two equal tags; either order fails closed here.
    for first, second in (("http-01", "dns-01"), ("dns-01", "http-01")):
        assert not authorizes([issue(f"letsencrypt.org; validationmethods={first}; "
                                     f"ValidationMethods={second}")], LE, False)
    assert authorizes([issue("letsencrypt.org; validationmethods=dns-01; "
                             "validationmethods=dns-01,http-01")], LE, False)
    assert not authorizes([issue(f"letsencrypt.org; accounturi={ACCT_123}; "
                                 f"accounturi={ACCT_321}")], LE, False, account=ACCT_123)


def test_a_space_inside_the_method_list_is_named() -> None:
    why = evaluate([CAA(0, "issue", "letsencrypt.org; validationmethods=dns-01, http-01")],
                   LE, False).readings[0].why
    assert "validationmethods label ' http-01'" in why and "without spaces" in why


def test_records_combine_with_or() -> None:
    records = [CAA(0, "issue", "letsencrypt.org; validationmethods=http-01"),
               CAA(0, "issue", "letsencrypt.org; validationmethods=dns-01,http-01 x"),
               CAA(0, "issue", "letsencrypt.org; accounturi=" + OTHER)]
    assert not authorizes(records, LE, False, account=ACCT)
    assert authorizes(records + [CAA(0, "issue", "letsencrypt.org; accounturi=" + ACCT)],
                      LE, False, account=ACCT)
    assert authorizes(records + [CAA(0, "issue", "letsencrypt.org")], LE, False, account=ACCT)


def test_accounturi_must_be_this_runs_account_exactly() -> None:
    pinned = [CAA(0, "issue", f"letsencrypt.org; accounturi={ACCT}; validationmethods=dns-01")]
    assert authorizes(pinned, LE, False, account=ACCT)
    assert not authorizes(pinned, LE, False, account=ACCT + "0")
    assert not authorizes(pinned, LE, False, account=ACCT.upper())
    assert authorizes([CAA(0, "issue", f"letsencrypt.org; AccountURI={ACCT}")], LE, False,
                      account=ACCT)
    verdict = evaluate(pinned, LE, False, account=OTHER)
    assert ACCT in verdict.readings[0].why and OTHER in verdict.readings[0].why


def test_an_unknown_account_leaves_only_the_accounts_the_set_allows() -> None:
    pinned = [CAA(0, "issue", f"letsencrypt.org; accounturi={ACCT}"),
              CAA(0, "issue", "other-ca.example")]
    verdict = evaluate(pinned, LE, False, account=None)
    assert not verdict.allowed and verdict.only_for == (ACCT,)
    assert evaluate(pinned + [CAA(0, "issue", "letsencrypt.org")], LE, False).allowed


def test_a_staging_account_against_a_production_pin_says_so() -> None:
    pinned = [CAA(0, "issue", f"letsencrypt.org; accounturi={ACCT}")]
    why = evaluate(pinned, LE, False, account=STAGING_ACCT,
                   server="https://acme-staging-v02.api.letsencrypt.org/directory").readings[0].why
    assert caa.STAGING_NOTE in why and ACCT in why and STAGING_ACCT in why
    dry = evaluate(pinned, LE, False, account="https://localhost:14000/my-account/1",
                   staging=True).readings[0].why
    assert caa.STAGING_NOTE in dry
    same_server = evaluate(pinned, LE, False, account=OTHER).readings[0].why
    assert caa.STAGING_NOTE not in same_server


def test_issuewild_parameters_rule_wildcards() -> None:
    records = [CAA(0, "issue", "letsencrypt.org"),
               CAA(0, "issuewild", "letsencrypt.org; validationmethods=http-01")]
    assert authorizes(records, LE, wildcard=False)
    assert not authorizes(records, LE, wildcard=True)


def test_critical_flags_as_boulder_reads_them() -> None:
    assert not authorizes([CAA(1, "futuretag", "x"), CAA(0, "issue", "letsencrypt.org")],
                          LE, False)  # flag bit 1: the widespread misreading, honoured
    assert authorizes([CAA(128, "iodef", "mailto:x@example.com"),
                       CAA(0, "issue", "letsencrypt.org")], LE, False)
    assert not evaluate([CAA(128, "issuemail", "x")], LE, False).allowed


@pytest.mark.parametrize(("caa_rcode", "soa_rcode", "outcome"), [
    ("NOERROR", None, caa.OK), ("NXDOMAIN", None, caa.OK),
    ("SERVFAIL", None, caa.REFUSES), ("REFUSED", None, caa.REFUSES),
    ("NOTIMP", None, caa.REFUSES),
    ("TIMEOUT", "NOERROR", caa.REFUSES), ("TIMEOUT", "REFUSED", caa.REFUSES),
    ("TIMEOUT", "TIMEOUT", caa.UNREACHABLE), ("UNREACHABLE", "UNREACHABLE", caa.UNREACHABLE),
    ("TIMEOUT", "UNREACHABLE", caa.UNREACHABLE), ("TIMEOUT", None, caa.UNREACHABLE),
    ("UNREACHABLE", None, caa.UNREACHABLE), ("ERROR", None, caa.REFUSES),
])
def test_each_nameserver_answer_to_a_caa_query(caa_rcode: str, soa_rcode: str | None,
                                               outcome: str) -> None:
    assert caa.server_outcome(caa_rcode, soa_rcode) == outcome


def test_the_line_to_add_carries_the_account_and_method() -> None:
    assert line_to_add("example.com", "letsencrypt.org", False, ACCT, True) == \
        f'example.com. CAA 0 issue "letsencrypt.org; accounturi={ACCT}; validationmethods=dns-01"'


def finding(severity: str, code: str = "caa-blocked") -> Finding:
    return Finding(code, severity, "example.com", "problem", "evidence", "fix")


def test_exit_status_and_error_from_findings() -> None:
    assert exit_status([]) == 0
    assert exit_status([finding(WARNING, "stale-record")]) == 1
    assert exit_status([finding(WARNING), finding(ERROR)]) == 2
    assert as_error([finding(WARNING)]) is None
    error = as_error([finding(WARNING, "stale-record"), finding(ERROR),
                      finding(ERROR, "dnssec-broken")])
    assert error.code == "caa-blocked" and "[dnssec-broken] error" in str(error)


def test_a_code_outside_the_enumeration_is_refused_where_it_is_written() -> None:
    with pytest.raises(ValueError, match="not a valid Code"):
        finding(ERROR, "zone-missing")


class _Zones:
    """Two addresses per zone: .1 healthy, .2 as the test's answers say."""

    # A scripted reach: every address usable (no kernel routes), none silent yet.
    reach = Reach(query=lambda *_, **__: Answer("NOERROR"))

    def zone_of(self, name: str) -> str:
        return name.split(".", 1)[1] if name.count(".") > 1 else name

    def servers(self, zone: str) -> list:
        from certbot_dns_autopilot.dnsio import Server

        return [Server("192.0.2.1", name=f"ns1.{zone}"), Server("192.0.2.2", name=f"ns2.{zone}")]


@pytest.mark.parametrize(("caa_rcode", "soa_rcode", "severity"), [
    ("SERVFAIL", None, ERROR), ("REFUSED", None, ERROR), ("TIMEOUT", "NOERROR", ERROR),
    ("TIMEOUT", "TIMEOUT", WARNING), ("NOERROR", None, None)])
def test_every_nameserver_of_the_caa_zones_is_asked(caa_rcode: str, soa_rcode: str | None,
                                                    severity: str | None) -> None:
    from certbot_dns_autopilot.dnsio import Answer
    from certbot_dns_autopilot.preflight import caa_probe

    asked = []

    def query(server, name, rdtype, **_):
        asked.append((server.address, name, rdtype))
        if server.address == "192.0.2.1":
            cname = "www.cdn.example" if name == "www.example.com" else None
            return Answer("NOERROR", authoritative=True, cname=cname)
        return Answer(caa_rcode if rdtype == "CAA" else soa_rcode or "NOERROR")

    found = caa_probe.caa_servers("www.example.com", ["www.example.com", "example.com", "com"],
                                  _Zones(), query=query)  # type: ignore[arg-type]
    # The CNAME's target is asked in its own zone; a top-level domain's servers are not.
    assert ("192.0.2.2", "www.cdn.example", "CAA") in asked
    assert not any(name == "com" for _, name, _ in asked)
    if severity is None:
        assert found == []
        return
    [finding] = found
    # Silence on both CAA and SOA says nothing of the zone: this host cannot reach it.
    code = "unreachable" if severity == WARNING else "caa-blocked"
    assert (finding.code, finding.severity) == (code, severity)
    assert f"ns2.example.com (192.0.2.2): CAA www.example.com -> {caa_rcode}" in finding.evidence
    assert "192.0.2.1" not in finding.evidence


def test_findings_by_cause_merge_names_and_keep_distinct_causes() -> None:
    from certbot_dns_autopilot.preflight.findings import by_cause

    def caa_finding(name: str, evidence: str = "x. CAA 0 issue \"LetsEncrypt.org\"",
                    problem: str = "capitals at x") -> Finding:
        return Finding("caa-blocked", WARNING, name, problem, evidence, "lower it")

    merged = by_cause([
        caa_finding("x"), caa_finding("www.x", evidence="x. CAA 0 issue \"LetsEncrypt.org\"\n"
                                      "ns4: SERVFAIL"),
        caa_finding("*.x"), caa_finding("y", problem="capitals at y"), caa_finding("x")])
    assert [(f.name, f.problem) for f in merged] == [("x, www.x, *.x", "capitals at x"),
                                                     ("y", "capitals at y")]
    assert merged[0].evidence.splitlines() == ['x. CAA 0 issue "LetsEncrypt.org"',
                                               "ns4: SERVFAIL"]
    stale = [Finding("stale-record", WARNING, n, "old", "", "fix", values=("v",),
                     where=("z", f"_acme-challenge.{n}")) for n in ("a", "b")]
    assert by_cause(stale) == stale  # two names' records are two causes


def test_the_capitals_fix_is_the_same_line_for_every_name_the_set_rules() -> None:
    from certbot_dns_autopilot.preflight.caa import CAA
    from certbot_dns_autopilot.preflight.caa_probe import lowered

    records = [CAA(0, "issue", "LetsEncrypt.org; validationmethods=dns-01"),
               CAA(0, "issue", "other.example")]
    line = 'x.test. CAA 0 issue "letsencrypt.org; validationmethods=dns-01"'
    ids = {"letsencrypt.org"}
    assert lowered("x.test", records, ids, False) == lowered("x.test", records, ids, True) \
        == line
    wild = records + [CAA(0, "issuewild", "LETSENCRYPT.ORG")]
    assert lowered("x.test", wild, ids, True) == 'x.test. CAA 0 issuewild "letsencrypt.org"'
