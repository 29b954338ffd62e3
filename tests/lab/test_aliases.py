"""CNAME aliases and the writer map, end to end: real CNAMEs in the lab's zones, two
primaries with two TSIG keys, one credentials file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from labkit import Certbot, Lab, wait_absent, when_logged, zone_update
from netconditions import transfers_held

pytestmark = pytest.mark.lab


def with_aliases(lab: Lab, tmp_path: Path, aliases: str) -> Path:
    path = tmp_path / "credentials-aliases.ini"
    text = lab.credentials_map.read_text()
    head, _, sections = text.partition("\n[")
    path.write_text(f"{head}\ndns_autopilot_aliases = {aliases}\n\n[{sections}")
    path.chmod(0o600)
    return path


def test_one_certificate_two_writers_a_cross_zone_alias_and_a_two_hop_chain(
        lab: Lab, certbot: Certbot) -> None:
    plain = f"t{uuid.uuid4().hex[:10]}.autopilot.test"
    domains = (plain, "cname.autopilot.test", "twohop.autopilot.test")
    run = certbot.certonly(*domains, credentials=lab.credentials_map)
    assert run.returncode == 0, run.output
    assert certbot.cert_names(plain) == set(domains)

    [plan] = run.steps("plan")
    routes = {r["name"]: r for r in plan["routes"]}
    cname = routes["_acme-challenge.cname.autopilot.test"]
    assert cname["target"] == "_acme-challenge.cname.autopilot.test.alias.test"
    assert cname["zone"] == "alias.test" and lab.alias_primary in cname["writer"]
    twohop = routes["_acme-challenge.twohop.autopilot.test"]
    assert twohop["chain"] == ["_acme-challenge.twohop.autopilot.test", "hop.example.test",
                               "_acme-challenge.twohop.alias.test"]
    assert routes[f"_acme-challenge.{plain}"]["zone"] == "autopilot.test"
    writes = {w["name"]: w for w in run.steps("write")}
    assert set(writes) == {"autopilot.test", "alias.test"}
    assert writes["alias.test"]["values"] == 2, "both aliased values in one UPDATE"
    # The authoritative phase polled the target's zone; the public phase the CA's names.
    assert any(q["name"] == "_acme-challenge.twohop.alias.test" and lab.alias_primary in q["server"]
               for q in run.steps("query", phase="authoritative"))
    assert {q["name"] for q in run.steps("query", phase="public")} == {
        f"_acme-challenge.{d}" for d in domains}

    for name in ("_acme-challenge.cname.autopilot.test.alias.test",
                 "_acme-challenge.twohop.alias.test"):
        assert lab.txt(lab.alias_primary, name) == set()
    wait_absent(lab, f"_acme-challenge.{plain}")


def test_an_explicit_alias_matching_the_cname_is_used_without_following(
        lab: Lab, certbot: Certbot, tmp_path: Path) -> None:
    creds = with_aliases(lab, tmp_path,
                         "explicit.autopilot.test -> _acme-challenge.explicit.alias.test")
    run = certbot.certonly("explicit.autopilot.test", credentials=creds,
                           extra=("--dns-autopilot-follow-cnames", "false"))
    assert run.returncode == 0, run.output
    [route] = run.steps("plan")[0]["routes"]
    assert route["target"] == "_acme-challenge.explicit.alias.test"
    assert lab.txt(lab.alias_primary, "_acme-challenge.explicit.alias.test") == set()


def _refused(run, code: str) -> str:
    assert run.returncode != 0
    assert f"dns-autopilot [{code}]" in run.output, run.output
    assert "Traceback" not in run.output
    assert not run.steps("write"), "stopped before any record was written"
    return run.output


def test_an_explicit_alias_that_disagrees_with_the_live_cname_stops_with_both(
        lab: Lab, certbot: Certbot, tmp_path: Path) -> None:
    creds = with_aliases(lab, tmp_path,
                         "disagree.autopilot.test -> _acme-challenge.elsewhere.alias.test")
    out = _refused(certbot.certonly("disagree.autopilot.test", credentials=creds), "cname-alias")
    assert "_acme-challenge.disagree.alias.test" in out
    assert "_acme-challenge.elsewhere.alias.test" in out


@pytest.mark.parametrize("domain, code, words", [
    ("loop.autopilot.test", "cname-alias", "loops"),
    ("dangling.autopilot.test", "cname-alias", "dangling"),
    ("unwritable.autopilot.test", "cname-alias", "no configured writer serves"),
    ("wc.autopilot.test", "cname-alias", "the wildcard *.wc.autopilot.test CNAME"),
])
def test_unsafe_chains_stop_before_any_record_is_written(
        lab: Lab, certbot: Certbot, domain: str, code: str, words: str) -> None:
    fresh = f"t{uuid.uuid4().hex[:10]}.autopilot.test"  # a healthy name in the same order
    out = _refused(certbot.certonly(fresh, domain, credentials=lab.credentials_map), code)
    assert words in out
    assert "Fix:" in out
    assert lab.txt(lab.primary, f"_acme-challenge.{fresh}") == set()


def test_a_zone_no_writer_serves_is_zone_not_found(lab: Lab, certbot: Certbot) -> None:
    out = _refused(certbot.certonly(f"t{uuid.uuid4().hex[:8]}.slow.test",
                                    credentials=lab.credentials_map), "zone-not-found")
    assert "dns_autopilot_zones" in out


@pytest.fixture
def new_cname(lab: Lab) -> Iterator[tuple[str, str, str]]:
    """A fresh name whose _acme-challenge CNAME into alias.test is about to be created (by
    the test, at the primary): (domain, origin, target). Removed again afterwards."""
    domain = f"t{uuid.uuid4().hex[:10]}.autopilot.test"
    origin, target = f"_acme-challenge.{domain}", f"_acme-challenge.{domain}.alias.test"
    yield domain, origin, target
    zone_update(lab, "autopilot.test", origin, "CNAME", f"{target}.", add=False)


def test_a_cname_the_secondary_does_not_serve_yet_is_waited_for_before_the_ca_asks(
        lab: Lab, certbot: Certbot, new_cname: tuple[str, str, str]) -> None:
    """The documented flow: add the CNAME, run certbot at once. The secondary is held back
    (no NOTIFY, no transfer) until the plugin says it waits for it; only then does it get
    the CNAME, and the certificate is issued."""
    domain, origin, target = new_cname
    with transfers_held(lab) as release:
        zone_update(lab, "autopilot.test", origin, "CNAME", f"{target}.")
        assert lab.cnames(lab.primary, origin) == {target}
        assert lab.cnames(lab.secondary, origin) == set(), "the secondary is held back"
        with when_logged(certbot, "cname-behind", release):
            run = certbot.certonly(domain, credentials=lab.credentials_map)
    assert run.returncode == 0, run.output
    assert certbot.cert_names(domain) == {domain}

    [behind] = run.steps("cname-behind", name=origin)
    assert lab.secondary in behind["server"] and behind["cname"] == target
    assert behind["answer"]["rcode"] == "NXDOMAIN"
    asked = [e for e in run.steps("query", phase="authoritative", name=origin)
             if lab.secondary in e["server"]]
    assert asked[0]["outcome"] == "missing" and asked[-1]["outcome"] == "served"
    assert asked[-1]["cname"] == target
    # No resolver was asked for the CA's name before every nameserver served the CNAME.
    [done] = run.steps("authoritative-round", outcome="done")
    resolved = lab.resolver_log_times(origin)
    assert resolved and min(resolved) >= int(
        datetime.fromisoformat(done["ts"]).timestamp() - 0.001)
    wait_absent(lab, target, seconds=5)


def test_a_cname_the_secondary_never_serves_ends_in_the_diagnosis_leaving_nothing(
        lab: Lab, certbot: Certbot, new_cname: tuple[str, str, str]) -> None:
    domain, origin, target = new_cname
    with transfers_held(lab):
        zone_update(lab, "autopilot.test", origin, "CNAME", f"{target}.")
        run = certbot.certonly(domain, credentials=lab.credentials_map,
                               extra=("--dns-autopilot-propagation-timeout", "6"))
    assert run.returncode != 0
    assert "dns-autopilot [secondary-lag]" in run.output, run.output
    assert f"{origin} CNAME {target} (zone autopilot.test)" in run.output
    assert f"ns2.autopilot.test ({lab.secondary}): NXDOMAIN" in run.output
    assert f"dig @{lab.secondary} {origin} CNAME +norecurse" in run.output
    assert "Traceback" not in run.output
    assert run.steps("cname-behind", name=origin)
    assert lab.resolver_log_times(origin) == [], "no resolver was asked for the CA's name"
    assert run.steps("cleanup")
    assert lab.txt(lab.alias_primary, target) == set(), "no record left behind"


def test_doctor_warns_while_the_secondary_does_not_serve_a_new_cname(
        lab: Lab, new_cname: tuple[str, str, str]) -> None:
    domain, origin, target = new_cname
    with transfers_held(lab):
        zone_update(lab, "autopilot.test", origin, "CNAME", f"{target}.")
        status, report = lab.doctor(domain, credentials=lab.credentials_map)
    [route] = report["routes"]
    assert route["target"] == target, "followed although only the primary serves it"
    [lag] = [f for f in report["findings"] if f["code"] == "secondary-lag"]
    assert lag["severity"] == "warning" and status == 1
    assert f"ns2.autopilot.test ({lab.secondary}): NXDOMAIN" in lag["evidence"]
    assert f"dig @{lab.secondary} {origin} CNAME +norecurse" in lag["evidence"]
