"""What the lab tests share: the running lab (`Lab`), the real certbot run against it
(`Certbot`, `Run`), changes made in its zones by someone else, and `eventually` for what
the lab reaches a moment later. Fixtures are in conftest.py, which takes them from here:
tests import from this module (never from conftest, which another test directory's
conftest would shadow)."""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rdatatype
import dns.tsig
import dns.update

if TYPE_CHECKING:
    from emulators.acmedns import AcmeDnsEmulator
    from emulators.route53 import Route53Emulator

ROOT = Path(__file__).resolve().parents[2]
LAB_SH = ROOT / "lab" / "lab.sh"
CERTBOT = Path(sys.executable).parent / "certbot"
T = TypeVar("T")


def eventually(condition: Callable[[], T], what: str | Callable[[], str], seconds: float = 30,
               every: float = 0.2) -> T:
    """``condition()``, asked every ``every`` seconds until it returns something true (which
    is returned), for what the lab reaches a moment later (a transfer, a cleanup, a process
    gone). Past ``seconds`` the test fails saying what never happened: ``what``, or what it
    returns then (to name what was seen instead). An assertion in ``condition`` fails the
    test at once: for what must stay true meanwhile."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"within {seconds:g} s, never: {said}")
        time.sleep(every)
    return found


@contextlib.contextmanager
def meanwhile(condition: Callable[[], object], action: Callable[[], None], what: str,
              seconds: float = 120, every: float = 0.02) -> Iterator[None]:
    """Within the block, ``action`` runs in a thread as soon as ``condition()`` holds (see
    ``eventually``): to act at a moment of a running certbot. The block fails when it ends
    before that moment came (unless it failed first)."""
    stop, acted, failed = threading.Event(), threading.Event(), []

    def watch() -> None:
        try:
            eventually(lambda: stop.is_set() or condition(), what, seconds, every)
            if not stop.is_set():
                action()
                acted.set()
        except Exception as exc:  # the test's, raised where it waits for the block
            failed.append(exc)

    thread = threading.Thread(target=watch, name=f"when {what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
    if failed:
        raise failed[0]
    assert acted.is_set(), f"the block ended before {what}"


def exchange(message: dns.message.Message, server: str, timeout: float = 3, tries: int = 4,
             **kwargs: object) -> dns.message.Message:
    """One DNS message to a lab server over UDP, sent again when no answer came in
    ``timeout``: on two cores shared by parallel runs a busy BIND or Unbound can take longer
    than one timeout, and a lab helper must not fail the test for it (re-sending is safe:
    a query, or an UPDATE adding or deleting one value, changes nothing twice)."""
    for attempt in range(1, tries + 1):
        try:
            response = dns.query.udp(message, server, timeout=timeout, **kwargs)
            if response.flags & dns.flags.TC:  # too large for UDP: the whole answer over TCP
                return dns.query.tcp(message, server, timeout=timeout, **kwargs)
            return response
        except dns.exception.Timeout:
            if attempt == tries:
                raise
    raise AssertionError("unreachable")


@dataclass
class Lab:
    env: dict[str, str]

    @property
    def primary(self) -> str:
        return self.env["LAB_PRIMARY"]

    @property
    def secondary(self) -> str:
        return self.env["LAB_SECONDARY"]

    def doctor(self, *domains: str, credentials: Path | None = None, extra: tuple[str, ...] = ()
               ) -> tuple[int, dict]:
        """`dns-autopilot doctor --json` against the lab; (exit status, parsed output). Its
        locks go under the lab's own work dir, not the host's certbot's."""
        cmd = [str(Path(sys.executable).parent / "dns-autopilot"), "doctor", "--json",
               "--credentials", str(credentials or self.credentials),
               "--resolvers", self.resolver, "--work-dir", self.work_dir, *extra]
        for domain in domains:
            cmd += ["-d", domain]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {
            "stderr": proc.stderr}

    @property
    def resolver(self) -> str:
        return self.env["LAB_RESOLVER"]

    @property
    def work_dir(self) -> str:
        """A certbot work dir of the lab's own, for runs of doctor outside a lineage."""
        return str(Path(self.env["LAB_RUN"]) / "work")

    @property
    def alias_primary(self) -> str:
        return self.env["LAB_ALIAS_PRIMARY"]

    @property
    def credentials(self) -> Path:
        return Path(self.env["LAB_CREDENTIALS"])

    @property
    def credentials_map(self) -> Path:
        """Two writers: ns1 for autopilot.test and example.test, ns3 for alias.test."""
        return Path(self.env["LAB_CREDENTIALS_MAP"])

    @property
    def run_dir(self) -> Path:
        return Path(self.env["LAB_RUN"])

    def pid(self, part: str) -> int:
        """The pid of a lab server: root, primary, secondary (named), unbound, pebble."""
        name = {"unbound": "unbound/unbound.pid", "pebble": "pebble/pebble.pid"}.get(
            part, f"{part}/named.pid")
        return int((self.run_dir / name).read_text().split()[0])

    def resolver_log_times(self, name: str) -> list[int]:
        """Epoch seconds at which Unbound received a TXT query for ``name`` (log-queries)."""
        times = []
        for line in (self.run_dir / "unbound" / "unbound.log").read_text().splitlines():
            if f" {name}. TXT IN" in line and line.startswith("["):
                times.append(int(line[1:line.index("]")]))
        return times

    @property
    def ca_resolver(self) -> str:
        """The CA's own resolver (Pebble validates through it; the plugin never asks it)."""
        return self.env["LAB_CA_RESOLVER"]

    def notify_secondary(self, zone: str) -> None:
        """A NOTIFY for ``zone`` to the secondary, sent from the primary's address (as BIND
        only accepts it from there): for zones whose primary sends none (lag.test)."""
        notify = dns.message.make_query(zone, dns.rdatatype.SOA)
        notify.set_opcode(dns.opcode.NOTIFY)
        notify.flags |= dns.flags.AA
        exchange(notify, self.secondary, source=self.primary)

    def cnames(self, server: str, name: str) -> set[str]:
        """CNAME targets at ``name`` (no trailing dot), asked of ``server`` without recursion."""
        query = dns.message.make_query(name, dns.rdatatype.CNAME)
        query.flags &= ~dns.flags.RD
        response = exchange(query, server)
        return {r.target.to_text(omit_final_dot=True) for rrset in response.answer
                if rrset.rdtype == dns.rdatatype.CNAME for r in rrset}

    def txt(self, server: str, name: str, recurse: bool = False) -> set[str]:
        """TXT values at ``name``, asked of ``server`` (recursion off unless asked)."""
        query = dns.message.make_query(name, dns.rdatatype.TXT)
        if not recurse:
            query.flags &= ~dns.flags.RD
        response = exchange(query, server)
        return {b"".join(r.strings).decode("utf-8", "replace") for rrset in response.answer
                if rrset.rdtype == dns.rdatatype.TXT for r in rrset}


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """A lab server frozen (SIGSTOP) for the block: it neither answers nor transfers."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def secondary_frozen(lab: Lab, zone: str = "autopilot.test") -> Iterator[None]:
    """The secondary frozen for the block, then sent a NOTIFY for ``zone`` (as the primary's
    next change would): what the primary notified meanwhile has timed out on its side, and
    the secondary's own refresh timer is an hour away, so counting what the cleanup left
    there would count the freeze."""
    with stopped(lab.pid("secondary")):
        yield
    lab.notify_secondary(zone)


def parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@dataclass
class Run:
    returncode: int
    output: str
    log: str
    events: list[dict]

    @property
    def hint(self) -> str:
        """certbot's "Hint:" paragraph (auth_hint's text) from the run's output."""
        return self.output.split("Hint: ", 1)[1] if "Hint: " in self.output else ""

    def steps(self, step: str, **match: object) -> list[dict]:
        """This run's events of one step whose fields equal ``match``."""
        return [e for e in self.events if e["step"] == step
                and all(e.get(k) == v for k, v in match.items())]


