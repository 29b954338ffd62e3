"""The CA really fails (Pebble, through its own Unbound), and certbot's output names the cause.

Each scenario breaks the CA's view of one name in a way the seeds describe, then checks the
"Hint:" that certbot prints (code, evidence, fix, dig line) and the failure hook's JSON.
Changes "by someone else" happen during certbot's own --debug-challenges pause: after the
plugin's wait passed and before the CA is asked.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from labkit import (
    Certbot,
    Lab,
    Run,
    ini_keys,
    nsupdate,
    served_everywhere,
    wait_absent,
    when_logged,
    zone_update,
)

from certbot_dns_autopilot import links

pytestmark = pytest.mark.lab


def hook_args(tmp_path: Path) -> tuple[str, ...]:
    return ("--dns-autopilot-failure-hook", f"cat > {tmp_path / 'hook.json'}")


def hook_json(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "hook.json").read_text())


def assert_diagnosed(lab: Lab, run: Run, tmp_path: Path, code: str, domain: str) -> dict:
    """certbot failed, its hint names ``code`` for ``domain`` with a fix and a dig line, and
    the hook got the same diagnosis; returns the hook's diagnosis."""
    assert run.returncode != 0, run.output
    assert "Traceback" not in run.output
    hint = run.hint
    assert f"[{code}] {domain}:" in hint, run.output
    assert "Fix: " in hint and "More: " + links.code(code) in hint
    payload = hook_json(tmp_path)
    assert payload["stage"] == "validation" and payload["verb"] == "certonly"
    secret = ini_keys(lab.credentials)["dns_autopilot_rfc2136_secret"]
    for artefact in (json.dumps(payload), run.output, run.log, json.dumps(run.events)):
        assert secret not in artefact
    [diagnosis] = [d for d in payload["diagnoses"] if d["domain"] == domain]
    assert diagnosis["code"] == code and diagnosis["fix"] and diagnosis["ca_error"]["detail"]
    assert diagnosis["problem"] in hint
    [event] = run.steps("diagnosis", domain=domain)
    assert event["outcome"] == code and event["evidence"]["authoritative"]
    return diagnosis


def wait_served(lab: Lab, name: str, values: set[str], rdtype: str = "TXT") -> None:
    """Until the secondary serves the change too (NOTIFY + IXFR)."""
    ask = lab.cnames if rdtype == "CNAME" else lab.txt
    served_everywhere(lab, name, lambda server, at: ask(server, at) == values, every=0.1)


def test_a_value_altered_after_the_wait_is_wrong_value(lab: Lab, certbot: Certbot,
                                                       fresh_name: str, tmp_path: Path) -> None:
    name = f"_acme-challenge.{fresh_name}"
    altered: list[str] = []

    def quote_it() -> None:  # a script "fixing" the record by quoting it
        [ours] = lab.txt(lab.primary, name)
        nsupdate(lab, "autopilot.test", name, ours, add=False)
        nsupdate(lab, "autopilot.test", name, f'"{ours}"')
        altered.append(f'"{ours}"')
        wait_served(lab, name, set(altered))

    try:
        run = certbot.certonly_paused(fresh_name, at_pause=quote_it, extra=hook_args(tmp_path))
        diagnosis = assert_diagnosed(lab, run, tmp_path, "wrong-value", fresh_name)
        assert "surrounding quotes" in diagnosis["problem"]
        assert f"dig @{lab.primary} {name} TXT +norecurse" in run.hint \
            or f"dig @{lab.secondary} {name} TXT +norecurse" in run.hint
        assert "Correct value not found" in diagnosis["ca_error"]["detail"]
    finally:
        for value in altered:
            nsupdate(lab, "autopilot.test", name, value, add=False)
    wait_absent(lab, name)


def test_an_old_value_cached_at_the_cas_resolver_is_stale_record(
        lab: Lab, certbot: Certbot, fresh_name: str, tmp_path: Path) -> None:
    name = f"_acme-challenge.{fresh_name}"
    nsupdate(lab, "autopilot.test", name, "token-of-a-failed-run", ttl=3600)
    try:
        wait_served(lab, name, {"token-of-a-failed-run"})
        # An earlier validation left the old set in the CA's resolver's cache.
        assert lab.txt(lab.ca_resolver, name, recurse=True) == {"token-of-a-failed-run"}
        run = certbot.certonly(fresh_name, extra=hook_args(tmp_path))
        diagnosis = assert_diagnosed(lab, run, tmp_path, "stale-record", fresh_name)
        assert "3600" in diagnosis["problem"] and "token-of-a-failed-run" in run.hint
        assert "--dns-autopilot-remove-stale true" in diagnosis["fix"]
    finally:
        nsupdate(lab, "autopilot.test", name, "token-of-a-failed-run", add=False)
    wait_absent(lab, name)


def test_a_negative_answer_cached_at_the_cas_resolver_is_resolver_disagreement(
        lab: Lab, certbot: Certbot, fresh_name: str, tmp_path: Path) -> None:
    name = f"_acme-challenge.{fresh_name}"
    # Someone asked the CA's resolver before the record existed: NXDOMAIN, cached 60 s.
    assert lab.txt(lab.ca_resolver, name, recurse=True) == set()
    run = certbot.certonly(fresh_name, extra=hook_args(tmp_path))
    diagnosis = assert_diagnosed(lab, run, tmp_path, "resolver-disagreement", fresh_name)
    assert "negative answer" in diagnosis["problem"] and "60 s" in diagnosis["problem"]
    assert f"{lab.resolver}: NOERROR" in run.hint  # our resolver serves it: the CA's did not
    wait_absent(lab, name)


