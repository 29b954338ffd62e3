"""The failure hook, run through a real shell: whatever the command does (odd bytes, a
pipeline that hangs, a background child, a flood of output, a token on its command line),
the run gets one word back and the logs stay short and secret-free. Run by the plugin, it
gets the documented JSON once for every stop (a writer's error, a bad option, a failed
validation), with the credentials' secrets masked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from certbot_dns_autopilot import commands, hook

PAYLOAD = {"stage": "validation", "diagnoses": [{"code": "permission-denied"}]}


def test_output_that_is_not_utf8_is_decoded_with_replacement(
        caplog: pytest.LogCaptureFixture) -> None:
    assert hook.run(r"printf '\377\376 denied\033[2J'; exit 1", PAYLOAD) == "exit 1"
    assert "\ufffd\ufffd denied\\x1b[2J" in caplog.text


def killed(pid_file: Path) -> bool:
    """The process whose pid the command wrote is gone (or a zombie no one waited for yet:
    killed), asked again for up to a second while the kernel delivers the signal."""
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.01)
    return False


def test_a_timeout_stops_every_command_of_the_pipeline(tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    assert hook.run(f"sh -c 'echo $$ > {pid}; exec sleep 30' | cat", PAYLOAD,
                    timeout=0.5) == "timeout"
    assert killed(pid), "the pipeline's first command outlived the timeout"


def test_a_background_child_holding_stdout_does_not_make_success_a_timeout() -> None:
    started = time.monotonic()
    assert hook.run("sleep 4 & echo sent", PAYLOAD, timeout=3) == "ok"
    assert time.monotonic() - started < 3


def test_the_hook_reads_the_payload(tmp_path: Path) -> None:
    out = tmp_path / "hook.json"
    big = {**PAYLOAD, "diagnoses": [{"code": "x" * 1000}] * 500}  # beyond a pipe's buffer
    assert hook.run(f"cat > {out}", big) == "ok"
    assert json.loads(out.read_text())["diagnoses"] == big["diagnoses"]
    assert hook.run("exit 0", big) == "ok"  # one that never reads it is no error either


def test_a_flood_of_output_is_capped(caplog: pytest.LogCaptureFixture) -> None:
    assert hook.run("head -c 20000000 /dev/zero | tr '\\0' a; exit 2", PAYLOAD) == "exit 2"
    assert max(len(r.getMessage()) for r in caplog.records) < 1000


def test_the_command_is_logged_without_its_arguments(caplog: pytest.LogCaptureFixture
                                                     ) -> None:
    caplog.set_level("INFO")
    token = "xoxb-webhook-token-123"
    assert hook.run(f"true --header 'Authorization: Bearer {token}' https://h/?t={token}",
                    PAYLOAD) == "ok"
    assert token not in caplog.text and "'true' (sha256 " in caplog.text
    assert hook.run(f"exit 4 {token}", PAYLOAD) == "exit 4"
    assert token not in caplog.text


def test_nothing_in_the_hooks_path_raises_into_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    import types

    from certbot_dns_autopilot.plugin.authenticator import Authenticator

    config = types.SimpleNamespace(work_dir=str(tmp_path), logs_dir=str(tmp_path),
                                   dns_autopilot_failure_hook="cat > /dev/null")
    run = Authenticator(config, "dns-autopilot").run

    def broken(*args: object, **kwargs: object) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    monkeypatch.setattr(hook, "run", broken)
    run._failure_hook("validation", [{"code": "permission-denied", "domain": "x.test"}],
                      ["x.test"])
    assert "the failure hook could not be run" in caplog.text


def test_what_is_kept_of_the_output_is_capped_at_64_kib() -> None:
    outcome = commands.execute("head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2",
                               timeout=hook.TIMEOUT)
    assert (outcome.status, len(outcome.stdout), len(outcome.stderr)) == (
        0, commands.CAP, commands.CAP)


def test_a_hook_that_closes_its_output_and_hangs_is_stopped_at_the_timeout(tmp_path: Path
                                                                          ) -> None:
    pid = tmp_path / "pid"
    assert hook.run(f"exec >&- 2>&-; echo $$ > {pid}; exec sleep 30", PAYLOAD,
                    timeout=0.5) == "timeout"
    assert killed(pid), "the whole group was killed, not left running"


# --- the hook as the plugin runs it: once for every stop, the documented JSON, no secret ---

SECRET = "hook-test-credential-0123456789"
RESOLVER = "198.51.100.53"
TOP_LEVEL = {"version", "plugin", "stage", "verb", "dry_run", "server", "names", "run",
             "event_log", "diagnoses"}


def hooked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: object):
    """The plugin with a failure hook that appends what it gets on stdin to a file; its
    DNS messages go to ``options["world"]`` (recorded answers), or to an empty one, and
    none leaves through a socket."""
    import functools
    import socket

    from unit_helpers import DNSWorld, make_plugin

    from certbot_dns_autopilot import dnsio

    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test message left through a socket, not the DNS door")

    monkeypatch.setattr(socket, "socket", no_socket)
    world = options.pop("world", None) or DNSWorld(resolvers=(RESOLVER,))
    monkeypatch.setattr(dnsio, "Recursive", functools.partial(dnsio.Recursive, exchange=world))
    monkeypatch.setattr(dnsio, "Reach", functools.partial(dnsio.Reach, exchange=world))
    got = tmp_path / "hook.jsonl"
    auth, _ = make_plugin(tmp_path, monkeypatch, resolvers=RESOLVER,
                          failure_hook=f"cat >> {got}; echo >> {got}", **options)
    return auth, got


def payloads(got: Path) -> list[dict]:
    """Every JSON object the hook got, one per run of it."""
    text, found, at = got.read_text() if got.exists() else "", [], 0
    decoder = json.JSONDecoder()
    while text[at:].strip():
        payload, at = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        found.append(payload)
    return found


def test_a_writer_error_stop_runs_the_hook_once_with_its_code_and_no_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    from unit_helpers import Challenge, Recording

    from certbot_dns_autopilot import scrub
    from certbot_dns_autopilot.errors import AutopilotError

    caplog.set_level("DEBUG")
    scrub.register([SECRET])  # as the writer table registers a credentials file's secrets
    refused = AutopilotError("permission-denied", f"the key {SECRET} may not update example.com",
                             "grant the key the zone's DNS edit right",
                             evidence=f"server said: REFUSED for key {SECRET}")
    auth, got = hooked(tmp_path, monkeypatch, writer=Recording([], fail=refused))
    auth.prepare()
    with pytest.raises(AutopilotError):
        auth.perform([Challenge("example.com"), Challenge("*.example.com")])
    auth.auth_hint([Challenge("example.com")])  # certbot's later call: still one hook run
    [payload] = payloads(got)
    assert set(payload) == TOP_LEVEL and payload["version"] == hook.VERSION == 1
    assert (payload["plugin"], payload["stage"]) == ("dns-autopilot", "before-validation")
    assert payload["names"] == ["*.example.com", "example.com"]  # the run's names
    [diagnosis] = payload["diagnoses"]
    assert set(diagnosis) == {"code", "domain", "problem", "evidence", "fix"}
    assert diagnosis["code"] == "permission-denied"
    assert diagnosis["fix"] == "grant the key the zone's DNS edit right"
    assert SECRET not in got.read_text() and "may not update example.com" in got.read_text()
    assert SECRET not in caplog.text


def test_a_stop_before_any_write_runs_the_hook_with_its_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials option: the run stops before reading anything, with bad-config (one
    mistake, one code, whoever reports it)."""
    from certbot import errors
    from unit_helpers import Challenge

    auth, got = hooked(tmp_path, monkeypatch, credentials="")
    auth.prepare()
    with pytest.raises(errors.PluginError, match="credentials is required"):
        auth.perform([Challenge("example.com")])
    [payload] = payloads(got)
    [diagnosis] = payload["diagnoses"]
    assert diagnosis["code"] == "bad-config" and "INI file" in diagnosis["fix"]
    assert "--dns-autopilot-credentials is required" in diagnosis["problem"]
    assert payload["stage"] == "before-validation" and payload["names"] == ["example.com"]


