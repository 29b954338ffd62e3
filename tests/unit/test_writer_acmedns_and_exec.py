"""The acme-dns and exec writers' own logic: keys and registration files checked (one clear
error, no secret in it), the two-value limit before any request, allowfrom, the routing of
fulldomains, and the exec writer's environment and failures with real shell commands. The
APIs and hooks against the lab: tests/lab/test_acmedns.py and tests/lab/test_exec.py."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from certbot import errors
from unit_helpers import RecordedEvents, Reply, Request, http_server, load_map, value

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import retry
from certbot_dns_autopilot.writers.acmedns import AcmeDnsWriter, allowed
from certbot_dns_autopilot.writers.exec import ExecWriter

PASSWORD = "pW-0123456789abcdefghijklmnopqrstuvwxyzAB"[:40]
FULL = "d420c923-bbd7-4056-ab64-c3ca54c9b3cf.auth.acme-dns.io"
V1, V2, V3 = value("v1"), value("v2"), value("v3")  # shaped as the CA's DNS-01 values


def registrations(tmp_path: Path, **extra: dict) -> Path:
    path = tmp_path / "acmedns.json"
    path.write_text(json.dumps({"example.com": {
        "username": "c36f50e8-4632-44f0-83fe-e070fef28a10", "password": PASSWORD,
        "fulldomain": FULL, "subdomain": FULL.split(".")[0], "allowfrom": []}, **extra}))
    path.chmod(0o600)
    return path


def acmedns(tmp_path: Path, url: str = "https://auth.acme-dns.io",
            file: Path | None = None) -> AcmeDnsWriter:
    [writer] = load_map(tmp_path, {
        "dns_autopilot_acmedns_api_url": url,
        "dns_autopilot_acmedns_registration_file": str(file or registrations(tmp_path))}).writers
    assert isinstance(writer, AcmeDnsWriter)
    return writer


def test_acmedns_reads_the_hook_format_and_routes_its_fulldomains(tmp_path: Path) -> None:
    writer = acmedns(tmp_path)
    assert writer.cname_targets == {"example.com": FULL}
    assert writer.find_zone(FULL) == ""  # the DNS's zone, found by the router
    with pytest.raises(AutopilotError) as exc:
        writer.find_zone("other." + FULL)
    assert exc.value.code == "cname-alias"


def test_acmedns_in_a_section_needs_no_zones_and_gets_only_its_names(tmp_path: Path) -> None:
    file = registrations(tmp_path)
    writers = load_map(tmp_path, {"dns_autopilot_rfc2136_server": "192.0.2.1",
                                  "dns_autopilot_rfc2136_name": "k",
                                  "dns_autopilot_rfc2136_secret": "c2VjcmV0"},
                       "[acme]\ndns_autopilot_acmedns_api_url = https://a.example\n"
                       f"dns_autopilot_acmedns_registration_file = {file}\n")
    assert isinstance(writers.writer_for(FULL), AcmeDnsWriter)
    assert not isinstance(writers.writer_for("_acme-challenge.example.com"), AcmeDnsWriter)


def test_acmedns_refuses_http_except_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(AutopilotError) as exc:
        acmedns(tmp_path, "http://auth.example.net")
    assert "clear text" in exc.value.problem
    assert acmedns(tmp_path, "http://127.0.0.1:8080").api_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize("content", ["not json", "[]", '{"example.com": {"username": "u"}}',
                                     '{"example.com": "x"}'])
def test_acmedns_bad_registration_file_is_one_error_without_secrets(
        tmp_path: Path, content: str) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content.replace("u", PASSWORD) if "username" in content else content)
    file.chmod(0o600)
    with pytest.raises(errors.PluginError) as exc:
        acmedns(tmp_path, file=file)
    assert "registration file" in str(exc.value) and "Fix:" in str(exc.value)
    assert PASSWORD not in str(exc.value)


def test_acmedns_registration_file_not_followed_through_a_symlink_nor_world_readable(
        tmp_path: Path) -> None:
    real = registrations(tmp_path)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with pytest.raises(errors.PluginError) as exc:
        acmedns(tmp_path, file=link)
    assert "symbolic link" in str(exc.value)
    real.chmod(0o644)
    with pytest.raises(errors.PluginError) as exc:
        acmedns(tmp_path, file=real)
    assert "chmod 600" in str(exc.value)


def test_acmedns_three_values_stop_before_any_request(tmp_path: Path) -> None:
    writer = acmedns(tmp_path, "https://192.0.2.1:1")  # nothing may be sent there
    with pytest.raises(AutopilotError) as exc:
        writer.add("acme-dns.io", {FULL: {"a" * 43, "b" * 43, "c" * 43}}, 60)
    assert exc.value.code == "multiple-values" and exc.value.left_nothing
    assert "keeps only 2 per registration" in exc.value.problem


def test_allowfrom() -> None:
    assert allowed("192.0.2.7", ())
    assert allowed("192.0.2.7", ("192.0.2.0/24",))
    assert not allowed("198.51.100.1", ("192.0.2.0/24", "2001:db8::/32"))
    assert not allowed(None, ("192.0.2.0/24",))


# -- exec --------------------------------------------------------------------------------

def exec_writer(tmp_path: Path, auth: str, cleanup: str = "true", timeout: str = "") -> ExecWriter:
    values = {"dns_autopilot_exec_auth_hook": auth, "dns_autopilot_exec_cleanup_hook": cleanup}
    if timeout:
        values["dns_autopilot_exec_timeout"] = timeout
    [writer] = load_map(tmp_path, values).writers
    assert isinstance(writer, ExecWriter)
    return writer


def test_exec_hands_certbots_manual_environment_on(tmp_path: Path) -> None:
    out = tmp_path / "env"
    writer = exec_writer(tmp_path, f'env | grep -E "^(CERTBOT|DNS_AUTOPILOT)_" >> {out}; '
                         f'echo ---  >> {out}',
                         cleanup=f"echo cleanup $CERTBOT_AUTH_OUTPUT >> {out}")
    writer.challenges = (("*.example.com", V1), ("example.com", V2), ("www.example.com", V3))
    writer.add("example.net", {"alias.example.net": {V3}}, 60)
    text = out.read_text()
    assert "CERTBOT_DOMAIN=www.example.com\n" in text and f"CERTBOT_VALIDATION={V3}\n" in text
    assert "CERTBOT_ALL_DOMAINS=example.com,example.com,www.example.com\n" in text
    assert "CERTBOT_REMAINING_CHALLENGES=2\n" in text
    assert "DNS_AUTOPILOT_RECORD=alias.example.net\n" in text
    assert "DNS_AUTOPILOT_ZONE=example.net\n" in text


def test_exec_failure_carries_the_escaped_bounded_stderr_tail(tmp_path: Path) -> None:
    writer = exec_writer(tmp_path, "printf 'x%.0s' $(seq 3000) >&2; printf '\\033[2Jboom' >&2; "
                         "exit 4")
    with pytest.raises(AutopilotError) as exc:
        writer.add("example.com", {"_acme-challenge.example.com": {V1}}, 60)
    assert "exited with status 4" in exc.value.problem
    assert "\\x1b[2Jboom" in exc.value.evidence and "\x1b" not in str(exc.value)
    assert len(exc.value.evidence) < 1000
    assert exc.value.left_nothing


@pytest.mark.parametrize("make", ["missing", "not executable", "after an assignment"])
def test_exec_a_hook_that_cannot_be_run_is_bad_config_naming_its_key(tmp_path: Path,
                                                                     make: str) -> None:
    hook = tmp_path / "auth.sh"
    if make == "not executable":
        hook.write_text("#!/bin/sh\nexit 0\n")
        hook.chmod(0o600)
    prefix = "WEBHOOK=https://hooks.example/T0KEN " if make == "after an assignment" else ""
    writer = exec_writer(tmp_path, prefix + str(hook))
    with pytest.raises(AutopilotError) as exc:
        writer.probe("example.com", "_acme-challenge.example.com")
    assert exc.value.code == "bad-config"
    assert exc.value.problem.startswith(f"{writer.label}: the auth hook 'auth.sh' (sha256 ")
    assert "could not be run" in exc.value.problem
    assert "dns_autopilot_exec_auth_hook" in exc.value.fix
    assert str(hook) in exc.value.evidence


def test_exec_a_failing_cleanup_hook_is_named_not_the_auth_hook(tmp_path: Path) -> None:
    cleanup = tmp_path / "cleanup.sh"
    cleanup.write_text("#!/bin/sh\necho 'registrar: no such record' >&2\nexit 5\n")
    cleanup.chmod(0o700)
    writer = exec_writer(tmp_path, "true", str(cleanup))
    with pytest.raises(AutopilotError) as exc:
        writer.remove("example.com", {"_acme-challenge.example.com": {V1}})
    assert writer.label.startswith("exec hooks 'true' (sha256 ") and "'cleanup.sh'" in writer.label
    assert exc.value.problem.startswith(f"{writer.label}: the cleanup hook 'cleanup.sh' (sha256 ")
    assert "exited with status 5" in exc.value.problem
    assert "registrar: no such record" in exc.value.evidence


def test_exec_a_hook_that_does_not_finish_is_provider_unreachable(tmp_path: Path) -> None:
    writer = exec_writer(tmp_path, "sleep 30", timeout="1")
    with pytest.raises(AutopilotError) as exc:
        writer.add("example.com", {"_acme-challenge.example.com": {V1}}, 60)
    assert exc.value.code == "provider-unreachable"
    assert exc.value.problem.startswith(f"{writer.label}: the auth hook 'sleep' (sha256 ")
    assert "did not finish within 1 s" in exc.value.problem
    assert "dns_autopilot_exec_timeout" in exc.value.fix


def test_exec_a_command_missing_inside_the_hook_is_the_hooks_own_failure(tmp_path: Path
                                                                         ) -> None:
    hook = tmp_path / "auth.sh"
    hook.write_text("#!/bin/sh\nno-such-command-in-the-hook\n")
    hook.chmod(0o700)
    with pytest.raises(AutopilotError) as exc:
        exec_writer(tmp_path, str(hook)).probe("example.com", "_acme-challenge.example.com")
    assert exc.value.code == "permission-denied"
    assert "exited with status 127" in exc.value.problem
    assert "no-such-command-in-the-hook" in exc.value.evidence


@pytest.mark.parametrize(("zone", "name", "txt", "code"), [
    ("ex`id`ample.test", "_acme-challenge.x.ex`id`ample.test", V1, "wrong-name"),
    ("a|b&c.test", "_acme-challenge.a|b&c.test", V1, "wrong-name"),
    ("it's.test", "_acme-challenge.it's.test", V1, "wrong-name"),
    ("example.com", "_acme-challenge.example.com", 'x"; reboot; echo "', "wrong-value"),
    ("example.com", "_acme-challenge.example.com", "first\nsecond", "wrong-value"),
    ("example.com", "_acme-challenge.example.com", "nul\0byte", "wrong-value"),
    ("example.com", "_acme-challenge.example.com", "a" * 300, "wrong-value"),
], ids=["backticks-in-zone", "pipe-and-ampersand", "quote", "quote-and-semicolon",
        "line-break", "nul", "over-255"])
def test_exec_a_name_or_value_a_shell_would_read_is_never_handed_to_a_hook(
        tmp_path: Path, zone: str, name: str, txt: str, code: str) -> None:
    """A zone comes from the DNS (a referral's owner name), a stale value from whoever wrote
    it: the hooks run as root and paste them into shell lines and nsupdate scripts."""
    ran = tmp_path / "ran"
    writer = exec_writer(tmp_path, f"touch {ran}", cleanup=f"touch {ran}")
    for call in (lambda: writer.add(zone, {name: {txt}}, 60),
                 lambda: writer.remove(zone, {name: {txt}})):
        with pytest.raises(AutopilotError) as exc:
            call()
        assert exc.value.code == code and "not handed to the hooks" in exc.value.problem
    assert not ran.exists()


def test_exec_a_nul_in_the_auth_output_neither_stops_cleanup_nor_hides_the_error(
        tmp_path: Path) -> None:
    """The auth hook's stdout becomes the cleanup hook's CERTBOT_AUTH_OUTPUT: a NUL byte in
    it is dropped, so when the second auth call fails the cleanup hook still runs for both
    values and the auth hook's own failure is the error raised."""
    calls, cleaned = tmp_path / "calls", tmp_path / "cleaned"
    writer = exec_writer(
        tmp_path, f"echo x >> {calls}; [ $(wc -l < {calls}) -lt 2 ] || exit 3; "
                  "printf 'id\\0tail'",
        cleanup=f'echo "$CERTBOT_VALIDATION $CERTBOT_AUTH_OUTPUT" >> {cleaned}')
    with pytest.raises(AutopilotError) as exc:
        writer.add("example.com", {"_acme-challenge.example.com": {V1, V2}}, 60)
    assert exc.value.code == "permission-denied" and "exited with status 3" in exc.value.problem
    assert exc.value.left_nothing
    first, second = sorted((V1, V2))  # the order the hooks are called in
    assert {line.strip() for line in cleaned.read_text().splitlines()} == {
        f"{first} idtail", second}


def test_exec_bad_timeout_and_missing_cleanup_are_clear(tmp_path: Path) -> None:
    with pytest.raises(errors.PluginError) as exc:
        exec_writer(tmp_path, "true", timeout="soon")
    assert "dns_autopilot_exec_timeout" in str(exc.value)
    with pytest.raises(errors.PluginError) as exc:
        load_map(tmp_path, {"dns_autopilot_exec_auth_hook": "true"})
    assert "dns_autopilot_exec_cleanup_hook" in str(exc.value)
    assert os.path.exists(tmp_path / "credentials.ini")


@contextlib.contextmanager
def answering(answers: list[tuple[int, dict]]) -> Iterator[tuple[str, list[dict]]]:
    """An HTTP server on 127.0.0.1 answering each POST with the next (status, JSON body)."""
    updates: list[dict] = []

    def answer(request: Request) -> Reply:
        updates.append(json.loads(request[3]))
        status, body = answers.pop(0)
        return status, {"Retry-After": "0"} if status == 429 else {}, json.dumps(body).encode()

    with http_server(answer) as (url, _):
        yield url, updates
def test_an_update_acme_dns_did_not_apply_is_retried_each_as_an_event(tmp_path: Path) -> None:
    with answering([(429, {}), (503, {}), (200, {"txt": "v"})]) as (url, updates):
        writer = acmedns(tmp_path, url)
        writer.policy = retry.Policy(attempts=4, base=0.0, cap=0.0)
        writer.events = RecordedEvents()
        writer.add("", {FULL: {"v" * 43}}, 60)
    assert len(updates) == 3 and {u["txt"] for u in updates} == {"v" * 43}
    assert [(e["attempt"], e["reason"]) for e in writer.events.retries] == [
        (1, "HTTP 429"), (2, "HTTP 503")]


@pytest.mark.parametrize(("status", "code"), [(500, "provider-unreachable"),
                                              (404, "provider-unreachable"),
                                              (401, "permission-denied")])
def test_an_answer_that_may_have_been_applied_is_not_retried(tmp_path: Path, status: int,
                                                             code: str) -> None:
    with answering([(status, {"error": "x"})] * 2) as (url, updates):
        writer = acmedns(tmp_path, url)
        writer.policy = retry.Policy(attempts=4, base=0.0, cap=0.0)
        writer.events = RecordedEvents()
        with pytest.raises(AutopilotError) as caught:
            writer.add("", {FULL: {"v" * 43}}, 60)
    assert caught.value.code == code and len(updates) == 1 and not writer.events.retries
    assert PASSWORD not in str(caught.value)


def test_a_server_nothing_listens_on_is_retried_then_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    writer = acmedns(tmp_path, url)
    writer.policy = retry.Policy(attempts=2, base=0.0, cap=0.0)
    writer.events = RecordedEvents()
    with pytest.raises(AutopilotError) as caught:
        writer.add("", {FULL: {"v" * 43}}, 60)
    assert caught.value.code == "provider-unreachable" and url in caught.value.problem
    assert [e["reason"] for e in writer.events.retries] == ["connection"]
