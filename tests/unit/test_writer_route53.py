"""The Route 53 writer's pure parts: the one-batch merge, TXT quoting, and INI validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from certbot.plugins.dns_common import CredentialsConfiguration

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import writers_from_credentials
from certbot_dns_autopilot.writers.route53 import (
    Route53Writer,
    merged,
    quote,
    reduced,
    replacing,
    unquote,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def load(tmp_path: Path, text: str) -> list:
    path = tmp_path / "credentials.ini"
    path.write_text(text)
    path.chmod(0o600)
    creds = CredentialsConfiguration(str(path), lambda var: f"dns_autopilot_{var}")
    return writers_from_credentials(creds, str(path)).writers


def failure(tmp_path: Path, text: str) -> AutopilotError:
    with pytest.raises(AutopilotError) as raised:
        load(tmp_path, text)
    assert SECRET not in str(raised.value)
    return raised.value


def test_merge_keeps_foreign_values_and_their_ttl_in_one_upsert() -> None:
    current = (300, ['"kept-by-someone-else"'])
    body = merged(current, {"tok-a", "tok-b"}, 60)
    assert body == {"TTL": 300, "ResourceRecords": ['"kept-by-someone-else"', '"tok-a"',
                                                    '"tok-b"']}
    assert merged(None, {"tok"}, 60) == {"TTL": 60, "ResourceRecords": ['"tok"']}
    assert merged((60, ['"tok"']), {"tok"}, 60) is None, "nothing to change, no API call"


def test_remove_keeps_the_rest_or_leaves_nothing() -> None:
    assert reduced((300, ['"kept"', '"tok"']), {"tok"}) == {
        "TTL": 300, "ResourceRecords": ['"kept"']}
    assert reduced((60, ['"a"', '"b"']), {"a", "b"}) is None
    assert reduced((60, ['"a"']), {"other"}) is False
    assert reduced(None, {"a"}) is False


def test_a_rewrite_is_conditional_on_the_set_read() -> None:
    # DELETE with the exact set read, then CREATE: refused as a whole if the set changed.
    changes = replacing("_acme-challenge.x.example", (300, ['"kept"']),
                        {"TTL": 300, "ResourceRecords": ['"kept"', '"tok"']})
    assert [(c["Action"], c["ResourceRecordSet"]["ResourceRecords"]) for c in changes] == [
        ("DELETE", [{"Value": '"kept"'}]), ("CREATE", [{"Value": '"kept"'}, {"Value": '"tok"'}])]
    assert [c["Action"] for c in replacing("n", None, {"TTL": 60, "ResourceRecords": ['"t"']})
            ] == ["CREATE"]
    assert [c["Action"] for c in replacing("n", (60, ['"t"']), None)] == ["DELETE"]


def test_txt_quoting_round_trips_route53_presentation() -> None:
    assert quote("abc") == '"abc"'
    assert unquote('"say \\"hi\\" \\\\ now"') == 'say "hi" \\ now'
    assert unquote('"part one" "part two"') == "part onepart two"
    assert unquote('"caf\\303\\251"') == "café"  # Route 53 escapes octets in octal
    long = "x" * 300
    assert quote(long).count('"') == 4 and unquote(quote(long)) == long


def test_any_route53_key_selects_the_writer_and_region_alone_uses_the_chain(
        tmp_path: Path) -> None:
    [writer] = load(tmp_path, "dns_autopilot_route53_region = eu-west-1\n")
    assert isinstance(writer, Route53Writer)
    assert writer.label == "Route 53 (default AWS credential chain)"
    assert writer.region == "eu-west-1"
    [writer] = load(tmp_path, f"dns_autopilot_route53_access_key_id = {KEY_ID}\n"
                              f"dns_autopilot_route53_secret_access_key = {SECRET}\n")
    assert writer.region == "us-east-1"
    assert writer.label == "Route 53 (access key …MPLE)"
    assert SECRET not in writer.label and KEY_ID not in writer.label


def test_half_a_key_pair_names_the_missing_key(tmp_path: Path) -> None:
    error = failure(tmp_path, f"dns_autopilot_route53_secret_access_key = {SECRET}\n")
    assert error.code == "bad-config"
    assert "dns_autopilot_route53_access_key_id" in error.problem


def test_a_misspelt_key_is_refused_rather_than_falling_back_to_the_chain(
        tmp_path: Path) -> None:
    error = failure(tmp_path, f"dns_autopilot_route53_access_key = {KEY_ID}\n"
                              f"dns_autopilot_route53_secret_access_key = {SECRET}\n")
    assert error.code == "bad-config"
    assert "dns_autopilot_route53_access_key (probably dns_autopilot_route53_access_key_id)" \
        in error.problem
    assert "rename dns_autopilot_route53_access_key to dns_autopilot_route53_access_key_id" \
        in error.fix


@pytest.mark.parametrize(("line", "key"), [
    ("dns_autopilot_route53_region = US East", "dns_autopilot_route53_region"),
    ("dns_autopilot_route53_endpoint_url = route53.local", "dns_autopilot_route53_endpoint_url"),
    ("dns_autopilot_route53_role_arn = acme-dns", "dns_autopilot_route53_role_arn"),
    ("dns_autopilot_route53_profile = does-not-exist-anywhere", "dns_autopilot_route53_profile"),
])
def test_bad_values_name_their_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   line: str, key: str) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    error = failure(tmp_path, line + "\n")
    assert key in error.problem and error.fix and error.code == "bad-config"


def test_a_profile_and_a_key_pair_together_are_ambiguous(tmp_path: Path) -> None:
    error = failure(tmp_path, f"dns_autopilot_route53_access_key_id = {KEY_ID}\n"
                              f"dns_autopilot_route53_secret_access_key = {SECRET}\n"
                              "dns_autopilot_route53_profile = prod\n")
    assert "dns_autopilot_route53_profile" in error.problem


def test_a_section_writer_in_the_map(tmp_path: Path) -> None:
    [writer] = load(tmp_path, "[aws]\ndns_autopilot_zones = example.com\n"
                              f"dns_autopilot_route53_access_key_id = {KEY_ID}\n"
                              f"dns_autopilot_route53_secret_access_key = {SECRET}\n"
                              "dns_autopilot_route53_role_arn = "
                              "arn:aws:iam::123456789012:role/acme-dns\n")
    assert writer.label == ("Route 53 (access key …MPLE, role "
                            "arn:aws:iam::123456789012:role/acme-dns)")
