"""Fault injection in the lab: each case breaks one thing mid-run and checks what the user
sees, and counts what must stay zero: records leaked, foreign values removed, secrets in any
artefact of the run, tracebacks shown. `lab/faults.sh` runs these and prints the figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulators.bind import ZoneBackend
from emulators.cloudflare import CloudflareEmulator
from emulators.route53 import Route53Emulator
from labkit import (
    Certbot,
    Lab,
    Run,
    eventually,
    ini_keys,
    meanwhile,
    nsupdate,
    secondary_frozen,
    when_logged,
)
from labkit import route53_ini as route53_credentials
from netconditions import transfers_held

pytestmark = pytest.mark.lab

FOREIGN = "a-colleagues-value"
REPORT = os.environ.get("DNS_AUTOPILOT_FAULT_REPORT")


class Case:
    """One fault case's figures, checked after the fault has played out."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab, self.name = lab, name
        self.figures = {"records leaked": 0, "foreign values removed": 0,
                        "secrets in artefacts": 0, "tracebacks shown": 0}
        self.secrets = [ini_keys(lab.credentials)["dns_autopilot_rfc2136_secret"]]
        self.planted: list[tuple[str, str]] = []
        self.leaked: dict[tuple[str, str], set[str]] = {}

    def plant(self, zone: str, name: str) -> None:
        """Someone else's value at a name the run writes: it must survive."""
        nsupdate(self.lab, zone, name, FOREIGN)
        self.planted.append((zone, name))

    def check(self, names: list[str], *runs: Run, extra_artefacts: tuple[str, ...] = (),
              foreign: list[str] = ()) -> None:
        """Count, after cleanup has had time to reach the secondary."""
        def left() -> dict[tuple[str, str], set[str]]:
            return {(server, name): self.lab.txt(server, name) - {FOREIGN}
                    for server in (self.lab.primary, self.lab.secondary) for name in names}

        with contextlib.suppress(AssertionError):  # what is left then is counted, not raised
            eventually(lambda: not any(left().values()), "the cleanup reaching every server",
                       seconds=20, every=0.25)
        self.leaked = {where: values for where, values in left().items() if values}
        self.figures["records leaked"] = sum(map(len, self.leaked.values()))
        self.figures["foreign values removed"] = sum(
            FOREIGN not in self.lab.txt(self.lab.primary, name) for name in foreign)
        artefacts = [a for run in runs for a in (run.output, run.log, json.dumps(run.events))]
        artefacts += list(extra_artefacts)
        self.figures["secrets in artefacts"] = sum(
            secret in artefact for secret in self.secrets for artefact in artefacts)
        self.figures["tracebacks shown"] = sum("Traceback" in run.output for run in runs)


@pytest.fixture(scope="session")
def report() -> Iterator[dict[str, dict[str, int]]]:
    cases: dict[str, dict[str, int]] = {}
    yield cases
    if REPORT:
        Path(REPORT).write_text(json.dumps(cases, indent=1))


@pytest.fixture
def case(lab: Lab, request: pytest.FixtureRequest, report: dict) -> Iterator[Case]:
    found = Case(lab, request.node.name.removeprefix("test_").replace("_", " "))
    yield found
    for zone, name in found.planted:
        nsupdate(lab, zone, name, FOREIGN, add=False)
    report[found.name] = found.figures
    assert found.figures == dict.fromkeys(found.figures, 0), (found.figures, found.leaked)


def ok(event: dict) -> bool:
    return event["outcome"] == "ok"


