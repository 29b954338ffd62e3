"""Switching an existing certificate to dns-autopilot as docs/migration.md says: a lineage
issued by certbot-dns-rfc2136, `certbot reconfigure`, then a forced renewal that runs
dns-autopilot from the saved configuration."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import configobj
import pytest
from labkit import (
    DOCTOR,
    Certbot,
    Lab,
    forget,
    fresh_lineage,
    issue_with_rfc2136,
    rfc2136_credentials,
)

pytestmark = pytest.mark.lab


def renewal(certbot: Certbot, lineage: str) -> configobj.Section:
    conf = configobj.ConfigObj(str(certbot.config_dir / "renewal" / f"{lineage}.conf"),
                               encoding="utf-8", interpolation=False)
    return conf["renewalparams"]


def documented_reconfigure() -> list[str]:
    """docs/migration.md's `certbot reconfigure` command, as a user would copy it."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "migration.md").read_text()
    [command] = [" ".join(line.strip().rstrip("\\") for line in block.splitlines())
                 for block in re.findall(r"```sh\n(.*?)```", page, re.S)
                 if block.lstrip().startswith("certbot reconfigure")]
    return shlex.split(command)[1:]


def serial(certbot: Certbot, lineage: str) -> int:
    from cryptography import x509

    pem = (certbot.config_dir / "live" / lineage / "cert.pem").read_bytes()
    return x509.load_pem_x509_certificate(pem).serial_number


def test_reconfigure_then_renew_runs_dns_autopilot(lab: Lab, certbot: Certbot) -> None:
    name = fresh_lineage()
    issue_with_rfc2136(lab, certbot, name, "moved")
    # The days between an issuance and a switch: the CA's resolver forgets the old plugin's
    # value (a switch minutes after issuing fails at the CA with resolver-disagreement, as it
    # would in production); and those between the switch and the renewal.
    forget(lab, f"_acme-challenge.{name}")
    assert renewal(certbot, "moved")["authenticator"] == "dns-rfc2136"
    first = serial(certbot, "moved")

    # docs/migration.md: the same TSIG key under dns-autopilot's key names.
    old = rfc2136_credentials(lab, certbot.home)
    new = certbot.home / "autopilot.ini"
    subprocess.run(f"sed 's/^dns_rfc2136_/dns_autopilot_rfc2136_/' {old} > {new}", shell=True,
                   check=True)
    os.chmod(new, 0o600)
    documented = documented_reconfigure()
    assert documented == ["reconfigure", "--cert-name", "example.com", "--authenticator",
                          "dns-autopilot", "--dns-autopilot-credentials",
                          "/etc/letsencrypt/autopilot.ini"]
    mine = {"example.com": "moved", "/etc/letsencrypt/autopilot.ini": str(new)}
    run = certbot(*(mine.get(arg, arg) for arg in documented),
                  "--dns-autopilot-resolvers", lab.resolver)  # the lab's resolver
    assert run.returncode == 0, run.output
    # reconfigure proved the new settings with a dry run through the plugin...
    assert run.steps("write") and run.steps("wait-done")
    params = renewal(certbot, "moved")
    assert params["authenticator"] == "dns-autopilot"
    assert params["dns_autopilot_credentials"] == str(new)
    assert serial(certbot, "moved") == first  # ...and issued nothing for the lineage

    seen = {e["run"] for e in run.events}
    forget(lab, f"_acme-challenge.{name}")
    renewed = certbot("renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name",
                      "moved")
    assert renewed.returncode == 0, renewed.output
    runs = {e["run"] for e in renewed.events} - seen
    assert len(runs) == 1, "the renewal ran dns-autopilot once"
    steps = [e["step"] for e in renewed.events if e["run"] in runs]
    assert {"plan", "write", "wait-done", "cleanup"} <= set(steps)
    assert serial(certbot, "moved") != first
    assert certbot.cert_names("moved") == {name}

    # And doctor --all now checks it with the saved options, on a machine whose cron runs
    # certbot renew twice a day.
    cron = certbot.home / "root" / "etc" / "cron.d" / "certbot"
    cron.parent.mkdir(parents=True)
    cron.write_text("0 */12 * * * root /opt/certbot/bin/certbot renew -q\n")
    proc = subprocess.run([str(DOCTOR), "doctor", "--all", "--json", "--config-dir",
                           str(certbot.config_dir), "--system-root",
                           str(certbot.home / "root")], capture_output=True, text=True,
                          timeout=300,
                          env=dict(os.environ, REQUESTS_CA_BUNDLE=lab.env["LAB_CA_BUNDLE"]))
    [lineage] = json.loads(proc.stdout)["lineages"]
    assert (lineage["name"], lineage["checked"], lineage["findings"]) == ("moved", True, [])
    assert json.loads(proc.stdout)["machine"] == [] and proc.returncode == 0

