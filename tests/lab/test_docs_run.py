"""Docs that run: every block a reader copies (marked `<!-- doc-test: run -->`, `file` or
`append`, see docblocks.py) is executed here, as written, against the lab.

Each page gets a throwaway root (throwaway.py) on top of one virtual environment built once
per session the way docs/install.md says (`python3 -m venv /opt/certbot`, pip, the links in
/usr/local/bin), so the commands run on the paths they name: /opt/certbot,
/etc/letsencrypt, /usr/local/bin, /etc/cron.d, /etc/systemd/system. Cron entries run under
cron's environment, systemd units pass `systemd-analyze verify` and their ExecStart runs
as systemd would run it.

What differs from a reader's machine, and nothing else:
- the package is not published: in a `pip install` line, `certbot-dns-autopilot` is the
  wheel in dist/ (with the same extras), and pip takes the versions lab/requirements.txt
  pins (PIP_CONSTRAINT);
- the machine is the lab's: its /etc/resolv.conf names the lab's resolver, and certbot's
  /etc/letsencrypt/cli.ini names the lab's CA (Pebble) and answers what a first run asks at a
  terminal (terms of service, no e-mail) and turns off certbot's own random delay of up to
  eight minutes before a renewal; the venv's CA bundle (certifi) trusts the lab's CA;
- the substitutions each page names for the reader's own setup (server address, key,
  domain; for the cloud providers the API endpoint key the page names, set to the local
  emulator's). Each test lists its substitutions, and every one must be used.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docblocks
import labkit
import pytest
import throwaway
from cryptography import x509
from emulators.acmedns import AcmeDnsEmulator
from emulators.azure import AzureEmulator
from emulators.bind import ZoneBackend
from emulators.cloudflare import CloudflareEmulator
from emulators.route53 import Route53Emulator
from labkit import (
    ACME_DOMAIN,
    ACME_ZONE,
    Lab,
    lab_keys,
    rfc2136_sleep,
    served_everywhere,
    zone_update,
)
from throwaway import Job, Machine

pytestmark = pytest.mark.lab

TOP = docblocks.TOP
PACKAGE = re.compile(r"certbot-dns-autopilot(\[[a-z0-9,]+\])?")


# -- the runner ------------------------------------------------------------------------------

@dataclass
class Ran:
    """What a page left on the machine to run later: its cron and systemd jobs by file."""

    jobs: dict[str, list[Job]] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)


def substitute(text: str, subs: list[tuple[str, str]], used: set[str]) -> str:
    for doc, lab in subs:
        if doc in text:
            used.add(doc)
            text = text.replace(doc, lab)
    return text


def with_local_wheel(text: str, wheel: Path) -> str:
    """`pip install … certbot-dns-autopilot[extra]` installs the wheel in dist/ instead."""
    return "\n".join(PACKAGE.sub(lambda m: f"{wheel}{m[1] or ''}", line)
                     if "pip install" in line else line for line in text.splitlines()) + "\n"


def check_file(machine: Machine, path: str, text: str) -> list[Job]:
    """What the system does with the file: cron runs its entries, systemd verifies and runs
    the units, BIND reads its configuration. Returns the jobs it holds, already run once."""
    jobs: list[Job] = []
    if path.startswith("/etc/cron.d/"):
        name = path.rsplit("/", 1)[1]
        assert re.fullmatch(r"[A-Za-z0-9_-]+", name), (
            f"cron ignores {path}: a name in /etc/cron.d holds letters, digits, - and _ only")
        assert text.endswith("\n"), f"cron ignores the last line of {path}: no newline"
        jobs = throwaway.cron_jobs(path, text)
    elif path.startswith("/etc/systemd/system/") and path.endswith(".service"):
        throwaway.verify_units(machine, path)
        jobs = throwaway.service_jobs(path, text)
    elif path.startswith("/etc/systemd/system/") and path.endswith(".timer"):
        target = dict((k, v) for s, k, v in throwaway.unit_settings(text) if s == "Timer")
        service = path.rsplit("/", 1)[0] + "/" + target.get(
            "Unit", path.rsplit("/", 1)[1].removesuffix(".timer") + ".service")
        throwaway.verify_units(machine, path, service)
    elif path.startswith("/etc/bind/"):
        done = machine.execute(["named-checkconf"], throwaway.LOGIN)
        assert done.returncode == 0, f"named-checkconf after {path}:\n{done.stdout}{done.stderr}"
    for job in jobs:
        done = job.run(machine)
        assert done.returncode in job.ok, (
            f"{job.source}: {' '.join(job.argv)} exited {done.returncode}:\n"
            f"{done.stdout}{done.stderr}")
        # cron mails what a job prints; an error message (`dns-autopilot: not found`) is
        # one even where the line's own exit status hides it
        assert not (path.startswith("/etc/cron.d/") and done.stderr), (
            f"{job.source}: {' '.join(job.argv)} wrote to stderr:\n{done.stderr}")
    return jobs


def run_page(machine: Machine, page: str, subs: list[tuple[str, str]], cwd: Path | None = None,
             lab: Lab | None = None, forgotten: tuple[str, ...] = (),
             then: Callable[[str], None] | None = None) -> Ran:
    """Every run/file/append block of ``page``, in order; the first failure fails the test.

    Before each command the lab's resolvers forget the ``forgotten`` names' challenge values
    (``forget``): a real run right after a dry run waits up to a minute for the resolvers to
    drop the dry run's cached answer (the waiter's job, tested on its own); here that
    minute would be spent on every page. ``then`` gets each command's output: what a reader
    does by hand after a command (the records an acme-dns registration asks for)."""
    ran, used = Ran(), set()
    for block in docblocks.blocks(page):
        if block.kind in ("illustrative", "ci"):
            continue
        text = with_local_wheel(substitute(block.text, subs, used), wheel())
        if block.kind == "run":
            for name in forgotten:
                forget(lab, name)  # type: ignore[arg-type]
            done = machine.shell(text, cwd=cwd)
            assert done.returncode == 0, (f"{block} exited {done.returncode}:\n{text}\n"
                                          f"--- output:\n{done.stdout}{done.stderr}")
            ran.output.append(done.stdout + done.stderr)
            if then:
                then(done.stdout)
        else:
            path = substitute(block.arg, subs, used)
            machine.write(path, text, append=block.kind == "append")
            ran.jobs[path] = check_file(machine, path, machine.read(path))
    unused = [doc for doc, _ in subs if doc not in used]
    assert not unused, f"{page}: substitutions never used: {unused}"
    return ran


# -- the machine -----------------------------------------------------------------------------

def wheel() -> Path:
    wheels = sorted((TOP / "dist").glob("certbot_dns_autopilot-*.whl"))
    if len(wheels) != 1:
        pytest.fail(f"expected one wheel in dist/, found {wheels}: lab/test.sh builds it "
                    "(./lab/test.sh tests/unit -q, outside any network namespace)")
    return wheels[0]


def pip_settings() -> dict[str, str]:
    """pip installs from the wheelhouse lab/test.sh fills (no network needed), at the
    versions lab/requirements.txt pins."""
    wheelhouse = TOP / ".wheelhouse"
    if not (wheelhouse / ".built").exists():
        pytest.fail(".wheelhouse is missing: lab/test.sh fills it (./lab/test.sh tests/unit -q, "
                    "outside any network namespace)")
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
            "PIP_CONSTRAINT": str(TOP / "lab" / "requirements.txt"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def configure(machine: Machine, lab: Lab) -> None:
    """The lab as this machine's DNS and CA (see the module's docstring)."""
    machine.shell("rm -f /etc/resolv.conf")
    machine.write("/etc/resolv.conf", f"nameserver {lab.resolver}\n")
    machine.write("/etc/hosts", Path("/etc/hosts").read_text())
    machine.shell("mkdir -p /etc/letsencrypt")
    machine.write("/etc/letsencrypt/cli.ini",
                  f"server = {lab.env['LAB_ACME_DIRECTORY']}\n"
                  "agree-tos = true\nregister-unsafely-without-email = true\n"
                  "no-random-sleep-on-renew = true\n")


#: docs/install.md's blocks the session's venv is built by: the venv with certbot and the
#: plugin, and the DNS plugin a reader still uses for certificates not switched yet
INSTALLED_BY = ("python3 -m venv /opt/certbot", "pip install certbot-dns-rfc2136")
#: and the renewal schedule a reader of docs/install.md chose (of its timer and cron line)
RENEWED_BY = "/etc/cron.d/certbot-renew"


@pytest.fixture(scope="session")
def installed(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    """docs/install.md's virtual environment and cron line, built once: the layers every
    page starts on, with the lab's CA in the venv's CA bundle."""
    machine = Machine(tmp_path_factory.mktemp("installed"), pass_env=pip_settings())
    configure(machine, lab)
    for block in docblocks.blocks("docs/install.md"):
        if block.kind == "run" and any(step in block.text for step in INSTALLED_BY):
            done = machine.shell(with_local_wheel(block.text, wheel()))
            assert done.returncode == 0, f"{block}:\n{done.stdout}{done.stderr}"
        if block.kind == "file" and block.arg == RENEWED_BY:
            machine.write(RENEWED_BY, block.text)
    done = machine.shell(
        f"cat {lab.env['LAB_CA_BUNDLE']} >>\"$(/opt/certbot/bin/python -m certifi)\"\n")
    assert done.returncode == 0, done.stdout + done.stderr
    return machine.layers


@pytest.fixture
def machine(installed: tuple[Path, ...], tmp_path: Path) -> Machine:
    return Machine(tmp_path / "machine", below=installed, pass_env=pip_settings())


def rfc2136(lab: Lab, domain: str) -> list[tuple[str, str]]:
    """The quick start's BIND primary, key and domain, as the lab has them."""
    keys = lab_keys(lab)
    return [("192.0.2.53", lab.primary), ("acme-key", keys["dns_autopilot_rfc2136_name"]),
            ("b8Ea…base64…==", keys["dns_autopilot_rfc2136_secret"]), ("example.com", domain)]