class Certbot:
    """Runs the real certbot (the venv's) against the lab's Pebble in its own directories."""

    def __init__(self, lab: Lab, home: Path) -> None:
        self.lab = lab
        self.home = home
        self.config_dir = home / "config"
        self.logs_dir = home / "logs"

    def _command(self, *args: str) -> tuple[list[str], dict[str, str]]:
        cmd = [str(CERTBOT), *args,
               "--config-dir", str(self.config_dir), "--work-dir", str(self.home / "work"),
               "--logs-dir", str(self.logs_dir)]
        return cmd, dict(os.environ, REQUESTS_CA_BUNDLE=self.lab.env["LAB_CA_BUNDLE"])

    def _run(self, returncode: int, output: str) -> Run:
        log_file = self.logs_dir / "letsencrypt.log"
        log = log_file.read_text() if log_file.exists() else ""
        return Run(returncode, output, log, self.logged())

    def logged(self) -> list[dict]:
        """The plugin's events so far, whole lines only (a running certbot may be halfway
        through writing the next one)."""
        path = self.logs_dir / "dns-autopilot.jsonl"
        lines = path.read_text().splitlines(keepends=True) if path.exists() else []
        return [json.loads(line) for line in lines if line.endswith("\n") and line.strip()]

    def __call__(self, *args: str, cwd: Path | None = None, timeout: float = 300) -> Run:
        cmd, env = self._command(*args, "--non-interactive")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=timeout)
        return self._run(proc.returncode, proc.stdout + proc.stderr)

    def _certonly_args(self, domains: tuple[str, ...], credentials: Path | str | None,
                       extra: tuple[str, ...]) -> list[str]:
        args = ["certonly", "--agree-tos", "--register-unsafely-without-email",
                "--server", self.lab.env["LAB_ACME_DIRECTORY"],
                "--authenticator", "dns-autopilot",
                "--dns-autopilot-credentials", str(credentials or self.lab.credentials),
                "--dns-autopilot-resolvers", self.lab.resolver, *extra]
        for domain in domains:
            args += ["-d", domain]
        return args

    def certonly(self, *domains: str, credentials: Path | str | None = None,
                 extra: tuple[str, ...] = (), cwd: Path | None = None) -> Run:
        return self(*self._certonly_args(domains, credentials, extra), cwd=cwd)

    def certonly_paused(self, *domains: str, at_pause: Callable[[], None],
                        credentials: Path | str | None = None, extra: tuple[str, ...] = ()
                        ) -> Run:
        """certonly with certbot's own --debug-challenges pause: after the plugin's perform
        (records written, wait passed) and before the CA is asked, ``at_pause`` runs: the
        moment another process could change the zone."""
        cmd, env = self._command(*self._certonly_args(domains, credentials, extra),
                                 "--debug-challenges", "--force-interactive")
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        assert proc.stdout and proc.stdin
        seen = bytearray()

        def paused() -> bool:
            if select.select([proc.stdout], [], [], 1)[0]:
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, f"certbot ended without pausing:\n{seen.decode()}"
                seen.extend(chunk)
            return b"Press Enter to Continue" in seen

        try:
            eventually(paused, lambda: f"certbot pausing:\n{seen.decode()}", seconds=240,
                       every=0)
        except AssertionError:
            proc.kill()
            raise
        at_pause()
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        rest, _ = proc.communicate(timeout=300)
        return self._run(proc.returncode, (bytes(seen) + rest).decode())

    def cert_names(self, lineage: str) -> set[str]:
        from cryptography import x509

        pem = (self.config_dir / "live" / lineage / "cert.pem").read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return set(san.get_values_for_type(x509.DNSName))


