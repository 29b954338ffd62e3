"""The failure hook, run through a real shell: whatever the command does (odd bytes, a
pipeline that hangs, a background child, a flood of output, a token on its command line),
the run gets one word back and the logs stay short and secret-free."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from certbot_dns_autopilot import hook

PAYLOAD = {"stage": "validation", "diagnoses": [{"code": "permission-denied"}]}


def test_output_that_is_not_utf8_is_decoded_with_replacement(
        caplog: pytest.LogCaptureFixture) -> None:
    assert hook.run(r"printf '\377\376 denied\033[2J'; exit 1", PAYLOAD) == "exit 1"
    assert "\ufffd\ufffd denied\\x1b[2J" in caplog.text


def test_a_timeout_stops_every_command_of_the_pipeline(tmp_path: Path) -> None:
    mark = tmp_path / "late"
    assert hook.run(f"(sleep 2; touch {mark}) | cat", PAYLOAD, timeout=0.5) == "timeout"
    time.sleep(2.5)
    assert not mark.exists()


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
    run._failure_hook("validation", [{"code": "permission-denied", "domain": "x.test"}])
    assert "the failure hook could not be run" in caplog.text
