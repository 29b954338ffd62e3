"""The acme-dns writer against an emulator of acme-dns's HTTP API that writes through to the
lab's BIND (fulldomains under auth.example.test), driven by the real certbot and Pebble;
`dns-autopilot acme-dns register` against the same emulator. Also one certificate whose
names are written by three writers at once (RFC 2136, acme-dns, exec). The writer's own
contract (add, remove, a refused add, concurrent runs, the probe) is in test_writer_contract
(kind acmedns)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from configobj import ConfigObj
from emulators.acmedns import AcmeDnsEmulator
from emulators.bind import ZoneBackend
from labkit import (
    ACME_DOMAIN,
    ACME_ZONE,
    Certbot,
    Lab,
    acmedns_ini,
    hook_log,
    hooks_ini,
    wait_absent,
    zone_update,
)

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import writers_from_credentials
from certbot_dns_autopilot.writers.acmedns import AcmeDnsWriter

pytestmark = pytest.mark.lab

ZONE = "autopilot.test"
DNS_AUTOPILOT = Path(sys.executable).parent / "dns-autopilot"


@pytest.fixture
def acmedns(lab: Lab) -> Iterator[AcmeDnsEmulator]:
    emulator = AcmeDnsEmulator(ACME_DOMAIN, ACME_ZONE, ZoneBackend(lab.credentials)).start()
    yield emulator
    emulator.stop()


def register(emulator: AcmeDnsEmulator, path: Path, *domains: str,
             allow_from: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    cmd = [str(DNS_AUTOPILOT), "acme-dns", "register", "--api-url", emulator.url,
           "--registration-file", str(path)]
    for domain in domains:
        cmd += ["-d", domain]
    for cidr in allow_from:
        cmd += ["--allow-from", cidr]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def cnames(lab: Lab) -> Iterator[list[tuple[str, str]]]:
    """CNAMEs the test publishes (name, target): removed again afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for name, target in made:
        zone_update(lab, ZONE, name, "CNAME", f"{target}.", add=False)