# -- helpers the lab tests share -----------------------------------------------------------

def ini_keys(path: Path) -> dict[str, str]:
    """The top-level keys of a credentials file."""
    parser = configparser.ConfigParser()
    parser.read_string("[x]\n" + path.read_text().split("\n[", 1)[0])
    return dict(parser["x"])


def lab_keys(lab: Lab) -> dict[str, str]:
    """The lab's own RFC 2136 keys (server, TSIG name and secret)."""
    return ini_keys(lab.credentials)


def wait_absent(lab: Lab, name: str, values: set[str] | None = None, seconds: float = 15) -> None:
    """Cleanup reaches the secondary by NOTIFY + IXFR: allow it a moment, then insist."""
    def left() -> dict[str, set[str]]:
        found = {server: lab.txt(server, name) for server in (lab.primary, lab.secondary)}
        return {s: v & values for s, v in found.items()} if values is not None else found

    eventually(lambda: not any(left().values()),
               lambda: f"the cleanup at {name} reaching every server (left: {left()})", seconds)


def served_everywhere(lab: Lab, name: str, serves: Callable[[str, str], bool],
                      seconds: float = 30, every: float = 0.2) -> None:
    """Until the primary and the secondary both serve what ``serves(server, name)`` checks
    (the secondary follows by NOTIFY + IXFR, later under load), asking ``every`` seconds."""
    eventually(lambda: all(serves(server, name) for server in (lab.primary, lab.secondary)),
               f"the secondary catching up with the primary on {name}", seconds, every)