def test_the_secondary_stopped_during_the_wait(lab: Lab, certbot: Certbot, fresh_name: str,
                                             case: Case) -> None:
    name = f"_acme-challenge.{fresh_name}"
    case.plant("autopilot.test", name)
    # Down at every address: not the zone's fault (the CA's resolvers move on to ns1), so a
    # named gap, not lame-delegation. Pre-flight off: the waiter meets it.
    with secondary_frozen(lab):
        run = certbot.certonly(fresh_name, extra=("--dns-autopilot-propagation-timeout", "5",
                                                  "--dns-autopilot-preflight", "false"))
    # What the user sees: a success that names the server it could not check.
    assert run.returncode == 0, run.output
    assert f"not checked from this host: ns2.autopilot.test ({lab.secondary})" in run.output
    assert "[lame-delegation]" not in run.output
    [dropped] = run.steps("unreachable", outcome="dropped")
    assert dropped["server"] == f"ns2.autopilot.test ({lab.secondary})"
    case.check([name], run, foreign=[name])


def test_the_primary_refusing_the_second_zones_update(lab: Lab, certbot: Certbot,
                                                       fresh_name: str, tmp_path: Path,
                                                       case: Case) -> None:
    # autopilot.test is written with the real key; example.test with a key the primary
    # refuses: the first zone's values must not stay behind.
    label = fresh_name.split(".")[0]
    good = ini_keys(lab.credentials)
    readonly = ini_keys(Path(lab.env["LAB_CREDENTIALS_READONLY"]))
    path = tmp_path / "two-keys.ini"
    path.write_text(
        "dns_autopilot_zones = autopilot.test\n"
        + "".join(f"{k} = {v}\n" for k, v in good.items())
        + "\n[example]\ndns_autopilot_zones = example.test\n"
        + "".join(f"{k} = {v}\n" for k, v in readonly.items()))
    path.chmod(0o600)
    case.secrets.append(readonly["dns_autopilot_rfc2136_secret"])
    name = f"_acme-challenge.{fresh_name}"
    case.plant("autopilot.test", name)
    run = certbot.certonly(fresh_name, f"{label}.example.test", credentials=path)
    assert run.returncode != 0 and "dns-autopilot [permission-denied]" in run.output
    assert "REFUSED" in run.output and "update-policy" in run.output
    assert [e["outcome"] for e in run.steps("cleanup")] == ["ok"], "the first zone cleaned"
    # REFUSED is the server's answer to the only try: nothing to take back, nothing kept.
    assert run.steps("take-back") == []
    assert not list((certbot.home / "work" / "dns-autopilot" / "journal").glob("*.json"))
    case.check([name, f"_acme-challenge.{label}.example.test"], run, foreign=[name])


def test_the_provider_failing_every_other_call(lab: Lab, certbot: Certbot, fresh_name: str,
                                               tmp_path: Path, case: Case) -> None:
    cf = CloudflareEmulator(["autopilot.test"], ZoneBackend(lab.credentials)).start()
    try:
        token = cf.token(["autopilot.test"])
        cf.fail_every_other = True
        path = tmp_path / "cloudflare.ini"
        path.write_text(f"dns_autopilot_cloudflare_api_url = {cf.url}\n"
                        f"dns_autopilot_cloudflare_api_token = {token}\n")
        path.chmod(0o600)
        case.secrets.append(token)
        run = certbot.certonly(fresh_name, f"*.{fresh_name}", credentials=path)
    finally:
        cf.stop()
    # What the user sees: nothing but a slower success; the event log lists each retry.
    assert run.returncode == 0, run.output
    retries = run.steps("retry")
    assert cf.failed >= 3 and len(retries) >= 3
    assert {r["reason"] for r in retries} == {"HTTP 429", "HTTP 502"}
    case.check([f"_acme-challenge.{fresh_name}"], run)


def signalled_in_the_wait(lab: Lab, certbot: Certbot, domain: str, sig: signal.Signals
                          ) -> Run:
    """certonly for ``domain``, sent ``sig`` once it has written (the secondary is frozen, so
    the wait's first round lasts a query timeout: the signal lands in the wait). Pre-flight is
    off: it would spend that timeout on the frozen server before writing."""
    cmd, env = certbot._command(*certbot._certonly_args(
        (domain,), None, ("--dns-autopilot-preflight", "false")), "--non-interactive")
    with secondary_frozen(lab):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with when_logged(certbot, "write", lambda: proc.send_signal(sig), where=ok):
            output = proc.communicate(timeout=180)[0].decode()
    return certbot._run(proc.returncode, output)