# -- the pages -------------------------------------------------------------------------------

def serial(machine: Machine, lineage: str) -> int:
    pem = machine.read(f"/etc/letsencrypt/live/{lineage}/cert.pem").encode()
    return x509.load_pem_x509_certificate(pem).serial_number


def plugin_runs(machine: Machine) -> set[str]:
    """The run ids dns-autopilot logged on this machine (its event log in certbot's logs)."""
    path = machine.path("/var/log/letsencrypt/dns-autopilot.jsonl")
    return {json.loads(line)["run"] for line in path.read_text().splitlines()} \
        if path.exists() else set()


def issue(machine: Machine, lab: Lab, name: str) -> None:
    """A certificate issued with dns-autopilot and the lab's key (a page's starting point)."""
    machine.write("/etc/letsencrypt/lab.ini", lab.credentials.read_text())
    done = machine.shell("chmod 600 /etc/letsencrypt/lab.ini\n"
                         "certbot certonly --authenticator dns-autopilot "
                         f"--dns-autopilot-credentials /etc/letsencrypt/lab.ini -d {name}")
    assert done.returncode == 0, done.stdout + done.stderr


def due(machine: Machine, lineage: str) -> None:
    """The lineage due for renewal now (as it is some 30 days before it expires)."""
    conf = f"/etc/letsencrypt/renewal/{lineage}.conf"
    done = machine.shell(f"grep -q '^renew_before_expiry' {conf} || "
                         f"sed -i '1i renew_before_expiry = 100000 days' {conf}")
    assert done.returncode == 0, done.stderr