def when_logged(certbot: Certbot, step: str, action: Callable[[], None], times: int = 1,
                where: Callable[[dict], bool] = lambda event: True,
                ) -> contextlib.AbstractContextManager[None]:
    """Within the block, ``action`` runs once the running certbot has logged ``times``
    events of ``step`` (for which ``where``): to act at the moment the plugin says it is at."""
    return meanwhile(lambda: sum(e["step"] == step and where(e) for e in certbot.logged())
                     >= times, action, f"{times} '{step}' event(s) logged")


def forget(lab: Lab, *names: str) -> None:
    """Both resolvers (the plugin's, the CA's) forget what they cached at ``names`` and below:
    what the hours between two runs do, which a test spends no minute (a TTL) on."""
    for part in ("unbound", "unbound-ca"):
        for name in names:
            subprocess.run(["unbound-control", "-c", str(lab.run_dir / part / "unbound.conf"),
                            "flush_zone", name], check=True, capture_output=True)


def zone_update(lab: Lab, zone: str, name: str, rdtype: str, rdata: str, add: bool = True,
                ttl: int = 300) -> None:
    """Someone else's change to the zone, made with the lab's key (as a colleague would)."""
    creds = lab_keys(lab)
    keyring = {dns.name.from_text(creds["dns_autopilot_rfc2136_name"]): dns.tsig.Key(
        creds["dns_autopilot_rfc2136_name"], creds["dns_autopilot_rfc2136_secret"],
        dns.tsig.HMAC_SHA512)}
    update = dns.update.UpdateMessage(zone, keyring=keyring,
                                      keyname=creds["dns_autopilot_rfc2136_name"])
    owner = dns.name.from_text(name)  # absolute: a str would be relative to the zone
    if add:
        update.add(owner, ttl, rdtype, rdata)
    else:
        update.delete(owner, rdtype, rdata)
    response = exchange(update, lab.primary, timeout=5)
    assert response.rcode() == 0


def nsupdate(lab: Lab, zone: str, name: str, value: str, add: bool = True,
             ttl: int = 300) -> None:
    """Add or remove one TXT value (quotes and backslashes in it escaped)."""
    rdata = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    zone_update(lab, zone, name, "TXT", rdata, add, ttl)


EXEC_AUTH_HOOK = """#!/bin/sh
set -e
env | grep -E '^(CERTBOT_|DNS_AUTOPILOT_)' | sort | tr '\\n' ' ' >>"{log}"; echo >>"{log}"
n=$(($(cat "{count}" 2>/dev/null || echo 0) + 1)); echo $n >"{count}"
if [ -n "{fail_at}" ] && [ "$n" = "{fail_at}" ]; then
  echo "the registrar said: quota exceeded for $CERTBOT_DOMAIN" >&2; exit 3
fi
if [ -n "{hang}" ]; then sleep 600 & echo $! >"{count}.child"; sleep 600; fi
nsupdate -y "hmac-sha512:{key}:{secret}" <<EOF
server {server}
update add $DNS_AUTOPILOT_RECORD 60 TXT "$CERTBOT_VALIDATION"
send
EOF
printf 'record-id-%s{output_tail}\n' "$n"
"""


EXEC_CLEANUP_HOOK = """#!/bin/sh
echo "cleanup $CERTBOT_DOMAIN $CERTBOT_VALIDATION auth-output=$CERTBOT_AUTH_OUTPUT" >>"{log}"
nsupdate -y "hmac-sha512:{key}:{secret}" <<EOF
server {server}
update delete $DNS_AUTOPILOT_RECORD TXT "$CERTBOT_VALIDATION"
send
EOF
"""


