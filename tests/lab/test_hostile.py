"""DNS data is untrusted input: whoever can write a TXT, CAA or CNAME at a name must not be
able to rewrite the user's terminal, forge lines in certbot's log, or crash the run.

A zone of hostile data (ANSI escapes, CR/LF, very long and non-UTF-8 TXT and CAA values, a
CNAME target with odd bytes) is planted with the lab's key, then met by pre-flight, the
waiter, the hint and doctor.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Certbot, Lab, zone_update

pytestmark = pytest.mark.lab

ZONE = "autopilot.test"
# zone-file syntax: \DDD is a byte. ESC [2J clears the screen; CR/LF forge a log line.
ANSI = r'"\027[2J\027[31mALL GOOD\013\010dns-autopilot: forged line"'
NOT_UTF8 = r'"\255\254\000bytes"'
LONG = " ".join(f'"{c * 255}"' for c in "abcdefgh")  # 2040 characters in 8 strings
CAA_NOT_UTF8 = r'0 iodef "mailto:\255\027[2J@example.test"'
ODD_TARGET = r"odd\027\[name\010.alias.test."
RAW = ("\x1b", "\r", "\x00")


@pytest.fixture
def hostile(lab: Lab, fresh_name: str) -> Iterator[str]:
    """``fresh_name`` with hostile TXT values at its validation name, a non-UTF-8 CAA
    (iodef: it does not restrict issuance) at the name, and ``c<fresh_name>`` whose
    _acme-challenge CNAME points at a target with odd bytes."""
    rows = [(f"_acme-challenge.{fresh_name}", "TXT", ANSI),
            (f"_acme-challenge.{fresh_name}", "TXT", NOT_UTF8),
            (f"_acme-challenge.{fresh_name}", "TXT", LONG),
            (fresh_name, "CAA", CAA_NOT_UTF8),
            (f"_acme-challenge.c{fresh_name}", "CNAME", ODD_TARGET)]
    for name, rdtype, rdata in rows:
        zone_update(lab, ZONE, name, rdtype, rdata)
    yield fresh_name
    for name, rdtype, rdata in rows:
        zone_update(lab, ZONE, name, rdtype, rdata, add=False)


def assert_clean(*texts: str) -> None:
    """No raw control character in any of ``texts`` (certbot's log has its own traceback of
    a failed order: tracebacks are checked in what the user sees)."""
    for text in texts:
        for raw in RAW:
            assert raw not in text, f"{raw!r} reached: ...{text[text.find(raw) - 200:][:400]}"


def test_preflight_the_waiter_and_the_hint_show_hostile_data_escaped(
        lab: Lab, certbot: Certbot, tmp_path: Path, hostile: str) -> None:
    name = f"_acme-challenge.{hostile}"
    # The CA's resolver caches the hostile set now: the CA will fail, and give a hint.
    lab.txt(lab.ca_resolver, name, recurse=True)  # (the set is too large for one datagram)
    hook = tmp_path / "hook.json"
    run = certbot.certonly(hostile, extra=("--dns-autopilot-failure-hook", f"cat > {hook}"))
    assert run.returncode != 0, run.output
    assert "[stale-record]" in run.output  # pre-flight met the values, and showed them
    assert run.steps("wait-done") and run.hint  # the waiter passed; the CA failed
    assert "\\x1b[2J" in run.output + run.log and "Traceback" not in run.output
    assert_clean(run.output, run.log)
    # The event log and the hook hold the data JSON-escaped, as data.
    assert json.loads(hook.read_text())["diagnoses"]
    assert_clean(json.dumps(run.events), hook.read_text())


def test_doctor_meets_hostile_data(lab: Lab, hostile: str) -> None:
    status, report = lab.doctor(hostile)
    assert status in (1, 2), report
    codes = {f["code"] for f in report["findings"]}
    assert "stale-record" in codes
    status, report = lab.doctor(f"c{hostile}")
    assert status == 2 and "cname-alias" in {f["code"] for f in report["findings"]}, report
    # The terminal form, too.
    proc = subprocess.run([str(Path(sys.executable).parent / "dns-autopilot"), "doctor",
                           "--credentials", str(lab.credentials), "--resolvers", lab.resolver,
                           "-d", hostile, "-d", f"c{hostile}"],
                          capture_output=True, text=True, errors="replace", timeout=120)
    assert "[stale-record]" in proc.stdout and "[cname-alias]" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert_clean(proc.stdout, proc.stderr)


def test_doctor_refuses_a_name_with_a_space_in_one_clear_line(lab: Lab) -> None:
    status, report = lab.doctor("a b.example.com")
    assert status == 3 and "is not a domain name" in report["stderr"]  # a usage error
    assert "Fix:" in report["stderr"] and "Traceback" not in report["stderr"]
