"""The Cloudflare writer end to end: real certbot → the `cloudflare` SDK → a local emulator of
Cloudflare's API v4 → the lab's BIND → the waiter and Pebble; and the permission mistakes
users make with API tokens, diagnosed before any challenge is answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulators.bind import ZoneBackend
from emulators.cloudflare import CloudflareEmulator
from labkit import Certbot, Lab, Run, wait_absent

pytestmark = pytest.mark.lab

LE = ("--caa-identities", "letsencrypt.org")
LAB_ZONES = ["autopilot.test", "example.test"]
#: Zones only Cloudflare knows (not in BIND): enough to page the zone list (50 a page).
FILLER = [f"filler{i:02d}.test" for i in range(60)]


@pytest.fixture
def cf(lab: Lab) -> Iterator[CloudflareEmulator]:
    emulator = CloudflareEmulator(LAB_ZONES + FILLER, ZoneBackend(lab.credentials),
                                  backed=LAB_ZONES).start()
    yield emulator
    emulator.stop()


def credentials(tmp_path: Path, cf: CloudflareEmulator, **keys: str) -> Path:
    """A credentials file (mode 600) pointing the writer at the emulator."""
    path = tmp_path / "cloudflare.ini"
    lines = [f"dns_autopilot_cloudflare_api_url = {cf.url}"]
    lines += [f"dns_autopilot_cloudflare_{key} = {value}" for key, value in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def assert_secret_kept(secret: str, run: Run) -> None:
    for artefact in (run.output, run.log, json.dumps(run.events)):
        assert secret not in artefact


def assert_stopped_before_answering(lab: Lab, cf: CloudflareEmulator, run: Run,
                                    name: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.output
    assert not [e for e in run.steps("write") if e["outcome"] == "ok"], run.steps("write")
    assert "Waiting for verification" not in run.output
    assert cf.txt(name) == set()
    assert lab.txt(lab.primary, name) == set()


def test_certbot_issues_apex_wildcard_www_and_keeps_someone_elses_value(
        lab: Lab, certbot: Certbot, cf: CloudflareEmulator, tmp_path: Path,
        fresh_name: str) -> None:
    name, www = f"_acme-challenge.{fresh_name}", f"_acme-challenge.www.{fresh_name}"
    # A colleague's record at the same name, entered in the dashboard without quotes.
    theirs = cf.put("autopilot.test", name, "kept-by-someone-else")
    token = cf.token(zones=["autopilot.test"])
    try:
        run = certbot.certonly(fresh_name, f"*.{fresh_name}", f"www.{fresh_name}",
                               credentials=credentials(tmp_path, cf, api_token=token))
        assert run.returncode == 0, run.output
        assert certbot.cert_names(fresh_name) == {fresh_name, f"*.{fresh_name}",
                                                  f"www.{fresh_name}"}
        [write] = run.steps("write")
        assert write["outcome"] == "ok" and write["writer"].startswith("Cloudflare at ")
        created = cf.sent("POST")
        assert len(created) == 3, created  # one record per value: apex + wildcard, www
        assert {(c["type"], c["ttl"]) for c in created} == {("TXT", 60)}
        assert sorted(c["name"] for c in created) == [name, name, www]
        # Cleanup removed exactly ours, at Cloudflare and therefore in BIND.
        assert cf.txt(name) == {"kept-by-someone-else"} and cf.txt(www) == set()
        wait_absent(lab, www)
        wait_absent(lab, name, values=lab.txt(lab.primary, name) - {"kept-by-someone-else"})
        assert lab.txt(lab.primary, name) == {"kept-by-someone-else"}
        assert_secret_kept(token, run)
    finally:
        if theirs in cf.records["autopilot.test"]:
            cf.delete("autopilot.test", theirs)


def test_a_token_scoped_to_a_sibling_zone_stops_before_any_challenge(
        lab: Lab, certbot: Certbot, cf: CloudflareEmulator, tmp_path: Path,
        fresh_name: str) -> None:
    token = cf.token(zones=["example.test"])
    run = certbot.certonly(fresh_name, credentials=credentials(tmp_path, cf, api_token=token))
    assert "dns-autopilot [permission-denied]" in run.output, run.output
    assert f"cannot see any zone enclosing _acme-challenge.{fresh_name}" in run.output
    assert "sees 1 zone(s): example.test" in run.output
    assert "give the token Zone → DNS → Edit for autopilot.test" in run.output
    assert not cf.sent("POST")
    assert_stopped_before_answering(lab, cf, run, f"_acme-challenge.{fresh_name}")
    assert_secret_kept(token, run)


def test_a_read_only_token_is_told_to_add_dns_edit(
        lab: Lab, certbot: Certbot, cf: CloudflareEmulator, tmp_path: Path,
        fresh_name: str) -> None:
    token = cf.token(zones=["autopilot.test"], dns_edit=False)
    run = certbot.certonly(fresh_name, f"*.{fresh_name}",
                           credentials=credentials(tmp_path, cf, api_token=token))
    assert "dns-autopilot [permission-denied]" in run.output, run.output
    assert "HTTP 403 (10000 Authentication error)" in run.output
    assert "add the permission Zone → DNS → Edit for autopilot.test" in run.output
    assert_stopped_before_answering(lab, cf, run, f"_acme-challenge.{fresh_name}")
    assert_secret_kept(token, run)


def test_doctor_reports_the_same_findings(lab: Lab, cf: CloudflareEmulator, tmp_path: Path,
                                          fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    # A sibling-scoped token that sees many zones: the list is paged, the evidence counts all.
    sibling = cf.token(zones=["example.test", *FILLER])
    status, report = lab.doctor(fresh_name, extra=LE,
                                credentials=credentials(tmp_path, cf, api_token=sibling))
    assert status == 2
    [finding] = report["findings"]
    assert finding["code"] == "permission-denied" and finding["severity"] == "error"
    assert "sees 61 zone(s): example.test, filler00.test" in finding["evidence"]
    assert "Zone → DNS → Edit for autopilot.test" in finding["fix"]

    read_only = cf.token(zones=["autopilot.test"], dns_edit=False)
    status, report = lab.doctor(fresh_name, extra=LE,
                                credentials=credentials(tmp_path, cf, api_token=read_only))
    assert status == 2 and report["routes"][0]["zone"] == "autopilot.test"
    [finding] = report["findings"]
    assert finding["code"] == "permission-denied"
    assert "add the permission Zone → DNS → Edit" in finding["fix"]

    status, report = lab.doctor(fresh_name, extra=LE,
                                credentials=credentials(tmp_path, cf, api_token="A" * 40))
    assert status == 2
    [finding] = report["findings"]
    assert finding["code"] == "permission-denied"
    assert "token invalid or revoked" in finding["problem"]
    for text in (json.dumps(report),):
        assert sibling not in text and read_only not in text
    assert cf.txt(name) == set() and lab.txt(lab.primary, name) == set()


def test_doctor_probes_a_good_token_and_a_global_key_and_leaves_nothing(
        lab: Lab, cf: CloudflareEmulator, tmp_path: Path, fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    for keys in ({"api_token": cf.token(zones=["autopilot.test"])},
                 {"email": "ops@example.test", "api_key": cf.global_key("ops@example.test")}):
        before = len(cf.sent("POST"))
        status, report = lab.doctor(fresh_name, extra=LE,
                                    credentials=credentials(tmp_path, cf, **keys))
        assert (status, report["findings"]) == (0, []), report
        [probe] = cf.sent("POST")[before:]
        assert probe["name"] == name and "dns-autopilot-permission-probe-" in probe["content"]
        assert cf.txt(name) == set()
        wait_absent(lab, name)


def test_a_429_then_success_issues_and_the_event_log_shows_the_retry(
        lab: Lab, certbot: Certbot, cf: CloudflareEmulator, tmp_path: Path,
        fresh_name: str) -> None:
    token = cf.token(["autopilot.test"])
    cf.fail_next = [429]  # Cloudflare's limit on the run's first call, then service again
    run = certbot.certonly(fresh_name, credentials=credentials(tmp_path, cf, api_token=token))
    assert run.returncode == 0, run.output
    [retried] = run.steps("retry")
    assert (retried["reason"], retried["attempt"], retried["outcome"]) == (
        "HTTP 429", 1, "retrying")
    assert retried["writer"].startswith("Cloudflare") and retried["pause_s"] == 1.0
    assert "retrying in 1.0 s" in run.log
    assert_secret_kept(token, run)
    wait_absent(lab, f"_acme-challenge.{fresh_name}")
