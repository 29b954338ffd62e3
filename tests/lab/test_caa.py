"""CAA as the CA reads it (RFC 8657 parameters, the run's own ACME account, every nameserver
answering CAA), from `dns-autopilot doctor` and from a real certbot against Pebble.

Pebble enforces no CAA here (the lab's CA has no CAA identity of its own; the runs name one
with --dns-autopilot-caa-identities), so the certbot tests show pre-flight stopping the
run before any record is written or challenge answered, and issuing when CAA allows it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dns.message
import dns.query
import pytest
from labkit import (
    Certbot,
    Lab,
    Run,
    cache_old_value,
    exchange,
    served_everywhere,
    zone_update,
)

pytestmark = pytest.mark.lab

LE = ("--caa-identities", "letsencrypt.org")
CERTBOT_LE = ("--dns-autopilot-caa-identities", "letsencrypt.org")
ZONE = "autopilot.test"


def fresh() -> str:
    return f"c{uuid.uuid4().hex[:10]}.{ZONE}"


def caa_at(lab: Lab, name: str, *values: str) -> None:
    """CAA issue records at ``name``, served by the primary and the secondary before return
    (so no resolver caches the name without them)."""
    for value in values:
        zone_update(lab, ZONE, f"{name}.", "CAA", f'0 issue "{value}"')
    served_everywhere(lab, name, lambda server, at: bool(
        exchange(dns.message.make_query(at, "CAA"), server).answer), every=0.1)


def account_url(certbot: Certbot) -> str:
    [regr] = (certbot.config_dir / "accounts").rglob("regr.json")
    return json.loads(regr.read_text())["uri"]


def register(certbot: Certbot) -> str:
    run = certbot("register", "--agree-tos", "--register-unsafely-without-email",
                  "--server", certbot.lab.env["LAB_ACME_DIRECTORY"])
    assert run.returncode == 0, run.output
    return account_url(certbot)


def only(report: dict) -> dict:
    [finding] = report["findings"]
    return finding


def pebble_validated(lab: Lab, name: str) -> bool:
    """Whether Pebble ever took up a challenge answer for ``name`` (its log of tasks)."""
    log = Path(lab.env["LAB_RUN"]) / "pebble" / "pebble.log"
    return f'Value:"{name}"' in log.read_text(errors="replace")


def assert_stopped_before_any_challenge(run: Run, lab: Lab, name: str) -> None:
    """A caa-blocked error from pre-flight: nothing written, no challenge answered."""
    assert not pebble_validated(lab, name)
    assert run.returncode != 0
    assert "dns-autopilot [caa-blocked]" in run.output and "Traceback" not in run.output
    assert not run.steps("write") and not run.steps("wait-done")
    assert "Waiting for verification" not in run.output
    [preflight] = run.steps("preflight")
    assert preflight["outcome"] == "error"


# --- validationmethods -------------------------------------------------------------------

def test_methods_limited_to_http_01_block_dns_01(lab: Lab, certbot: Certbot) -> None:
    name = fresh()
    caa_at(lab, name, "letsencrypt.org; validationmethods=http-01")
    status, report = lab.doctor(name, extra=LE)
    finding = only(report)
    assert status == 2 and (finding["code"], finding["severity"]) == ("caa-blocked", "error")
    assert "validationmethods=http-01 does not include dns-01" in finding["problem"]
    assert f'{name}. CAA 0 issue "letsencrypt.org; validationmethods=dns-01"' in finding["fix"]
    assert_stopped_before_any_challenge(certbot.certonly(name, extra=CERTBOT_LE), lab, name)


def test_methods_listing_dns_01_issue(lab: Lab, certbot: Certbot) -> None:
    name = fresh()
    caa_at(lab, name, "letsencrypt.org; validationmethods=http-01,dns-01")
    status, report = lab.doctor(name, extra=LE)
    assert (status, report["findings"]) == (0, [])
    run = certbot.certonly(name, extra=CERTBOT_LE)
    assert run.returncode == 0, run.output


def test_a_malformed_method_list_blocks_and_names_the_label(lab: Lab, certbot: Certbot
                                                           ) -> None:
    name = fresh()
    caa_at(lab, name, "letsencrypt.org; validationmethods=dns-01, http-01")
    status, report = lab.doctor(name, extra=LE)
    finding = only(report)
    assert status == 2 and finding["code"] == "caa-blocked"
    assert "the CA cannot use this record" in finding["problem"]
    assert "validationmethods label ' http-01'" in finding["problem"]
    assert "without spaces" in finding["problem"]
    run = certbot.certonly(name, extra=CERTBOT_LE)
    assert_stopped_before_any_challenge(run, lab, name)
    assert "validationmethods label ' http-01'" in run.output


def test_records_combine_with_or(lab: Lab) -> None:
    name = fresh()
    caa_at(lab, name, "letsencrypt.org; validationmethods=http-01", "letsencrypt.org; "
           "validationmethods=dns-01")
    assert lab.doctor(name, extra=LE)[0] == 0


def test_an_issuer_in_capitals_is_a_warning(lab: Lab) -> None:
    name = fresh()
    caa_at(lab, name, "LetsEncrypt.org")
    status, report = lab.doctor(name, extra=LE)
    finding = only(report)
    assert status == 1 and (finding["code"], finding["severity"]) == ("caa-blocked", "warning")
    assert "compares it exactly" in finding["problem"]
    assert f'{name}. CAA 0 issue "letsencrypt.org"' in finding["fix"]


CAPITALS = "names this CA only with capital letters"


def test_one_caa_set_ruling_three_names_warns_once(lab: Lab, certbot: Certbot) -> None:
    name = fresh()
    caa_at(lab, name, "LetsEncrypt.org")
    status, report = lab.doctor(name, f"www.{name}", f"*.{name}", extra=LE)
    finding = only(report)  # one record set, one finding, every name it rules
    assert status == 1 and finding["name"] == f"{name}, www.{name}, *.{name}"
    run = certbot.certonly(name, f"www.{name}", f"*.{name}", extra=CERTBOT_LE)
    assert run.returncode == 0, run.output
    assert run.output.count(CAPITALS) == 1, run.output
    assert run.output.count("dns-autopilot warning: [caa-blocked]") == 1
    line = next(ln for ln in run.output.splitlines() if CAPITALS in ln)
    assert name in line and f"www.{name}" in line and f"*.{name}" in line
    assert "warned earlier" not in run.output  # a run that succeeded does not repeat it
    [preflight] = run.steps("preflight")
    assert [f["code"] for f in preflight["findings"]] == ["caa-blocked"]
    assert CAPITALS in run.log  # the log file keeps it


def test_a_run_failing_after_the_write_repeats_the_warning_at_its_end(
        lab: Lab, certbot: Certbot) -> None:

    name = fresh()
    caa_at(lab, name, "LetsEncrypt.org")
    cache_old_value(lab, f"_acme-challenge.{name}", ttl=600)
    run = certbot.certonly(name, extra=(*CERTBOT_LE, "--dns-autopilot-propagation-timeout",
                                        "6"))
    assert run.returncode != 0 and "dns-autopilot [resolver-disagreement]" in run.output
    assert run.output.count(CAPITALS) == 2, run.output  # once when found, once at the end
    assert run.output.count("dns-autopilot warning: [caa-blocked]") == 1
    assert f"pre-flight warned earlier in this run: [caa-blocked] {name}: " in run.output


# --- accounturi ----------------------------------------------------------------------------

def test_accounturi_for_another_account_stops_certbot_before_any_challenge(
        lab: Lab, certbot: Certbot) -> None:
    name = fresh()
    other = "https://localhost:14000/my-account/someone-else"
    caa_at(lab, name, f"letsencrypt.org; accounturi={other}")
    run = certbot.certonly(name, extra=CERTBOT_LE)
    assert_stopped_before_any_challenge(run, lab, name)
    mine = account_url(certbot)  # registered by this very run, before pre-flight
    assert run.steps("preflight")[0]["account"] == mine
    assert f"accounturi={other} is another ACME account; this run uses {mine}" in run.output
    assert f"accounturi={mine}" in run.output  # the record that would allow it


def test_accounturi_for_this_runs_account_issues(lab: Lab, certbot: Certbot) -> None:
    mine = register(certbot)
    name = fresh()
    caa_at(lab, name, f"letsencrypt.org; accounturi={mine}; validationmethods=dns-01")
    run = certbot.certonly(name, extra=CERTBOT_LE)
    assert run.returncode == 0, run.output
    assert run.steps("preflight")[0]["account"] == mine
    assert pebble_validated(lab, name)


def test_a_second_account_against_a_record_pinned_to_the_first(lab: Lab, certbot: Certbot,
                                                               tmp_path: Path) -> None:
    first = register(certbot)
    name = fresh()
    caa_at(lab, name, f"letsencrypt.org; accounturi={first}")
    second = Certbot(lab, tmp_path / "second")
    run = second.certonly(name, extra=CERTBOT_LE)
    assert_stopped_before_any_challenge(run, lab, name)
    assert account_url(second) != first
    assert f"accounturi={first} is another ACME account; this run uses " \
        f"{account_url(second)}" in run.output


def test_a_dry_run_against_a_production_pin_says_staging_and_production_differ(
        lab: Lab, certbot: Certbot) -> None:
    name = fresh()
    production = "https://acme-v02.api.letsencrypt.org/acme/acct/123456789"
    caa_at(lab, name, f"letsencrypt.org; accounturi={production}")
    run = certbot.certonly(name, extra=(*CERTBOT_LE, "--dry-run"))
    assert_stopped_before_any_challenge(run, lab, name)
    assert ("staging and production accounts differ; this record only lets the production "
            "account issue") in run.output
    assert production in run.output


def test_doctor_checks_accounturi_with_the_account_given_or_found(lab: Lab, certbot: Certbot
                                                                 ) -> None:
    mine = register(certbot)
    name = fresh()
    caa_at(lab, name, f"letsencrypt.org; accounturi={mine}")
    # Neither --account nor a stored account: a warning naming the account it allows.
    status, report = lab.doctor(name, extra=LE)
    finding = only(report)
    assert status == 1 and (finding["code"], finding["severity"]) == ("caa-blocked", "warning")
    assert f"only to the ACME account {mine}" in finding["problem"]
    # --account: this account passes, another is an error naming both.
    assert lab.doctor(name, extra=(*LE, "--account", mine)) == (0, {
        "names": [name], "account": mine, "routes": report["routes"], "findings": [],
        "status": 0})
    other = mine + "0"
    status, report = lab.doctor(name, extra=(*LE, "--account", other))
    assert status == 2 and mine in only(report)["problem"] and other in only(report)["problem"]
    # The account certbot stores in --config-dir for --server.
    status, report = lab.doctor(name, extra=(*LE, "--config-dir", str(certbot.config_dir),
                                             "--server", lab.env["LAB_ACME_DIRECTORY"]))
    assert (status, report["account"], report["findings"]) == (0, mine, [])


# --- every nameserver answers CAA --------------------------------------------------------

def test_a_nameserver_failing_caa_queries_blocks_naming_it(lab: Lab, certbot: Certbot) -> None:
    name = f"c{uuid.uuid4().hex[:10]}.caafail.test"
    status, report = lab.doctor(name, extra=LE)
    finding = only(report)
    assert status == 2 and (finding["code"], finding["severity"]) == ("caa-blocked", "error")
    refuser = lab.env["LAB_CAAFAIL_SERVER"]
    assert f"ns4.autopilot.test ({refuser}): CAA {name} -> SERVFAIL" in finding["evidence"]
    assert lab.primary not in finding["evidence"]  # the healthy server is not blamed
    run = certbot.certonly(name, extra=CERTBOT_LE)
    assert_stopped_before_any_challenge(run, lab, name)
    assert f"ns4.autopilot.test ({refuser})" in run.output


def test_a_nameserver_silent_on_caa_but_answering_soa_blocks(lab: Lab) -> None:
    name = f"silent-{uuid.uuid4().hex[:8]}.caafail.test"  # the lab's ns4 drops its CAA query
    status, report = lab.doctor(name, extra=LE)
    finding = only(report)
    assert status == 2 and (finding["code"], finding["severity"]) == ("caa-blocked", "error")
    refuser = lab.env["LAB_CAAFAIL_SERVER"]
    assert f"ns4.autopilot.test ({refuser}): CAA {name} -> TIMEOUT, SOA caafail.test -> " \
        "NOERROR" in finding["evidence"]


def cname_at(lab: Lab, name: str, target: str) -> None:
    zone_update(lab, ZONE, f"{name}.", "CNAME", f"{target}.")
    served_everywhere(lab, name, lambda server, at: target in lab.cnames(server, at))


def test_a_bogus_caa_answer_is_read_as_the_ca_reads_it(lab: Lab) -> None:
    # The name's CAA lookup follows a CNAME into badds.test, whose DS matches no key.
    name = fresh()
    cname_at(lab, name, f"c{uuid.uuid4().hex[:8]}.badds.test")
    status, report = lab.doctor(name, extra=LE)
    finding = only(report)
    assert status == 2 and (finding["code"], finding["severity"]) == ("caa-blocked", "error")
    assert "fails DNSSEC validation (bogus)" in finding["problem"]
    assert f"resolver {lab.resolver}: CAA {name} -> SERVFAIL" in finding["evidence"]
    # Within a zone pre-flight already reports dnssec-broken, that is the one cause named.
    status, report = lab.doctor(f"c{uuid.uuid4().hex[:8]}.badds.test", extra=LE)
    assert status == 2 and {f["code"] for f in report["findings"]} == {"dnssec-broken"}


def test_caa_lookups_follow_cnames(lab: Lab) -> None:
    target = fresh()
    name = fresh()
    caa_at(lab, target, "letsencrypt.org; validationmethods=http-01")
    cname_at(lab, name, target)
    status, report = lab.doctor(name, extra=LE)
    assert status == 2 and "validationmethods=http-01" in only(report)["problem"]