def forget(lab: Lab, name: str) -> None:
    """The moments a reader takes between two commands: the secondary catches up with the
    primary at the name (NOTIFY, then a transfer: seconds), and both resolvers (the
    plugin's, the CA's) forget the last run's values there, which they would keep for their
    TTL (a minute; the hours between two renewals)."""
    served_everywhere(lab, f"_acme-challenge.{name}", lambda server, at: lab.txt(
        server, at) == lab.txt(lab.primary, at))
    labkit.forget(lab, f"_acme-challenge.{name}")


def renewed_by_the_plugin(machine: Machine, lab: Lab, lineage: str, job: Job) -> None:
    """``job`` (a cron entry or a systemd service) renews the due lineage, with dns-autopilot."""
    forget(lab, lineage)
    before, runs = serial(machine, lineage), plugin_runs(machine)
    done = job.run(machine)
    assert done.returncode in job.ok, f"{job.source}:\n{done.stdout}{done.stderr}"
    assert serial(machine, lineage) != before, f"{job.source} renewed nothing:\n{done.stderr}"
    assert len(plugin_runs(machine) - runs) == 1, f"{job.source}: dns-autopilot did not run"


def source_tree(tmp_path: Path) -> Path:
    """A copy of the checkout (what git tracks, and new files it does not ignore)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=TOP,
                            capture_output=True, check=True).stdout.decode().split("\0")
    copy = tmp_path / "checkout"
    for name in filter(None, listed):
        if (TOP / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TOP / name, copy / name)
    return copy


# -- the pages -------------------------------------------------------------------------------

def test_readme(lab: Lab, machine: Machine, fresh_name: str) -> None:
    ran = run_page(machine, "README.md", rfc2136(lab, fresh_name), lab=lab,
                   forgotten=(fresh_name,))
    assert serial(machine, fresh_name)
    # The doctor's cron line, some time after the issuance: quiet, since all is healthy.
    forget(lab, fresh_name)
    [doctor] = ran.jobs["/etc/cron.d/dns-autopilot-doctor"]
    done = doctor.run(machine)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    due(machine, fresh_name)
    [renew] = ran.jobs["/etc/cron.d/certbot-renew"]
    renewed_by_the_plugin(machine, lab, fresh_name, renew)


def test_install(lab: Lab, machine: Machine, fresh_name: str, tmp_path: Path) -> None:
    ran = run_page(machine, "docs/install.md", [], cwd=source_tree(tmp_path))
    # Its renewal schedules, each run again once a certificate is due: each renews it.
    issue(machine, lab, fresh_name)
    due(machine, fresh_name)
    for path in ("/etc/cron.d/certbot-renew", "/etc/systemd/system/certbot-renew.service"):
        [job] = ran.jobs[path]
        renewed_by_the_plugin(machine, lab, fresh_name, job)


def test_quickstart(lab: Lab, machine: Machine, fresh_name: str) -> None:
    run_page(machine, "docs/quickstart.md", rfc2136(lab, fresh_name), lab=lab,
             forgotten=(fresh_name,))
    assert serial(machine, fresh_name)


def renewal_conf(machine: Machine, lineage: str) -> dict[str, str]:
    """The lineage's renewal configuration, its sections flattened (key -> value)."""
    text = machine.read(f"/etc/letsencrypt/renewal/{lineage}.conf")
    return dict(re.findall(r"^(\w+) = (.*)$", text, re.M))