def cname_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The CNAME records `register` printed, one line each."""
    return [line for line in proc.stdout.splitlines() if " CNAME " in line]


def publish(lab: Lab, made: list[tuple[str, str]], record: str) -> None:
    """A record line as `register` prints it: `_acme-challenge.x. CNAME y.`, created at the
    primary as a user does, and the run started at once: the plugin itself waits until
    the secondary serves the CNAME too (before that it answers NXDOMAIN, which the CA's
    resolver would cache)."""
    name, _, target = record.strip().split()
    zone_update(lab, ZONE, name, "CNAME", target)
    made.append((name.rstrip("."), target.rstrip(".")))


def registered(acmedns: AcmeDnsEmulator, lab: Lab, made: list[tuple[str, str]], path: Path,
               *domains: str, allow_from: tuple[str, ...] = ()) -> list[str]:
    """``domains`` registered into ``path`` and the CNAME lines `register` printed published:
    the documented flow up to the certbot run. Returns those lines."""
    proc = register(acmedns, path, *domains, allow_from=allow_from)
    assert proc.returncode == 0, proc.stderr
    records = cname_lines(proc)
    for record in records:
        publish(lab, made, record)
    return records


def test_acmedns_register_then_issue_apex_wildcard_www(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str,
        acmedns: AcmeDnsEmulator, cnames: list[tuple[str, str]]) -> None:
    file = tmp_path / "acmedns.json"
    domains = (fresh_name, f"*.{fresh_name}", f"www.{fresh_name}")
    proc = register(acmedns, file, *domains)
    assert proc.returncode == 0, proc.stderr
    records = cname_lines(proc)
    assert len(records) == 2  # the wildcard shares its domain's registration
    saved = json.loads(file.read_text())
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert set(saved) == {fresh_name, f"www.{fresh_name}"}
    assert f"  _acme-challenge.{fresh_name}. CNAME {saved[fresh_name]['fulldomain']}." in records
    # a second register keeps the registration (and prints the same record)
    again = register(acmedns, file, fresh_name)
    assert "already registered" in again.stdout and records[0] in again.stdout
    for record in records:
        publish(lab, cnames, record)

    run = certbot.certonly(*domains, credentials=acmedns_ini(tmp_path, acmedns, file))
    assert run.returncode == 0, run.output
    assert certbot.cert_names(fresh_name) == set(domains)
    for name, _ in cnames:  # each CNAME was served by both nameservers before the CA asked
        served = {e["server"] for e in run.steps("query", phase="authoritative", name=name,
                                                 rdtype="CNAME", outcome="served")}
        assert any(lab.primary in s for s in served) and any(lab.secondary in s
                                                             for s in served), served
    apex = saved[fresh_name]
    # the apex and the wildcard: both values in the registration's two-value window
    assert len(acmedns.served(apex["subdomain"])) == 2
    served = run.steps("query", name=apex["fulldomain"], phase="authoritative", outcome="served")
    assert served and len(served[-1]["answer"]["values"]) == 2, served
    [cleanup] = run.steps("cleanup", outcome="not-deletable")
    assert "cannot delete" in run.log
    passwords = [entry["password"] for entry in saved.values()]
    for text in (run.output, run.log, json.dumps(run.events)):
        assert not any(p in text for p in passwords)
    updates = [r for r in acmedns.requests if r[1] == "/update"]
    assert len(updates) == 2 + 3  # one probe per registration (pre-flight), three values


def test_acmedns_missing_and_wrong_cname_name_the_exact_record(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str,
        acmedns: AcmeDnsEmulator, cnames: list[tuple[str, str]]) -> None:
    file = tmp_path / "acmedns.json"
    assert register(acmedns, file, fresh_name, f"other.{fresh_name}").returncode == 0
    saved = json.loads(file.read_text())
    ini = acmedns_ini(tmp_path, acmedns, file)
    expected = f"_acme-challenge.{fresh_name}. CNAME {saved[fresh_name]['fulldomain']}."
    status, report = lab.doctor(fresh_name, credentials=ini)
    assert status == 2
    [finding] = [f for f in report["findings"] if f["code"] == "cname-alias"]
    assert "it has no CNAME" in finding["problem"] and expected in finding["fix"]
    # pointing at another registration's fulldomain is just as wrong
    publish(lab, cnames, f"_acme-challenge.{fresh_name}. CNAME "
                         f"{saved[f'other.{fresh_name}']['fulldomain']}.")
    run = certbot.certonly(fresh_name, credentials=ini)
    assert run.returncode != 0 and "[cname-alias]" in run.output
    assert expected in run.output.replace("\n", " ") or expected in run.output
    assert not [r for r in acmedns.requests if r[1] == "/update"]


def test_acmedns_refusals_allowfrom_and_credentials_are_told_apart(
        lab: Lab, tmp_path: Path, fresh_name: str, acmedns: AcmeDnsEmulator,
        cnames: list[tuple[str, str]]) -> None:
    file = tmp_path / "acmedns.json"
    registered(acmedns, lab, cnames, file, fresh_name, allow_from=("192.0.2.0/24",))
    ini = acmedns_ini(tmp_path, acmedns, file)
    status, report = lab.doctor(fresh_name, credentials=ini)
    assert status == 2
    [denied] = [f for f in report["findings"] if f["code"] == "permission-denied"]
    assert "outside the registration's allowfrom (192.0.2.0/24)" in denied["problem"]
    assert "127.0.0.1" in denied["problem"]
    # the same registration with a wrong password: the credentials, not allowfrom
    saved = json.loads(file.read_text())
    saved[fresh_name]["allowfrom"] = []
    saved[fresh_name]["password"] = "x" * 40
    file.write_text(json.dumps(saved))
    status, report = lab.doctor(fresh_name, credentials=ini)
    [denied] = [f for f in report["findings"] if f["code"] == "permission-denied"]
    assert "refused the credentials" in denied["problem"], denied
    assert "x" * 40 not in json.dumps(report)
    # a bad CIDR at registration: refused here in one line (status 3, a usage error),
    # before anything reaches the API
    asked = len(acmedns.requests)
    for cidr, said in (("not-a-cidr", "'not-a-cidr' has no prefix length"),
                       ("10.0.0.0/33", "'10.0.0.0/33': the prefix length must be a number "
                        "from 0 to 32 for an IPv4 address")):
        bad = register(acmedns, tmp_path / "other.json", "x." + fresh_name, allow_from=(cidr,))
        assert bad.returncode == 3 and said in bad.stderr, bad.stderr
    assert len(acmedns.requests) == asked and not (tmp_path / "other.json").exists()


def test_acmedns_three_values_for_one_registration_stop_before_writing(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str,
        acmedns: AcmeDnsEmulator, cnames: list[tuple[str, str]]) -> None:
    file = tmp_path / "acmedns.json"
    [record] = registered(acmedns, lab, cnames, file, fresh_name)
    saved = json.loads(file.read_text())
    saved[f"www.{fresh_name}"] = saved[fresh_name]  # one registration shared by www too
    file.write_text(json.dumps(saved))
    publish(lab, cnames, record.replace(f"_acme-challenge.{fresh_name}",
                                        f"_acme-challenge.www.{fresh_name}"))
    run = certbot.certonly(fresh_name, f"*.{fresh_name}", f"www.{fresh_name}",
                           credentials=acmedns_ini(tmp_path, acmedns, file))
    assert run.returncode != 0 and "[multiple-values]" in run.output
    assert "acme-dns keeps only 2 per registration" in run.output
    assert "own registration" in run.output
    assert len([r for r in acmedns.requests if r[1] == "/update"]) == 1  # the probe only
    assert acmedns.served(saved[fresh_name]["subdomain"]) == []


def test_acmedns_a_name_no_registration_holds_is_a_cname_mistake(
        lab: Lab, tmp_path: Path, fresh_name: str, acmedns: AcmeDnsEmulator) -> None:
    """The writer contract (test_writer_contract, kind acmedns) covers add, remove, the
    refused add and the probe; here, the one mistake it has no clause for."""
    file = tmp_path / "acmedns.json"
    assert register(acmedns, file, fresh_name).returncode == 0
    ini = acmedns_ini(tmp_path, acmedns, file)
    [writer] = writers_from_credentials(ConfigObj(str(ini), interpolation=False), str(ini)).writers
    assert isinstance(writer, AcmeDnsWriter)
    with pytest.raises(AutopilotError) as failed:
        writer.add(ACME_ZONE, {"nowhere." + ACME_DOMAIN: {"d" * 43}}, 60)
    assert failed.value.code == "cname-alias"
    assert not [r for r in acmedns.requests if r[1] == "/update"]


def test_one_certificate_three_writers(lab: Lab, certbot: Certbot, tmp_path: Path,
                                       fresh_name: str, acmedns: AcmeDnsEmulator,
                                       cnames: list[tuple[str, str]]) -> None:
    """exec for autopilot.test (the apex), acme-dns for www (its CNAME into example.test),
    RFC 2136 (the top level, any other zone) for a signed.test name."""
    file = tmp_path / "acmedns.json"
    registered(acmedns, lab, cnames, file, f"www.{fresh_name}")
    exec_ini = hooks_ini(lab, tmp_path, zones=ZONE).read_text()
    ini = tmp_path / "mixed.ini"
    other = fresh_name.replace(ZONE, "signed.test")
    ini.write_text(lab.credentials.read_text()
                   + f"\n[acme-dns]\ndns_autopilot_acmedns_api_url = {acmedns.url}\n"
                   f"dns_autopilot_acmedns_registration_file = {file}\n"
                   f"\n[internal]\n{exec_ini}")
    ini.chmod(0o600)
    domains = (fresh_name, f"www.{fresh_name}", other)
    run = certbot.certonly(*domains, credentials=ini)
    assert run.returncode == 0, run.output
    assert certbot.cert_names(fresh_name) == set(domains)
    writers = {r["name"]: r["writer"] for r in run.steps("plan")[0]["routes"]}
    assert writers[f"_acme-challenge.{fresh_name}"].startswith("exec hook")
    assert writers[f"_acme-challenge.www.{fresh_name}"].startswith("acme-dns")
    assert writers[f"_acme-challenge.{other}"].startswith("RFC 2136")
    assert [x.split()[1] for x in hook_log(tmp_path) if x.startswith("cleanup ")] == [
        fresh_name]
    wait_absent(lab, f"_acme-challenge.{fresh_name}")
    wait_absent(lab, f"_acme-challenge.{other}")


def test_two_writers_for_one_zone_in_one_run_stop_before_writing(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str,
        acmedns: AcmeDnsEmulator, cnames: list[tuple[str, str]]) -> None:
    """acme-dns's fulldomains in example.test, and exec serving example.test too."""
    file = tmp_path / "acmedns.json"
    [record] = registered(acmedns, lab, cnames, file, fresh_name)
    ini = tmp_path / "mixed.ini"
    ini.write_text(f"dns_autopilot_acmedns_api_url = {acmedns.url}\n"
                   f"dns_autopilot_acmedns_registration_file = {file}\n\n[internal]\n"
                   + hooks_ini(lab, tmp_path, zones=ACME_ZONE).read_text())
    ini.chmod(0o600)
    label = fresh_name.split(".")[0]
    run = certbot.certonly(fresh_name, f"{label}.{ACME_ZONE}", credentials=ini)
    assert run.returncode != 0 and "would be written by two writers" in run.output
    assert not (tmp_path / "hooks.log").exists()
    assert not [r for r in acmedns.requests if r[1] == "/update"]  # stopped at the plan


