"""The dns-lexicon writer through lexicon's own ``ddns`` provider: real RFC 2136 updates on
the wire to the lab's BIND primary, with the lab's TSIG key, driven by the real certbot."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from configobj import ConfigObj
from labkit import DOCTOR, Certbot, Lab, eventually, lab_keys, nsupdate, wait_absent

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import Locks, writers_from_credentials
from certbot_dns_autopilot.writers.lexicon import LexiconWriter

pytestmark = pytest.mark.lab

ZONE = "autopilot.test"
WRONG = "c2VjcmV0LXRoYXQtdGhlLXNlcnZlci1kb2VzLW5vdC1rbm93"  # valid base64, unknown to BIND
WRITER = "lexicon provider 'ddns'"


def ddns_ini(lab: Lab, path: Path, key_name: str | None = None, secret: str | None = None
             ) -> Path:
    """A credentials file as a user of lexicon's ddns provider writes it (mode 600)."""
    creds = lab_keys(lab)
    key_name = key_name or creds["dns_autopilot_rfc2136_name"]
    secret = secret or creds["dns_autopilot_rfc2136_secret"]
    path.write_text(
        "# dns-autopilot through dns-lexicon's ddns provider (RFC 2136)\n"
        "dns_autopilot_lexicon_provider = ddns\n"
        f"dns_autopilot_lexicon_auth_token = hmac-sha512:{key_name}:{secret}\n"
        f"dns_autopilot_lexicon_ddns_server = {lab.primary}\n"
        f"dns_autopilot_zones = {ZONE}\n")
    path.chmod(0o600)
    return path


def writer(path: Path) -> LexiconWriter:
    [only] = writers_from_credentials(ConfigObj(str(path), interpolation=False), str(path)).writers
    assert isinstance(only, LexiconWriter)
    return only


def test_apex_wildcard_www_issue_through_lexicon_ddns(lab: Lab, certbot: Certbot,
                                                      tmp_path: Path) -> None:
    ini = ddns_ini(lab, tmp_path / "lexicon.ini")
    run = certbot.certonly(ZONE, f"*.{ZONE}", f"www.{ZONE}", credentials=ini)
    assert run.returncode == 0, run.output
    assert certbot.cert_names(ZONE) == {ZONE, f"*.{ZONE}", f"www.{ZONE}"}
    [write] = run.steps("write", name=ZONE)
    assert write["writer"] == WRITER and write["outcome"] == "ok", write
    for name in (f"_acme-challenge.{ZONE}", f"_acme-challenge.www.{ZONE}"):
        # The primary served our values during the run (apex and wildcard share one name).
        served = [e for e in run.steps("query", name=name, phase="authoritative",
                                       outcome="served") if lab.primary in e["server"]]
        assert served, f"the primary never served {name}"
        wanted = 2 if name == f"_acme-challenge.{ZONE}" else 1
        assert len(served[-1]["answer"]["values"]) == wanted, served[-1]
        wait_absent(lab, name)
    # Written at the FQDN, not relative to the zone a second time.
    assert lab.txt(lab.primary, f"_acme-challenge.{ZONE}.{ZONE}") == set()
    secret = lab_keys(lab)["dns_autopilot_rfc2136_secret"]
    assert all(secret not in text for text in (run.output, run.log, json.dumps(run.events)))


def test_values_at_the_exact_name_and_deleted_one_by_one(lab: Lab, tmp_path: Path,
                                                         fresh_name: str) -> None:
    lexicon = writer(ddns_ini(lab, tmp_path / "lexicon.ini"))
    name = f"_acme-challenge.{fresh_name}"
    zone = lexicon.find_zone(name)
    assert zone == ZONE
    lexicon.add(zone, {name: {"first-value", "second-value"}}, 60)
    lexicon.add(zone, {name: {"first-value"}}, 60)  # already there: no error, no duplicate
    assert lab.txt(lab.primary, name) == {"first-value", "second-value"}
    assert lexicon.values(zone, name) == {"first-value", "second-value"}
    assert lab.txt(lab.primary, f"{name}.{ZONE}") == set()
    lexicon.remove(zone, {name: {"first-value"}})
    assert lab.txt(lab.primary, name) == {"second-value"}  # one value, not the record set
    lexicon.remove(zone, {name: {"second-value"}})
    assert lab.txt(lab.primary, name) == set() and lexicon.values(zone, name) == set()