def documented_job(page: str, path: str) -> Job:
    """The one job of the file ``path`` as ``page`` gives it (e.g. install.md's cron line)."""
    [block] = [b for b in docblocks.blocks(page) if b.kind == "file" and b.arg == path]
    [job] = (throwaway.cron_jobs if path.startswith("/etc/cron.d/")
             else throwaway.service_jobs)(path, block.text)
    return job


def test_migration_rollback_and_uninstall(lab: Lab, machine: Machine, fresh_name: str) -> None:
    """A certificate issued with certbot-dns-rfc2136 is switched to dns-autopilot
    (migration.md) and renewed by install.md's cron line, switched back (rollback.md), the
    plugin removed (uninstall.md), and the certificate renewed again by the old plugin."""
    name, renew = fresh_name, documented_job("docs/install.md", "/etc/cron.d/certbot-renew")
    machine.write("/etc/letsencrypt/rfc2136.ini",
                  lab.credentials.read_text().replace("dns_autopilot_rfc2136_", "dns_rfc2136_"))
    done = machine.shell(
        "chmod 600 /etc/letsencrypt/rfc2136.ini\n"
        "certbot certonly --authenticator dns-rfc2136 --dns-rfc2136-credentials "
        f"/etc/letsencrypt/rfc2136.ini --dns-rfc2136-propagation-seconds {rfc2136_sleep(lab)} "
        f"-d {name} -d '*.{name}'")
    assert done.returncode == 0, done.stdout + done.stderr
    first = serial(machine, name)

    ran = run_page(machine, "docs/migration.md", [("example.com", name)], lab=lab,
                   forgotten=(name,))
    conf = renewal_conf(machine, name)
    assert (conf["authenticator"], conf["dns_autopilot_credentials"]) == (
        "dns-autopilot", "/etc/letsencrypt/autopilot.ini")
    assert serial(machine, name) == first, "reconfigure issued nothing"
    assert name in ran.output[-1] and "1 checked" in ran.output[-1], ran.output[-1]
    assert machine.read("/etc/letsencrypt/rfc2136.ini").startswith(
        lab.credentials.read_text().replace("dns_autopilot_rfc2136_", "dns_rfc2136_")[:40])
    due(machine, name)
    renewed_by_the_plugin(machine, lab, name, renew)

    # rollback.md: reconfigure with the old settings, from the copy step 1 of migration.md
    # made (the number its first command prints).
    copy = machine.read(f"/root/{name}.conf.before-dns-autopilot")
    seconds = re.search(r"^dns_rfc2136_propagation_seconds = (\d+)$", copy, re.M)[1]
    run_page(machine, "docs/rollback.md",
             [("example.com", name), ("--dns-rfc2136-propagation-seconds 60",
                                      f"--dns-rfc2136-propagation-seconds {seconds}")],
             lab=lab, forgotten=(name,))
    conf = renewal_conf(machine, name)
    assert (conf["authenticator"], conf["dns_rfc2136_credentials"],
            conf["dns_rfc2136_propagation_seconds"]) == (
        "dns-rfc2136", "/etc/letsencrypt/rfc2136.ini", seconds), conf

    ran = run_page(machine, "docs/uninstall.md", [], lab=lab, forgotten=(name,))
    assert "* dns-autopilot" not in ran.output[-1] and "* dns-rfc2136" in ran.output[-1]
    for gone in ("/usr/local/bin/dns-autopilot", "/var/lib/letsencrypt/dns-autopilot",
                 "/etc/letsencrypt/autopilot.ini"):
        assert machine.shell(f"! test -e {gone}").returncode == 0, gone
    # ...and the next renewal, with the plugin gone, is certbot-dns-rfc2136's.
    due(machine, name)
    forget(lab, name)
    before = serial(machine, name)
    done = renew.run(machine)
    assert done.returncode == 0, done.stdout + done.stderr
    assert serial(machine, name) != before