def test_a_cname_changed_after_writing_is_cname_alias(lab: Lab, certbot: Certbot,
                                                      tmp_path: Path) -> None:
    domain = f"t{uuid.uuid4().hex[:10]}.autopilot.test"
    name = f"_acme-challenge.{domain}"
    first, moved = f"{name}.alias.test.", f"_acme-challenge.moved-{domain}.alias.test."
    zone_update(lab, "autopilot.test", name, "CNAME", first)
    current = [first]

    def repoint() -> None:  # the alias moved while the CA was about to look
        zone_update(lab, "autopilot.test", name, "CNAME", first, add=False)
        zone_update(lab, "autopilot.test", name, "CNAME", moved)
        current[0] = moved
        wait_served(lab, name, {moved.rstrip(".")}, "CNAME")

    try:
        run = certbot.certonly_paused(domain, at_pause=repoint,
                                      credentials=lab.credentials_map,
                                      extra=hook_args(tmp_path))
        diagnosis = assert_diagnosed(lab, run, tmp_path, "cname-alias", domain)
        assert f"written at {name}.alias.test" in diagnosis["problem"]
        assert moved.rstrip(".") in diagnosis["problem"]
    finally:
        zone_update(lab, "autopilot.test", name, "CNAME", current[0], add=False)


def test_a_lagging_secondary_read_by_the_ca_with_the_wait_off_is_secondary_lag(
        lab: Lab, certbot: Certbot, tmp_path: Path) -> None:
    # lag.test: the primary is hidden and sends no NOTIFY; ns2 alone is in the NS set.
    domain = f"t{uuid.uuid4().hex[:10]}.lag.test"
    run = certbot.certonly(domain, extra=("--dns-autopilot-propagation-timeout", "0",
                                          *hook_args(tmp_path)))
    diagnosis = assert_diagnosed(lab, run, tmp_path, "secondary-lag", domain)
    assert "the wait was off" in diagnosis["problem"]
    assert "drop --dns-autopilot-propagation-timeout 0" in diagnosis["fix"]
    assert f"ns2.autopilot.test ({lab.secondary}): NXDOMAIN" in run.hint
    assert "(SOA primary)" in run.hint  # the hidden primary's newer serial is the evidence
    lab.notify_secondary("lag.test")


def test_with_the_wait_on_a_lagging_secondary_is_waited_for(lab: Lab, certbot: Certbot
                                                            ) -> None:
    domain = f"t{uuid.uuid4().hex[:10]}.lag.test"
    # The secondary is told of the change once the plugin has found it behind, not before.
    with when_logged(certbot, "authoritative-round", lambda: lab.notify_secondary("lag.test")):
        run = certbot.certonly(domain)
    assert run.returncode == 0, run.output
    rounds = run.steps("authoritative-round")
    assert rounds[0]["outcome"] == "waiting" and rounds[-1]["outcome"] == "done"
    lab.notify_secondary("lag.test")


def test_a_wait_that_times_out_on_a_lagging_secondary_runs_the_hook_before_validation(
        lab: Lab, certbot: Certbot, tmp_path: Path) -> None:
    domain = f"t{uuid.uuid4().hex[:10]}.lag.test"
    run = certbot.certonly(domain, extra=("--dns-autopilot-propagation-timeout", "3",
                                          *hook_args(tmp_path)))
    assert run.returncode != 0 and "dns-autopilot [secondary-lag]" in run.output
    assert "(SOA primary)" in run.output
    payload = hook_json(tmp_path)
    assert payload["stage"] == "before-validation"
    assert [d["code"] for d in payload["diagnoses"]] == ["secondary-lag"]
    lab.notify_secondary("lag.test")


def test_a_failing_hook_never_hides_certbots_error(lab: Lab, certbot: Certbot,
                                                  fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    assert lab.txt(lab.ca_resolver, name, recurse=True) == set()  # the CA will fail
    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-failure-hook", "exit 3"))
    assert run.returncode != 0 and "[resolver-disagreement]" in run.hint
    [hook] = run.steps("failure-hook")
    assert hook["outcome"] == "exit 3"
    assert "the failure hook 'exit' (sha256 " in run.log and "exited with status 3" in run.log


def test_a_hook_printing_odd_bytes_never_replaces_the_runs_error(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str) -> None:
    # Seen in black-box runs: a hook printing bytes that are not UTF-8 had certbot show
    # UnicodeDecodeError instead of the run's own [permission-denied].
    bad = tmp_path / "bad.ini"
    secret = ini_keys(lab.credentials)["dns_autopilot_rfc2136_secret"]
    bad.write_text(lab.credentials.read_text().replace(
        secret, "c2VjcmV0LXRoYXQtdGhlLXNlcnZlci1kb2VzLW5vdC1rbm93"))
    bad.chmod(0o600)
    odd = r"printf '\377\376\033[2J'; exit 1"
    run = certbot.certonly(fresh_name, credentials=bad,
                           extra=("--dns-autopilot-failure-hook", odd))
    assert run.returncode != 0 and "dns-autopilot [permission-denied]" in run.output
    assert "UnicodeDecodeError" not in run.output + run.log
    assert "\\x1b[2J" in run.log and "\x1b" not in run.log  # escaped, never raw
    [step] = run.steps("failure-hook")
    assert step["outcome"] == "exit 1"
    # A run stopped by an option's error (bad-config, as every such mistake) runs the hook too.
    hooked = tmp_path / "plain.json"
    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-resolvers", "dns.google",
                                              "--dns-autopilot-failure-hook",
                                              f"cat > {hooked}"))
    assert run.returncode != 0 and "--dns-autopilot-resolvers" in run.output, run.output
    [diagnosis] = json.loads(hooked.read_text())["diagnoses"]
    assert diagnosis["code"] == "bad-config" and "dns.google" in diagnosis["problem"]
