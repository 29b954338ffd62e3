"""The host-wide lock for read-modify-write writers: exclusive, bounded, and it says who."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from certbot_dns_autopilot import locks
from certbot_dns_autopilot.errors import AutopilotError


def test_a_held_lock_makes_the_next_wait_and_then_names_the_holder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "DIRECTORY", str(tmp_path))
    with locks.held("route53-Z1", "Route 53 zone example.com"):
        with pytest.raises(AutopilotError) as caught:
            with locks.held("route53-Z1", "Route 53 zone example.com", wait=0.3):
                pass
        assert f"pid {os.getpid()}" in caught.value.problem
        assert "Route 53 zone example.com" in caught.value.problem
        with locks.held("route53-Z2", "another zone", wait=0.3):  # other keys are free
            pass
    with locks.held("route53-Z1", "Route 53 zone example.com", wait=0.3):  # released
        pass
