"""Every path the plugin's words leave by (certbot's display, the event log, the failure
hook's JSON, doctor's stdout and stderr, the Prometheus textfile) goes through one scrubbing
function, values scrubbed before they are serialised; and no label (a hook's command, a
writer's endpoint) carries a secret to begin with."""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path

import pytest
from unit_helpers import Challenge, Recording, load_map, make_plugin, write_cert

from certbot_dns_autopilot import commands, credentials, events, hook, scrub
from certbot_dns_autopilot.cli import doctor
from certbot_dns_autopilot.cli import main as cli_main
from certbot_dns_autopilot.errors import AutopilotError

#: secrets JSON writes otherwise than they are: a quote, a backslash, non-ASCII letters
AWKWARD = ['pa"ss-0123456789', "back\\slash-0123456789", "pässwört-0123456789"]
USERINFO_PASSWORD = "Us3rinfo-pa55w0rd-in-the-url"


@pytest.mark.parametrize("command", [
    "WEBHOOK=https://hooks.example/services/T0/B0/SECRETPART notify --to ops",
    "PD_TOKEN=SECRETPART page --urgent",
    "env WEBHOOK=https://hooks.example/SECRETPART notify",
    "https://user:SECRETPART@hooks.example/SECRETPART",
])
def test_a_hook_label_carries_no_assignment_nor_url(command: str) -> None:
    label = commands.label(command)
    assert "SECRETPART" not in label and "hooks.example" not in label
    assert "(sha256 " in label


@pytest.mark.parametrize("kind,keys", [
    ("acme-dns", {"dns_autopilot_acmedns_api_url":
                  f"https://acme:{USERINFO_PASSWORD}@auth.acme-dns.example"}),
    ("Cloudflare", {"dns_autopilot_cloudflare_api_token": "Zx9-tokenThatMustNeverBePrinted_01",
                    "dns_autopilot_cloudflare_api_url":
                    f"https://proxy:{USERINFO_PASSWORD}@cf-proxy.example/client/v4"}),
    ("Route 53", {"dns_autopilot_route53_access_key_id": "AKIAIOSFODNN7EXAMPLE",
                  "dns_autopilot_route53_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
                  "dns_autopilot_route53_endpoint_url":
                  f"https://proxy:{USERINFO_PASSWORD}@r53-proxy.example"}),
], ids=["acme-dns", "cloudflare", "route53"])
def test_a_password_in_an_endpoint_url_is_in_no_label_and_is_masked(
        tmp_path: Path, kind: str, keys: dict[str, str]) -> None:
    """requests honours https://user:password@host: that password is a credential."""
    if kind == "acme-dns":
        registrations = tmp_path / "acmedns.json"
        registrations.write_text(json.dumps({"example.com": {
            "username": "c36f50e8-4632-44f0-83fe-e070fef28a10", "password": "p" * 40,
            "fulldomain": "x.auth.example", "subdomain": "x", "allowfrom": []}}))
        registrations.chmod(0o600)
        keys = {**keys, "dns_autopilot_acmedns_registration_file": str(registrations)}
    [writer] = load_map(tmp_path, keys).writers
    assert writer.label.startswith(kind) and USERINFO_PASSWORD not in writer.label
    assert USERINFO_PASSWORD not in scrub.scrub(f"GET https://x:{USERINFO_PASSWORD}@h/")
    assert USERINFO_PASSWORD not in scrub.scrub(f"the password is {USERINFO_PASSWORD}")


def test_the_event_log_masks_secrets_json_would_escape(tmp_path: Path) -> None:
    scrub.register(AWKWARD)
    log = events.EventLog(str(tmp_path))
    log.emit("write", "error", "example.com", error=f"refused {AWKWARD[0]}",
             detail={"said": [AWKWARD[1], AWKWARD[2]]})
    text = (tmp_path / events.FILENAME).read_text()
    for secret in AWKWARD:
        assert secret not in text and json.dumps(secret)[1:-1] not in text, secret
    assert text.count(scrub.MASK) == 3


def test_the_hook_json_masks_secrets_json_would_escape(tmp_path: Path) -> None:
    scrub.register(AWKWARD)
    out = tmp_path / "hook.json"
    assert hook.run(f"cat > {out}", {"diagnoses": [{"problem": " ".join(AWKWARD)}]}) == "ok"
    text = out.read_text()
    for secret in AWKWARD:
        assert secret not in text and json.dumps(secret)[1:-1] not in text, secret


