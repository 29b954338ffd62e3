"""Issuance and renewal through the real certbot, Pebble, BIND and Unbound of the lab."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from labkit import (
    CERTBOT,
    Certbot,
    Lab,
    forget,
    lab_keys,
    nsupdate,
    served_everywhere,
    stopped,
    wait_absent,
)

pytestmark = pytest.mark.lab


def test_certbot_lists_the_plugin() -> None:
    out = subprocess.run([str(CERTBOT), "plugins", "--text"], capture_output=True, text=True,
                         check=True).stdout
    assert "* dns-autopilot" in out


def test_apex_wildcard_www_issue_and_renew_from_saved_config(
        lab: Lab, certbot: Certbot, tmp_path: Path) -> None:
    zone = "example.test"
    names = (f"_acme-challenge.{zone}", f"_acme-challenge.www.{zone}")
    forget(lab, *names)  # an earlier session's values, in a lab left running
    # The credentials path is given relative; renewal must still find it from elsewhere.
    shutil.copy(lab.credentials, tmp_path / "autopilot.ini")
    os.chmod(tmp_path / "autopilot.ini", 0o600)
    run = certbot.certonly(zone, f"*.{zone}", f"www.{zone}", credentials="autopilot.ini",
                           cwd=tmp_path)
    assert run.returncode == 0, run.output
    assert certbot.cert_names(zone) == {zone, f"*.{zone}", f"www.{zone}"}
    wait_absent(lab, f"_acme-challenge.{zone}")
    wait_absent(lab, f"_acme-challenge.www.{zone}")

    renewal = configparser.ConfigParser()
    renewal.read_string("[top]\n" + (certbot.config_dir / "renewal" / f"{zone}.conf").read_text())
    params = renewal["renewalparams"]
    assert params["authenticator"] == "dns-autopilot"
    assert params["dns_autopilot_credentials"] == str(tmp_path / "autopilot.ini")
    assert params["dns_autopilot_resolvers"] == lab.resolver

    first = (certbot.config_dir / "live" / zone / "cert.pem").read_bytes()
    forget(lab, *names)  # the renewal comes days later
    # Cron's view: no plugin flags at all, another working directory.
    run = certbot("renew", "--force-renewal", "--no-random-sleep-on-renew", cwd=Path("/"))
    assert run.returncode == 0, run.output
    assert "all renewals succeeded" in run.output
    assert (certbot.config_dir / "live" / zone / "cert.pem").read_bytes() != first
    assert certbot.cert_names(zone) == {zone, f"*.{zone}", f"www.{zone}"}
    wait_absent(lab, f"_acme-challenge.{zone}")
    wait_absent(lab, f"_acme-challenge.www.{zone}")


def test_someone_elses_value_survives_cleanup(lab: Lab, certbot: Certbot,
                                               fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    nsupdate(lab, "autopilot.test", name, "kept-by-someone-else")
    try:
        run = certbot.certonly(fresh_name, f"*.{fresh_name}")
        assert run.returncode == 0, run.output
        wait_absent(lab, name, values=lab.txt(lab.primary, name) - {"kept-by-someone-else"})
        assert lab.txt(lab.primary, name) == {"kept-by-someone-else"}
        served_everywhere(lab, name, lambda server, at: lab.txt(server, at) == {
            "kept-by-someone-else"}, seconds=15)
    finally:
        nsupdate(lab, "autopilot.test", name, "kept-by-someone-else", add=False)


def test_wrong_tsig_secret_is_one_clear_error(lab: Lab, certbot: Certbot, tmp_path: Path,
                                              fresh_name: str) -> None:
    wrong = "c2VjcmV0LXRoYXQtdGhlLXNlcnZlci1kb2VzLW5vdC1rbm93"  # valid base64, wrong key
    text = lab.credentials.read_text()
    real = lab_keys(lab)["dns_autopilot_rfc2136_secret"]
    bad = tmp_path / "bad.ini"
    bad.write_text(text.replace(real, wrong))
    bad.chmod(0o600)
    run = certbot.certonly(fresh_name, credentials=bad)
    assert run.returncode != 0
    assert "dns-autopilot [permission-denied]" in run.output
    assert lab.primary in run.output and "autopilot-key" in run.output
    assert "Fix:" in run.output
    assert "Traceback" not in run.output
    for artefact in (run.output, run.log):
        assert wrong not in artefact and real not in artefact
    assert lab.txt(lab.primary, f"_acme-challenge.{fresh_name}") == set()


def test_a_frozen_secondary_is_asked_once_named_and_not_waited_on(lab: Lab, certbot: Certbot,
                                                                  fresh_name: str) -> None:
    # A server that answers nothing cannot hand the CA a wrong answer: its resolvers move on
    # to ns1. Pre-flight off: the waiter itself meets the frozen server.
    with stopped(lab.pid("secondary")):
        run = certbot.certonly(fresh_name, extra=("--dns-autopilot-preflight", "false"))
    assert run.returncode == 0, run.output
    ns2 = f"ns2.autopilot.test ({lab.secondary})"
    asked = [q for q in run.steps("query", phase="authoritative") if q["server"] == ns2]
    assert len(asked) == 1 and asked[0]["answer"]["rcode"] == "TIMEOUT", asked
    assert "TCP" in asked[0]["answer"]["error"], "UDP and TCP were both tried"
    [dropped] = run.steps("unreachable", outcome="dropped")
    assert dropped["server"] == ns2
    [done] = run.steps("wait-done", outcome="ok")
    assert [u.split(":")[0] for u in done["unverified"]] == [ns2]
    assert f"not checked from this host: {ns2} (the CA may use them)" in run.output
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_preflight_warns_of_a_stopped_secondary_and_issuance_goes_on(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    with stopped(lab.pid("secondary")):
        run = certbot.certonly(fresh_name)
    assert run.returncode == 0, run.output
    assert "dns-autopilot warning: [unreachable] warning: autopilot.test: this host cannot " \
        "reach 1 nameserver address(es)" in run.output
    assert f"ns2.autopilot.test ({lab.secondary}): TIMEOUT" in run.output
    assert f"dig @{lab.secondary} autopilot.test SOA +norecurse" in run.output
    assert "[lame-delegation]" not in run.output
    # Found silent in pre-flight, it is not asked again: one query timeout for the run.
    ns2 = f"ns2.autopilot.test ({lab.secondary})"
    asked = [q for q in run.steps("query", phase="authoritative") if q["server"] == ns2]
    assert {q["answer"]["rcode"] for q in asked} == {"TIMEOUT"}
    [done] = run.steps("wait-done", outcome="ok")
    assert done["unverified"][0].startswith(ns2)
    wait_absent(lab, f"_acme-challenge.{fresh_name}")
