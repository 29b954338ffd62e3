"""Bad input from the user: one clear PluginError naming the key and the fix, no secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from certbot import errors
from unit_helpers import load_map

from certbot_dns_autopilot.dnsio import Server
from certbot_dns_autopilot.resolvers import parse as parse_resolvers
from certbot_dns_autopilot.writers.rfc2136 import RFC2136Writer

SECRET = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"
GOOD = {
    "dns_autopilot_rfc2136_server": "192.0.2.1",
    "dns_autopilot_rfc2136_name": "acme-key",
    "dns_autopilot_rfc2136_secret": SECRET,
}


def load(tmp_path: Path, values: dict[str, str]):
    [writer] = load_map(tmp_path, values).writers
    return writer


def test_resolvers_accept_ip_port_and_ipv6() -> None:
    assert parse_resolvers("127.0.53.53, 192.0.2.1:5353,[2001:db8::1]:53,2001:db8::2") == [
        Server("127.0.53.53"), Server("192.0.2.1", 5353), Server("2001:db8::1"),
        Server("2001:db8::2")]
    assert parse_resolvers("") == []


@pytest.mark.parametrize("text", ["dns.google", "1.2.3.4:99999", "1.2.3", "[::1]x"])
def test_a_resolver_that_is_not_an_address_is_refused(text: str) -> None:
    with pytest.raises(errors.PluginError, match="--dns-autopilot-resolvers"):
        parse_resolvers(text)


def test_good_credentials_give_an_rfc2136_writer_with_defaults(tmp_path: Path) -> None:
    writer = load(tmp_path, GOOD)
    assert isinstance(writer, RFC2136Writer)
    assert writer.server == Server("192.0.2.1", 53)
    assert writer.algorithm == "HMAC-SHA512"
    assert SECRET not in writer.label


@pytest.mark.parametrize("change, key", [
    ({"dns_autopilot_rfc2136_server": "ns1.example.com"}, "dns_autopilot_rfc2136_server"),
    ({"dns_autopilot_rfc2136_port": "fifty-three"}, "dns_autopilot_rfc2136_port"),
    ({"dns_autopilot_rfc2136_algorithm": "HMAC-SHA999"}, "dns_autopilot_rfc2136_algorithm"),
    ({"dns_autopilot_rfc2136_secret": SECRET + "!!"}, "dns_autopilot_rfc2136_secret"),
    ({"dns_autopilot_rfc2136_name": ""}, "dns_autopilot_rfc2136_name"),
])
def test_each_bad_key_is_named_with_a_fix_and_no_secret(tmp_path: Path, change, key) -> None:
    with pytest.raises(errors.PluginError) as caught:
        load(tmp_path, {**GOOD, **change})
    message = str(caught.value)
    assert key in message
    assert SECRET not in message


def test_a_file_without_any_writer_says_which_keys_to_add(tmp_path: Path) -> None:
    with pytest.raises(errors.PluginError, match="dns_autopilot_rfc2136_server"):
        load(tmp_path, {"dns_autopilot_something": "x"})


def test_lowercase_algorithm_without_prefix_is_accepted(tmp_path: Path) -> None:
    writer = load(tmp_path, {**GOOD, "dns_autopilot_rfc2136_algorithm": "hmac-sha256"})
    assert writer.algorithm == "HMAC-SHA256"


SECOND = """
[alias-zone]
dns_autopilot_zones = alias.example, acme.example.org
dns_autopilot_rfc2136_server = 192.0.2.2
dns_autopilot_rfc2136_name = second-key
dns_autopilot_rfc2136_secret = c2Vjb25kLXNlY3JldA==
"""


def test_sections_add_writers_for_their_zones_and_the_top_level_serves_the_rest(
        tmp_path: Path) -> None:
    writers = load_map(tmp_path, GOOD, SECOND)
    first, second = writers.writers
    assert writers.writer_for("_acme-challenge.www.example.com") is first
    assert writers.writer_for("_acme-challenge.x.alias.example") is second
    assert writers.writer_for("_acme-challenge.acme.example.org") is second
    assert "192.0.2.2" in second.label and "second-key" in second.label


def test_a_top_level_writer_with_zones_serves_only_those(tmp_path: Path) -> None:
    writers = load_map(tmp_path, {**GOOD, "dns_autopilot_zones": "example.com"}, SECOND)
    assert writers.writer_for("_acme-challenge.example.com") is writers.writers[0]
    assert writers.writer_for("_acme-challenge.example.net") is None


def test_a_section_without_zones_is_refused(tmp_path: Path) -> None:
    broken = SECOND.replace("dns_autopilot_zones = alias.example, acme.example.org\n", "")
    with pytest.raises(errors.PluginError, match="dns_autopilot_zones") as caught:
        load_map(tmp_path, GOOD, broken)
    assert "c2Vjb25kLXNlY3JldA==" not in str(caught.value)


def test_a_zone_listed_for_two_writers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.PluginError, match="alias.example is listed for two writers"):
        load_map(tmp_path, {**GOOD, "dns_autopilot_zones": "alias.example"}, SECOND)


def test_a_section_missing_its_secret_names_the_key(tmp_path: Path) -> None:
    broken = SECOND.replace("dns_autopilot_rfc2136_secret = c2Vjb25kLXNlY3JldA==\n", "")
    with pytest.raises(errors.PluginError, match=r"dns_autopilot_rfc2136_secret.*\[alias-zone\]"
                       r"|\[alias-zone\][\s\S]*dns_autopilot_rfc2136_secret"):
        load_map(tmp_path, GOOD, broken)


def test_a_world_readable_credentials_file_is_refused_with_the_chmod_fix(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from certbot_dns_autopilot import credentials

    path = tmp_path / "credentials.ini"
    path.write_text("".join(f"{k} = {v}\n" for k, v in GOOD.items()))
    path.chmod(0o644)
    with pytest.raises(errors.PluginError, match=f"chmod 600 {path}") as caught:
        credentials.load(str(path))
    assert SECRET not in str(caught.value)
    path.chmod(0o640)  # group-readable: a warning, the file is used
    _, writers, _ = credentials.load(str(path))
    assert len(writers.writers) == 1
    assert "readable by its group" in caplog.text and SECRET not in caplog.text


def test_a_writer_whose_sdk_is_missing_names_the_extra_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if the [route53] extra were absent
    monkeypatch.delitem(sys.modules, "certbot_dns_autopilot.writers.route53", raising=False)
    with pytest.raises(errors.PluginError,
                       match=r"pip install 'certbot-dns-autopilot\[route53\]'"):
        load_map(tmp_path, {"dns_autopilot_route53_region": "us-east-1"})
