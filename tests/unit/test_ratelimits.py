"""Rate-limit warnings from certbot's own archive (real certificate files, made here)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from unit_helpers import write_cert

from certbot_dns_autopilot.preflight import ratelimits

NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


def registered(name: str) -> str:
    return ".".join(name.split(".")[-2:])



def test_only_production_lets_encrypt_counts() -> None:
    assert ratelimits.is_production("https://acme-v02.api.letsencrypt.org/directory")
    assert not ratelimits.is_production("https://acme-staging-v02.api.letsencrypt.org/directory")
    assert not ratelimits.is_production("https://localhost:14000/dir")


def test_duplicates_near_the_limit_warn_and_old_ones_do_not_count(tmp_path: Path) -> None:
    names = ["example.com", "*.example.com"]
    for i in range(3):
        write_cert(tmp_path / "archive" / "example.com" / f"cert{i}.pem", names,
                   NOW - timedelta(days=1, hours=i))
    write_cert(tmp_path / "archive" / "example.com" / "cert9.pem", names,
               NOW - timedelta(days=9))
    issued = ratelimits.history(str(tmp_path))
    assert len(issued) == 4
    [finding] = ratelimits.findings(names, issued, registered, now=NOW)
    assert finding.code == "rate-limited" and "certificate 4 of at most 5" in finding.problem
    assert ratelimits.findings(["other.example.com"], issued, registered, now=NOW) == []


def test_many_certificates_for_one_registered_domain_warn(tmp_path: Path) -> None:
    for i in range(40):
        write_cert(tmp_path / "archive" / f"n{i}" / "cert1.pem", [f"n{i}.example.com"],
                   NOW - timedelta(hours=i))
    found = ratelimits.findings(["new.example.com"], ratelimits.history(str(tmp_path)),
                                registered, now=NOW)
    assert [f.name for f in found] == ["example.com"]
    assert "certificate 41 of at most 50" in found[0].problem