def lab_credentials(machine: Machine, lab: Lab, path: str) -> None:
    """The quick start's credentials file, for the lab's primary and key."""
    machine.write(path, lab.credentials.read_text())
    done = machine.shell(f"chmod 600 {path}")
    assert done.returncode == 0, done.stderr


def test_hooks(lab: Lab, machine: Machine, fresh_name: str) -> None:
    name = fresh_name
    lab_credentials(machine, lab, "/etc/letsencrypt/autopilot.ini")
    ran = run_page(machine, "docs/hooks.md", [("example.com", name)], lab=lab,
                   forgotten=(name,))
    assert f"new certificate in /etc/letsencrypt/live/{name} for" in ran.output[-2]
    assert renewal_conf(machine, name)["dns_autopilot_failure_hook"] == \
        "/usr/local/sbin/dns-autopilot-failed"
    failures = machine.path("/var/log/dns-autopilot-failures")
    assert not failures.exists(), "the failure hook ran for runs that succeeded"

    # The next renewal (install.md's cron line) fails in the DNS part: the server no longer
    # accepts the key. The saved failure hook tells why; the deploy hook does not run.
    secret = lab_keys(lab)["dns_autopilot_rfc2136_secret"]
    machine.shell("sed -i 's/^dns_autopilot_rfc2136_secret = .*/dns_autopilot_rfc2136_secret"
                  " = bm90IHRoZSBrZXkgdGhlIHNlcnZlciBrbm93cw==/' /etc/letsencrypt/autopilot.ini")
    due(machine, name)
    forget(lab, name)
    deployed = machine.read("/var/log/certbot-deployed.log")
    done = documented_job("docs/install.md", "/etc/cron.d/certbot-renew").run(machine)
    assert done.returncode != 0, done.stdout + done.stderr
    [report] = list(failures.iterdir())
    payload = json.loads(report.read_text())
    assert (payload["stage"], payload["verb"], payload["dry_run"]) == (
        "before-validation", "renew", False)
    assert payload["names"] == sorted([name, f"*.{name}"])
    assert [d["code"] for d in payload["diagnoses"]] == ["permission-denied"]
    assert secret not in report.read_text()
    assert machine.read("/var/log/certbot-deployed.log") == deployed


