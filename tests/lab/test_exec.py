"""The exec writer: certbot ``--manual`` hook scripts that write to the lab's BIND with
``nsupdate`` (as a real ``--manual-auth-hook`` does), driven by the real certbot and Pebble.

The writer contract (apex + wildcard beside a foreign value, a failing add, idempotent
remove, concurrent runs) is proved in test_writer_contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from configobj import ConfigObj
from labkit import (
    Certbot,
    Lab,
    eventually,
    hook_log,
    hooks_ini,
    lab_keys,
    nsupdate,
    wait_absent,
    zone_update,
)

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import writers_from_credentials
from certbot_dns_autopilot.writers.exec import ExecWriter

pytestmark = pytest.mark.lab

ZONE = "autopilot.test"
FOREIGN = "someone-elses-value"
STALE = "OldValueOfAnEarlierRunStillAtTheName0123456"  # 43 characters of base64url
#: TXT rdata someone planted at the name: a quote, a semicolon and backticks, a line break,
#: a NUL byte (as zone-file text, with its escapes)
PLANTED = {"quote": r'"x\"; touch /tmp/planted; echo `id`"', "newline": r'"first\010second"',
           "nul": r'"nul\000byte"'}

# What a user's --manual-auth-hook looks like: nsupdate, then (no longer needed) a sleep.


def exec_writer(path: Path) -> ExecWriter:
    [only] = writers_from_credentials(ConfigObj(str(path), interpolation=False), str(path)).writers
    assert isinstance(only, ExecWriter)
    return only


# -- exec ---------------------------------------------------------------------------------

def test_exec_apex_wildcard_www_issue_through_manual_hook_scripts(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str) -> None:
    ini = hooks_ini(lab, tmp_path)
    domains = (fresh_name, f"*.{fresh_name}", f"www.{fresh_name}")
    run = certbot.certonly(*domains, credentials=ini)
    assert run.returncode == 0, run.output
    assert certbot.cert_names(fresh_name) == set(domains)
    auth = [line for line in hook_log(tmp_path) if line.startswith("CERTBOT_")]
    assert len(auth) == 3, auth
    # certbot's manual-hook meanings: the domain without "*.", every domain, a countdown.
    for line in auth:
        every = line.split("CERTBOT_ALL_DOMAINS=")[1].split()[0].split(",")
        assert sorted(every) == sorted([fresh_name, fresh_name, f"www.{fresh_name}"]), line
        assert "CERTBOT_DOMAIN=*." not in line and f"DNS_AUTOPILOT_ZONE={ZONE} " in line
    assert sorted(line.split("CERTBOT_REMAINING_CHALLENGES=")[1].split()[0]
                  for line in auth) == ["0", "1", "2"]
    assert any(f"CERTBOT_DOMAIN=www.{fresh_name} " in line
               and f"DNS_AUTOPILOT_RECORD=_acme-challenge.www.{fresh_name} " in line
               for line in auth)
    cleanups = [line for line in hook_log(tmp_path) if line.startswith("cleanup ")]
    assert len(cleanups) == 3 and all("auth-output=record-id-" in c for c in cleanups), cleanups
    hooks = run.steps("exec-hook")
    assert [e["hook"] for e in hooks].count("auth") == 3 and all(
        e["outcome"] == "ok" and e["duration_ms"] is not None for e in hooks), hooks
    # the waiter, not a sleep: the values were seen served before the CA was asked
    assert run.steps("query", phase="authoritative", outcome="served")
    for name in (f"_acme-challenge.{fresh_name}", f"_acme-challenge.www.{fresh_name}"):
        wait_absent(lab, name)


def test_exec_failing_hook_stops_with_its_stderr_and_leaves_nothing(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str) -> None:
    ini = hooks_ini(lab, tmp_path, fail_at=2)
    run = certbot.certonly(fresh_name, f"www.{fresh_name}", credentials=ini)
    assert run.returncode != 0
    assert "[permission-denied]" in run.output and "exited with status 3" in run.output
    assert "the registrar said: quota exceeded for" in run.output
    assert "Traceback" not in run.output
    # the cleanup hook ran for both values the auth hook was called for
    assert len([x for x in hook_log(tmp_path) if x.startswith("cleanup ")]) == 2
    for name in (f"_acme-challenge.{fresh_name}", f"_acme-challenge.www.{fresh_name}"):
        assert lab.txt(lab.primary, name) == set()
    assert run.steps("exec-hook", outcome="error")


def test_exec_hanging_hook_is_stopped_with_its_children(lab: Lab, tmp_path: Path,
                                                        fresh_name: str) -> None:
    writer = exec_writer(hooks_ini(lab, tmp_path, hang=True, timeout=2))
    name = f"_acme-challenge.{fresh_name}"
    with pytest.raises(AutopilotError) as failed:
        writer.add(ZONE, {name: {"v" * 43}}, 60)
    assert failed.value.code == "provider-unreachable"
    assert "did not finish within 2 s" in failed.value.problem
    child = int((tmp_path / "calls.child").read_text())
    eventually(lambda: not Path(f"/proc/{child}").exists(),
               f"the hook's background child {child} gone after the timeout", seconds=5,
               every=0.1)
    assert lab.txt(lab.primary, name) == set()


def test_exec_a_refused_add_carries_the_hooks_stderr_without_the_secret(
        lab: Lab, tmp_path: Path, fresh_name: str) -> None:
    """The contract suite proves the failing add leaves nothing; here, what it says."""
    failing = exec_writer(hooks_ini(lab, tmp_path, fail_at=2))
    first, second = f"_acme-challenge.a.{fresh_name}", f"_acme-challenge.b.{fresh_name}"
    with pytest.raises(AutopilotError) as failed:
        failing.add(ZONE, {first: {STALE}, second: {STALE[::-1]}}, 60)
    assert "quota exceeded" in failed.value.evidence
    secret = lab_keys(lab)["dns_autopilot_rfc2136_secret"]
    assert secret not in json.dumps([str(failed.value), failed.value.evidence])
    assert lab.txt(lab.primary, first) == set() and lab.txt(lab.primary, second) == set()


# -- what reaches a hook -------------------------------------------------------------------

def test_remove_stale_hands_only_dns01_values_to_the_cleanup_hook(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str) -> None:
    """Values read over plain DNS are anyone's: only those shaped as a DNS-01 value are
    removed (and handed to the cleanup hook run as root); the others are reported, left
    where they are, and the run goes on."""
    name = f"_acme-challenge.{fresh_name}"
    nsupdate(lab, ZONE, name, STALE, ttl=3600)
    for rdata in PLANTED.values():
        zone_update(lab, ZONE, name, "TXT", rdata, ttl=3600)
    planted = lab.txt(lab.primary, name) - {STALE}
    assert len(planted) == 3
    run = certbot.certonly(fresh_name, credentials=hooks_ini(lab, tmp_path),
                           extra=("--dns-autopilot-remove-stale", "true"))
    assert run.returncode == 0, run.output
    assert "Traceback" not in run.output and "Traceback" not in run.log
    handed = (tmp_path / "hooks.log").read_text()
    assert f"cleanup {fresh_name} {STALE} " in handed
    for text in ("planted", "`id`", "first", "nul"):
        assert text not in handed, f"the hook was handed a planted value ({text})"
    assert lab.txt(lab.primary, name) == planted, "the planted values are left alone"
    [removed] = run.steps("remove-stale")
    assert removed["values"] == [STALE] and len(removed["left"]) == 3
    assert "left 3 value(s) that are not DNS-01 values" in run.output


def test_remove_stale_leaves_a_value_rfc2136_cannot_carry(lab: Lab, certbot: Certbot,
                                                         fresh_name: str) -> None:
    """A planted value of 300 characters (two character-strings) at the name: the RFC 2136
    writer is never asked to remove it, so no dnspython error ends the run."""
    name = f"_acme-challenge.{fresh_name}"
    zone_update(lab, ZONE, name, "TXT", f'"{"a" * 255}" "{"b" * 45}"', ttl=3600)
    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-remove-stale", "true"))
    assert run.returncode == 0, run.output
    assert "Traceback" not in run.output and "Traceback" not in run.log
    assert lab.txt(lab.primary, name) == {"a" * 255 + "b" * 45}


def test_a_nul_byte_in_the_auth_hooks_output_still_cleans_up(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str) -> None:
    """The auth hook's stdout becomes the cleanup hook's CERTBOT_AUTH_OUTPUT; a NUL byte in
    it (which no environment variable can hold) must not stop the cleanup of any value."""
    ini = hooks_ini(lab, tmp_path, output_tail=r"\0after-the-nul")
    run = certbot.certonly(fresh_name, f"www.{fresh_name}", credentials=ini)
    assert run.returncode == 0, run.output
    assert "Encountered exception" not in run.output and "Traceback" not in run.log
    cleanups = [line for line in hook_log(tmp_path) if line.startswith("cleanup ")]
    assert len(cleanups) == 2, cleanups
    assert all("auth-output=record-id-" in c and "after-the-nul" in c for c in cleanups)
    for name in (f"_acme-challenge.{fresh_name}", f"_acme-challenge.www.{fresh_name}"):
        wait_absent(lab, name)


def test_a_token_assigned_before_the_hook_reaches_no_output(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str) -> None:
    """``WEBHOOK=https://…/TOKEN /path/hook.sh``: the hook is named by its program, never by
    the assignment in front of it, in the display, certbot's log and the event log."""
    token = "T0KEN-in-a-webhook-url-0123"
    ini = hooks_ini(lab, tmp_path)
    text = ini.read_text()
    ini.write_text(text.replace(f"auth_hook = {tmp_path}",
                                f"auth_hook = WEBHOOK=https://hooks.example/{token} {tmp_path}"))
    run = certbot.certonly(fresh_name, credentials=ini)
    assert run.returncode == 0, run.output
    assert "via exec hooks 'auth.sh' (sha256 " in run.output
    events = (certbot.logs_dir / "dns-autopilot.jsonl").read_text()
    assert [e["command"] for e in run.steps("exec-hook", hook="auth")][0].startswith(
        "'auth.sh' (sha256 ")
    for output in (run.output, run.log, events):
        assert token not in output and "hooks.example" not in output