def hooks_ini(lab: Lab, tmp: Path, fail_at: int | None = None, hang: bool = False,
              timeout: float | None = None, zones: str = "", output_tail: str = "") -> Path:
    """Two hook scripts and the credentials file naming them (mode 600). The auth hook
    prints ``record-id-<n>`` then ``output_tail`` (printf's escapes: ``\\0`` is a NUL)."""
    creds = lab_keys(lab)
    fields = {"log": tmp / "hooks.log", "count": tmp / "calls", "server": lab.primary,
              "key": creds["dns_autopilot_rfc2136_name"],
              "secret": creds["dns_autopilot_rfc2136_secret"],
              "fail_at": fail_at or "", "hang": "yes" if hang else "",
              "output_tail": output_tail}
    for name, text in (("auth.sh", EXEC_AUTH_HOOK), ("cleanup.sh", EXEC_CLEANUP_HOOK)):
        (tmp / name).write_text(text.format(**fields))
        (tmp / name).chmod(0o700)
    ini = tmp / "exec.ini"
    ini.write_text(f"dns_autopilot_exec_auth_hook = {tmp / 'auth.sh'}\n"
                   f"dns_autopilot_exec_cleanup_hook = {tmp / 'cleanup.sh'}\n"
                   + (f"dns_autopilot_exec_timeout = {timeout}\n" if timeout else "")
                   + (f"dns_autopilot_zones = {zones}\n" if zones else ""))
    ini.chmod(0o600)
    return ini


def hook_log(tmp: Path) -> list[str]:
    return (tmp / "hooks.log").read_text().splitlines()


def cache_old_value(lab: Lab, name: str, ttl: int) -> None:
    """Someone's earlier value, cached by the resolver, then removed from the zone."""
    nsupdate(lab, "autopilot.test", name, "old-value-from-last-run", ttl=ttl)
    served_everywhere(lab, name, lambda server, at: "old-value-from-last-run" in
                      lab.txt(server, at))
    assert lab.txt(lab.resolver, name, recurse=True) == {"old-value-from-last-run"}
    nsupdate(lab, "autopilot.test", name, "old-value-from-last-run", add=False)


def route53_ini(tmp_path: Path, route53: Route53Emulator, user: str,
                **extra: str) -> tuple[Path, str]:
    """An INI file (mode 600) for ``user``'s access key at the emulator; (path, secret)."""
    key_id, secret = route53.keys[user]
    keys = {"access_key_id": key_id, "secret_access_key": secret,
            "endpoint_url": route53.endpoint, "sts_endpoint_url": route53.endpoint, **extra}
    path = tmp_path / f"route53-{user}.ini"
    path.write_text("".join(f"dns_autopilot_route53_{k} = {v}\n" for k, v in keys.items()))
    path.chmod(0o600)
    return path, keys["secret_access_key"]


DOCTOR = Path(sys.executable).parent / "dns-autopilot"


def rfc2136_credentials(lab: Lab, directory: Path) -> Path:
    """The lab's TSIG key as certbot-dns-rfc2136 reads it (its keys without our prefix)."""
    path = directory / "rfc2136.ini"
    path.write_text(lab.credentials.read_text().replace("dns_autopilot_rfc2136_",
                                                        "dns_rfc2136_"))
    os.chmod(path, 0o600)
    return path


def rfc2136_sleep(lab: Lab) -> str:
    """certbot-dns-rfc2136's fixed wait (--dns-rfc2136-propagation-seconds) that is enough in
    this lab: the secondary's lag (the primary's notify-delay), and 3 s for the transfer."""
    return str(int(lab.env["LAB_NOTIFY_DELAY"]) + 3)


def issue_with_rfc2136(lab: Lab, certbot: Certbot, name: str, cert_name: str) -> None:
    run = certbot("certonly", "--agree-tos", "--register-unsafely-without-email",
                  "--server", lab.env["LAB_ACME_DIRECTORY"], "--cert-name", cert_name,
                  "--authenticator", "dns-rfc2136",
                  "--dns-rfc2136-credentials", str(rfc2136_credentials(lab, certbot.home)),
                  "--dns-rfc2136-propagation-seconds", rfc2136_sleep(lab), "-d", name)
    assert run.returncode == 0, run.output


def fresh_lineage() -> str:
    return f"f{uuid.uuid4().hex[:10]}.autopilot.test"


# -- acme-dns ---------------------------------------------------------------------------------

#: the acme-dns emulator's domain: each registration's fulldomain is <subdomain>.ACME_DOMAIN,
#: served by the lab's BIND in ACME_ZONE
ACME_DOMAIN, ACME_ZONE = "auth.example.test", "example.test"


def acmedns_ini(tmp: Path, emulator: AcmeDnsEmulator, registrations: Path,
                name: str = "acmedns.ini") -> Path:
    """An acme-dns writer's credentials file (mode 600) for ``registrations``."""
    ini = tmp / name
    ini.write_text(f"dns_autopilot_acmedns_api_url = {emulator.url}\n"
                   f"dns_autopilot_acmedns_registration_file = {registrations}\n")
    ini.chmod(0o600)
    return ini