def test_doctor(lab: Lab, machine: Machine, fresh_name: str) -> None:
    """doctor.md's schedules, on a machine with one certificate renewed by dns-autopilot and
    node-exporter's textfile directory (the page names its package)."""
    issue(machine, lab, fresh_name)
    machine.shell("mkdir -p /var/lib/prometheus/node-exporter")
    forget(lab, fresh_name)
    ran = run_page(machine, "docs/doctor.md", [], lab=lab, forgotten=(fresh_name,))
    textfile = machine.read("/var/lib/prometheus/node-exporter/dns_autopilot.prom")
    assert f'dns_autopilot_lineage_severity{{lineage="{fresh_name}"}} 0' in textfile
    [cron] = ran.jobs["/etc/cron.d/dns-autopilot-doctor"]
    done = cron.run(machine)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), "cron mails nothing"
    [service] = ran.jobs["/etc/systemd/system/dns-autopilot-doctor.service"]
    assert service.run(machine).returncode == 0


# -- the provider pages: their from-scratch section against the local emulators --------------

def assert_kept_secret(machine: Machine, ran: Ran, secret: str) -> None:
    """Nothing the commands printed or logged holds the secret."""
    logs = machine.path("/var/log/letsencrypt")
    texts = [*ran.output, *(p.read_text(errors="replace") for p in logs.iterdir()
                            if p.is_file())]
    assert not [text for text in texts if secret in text]


def from_scratch(machine: Machine, lab: Lab, page: str, name: str,
                 subs: list[tuple[str, str]], secrets: Callable[[], list[str]],
                 **extra: Any) -> Ran:
    """A provider page run with the reader's own values (``subs``) and domain (``name``):
    it ends with a certificate, and nothing it printed or logged holds a secret (asked for
    once the page ran: some are made by its commands)."""
    ran = run_page(machine, page, [*subs, ("example.com", name)], lab=lab, forgotten=(name,),
                   **extra)
    assert serial(machine, name)
    for secret in secrets():
        assert_kept_secret(machine, ran, secret)
    return ran


@pytest.fixture
def cloudflare(lab: Lab) -> Iterator[CloudflareEmulator]:
    emulator = CloudflareEmulator(["autopilot.test"], ZoneBackend(lab.credentials),
                                  backed=["autopilot.test"]).start()
    yield emulator
    emulator.stop()


def test_cloudflare(lab: Lab, machine: Machine, fresh_name: str,
                    cloudflare: CloudflareEmulator) -> None:
    """The token the page shows is the emulator's, and the file also names the emulator's
    URL with dns_autopilot_cloudflare_api_url (the page's key for a proxy or gateway). The
    migration section starts from certbot-dns-cloudflare's file, which carries the same
    two lines under certbot-dns-cloudflare's prefix."""
    token = cloudflare.token(zones=["autopilot.test"])
    machine.shell("mkdir -p /root/.secrets/certbot")
    machine.write("/root/.secrets/certbot/cloudflare.ini",
                  f"dns_cloudflare_api_token = {token}\n"
                  f"dns_cloudflare_api_url = {cloudflare.url}\n")
    from_scratch(machine, lab, "docs/providers/cloudflare.md", fresh_name, [
        ("dns_autopilot_cloudflare_api_token = 0123456789abcdefghijklmnopqrstuvwxyzABCD",
         f"dns_autopilot_cloudflare_api_token = {token}\n"
         f"dns_autopilot_cloudflare_api_url = {cloudflare.url}")], lambda: [token])
    assert renewal_conf(machine, fresh_name)["dns_autopilot_credentials"] == \
        "/etc/letsencrypt/dns-autopilot-cloudflare.ini"
    assert machine.read("/root/.secrets/certbot/cloudflare.ini").startswith(
        "dns_cloudflare_api_token"), "the old plugin's file is left as it was"
    assert len(cloudflare.sent("POST")) >= 4  # doctor's probe, the dry run, the run, reconfigure


@pytest.fixture
def route53(lab: Lab) -> Iterator[Route53Emulator]:
    emulator = Route53Emulator(ZoneBackend(lab.credentials)).start()
    yield emulator
    emulator.stop()


def test_route53(lab: Lab, machine: Machine, fresh_name: str, route53: Route53Emulator) -> None:
    """The access key the page shows is an IAM user's of the emulator holding the page's
    minimal policy, and the file also names the emulator with
    dns_autopilot_route53_endpoint_url (the page's key for another Route 53 endpoint)."""
    key_id, secret = route53.keys["acme"]
    from_scratch(machine, lab, "docs/providers/route53.md", fresh_name, [
        ("AKIAIOSFODNN7EXAMPLE", key_id),
        ("dns_autopilot_route53_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
         f"dns_autopilot_route53_secret_access_key = {secret}\n"
         f"dns_autopilot_route53_endpoint_url = {route53.endpoint}")], lambda: [secret])
    assert renewal_conf(machine, fresh_name)["dns_autopilot_credentials"] == \
        "/etc/letsencrypt/route53.ini"


