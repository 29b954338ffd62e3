"""The exec writer: certbot ``--manual`` hook scripts that write to the lab's BIND with
``nsupdate`` (as a real ``--manual-auth-hook`` does), driven by the real certbot and Pebble.

The writer contract (apex + wildcard beside a foreign value, a failing add, idempotent
remove, concurrent runs) is proved in test_writer_contract."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from certbot.plugins.dns_common import CredentialsConfiguration
from conftest import (
    Certbot,
    Lab,
    hook_log,
    hooks_ini,
    lab_keys,
    wait_absent,
)

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import writers_from_credentials
from certbot_dns_autopilot.writers.exec import ExecWriter

pytestmark = pytest.mark.lab

ZONE = "autopilot.test"
FOREIGN = "someone-elses-value"

# What a user's --manual-auth-hook looks like: nsupdate, then (no longer needed) a sleep.


def exec_writer(path: Path) -> ExecWriter:
    creds = CredentialsConfiguration(str(path), lambda var: f"dns_autopilot_{var}")
    [only] = writers_from_credentials(creds, str(path)).writers
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
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the hook's background child {child} survived the timeout")
    assert lab.txt(lab.primary, name) == set()


def test_exec_a_refused_add_carries_the_hooks_stderr_without_the_secret(
        lab: Lab, tmp_path: Path, fresh_name: str) -> None:
    """The contract suite proves the failing add leaves nothing; here, what it says."""
    failing = exec_writer(hooks_ini(lab, tmp_path, fail_at=2))
    first, second = f"_acme-challenge.a.{fresh_name}", f"_acme-challenge.b.{fresh_name}"
    with pytest.raises(AutopilotError) as failed:
        failing.add(ZONE, {first: {"first-value"}, second: {"second-value"}}, 60)
    assert "quota exceeded" in failed.value.evidence
    secret = lab_keys(lab)["dns_autopilot_rfc2136_secret"]
    assert secret not in json.dumps([str(failed.value), failed.value.evidence])
    assert lab.txt(lab.primary, first) == set() and lab.txt(lab.primary, second) == set()