def test_a_failed_validation_runs_the_hook_with_every_documented_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """auth_hint's diagnoses, gathered from recorded answers through the DNS door."""
    import types

    from unit_helpers import Challenge, DNSWorld

    world = DNSWorld(resolvers=(RESOLVER,))
    world.serve("192.0.2.10", "com", """
@ 3600 IN SOA ns.com. h.com. 1 3600 600 86400 300
@ 3600 IN NS ns.com.
ns 3600 IN A 192.0.2.10
example 3600 IN NS ns1.example.com.
ns1.example 3600 IN A 192.0.2.1
""")
    world.serve("192.0.2.1", "example.com", """
@ 3600 IN SOA ns1.example.com. h.example.com. 7 3600 600 86400 300
@ 3600 IN NS ns1.example.com.
ns1 3600 IN A 192.0.2.1
_acme-challenge 60 IN TXT "someone-elses-value"
""")
    auth, got = hooked(tmp_path, monkeypatch, world=world)
    auth.prepare()
    auth.perform([Challenge("example.com")])
    error = types.SimpleNamespace(typ="urn:ietf:params:acme:error:unauthorized",
                                  detail="Incorrect TXT record \"someone-elses-value\" found at "
                                         "_acme-challenge.example.com")
    hint = auth.auth_hint([Challenge("example.com", error=error)])
    [payload] = payloads(got)
    assert set(payload) == TOP_LEVEL and payload["stage"] == "validation"
    [diagnosis] = payload["diagnoses"]
    assert set(diagnosis) == {"code", "domain", "name", "problem", "fix", "evidence", "dig",
                              "ca", "ca_error", "also", "docs"}
    assert diagnosis["also"] == []
    assert (diagnosis["code"], diagnosis["domain"], diagnosis["name"]) == (
        "wrong-value", "example.com", "_acme-challenge.example.com")
    assert diagnosis["ca_error"] == {"type": "unauthorized", "detail": error.detail}
    assert diagnosis["docs"].endswith("#wrong-value")
    assert "[wrong-value] example.com" in hint