AZURE_GROUP = "rg-dns"  # the page's resource group: the emulator has one of that name


@pytest.fixture
def azure(lab: Lab) -> Iterator[AzureEmulator]:
    emulator = AzureEmulator(ZoneBackend(lab.credentials), Path(lab.env["LAB_CA_BUNDLE"]),
                             lab.run_dir / "pebble" / "ca.key").start()
    emulator.add_group(AZURE_GROUP, "autopilot.test")
    yield emulator
    emulator.stop()


def test_azure(lab: Lab, machine: Machine, fresh_name: str, azure: AzureEmulator) -> None:
    """The IDs and the secret the page shows are the emulator's tenant, subscription and a
    service principal holding DNS Zone Contributor on the group, and the file also names the
    emulator with dns_autopilot_azure_resource_manager_url and _authority_host (the page's
    keys for Azure Stack Hub)."""
    secret = "s3cret-Azure~value.1"
    principal = azure.add_principal(secret, assignments=[
        (azure.group_scope(AZURE_GROUP), "DNS Zone Contributor")])
    from_scratch(machine, lab, "docs/providers/azure.md", fresh_name, [
        ("0b1f6471-1bf0-4dda-aec3-cb9272f09590", azure.subscription),
        ("72f988bf-86f1-41af-91ab-2d7cd011db47", azure.tenant),
        ("6f3b1c3e-7d4a-4b8e-9a51-2c0f1e7d9b42", principal.client_id),
        ("<the password az printed>",
         f"{secret}\ndns_autopilot_azure_resource_manager_url = {azure.url}\n"
         f"dns_autopilot_azure_authority_host = {azure.url}")], lambda: [secret])


@pytest.fixture
def acmedns(lab: Lab) -> Iterator[AcmeDnsEmulator]:
    emulator = AcmeDnsEmulator(ACME_DOMAIN, ACME_ZONE, ZoneBackend(lab.credentials)).start()
    yield emulator
    emulator.stop()


def test_acmedns(lab: Lab, machine: Machine, fresh_name: str, acmedns: AcmeDnsEmulator) -> None:
    """The page's acme-dns server is the emulator (its API URL in place of the public one's);
    the CNAMEs the registration prints are added to the lab's zone, as the page asks, and
    served by both its nameservers before the next command."""
    def add_cnames(output: str) -> None:
        for name, target in re.findall(r"^\s+(_acme-challenge\.\S+)\. CNAME (\S+)\.$", output,
                                       re.M):
            zone_update(lab, "autopilot.test", name, "CNAME", f"{target}.")
            served_everywhere(lab, name, lambda server, at, want={target}: lab.cnames(server, at)
                              == want)

    def passwords() -> list[str]:
        registrations = json.loads(machine.read("/etc/letsencrypt/acmedns.json"))
        return [r["password"] for r in registrations.values()]

    ran = from_scratch(machine, lab, "docs/providers/acme-dns.md", fresh_name,
                       [("https://auth.acme-dns.io", acmedns.url)], passwords, then=add_cnames)
    assert f"_acme-challenge.{fresh_name}. CNAME" in ran.output[0]


def test_exec(lab: Lab, machine: Machine, fresh_name: str) -> None:
    """The hooks' server, key and domain are the lab's, as in the quick start."""
    *keys, _ = rfc2136(lab, fresh_name)
    from_scratch(machine, lab, "docs/providers/exec.md", fresh_name, keys,
                 lambda: [lab_keys(lab)["dns_autopilot_rfc2136_secret"]])


def test_lexicon(lab: Lab, machine: Machine, fresh_name: str) -> None:
    """The ddns example's zone is the lab's zone of the fresh name."""
    secret = lab_keys(lab)["dns_autopilot_rfc2136_secret"]
    from_scratch(machine, lab, "docs/providers/lexicon.md", fresh_name, [
        ("dns_autopilot_zones = example.com", "dns_autopilot_zones = autopilot.test"),
        ("<base64 secret>", secret),
        *(sub for sub in rfc2136(lab, fresh_name)[:-1] if sub[0] != "b8Ea…base64…==")],
        lambda: [secret])