def test_someone_elses_value_survives_cleanup(lab: Lab, certbot: Certbot, tmp_path: Path,
                                              fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    nsupdate(lab, ZONE, name, "kept-by-someone-else")
    try:
        run = certbot.certonly(fresh_name, f"*.{fresh_name}",
                               credentials=ddns_ini(lab, tmp_path / "lexicon.ini"))
        assert run.returncode == 0, run.output
        wait_absent(lab, name, values=lab.txt(lab.primary, name) - {"kept-by-someone-else"})
        assert lab.txt(lab.primary, name) == {"kept-by-someone-else"}
        assert "putting it back" not in run.log  # ddns deletes one value, never the set
    finally:
        nsupdate(lab, ZONE, name, "kept-by-someone-else", add=False)


def test_wrong_secret_is_permission_denied_before_any_challenge(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str) -> None:
    real = lab_keys(lab)["dns_autopilot_rfc2136_secret"]
    bad = ddns_ini(lab, tmp_path / "bad.ini", secret=WRONG)
    run = certbot.certonly(fresh_name, credentials=bad)
    assert run.returncode != 0
    assert "dns-autopilot [permission-denied]" in run.output
    assert WRITER in run.output and "dns_autopilot_lexicon_auth_token" in run.output
    assert "PeerBadSignature" in run.output and "Fix:" in run.output
    assert "Traceback" not in run.output
    event_log = json.dumps(run.events)
    for artefact in (run.output, run.log, event_log):
        assert WRONG not in artefact and real not in artefact
    assert not run.steps("query", phase="authoritative"), "waited for a challenge anyway"
    assert lab.txt(lab.primary, f"_acme-challenge.{fresh_name}") == set()


def test_doctor_probe_passes_with_the_key_and_fails_without_rights(
        lab: Lab, tmp_path: Path, fresh_name: str) -> None:
    status, report = lab.doctor(fresh_name, credentials=ddns_ini(lab, tmp_path / "ok.ini"),
                                extra=("--caa-identities", "letsencrypt.org"))
    assert (status, report["findings"]) == (0, []), report
    assert report["routes"][0]["writer"] == WRITER
    wait_absent(lab, f"_acme-challenge.{fresh_name}")  # the probe value is gone again

    # A key BIND knows but grants nothing: BIND answers REFUSED, which lexicon's ddns
    # provider does not check; the writer's read-back catches it.
    readonly = _credentials_of(Path(lab.env["LAB_CREDENTIALS_READONLY"]))
    ini = ddns_ini(lab, tmp_path / "readonly.ini", key_name=readonly[0], secret=readonly[1])
    status, report = lab.doctor(fresh_name, credentials=ini,
                                extra=("--caa-identities", "letsencrypt.org"))
    assert status == 2
    [finding] = report["findings"]
    assert finding["code"] == "permission-denied", finding
    assert WRITER in finding["problem"] and "auth_token" in finding["fix"]
    assert readonly[1] not in json.dumps(report)


def _credentials_of(path: Path) -> tuple[str, str]:
    keys = dict(line.split(" = ", 1) for line in path.read_text().splitlines()
                if line.startswith("dns_autopilot_"))
    return keys["dns_autopilot_rfc2136_name"], keys["dns_autopilot_rfc2136_secret"]


def test_a_ddns_server_that_does_not_answer_is_provider_unreachable(
        lab: Lab, tmp_path: Path, fresh_name: str) -> None:
    # Nothing listens at this lab address: each TCP connection is refused before anything
    # is sent, so the create is tried again (each retry an event) and then named as the
    # writer's server out of reach, not as a lame nameserver of the zone.
    silent = "127.0.53.250"
    ini = ddns_ini(lab, tmp_path / "silent.ini")
    ini.write_text(ini.read_text().replace(f"ddns_server = {lab.primary}",
                                           f"ddns_server = {silent}"))
    only = writer(ini)

    class Events:
        retries: list[dict] = []

        def emit(self, step: str, outcome: str, *args: object, **fields: object) -> None:
            self.retries.append(fields)

    only.events = Events()
    name = f"_acme-challenge.{fresh_name}"
    with pytest.raises(AutopilotError) as failed:
        only.add(ZONE, {name: {"v" * 43}}, 60)
    assert failed.value.code == "provider-unreachable", failed.value
    assert f"the ddns server {silent} could not be reached" in failed.value.problem
    assert WRITER in failed.value.problem and silent in failed.value.fix
    creates = [e for e in only.events.retries if e["what"] == f"creating a TXT value at {name}"]
    assert [e["attempt"] for e in creates] == [1, 2, 3]
    assert lab.txt(lab.primary, name) == set()


def test_doctor_all_waits_for_the_lock_a_renewal_holds(lab: Lab, certbot: Certbot,
                                                        tmp_path: Path, fresh_name: str) -> None:
    """A cron `doctor --all` whose permission probe overlaps `certbot renew` in the same zone
    must not interleave its read-modify-write with the renewal's: it takes the same lock,
    under the work dir the lineage renews with (saved in its renewal config)."""
    ini = ddns_ini(lab, tmp_path / "lexicon.ini")
    run = certbot.certonly(fresh_name, credentials=ini, extra=("--cert-name", "locked"))
    assert run.returncode == 0, run.output
    name = f"_acme-challenge.{fresh_name}"
    wait_absent(lab, name)  # the run's own value, gone from every server
    work = certbot.home / "work"
    lock = work / "dns-autopilot" / "locks" / f"lexicon-{ZONE}.lock"
    with Locks(str(work)).held(f"lexicon-{ZONE}", "a renewal of the same zone"):  # as certbot
        doctor = subprocess.Popen(
            [str(DOCTOR), "doctor", "--all", "--config-dir", str(certbot.config_dir),
             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, REQUESTS_CA_BUNDLE=lab.env["LAB_CA_BUNDLE"]))

        def waiting() -> bool:
            assert doctor.poll() is None, "doctor finished without waiting for the lock"
            assert not lab.txt(lab.primary, name), "the probe wrote during the renewal"
            return waits_on(doctor.pid, lock)

        eventually(waiting, "doctor waiting for the renewal's lock", seconds=90, every=0.1)
        assert not lab.txt(lab.primary, name)
    out, err = doctor.communicate(timeout=180)
    assert "Traceback" not in err, err
    [lineage] = json.loads(out)["lineages"]  # (this machine's renewal schedule aside)
    assert lineage["name"] == "locked" and lineage["checked"] and lineage["findings"] == []


def waits_on(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (the lock file it polls for)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False
