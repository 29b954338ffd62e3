"""Writers described by their key schema (``KEYS``), and the writer table."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from unit_helpers import load_map

from certbot_dns_autopilot import scrub
from certbot_dns_autopilot.writers.registry import WRITERS

SECRET = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_every_writer_describes_its_keys(kind: str) -> None:
    keys = importlib.import_module(f"certbot_dns_autopilot.writers.{WRITERS[kind].module}").KEYS
    names = [key.name for key in keys]
    assert names and len(names) == len(set(names)), kind
    assert WRITERS[kind].key == f"dns_autopilot_{kind}_{names[0]}" or any(
        WRITERS[kind].key == f"dns_autopilot_{kind}_{n}" for n in names), kind
    for key in keys:
        assert key.help, (kind, key.name)
        assert not (key.required and key.default), (kind, key.name)


def test_a_writers_secret_keys_are_scrubbed_from_the_moment_it_is_built(tmp_path: Path
                                                                        ) -> None:
    load_map(tmp_path, {"dns_autopilot_rfc2136_server": "192.0.2.1",
                        "dns_autopilot_rfc2136_name": "acme-key",
                        "dns_autopilot_rfc2136_secret": SECRET})
    assert SECRET not in scrub.scrub(f"an SDK's debug line with {SECRET} in it")
    assert "acme-key" in scrub.scrub("the key name acme-key is no secret")