def test_the_process_killed_between_write_and_wait(lab: Lab, certbot: Certbot,
                                                   fresh_name: str, case: Case) -> None:
    name = f"_acme-challenge.{fresh_name}"
    case.plant("autopilot.test", name)
    killed = signalled_in_the_wait(lab, certbot, fresh_name, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert len(lab.txt(lab.primary, name) - {FOREIGN}) == 1, "the kill left our value"
    # The next run of the same certbot (any names) removes it first, and says so.
    other = f"o{fresh_name}"
    run = certbot.certonly(other)
    assert run.returncode == 0, run.output
    assert f"dns-autopilot: removed what an interrupted run had left: {name} TXT" in run.output
    [recovered] = run.steps("recover")
    assert recovered["outcome"] == "ok"
    case.check([name, f"_acme-challenge.{other}"], killed, run, foreign=[name])


def test_journals_no_run_of_ours_wrote(lab: Lab, certbot: Certbot, fresh_name: str,
                                       case: Case) -> None:
    # Seen in black-box runs: a planted journal naming someone's SPF value had the next run
    # delete it; malformed ones stopped every later run with a ValueError.
    case.plant("autopilot.test", fresh_name)
    directory = certbot.home / "work" / "dns-autopilot" / "journal"
    directory.mkdir(parents=True, mode=0o700)
    planted = {
        "spf.json": {"pid": 2**22 + 1, "started": "1", "credentials": str(lab.credentials),
                     "zones": {"autopilot.test": {fresh_name: [FOREIGN]}}},
        "list.json": [], "pid.json": {"pid": "x"},
        "zones.json": {"pid": 2**22 + 1, "credentials": str(lab.credentials),
                       "zones": ["autopilot.test"]}}
    for name, body in planted.items():
        (directory / name).write_text(json.dumps(body))
        (directory / name).chmod(0o600)
    run = certbot.certonly(fresh_name)
    assert run.returncode == 0, run.output
    assert "unexpected error" not in run.output
    assert lab.txt(lab.primary, fresh_name) == {FOREIGN}
    assert sorted(e["name"].rsplit("/", 1)[1] for e in run.steps("recover")) == sorted(planted)
    assert {e["outcome"] for e in run.steps("recover")} == {"refused"}
    assert "not acting on the journal" in run.log
    kept = sorted(p.name for p in directory.iterdir() if p.name != ".refused")
    assert kept == sorted(planted)  # left alone
    again = certbot.certonly(f"a{fresh_name}")  # reported once: the next run only notes them
    assert "not acting on the journal" in run.output  # the first run warned
    assert again.returncode == 0 and "not acting on the journal" not in again.output
    assert again.log.count("not acting on the journal") == 4  # noted in the log
    assert [e["outcome"] for e in again.steps("recover")][-4:] == ["refused"] * 4
    case.check([f"_acme-challenge.{fresh_name}"], run, foreign=[fresh_name])


class AnswerLost:
    """A UDP relay to the lab's primary that passes every query on but, for the first
    ``drop`` UPDATEs, throws the server's answer away: updates applied, never confirmed."""

    def __init__(self, server: str, drop: int) -> None:
        self.server, self.drop = server, drop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.applied = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, client = self.sock.recvfrom(65535)
            except OSError:
                return
            threading.Thread(target=self._relay, args=(data, client), daemon=True).start()

    def _relay(self, data: bytes, client: tuple[str, int]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(3)
            upstream.sendto(data, (self.server, 53))
            try:
                answer = upstream.recv(65535)
            except OSError:
                return
        if (data[2] >> 3) & 0xF == 5 and self.drop > 0:  # opcode UPDATE
            self.drop -= 1
            self.applied += 1
            return
        with contextlib.suppress(OSError):
            self.sock.sendto(answer, client)

    def close(self) -> None:
        self.sock.close()


def test_an_update_applied_whose_answer_was_lost(lab: Lab, certbot: Certbot, tmp_path: Path,
                                                 fresh_name: str, case: Case) -> None:
    # RFC 2136: the server applied the UPDATE (and each re-send), the answers never came
    # back, the writer reports a timeout. The values exist: the run must take them back.
    name = f"_acme-challenge.{fresh_name}"
    case.plant("autopilot.test", name)
    keys = ini_keys(lab.credentials)
    relay = AnswerLost(lab.primary, drop=3)  # the writer's three tries
    try:
        ini = tmp_path / "relay.ini"
        ini.write_text("".join(f"{k} = {v}\n" for k, v in {
            **{k: v for k, v in keys.items() if k.startswith("dns_autopilot_rfc2136_")},
            "dns_autopilot_rfc2136_server": "127.0.0.1",
            "dns_autopilot_rfc2136_port": str(relay.port)}.items()))
        ini.chmod(0o600)
        run = certbot.certonly(fresh_name, credentials=ini,
                               extra=("--dns-autopilot-preflight", "false"))
    finally:
        relay.close()
    assert run.returncode != 0 and "[provider-unreachable]" in run.output, run.output
    assert "[lame-delegation]" not in run.output
    assert relay.applied == 3
    [taken] = run.steps("take-back")
    assert taken["outcome"] == "ok"
    assert not list((certbot.home / "work" / "dns-autopilot" / "journal").glob("*.json"))
    case.check([name], run, foreign=[name])


def test_sigterm_during_the_wait(lab: Lab, certbot: Certbot, fresh_name: str,
                                 case: Case) -> None:
    name = f"_acme-challenge.{fresh_name}"
    case.plant("autopilot.test", name)
    run = signalled_in_the_wait(lab, certbot, fresh_name, signal.SIGTERM)
    # certbot catches SIGTERM and runs the plugin's cleanup before it exits.
    assert run.returncode != 0
    assert [e["outcome"] for e in run.steps("cleanup")] == ["ok"], run.steps("cleanup")
    assert lab.txt(lab.primary, name) == {FOREIGN}
    assert not list((certbot.home / "work" / "dns-autopilot" / "journal").glob("*.json"))
    case.check([name], run, foreign=[name])


def apex_and_wildcard_at_once(lab: Lab, tmp_path: Path, domain: str,
                              credentials: Path | None = None) -> list[Run]:
    """Two certbot processes (own config dirs) at once for ``domain`` and ``*.domain``: one
    validation name, a value each. Both must succeed: neither removes the other's value.
    The secondary is held back until both have written, so that neither asks a resolver
    before the other's value is there (one that did would wait out the TTL of the answer
    it cached, a minute: right, and no part of this case)."""
    runs: dict[str, Run] = {}
    certbots = {domain: Certbot(lab, tmp_path / "apex"),
                f"*.{domain}": Certbot(lab, tmp_path / "wildcard")}
    threads = [threading.Thread(target=lambda c=c, d=d: runs.__setitem__(
        d, c.certonly(d, credentials=credentials))) for d, c in certbots.items()]
    with transfers_held(lab) as release, meanwhile(
            lambda: all(any(e["step"] == "write" for e in c.logged()) for c in certbots.values()),
            release, "both runs' values written"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    assert [r.returncode for r in runs.values()] == [0, 0], [r.output for r in runs.values()]
    return list(runs.values())


def test_two_concurrent_runs_on_one_name(lab: Lab, tmp_path: Path, fresh_name: str,
                                         case: Case) -> None:
    name = f"_acme-challenge.{fresh_name}"
    case.plant("autopilot.test", name)
    runs = apex_and_wildcard_at_once(lab, tmp_path, fresh_name)
    case.check([name], *runs, foreign=[name])


def test_two_concurrent_runs_on_one_name_through_route53(lab: Lab, tmp_path: Path,
                                                        fresh_name: str, case: Case) -> None:
    # Route 53 rewrites a whole record set per change: the runs' read-modify-writes must not
    # drop each other's value (a host lock, and batches conditional on the set read).
    name = f"_acme-challenge.{fresh_name}"
    route53 = Route53Emulator(ZoneBackend(lab.credentials)).start()
    try:
        route53.client().change_resource_record_sets(
            HostedZoneId=route53.zone_id("autopilot.test"), ChangeBatch={"Changes": [{
                "Action": "UPSERT", "ResourceRecordSet": {
                    "Name": name, "Type": "TXT", "TTL": 300,
                    "ResourceRecords": [{"Value": f'"{FOREIGN}"'}]}}]})
        path, secret = route53_credentials(tmp_path, route53, "acme")
        case.secrets.append(secret)
        runs = apex_and_wildcard_at_once(lab, tmp_path, fresh_name, path)
        case.check([name], *runs, foreign=[name])
        assert route53.txt("autopilot.test", name)["values"] == {FOREIGN}
    finally:
        route53.stop()
        case.planted.append(("autopilot.test", name))  # the colleague's value, in BIND


def test_two_concurrent_runs_on_one_name_through_lexicon(lab: Lab, tmp_path: Path,
                                                        fresh_name: str, case: Case) -> None:
    # lexicon's ddns deletes one value per call: neither run's cleanup may take the value the
    # other run removed meanwhile for one it dropped, and put it back.
    name = f"_acme-challenge.{fresh_name}"
    case.plant("autopilot.test", name)
    keys = ini_keys(lab.credentials)
    path = tmp_path / "lexicon.ini"
    path.write_text("dns_autopilot_lexicon_provider = ddns\n"
                    "dns_autopilot_lexicon_auth_token = hmac-sha512:"
                    f"{keys['dns_autopilot_rfc2136_name']}:{keys['dns_autopilot_rfc2136_secret']}\n"
                    f"dns_autopilot_lexicon_ddns_server = {lab.primary}\n"
                    "dns_autopilot_zones = autopilot.test\n")
    path.chmod(0o600)
    runs = apex_and_wildcard_at_once(lab, tmp_path, fresh_name, path)
    case.check([name], *runs, foreign=[name])
    assert not [run for run in runs if "putting it back" in run.log]


def test_a_resolver_dropping_packets(lab: Lab, certbot: Certbot, fresh_name: str,
                                     case: Case) -> None:
    # Two resolvers; the second stops answering (queries dropped) once the run has checked
    # that both work and written its value, until the public phase has met one of its
    # timeouts: one round without an answer is a delay, not a dead resolver. The secondary
    # is held back until the resolver is stopped: the public phase cannot begin before.
    resolver = lab.pid("unbound")

    def stop_resolver() -> None:
        os.kill(resolver, signal.SIGSTOP)
        release()

    try:
        with transfers_held(lab) as release, when_logged(certbot, "write", stop_resolver), \
                when_logged(certbot, "query", lambda: os.kill(resolver, signal.SIGCONT),
                            where=lambda e: e.get("phase") == "public"
                            and e["answer"]["rcode"] == "TIMEOUT"):
            run = certbot.certonly(fresh_name, extra=(
                "--dns-autopilot-resolvers", f"{lab.ca_resolver},{lab.resolver}"))
    finally:
        os.kill(resolver, signal.SIGCONT)
    # What the user sees: a success a few seconds later; the log shows the unanswered queries.
    assert run.returncode == 0, run.output
    timeouts = [q for q in run.steps("query", phase="public") if q["answer"]["rcode"] == "TIMEOUT"]
    assert timeouts, run.steps("query", phase="public")
    assert not run.steps("resolver-dropped"), "one silent round is not a dead resolver"
    case.check([f"_acme-challenge.{fresh_name}"], run)