def test_a_password_in_the_api_url_reaches_no_output(
        lab: Lab, certbot: Certbot, tmp_path: Path, fresh_name: str,
        acmedns: AcmeDnsEmulator, cnames: list[tuple[str, str]]) -> None:
    """``https://user:password@host`` is honoured by requests (basic authentication, as a
    proxy in front of acme-dns may want): that password is a credential. Neither the run's
    display, certbot's log, the event log nor doctor (healthy, or failing at that URL) shows
    it."""
    password = "Pr0xy-basic-auth-password"
    file = tmp_path / "acmedns.json"
    registered(acmedns, lab, cnames, file, fresh_name)
    with_password = acmedns.url.replace("://", f"://proxy:{password}@")
    ini = tmp_path / "acmedns.ini"
    ini.write_text(f"dns_autopilot_acmedns_api_url = {with_password}\n"
                   f"dns_autopilot_acmedns_registration_file = {file}\n")
    ini.chmod(0o600)
    run = certbot.certonly(fresh_name, credentials=ini)
    assert run.returncode == 0, run.output
    assert "via acme-dns 127.0.0.1:" in run.output
    events = (certbot.logs_dir / "dns-autopilot.jsonl").read_text()
    acmedns.stop()  # doctor now fails at that URL, and says where
    dead = subprocess.run([str(DNS_AUTOPILOT), "doctor", "-d", fresh_name, "--credentials",
                           str(ini), "--resolvers", lab.resolver], capture_output=True,
                          text=True, timeout=120)
    assert dead.returncode == 2 and "provider-unreachable" in dead.stdout, dead.stdout
    assert acmedns.url.removeprefix("http://") in dead.stdout
    for text in (run.output, run.log, events, dead.stdout, dead.stderr):
        assert password not in text
