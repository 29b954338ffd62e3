"""The failure hook: one command per failed run, the diagnoses as JSON on its standard input.

So a cron `certbot renew` can page someone with the cause instead of a log file. The hook is
bounded in time and its own failure is only logged: it must never hide certbot's error. It
runs in its own process group (a pipeline's every command is stopped on timeout), its output
is read as bytes and capped, and the command, which often carries a webhook token, is logged
by its program name and a digest only; the payload is scrubbed before it is serialised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import selectors
import shlex
import signal
import subprocess
import time
from typing import Any

from .shown import shown

logger = logging.getLogger(__name__)

TIMEOUT = 60.0
#: the payload's ``version``: raised when a field is removed, renamed or changes meaning
#: (new fields keep it; docs/compatibility.md)
VERSION = 1
CAP = 64 * 1024  # bytes of the hook's output kept; the rest is read and dropped
GRACE = 1.0  # seconds to read on after the shell exits (a background child may hold stdout)


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def program(command: str) -> str | None:
    """The word of ``command`` the shell runs: the first one after any environment
    assignments (``WEBHOOK=https://…/TOKEN notify``) and ``env`` with its options."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for word in words:
        if not (_ASSIGNMENT.match(word) or os.path.basename(word) == "env"
                or word.startswith("-")):
            return word
    return None


def label(command: str) -> str:
    """The command as logs name it: its program and a digest, never its arguments, nor the
    environment assignments before it, nor a program that is a URL."""
    word = program(command) or "?"
    name = "?" if "://" in word or "@" in word else os.path.basename(word)
    digest = hashlib.sha256(command.encode("utf-8", "replace")).hexdigest()[:8]
    return f"{shown(name, limit=40)!r} (sha256 {digest})"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one bounded command went: ``status`` is None when it was stopped on timeout."""

    status: int | None
    stdout: bytes
    stderr: bytes


def _exchange(proc: subprocess.Popen[bytes], body: bytes, timeout: float
              ) -> tuple[bool, dict[Any, bytearray]]:
    """Feed ``body``, read each output stream (capped) until the shell exits (then a short
    grace) or the time is up; returns (finished, output per stream)."""
    assert proc.stdin
    selector = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    selector.register(proc.stdin, selectors.EVENT_WRITE)
    outputs: dict[Any, bytearray] = {}
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            selector.register(stream, selectors.EVENT_READ)
            outputs[stream] = bytearray()
    sent = 0
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    try:
        while selector.get_map():
            now = time.monotonic()
            if proc.poll() is not None:
                exited_at = exited_at or now
                if now - exited_at > GRACE:
                    break
            if now > deadline:
                return False, outputs
            for key, _ in selector.select(timeout=0.1):
                if key.fileobj is proc.stdin:
                    try:
                        sent += os.write(proc.stdin.fileno(), body[sent:sent + 65536])
                    except (BrokenPipeError, BlockingIOError) as exc:
                        if isinstance(exc, BlockingIOError):
                            continue
                        sent = len(body)
                    if sent >= len(body):
                        selector.unregister(proc.stdin)
                        proc.stdin.close()
                else:
                    output = outputs[key.fileobj]
                    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif len(output) < CAP:
                        output += chunk[:CAP - len(output)]
        return proc.wait(timeout=max(0.0, deadline - time.monotonic())) is not None, outputs
    except subprocess.TimeoutExpired:
        return False, outputs
    finally:
        selector.close()


def execute(command: str, body: bytes = b"", timeout: float = TIMEOUT,
            env: dict[str, str] | None = None, merge: bool = False) -> Outcome:
    """Run ``command`` through the shell (as certbot runs its own hooks) in its own process
    group, ``body`` on its stdin, its output read as bytes and capped; on timeout the whole
    group (a pipeline's every command) is killed. ``merge`` sends stderr to stdout.

    :raises OSError: the shell could not be started.
    """
    proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                            start_new_session=True, env=env)
    try:
        finished, outputs = _exchange(proc, body, timeout)
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                with contextlib.suppress(OSError):
                    stream.close()
    if not finished:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # the shell and every command it started
        proc.wait()
    return Outcome(proc.returncode if finished else None,
                   bytes(outputs.get(proc.stdout, b"")), bytes(outputs.get(proc.stderr, b"")))


def run(command: str, payload: dict[str, Any], timeout: float = TIMEOUT) -> str:
    """Run ``command`` through the shell (as certbot runs its own hooks) with ``payload`` on
    stdin; returns how it went, in words, for the event log. Never raises."""
    from . import scrub  # its patterns take 2 ms to compile: not at every certbot start-up

    name = label(command)
    body = json.dumps(scrub.scrubbed({"version": VERSION, **payload}), indent=1).encode()
    try:
        outcome = execute(command, body, timeout, merge=True)
    except OSError as exc:
        logger.warning("dns-autopilot: the failure hook %s could not run: %s", name,
                       shown(exc.strerror))
        return "error"
    if outcome.status is None:
        logger.warning("dns-autopilot: the failure hook %s did not finish within %.0f s and "
                       "was stopped", name, timeout)
        return "timeout"
    text = outcome.stdout.decode("utf-8", errors="replace").strip()
    if outcome.status != 0:
        logger.warning("dns-autopilot: the failure hook %s exited with status %d: %s",
                       name, outcome.status, shown(text[-500:], limit=600))
        return f"exit {outcome.status}"
    logger.info("dns-autopilot: the failure hook %s received the diagnoses", name)
    return "ok"
