"""The Route 53 writer's pure parts: the one-batch merge, TXT quoting, and INI validation."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from unit_helpers import RecordedEvents, load_map

from certbot_dns_autopilot import scrub
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import Locks, retry
from certbot_dns_autopilot.writers.route53 import (
    Route53Writer,
    host_name,
    merged,
    quote,
    reduced,
    replacing,
    unquote,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def load(tmp_path: Path, text: str) -> list:
    return load_map(tmp_path, {}, text).writers


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


def stubbed(monkeypatch: pytest.MonkeyPatch) -> tuple[Route53Writer, Stubber]:
    """A writer whose botocore client (made as the writer makes it) answers from a script;
    its secret registered with the scrubber, as the writer table registers it."""
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    scrub.register([SECRET])
    writer = Route53Writer(lambda: boto3.Session(
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name="us-east-1"),
        "Route 53 (test)", "us-east-1", "https://route53.example.test")
    writer.policy = retry.Policy(attempts=3, base=0.0, cap=0.0)
    writer.events = RecordedEvents()
    client = writer._route53()
    assert client.meta.config.retries["total_max_attempts"] == 1, "botocore retries nothing"
    return writer, Stubber(client)


ZONES = {"HostedZones": [{"Id": "/hostedzone/Z1", "Name": "example.com.",
                          "CallerReference": "r", "Config": {"PrivateZone": False}}],
         "IsTruncated": False, "MaxItems": "100", "Marker": ""}


def test_throttling_and_a_5xx_are_retried_each_as_an_event(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    writer, stub = stubbed(monkeypatch)
    stub.add_client_error("list_hosted_zones", "Throttling", "Rate exceeded", 400)
    stub.add_client_error("list_hosted_zones", "ServiceUnavailable", "try later", 503)
    stub.add_response("list_hosted_zones", ZONES)
    with stub:
        assert writer.find_zone("_acme-challenge.www.example.com") == "example.com"
    assert [(e["what"], e["attempt"], e["reason"]) for e in writer.events.retries] == [
        ("route53:ListHostedZones", 1, "HTTP 429"), ("route53:ListHostedZones", 2, "HTTP 503")]


@pytest.mark.parametrize(("error", "status", "code", "retried"), [
    ("AccessDenied", 403, "permission-denied", 0),
    ("InvalidClientTokenId", 403, "permission-denied", 0),
    ("SignatureDoesNotMatch", 403, "permission-denied", 0),
    ("ExpiredToken", 400, "permission-denied", 0),
    ("NoSuchHostedZone", 404, "zone-not-found", 0),
    ("Throttling", 400, "provider-unreachable", 2),
    ("InternalFailure", 500, "provider-unreachable", 2),
])
def test_each_aws_answer_has_its_code(monkeypatch: pytest.MonkeyPatch, error: str, status: int,
                                      code: str, retried: int) -> None:
    writer, stub = stubbed(monkeypatch)
    for _ in range(3):
        stub.add_client_error("list_resource_record_sets", error, f"said {SECRET}", status)
    with stub, pytest.raises(AutopilotError) as caught:
        writer._current("Z1", "_acme-challenge.example.com")
    assert caught.value.code == code, caught.value
    assert len(writer.events.retries) == retried
    assert SECRET not in str(caught.value)


def test_sets_another_writer_keeps_changing_are_a_write_conflict(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Each read finds another writer's newer value, each conditional batch is refused as
    # no longer matching: after its re-reads the writer gives up with write-conflict.
    from certbot_dns_autopilot.writers import route53 as route53_writer

    monkeypatch.setattr(route53_writer.random, "random", lambda: 0.0)
    writer, stub = stubbed(monkeypatch)
    writer.locks = Locks(str(tmp_path / "work"))
    writer._zone_ids["example.com"] = "Z1"
    name = "_acme-challenge.example.com"
    for n in range(5):
        stub.add_response("list_resource_record_sets", {
            "ResourceRecordSets": [{"Name": f"{name}.", "Type": "TXT", "TTL": 60,
                                    "ResourceRecords": [{"Value": f'"theirs-{n}"'}]}],
            "IsTruncated": False, "MaxItems": "10"})
        stub.add_client_error("change_resource_record_sets", "InvalidChangeBatch",
                              "Tried to delete resource record set but the values provided "
                              "do not match the current values", 400)
    with stub, pytest.raises(AutopilotError) as caught:
        writer.add("example.com", {name: {"ours"}}, 60)
    error = caught.value
    assert error.code == "write-conflict", error
    assert f"the TXT sets of {name} in example.com kept changing while adding" in error.problem
    assert "(5 reads)" in error.problem and "serialize" in error.fix and error.left_nothing
    assert [(e["attempt"], e["reason"]) for e in writer.events.retries] == [
        (n, "the set changed meanwhile") for n in range(1, 5)]
    assert SECRET not in str(error)


@pytest.mark.parametrize(("returned", "name"), [
    ("\\052.example.com.", "*.example.com"),  # not "4.example.com" (decimal 052)
    ("_acme-challenge.Example.COM.", "_acme-challenge.example.com"),
    ("xn--bcher-kva.example.", "xn--bcher-kva.example"),
    ("a\\040b.example.com.", None),  # a space: no challenge is written there
    ("\\056dot.example.com.", None),  # a dot inside a label
    ("\\134052.example.com.", None),  # an escaped backslash, then digits
])
def test_names_route53_returns_are_read_with_its_octal_escapes(returned: str,
                                                                name: str | None) -> None:
    assert host_name(returned) == name
