"""Writers described by their key schema (``KEYS``), and the writer table."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit_helpers import load_map

from certbot_dns_autopilot import scrub
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import SectionKeys, registry, schema
from certbot_dns_autopilot.writers.schema import Key

WRITERS = registry.every_kind()

SECRET = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_every_writer_describes_its_keys(kind: str) -> None:
    keys = WRITERS[kind].cls.KEYS
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


SCHEMA = (Key("api_token", required=True, secret=True, help="an API token"),
          Key("api_url", help="another API base URL"),
          Key("zone_id", required=True, help="the zone's ID"))


def section(**values: object) -> SectionKeys:
    return SectionKeys({f"dns_autopilot_demo_{k}": v for k, v in values.items()},
                       "demo.ini [demo]")


def test_the_schema_reader_strips_values_and_gives_none_for_unset_or_empty() -> None:
    settings = schema.read(section(api_token="  t0k3n ", zone_id="z1", api_url=""), "demo",
                           SCHEMA, "demo.ini [demo]")
    assert settings == {"api_token": "t0k3n", "api_url": None, "zone_id": "z1"}
    # configobj reads an unquoted comma as a list: the value comes back as written
    assert schema.read(section(api_token=["a", "b"], zone_id="z"), "demo", SCHEMA,
                       "x")["api_token"] == "a, b"


def test_unknown_keys_are_one_bad_config_error_naming_each_and_the_key_probably_meant(
        ) -> None:
    with pytest.raises(AutopilotError) as caught:
        schema.read(section(api_token=SECRET, zone_id="z", apitoken="x", api_ulr="y",
                            colour="blue"), "demo", SCHEMA, "demo.ini [demo]", title="Demo")
    error = caught.value
    assert error.code == "bad-config"
    assert error.problem == (
        "demo.ini [demo] has unknown Demo key(s): dns_autopilot_demo_api_ulr (probably "
        "dns_autopilot_demo_api_url), dns_autopilot_demo_apitoken (probably "
        "dns_autopilot_demo_api_token), dns_autopilot_demo_colour")
    assert "rename dns_autopilot_demo_api_ulr to dns_autopilot_demo_api_url" in error.fix
    assert SECRET not in str(error)


def test_keys_a_writer_accepts_beyond_its_schema_pass_through_extra() -> None:
    # lexicon's provider options cannot be listed in its schema: the writer says which pass
    assert schema.unknown_keys(["dns_autopilot_demo_auth_token", "dns_autopilot_demo_x"],
                               "demo", SCHEMA, extra=lambda name: name.startswith("auth_")
                               ) == [("dns_autopilot_demo_x", None)]


def test_missing_required_keys_are_named_together_with_their_help() -> None:
    with pytest.raises(AutopilotError) as caught:
        schema.read(section(api_token=" "), "demo", SCHEMA, "demo.ini")
    assert caught.value.code == "bad-config"
    assert caught.value.problem == ("demo.ini does not set dns_autopilot_demo_api_token and "
                                    "dns_autopilot_demo_zone_id")
    assert "set dns_autopilot_demo_zone_id (it should be the zone's ID)" in caught.value.fix