def test_what_certbot_displays_for_the_run_is_scrubbed(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """display_util.notify writes to the terminal directly, past the logging filter."""
    secret = "Displayed-secret-0123456789"
    scrub.register([secret])
    writer = Recording([])
    writer.label = f"recording writer at https://u:{secret}@api.example"
    auth, _ = make_plugin(tmp_path, monkeypatch, writer=writer)
    notes: list[str] = []
    monkeypatch.setattr("certbot.display.util.notify", notes.append)
    auth.prepare()
    auth.perform([Challenge("example.com")])
    assert notes and not [n for n in notes if secret in n]


@pytest.mark.parametrize("key", ["dns_autopilot_rfc2136_secret"])
def test_a_declared_secret_too_short_to_mask_is_refused(tmp_path: Path, key: str) -> None:
    path = tmp_path / "c.ini"
    path.write_text("dns_autopilot_rfc2136_server = 192.0.2.1\n"
                    "dns_autopilot_rfc2136_name = acme-key\n"
                    f"{key} = c2Vj\n")
    path.chmod(0o600)
    with pytest.raises(AutopilotError) as caught:
        credentials.load(str(path))
    assert caught.value.code == "bad-config" and key in caught.value.problem
    assert "c2Vj" not in str(caught.value)


def test_another_secret_too_short_to_mask_is_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.ini"
    path.write_text("dns_autopilot_exec_auth_hook = true\n"
                    "dns_autopilot_exec_cleanup_hook = true\n"
                    "[lexicon]\ndns_autopilot_lexicon_provider = ddns\n"
                    "dns_autopilot_zones = example.com\n"
                    "dns_autopilot_lexicon_auth_token = hmac-sha256:k:YWJj\n"
                    "dns_autopilot_lexicon_ddns_server = 192.0.2.1\n")
    path.chmod(0o600)
    credentials.load(str(path))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("dns_autopilot_lexicon_auth_token" in w and "too short" in w for w in warned)
    assert not any("auth_hook" in w for w in warned), "a hook is no secret"
    assert not any("YWJj" in w for w in warned)


@pytest.mark.parametrize("logger,message", [
    ("zeep.transports", "HTTP Post to https://api.gransy.example/:\n<soap:Envelope><login>u"
                        "</login><password>%s</password></soap:Envelope>"),
    ("SoftLayer.transports", "POST https://api.softlayer.example/rest?api_key=%s"),
    ("oci.base_client", "request headers: {'authorization': 'Signature keyId=x,signature=%s'}"),
], ids=["zeep", "softlayer", "oci"])
def test_credential_shapes_are_masked_in_the_sdks_lexicon_providers_load(
        logger: str, message: str) -> None:
    secret = "SdkSessionSecret-9f8e7d6c5b4a"  # a shape, never registered
    record = logging.LogRecord(logger, logging.DEBUG, __file__, 1, message, (secret,), None)
    scrub.Scrubber().filter(record)
    assert secret not in record.getMessage() and scrub.MASK in record.getMessage()


def test_doctor_alls_catch_all_and_outputs_carry_no_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An unexpected error while checking a lineage (fleet's catch-all) becomes a finding
    quoting it; its text must not carry a secret to stdout, the JSON or the textfile."""
    secret = "Fleet-catch-all-secret-0123"
    scrub.register([secret, *AWKWARD])
    write_cert(tmp_path / "live" / "a" / "cert.pem", ["a.example"],
               datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1))
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "a.conf").write_text(
        f"cert = {tmp_path / 'live' / 'a' / 'cert.pem'}\n[renewalparams]\n"
        "authenticator = dns-autopilot\ndns_autopilot_credentials = /etc/x.ini\n")

    def broken(args: object) -> None:
        raise RuntimeError(f"unexpected: {secret} / {AWKWARD[0]}")

    monkeypatch.setattr(doctor, "diagnose", broken)
    prom = tmp_path / "dns_autopilot.prom"
    for extra in ([], ["--json"]):
        status = cli_main.main(["doctor", "--all", "--config-dir", str(tmp_path),
                                "--prometheus", str(prom), *extra])
        out = capsys.readouterr()
        assert status == 2 and "doctor could not check this lineage" in out.out
        for text in (out.out, out.err, prom.read_text()):
            assert secret not in text and AWKWARD[0] not in text
            assert json.dumps(AWKWARD[0])[1:-1] not in text
