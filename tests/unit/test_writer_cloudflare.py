"""The Cloudflare writer's own logic: INI keys checked one by one (no secret in any message),
TXT quoting, and an unreachable API named with its URL. The API itself is exercised against
the emulator in tests/lab/test_cloudflare.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from certbot import errors
from unit_helpers import RecordedEvents, load_map

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import retry
from certbot_dns_autopilot.writers.cloudflare import (
    DEFAULT_URL,
    CloudflareWriter,
    quote,
    unquote,
)

TOKEN = "Zx9-tokenThatMustNeverBePrinted_0123456"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"  # 37 hex digits, like Cloudflare's


def load(tmp_path: Path, values: dict[str, str]) -> CloudflareWriter:
    [writer] = load_map(tmp_path, values).writers
    assert isinstance(writer, CloudflareWriter)
    return writer


def test_a_token_gives_a_writer_at_the_default_url_with_a_label_free_of_secrets(
        tmp_path: Path) -> None:
    writer = load(tmp_path, {"dns_autopilot_cloudflare_api_token": TOKEN})
    assert writer.url == DEFAULT_URL
    assert writer.label == "Cloudflare (API token)"


def test_email_and_global_key_and_a_custom_url(tmp_path: Path) -> None:
    writer = load(tmp_path, {"dns_autopilot_cloudflare_email": "ops@example.com",
                             "dns_autopilot_cloudflare_api_key": GLOBAL_KEY,
                             "dns_autopilot_cloudflare_api_url": "https://gw.example/cf/v4/"})
    assert writer.url == "https://gw.example/cf/v4"
    assert writer.label == "Cloudflare at https://gw.example/cf/v4 (Global API Key of " \
        "ops@example.com)"
    assert GLOBAL_KEY not in writer.label


def test_a_section_with_zones_configures_cloudflare_for_those_zones(tmp_path: Path) -> None:
    section = ("[cloudflare]\ndns_autopilot_zones = example.com\n"
               f"dns_autopilot_cloudflare_api_token = {TOKEN}\n")
    writers = load_map(tmp_path, {}, section)
    assert isinstance(writers.writer_for("_acme-challenge.www.example.com"), CloudflareWriter)
    assert writers.writer_for("_acme-challenge.example.org") is None
    with pytest.raises(errors.PluginError, match=r"\[cloudflare\] has unknown Cloudflare key"):
        load_map(tmp_path, {}, section.replace("api_token", "apitoken"))


@pytest.mark.parametrize("values, named", [
    ({"dns_autopilot_cloudflare_api_token": TOKEN,
      "dns_autopilot_cloudflare_api_key": GLOBAL_KEY}, "sets both"),
    ({"dns_autopilot_cloudflare_api_url": "https://api.cloudflare.com/client/v4"},
     "gives no Cloudflare credential"),
    ({"dns_autopilot_cloudflare_email": "ops@example.com"},
     "without dns_autopilot_cloudflare_api_key"),
    ({"dns_autopilot_cloudflare_api_key": GLOBAL_KEY}, "without dns_autopilot_cloudflare_email"),
    ({"dns_autopilot_cloudflare_email": "ops", "dns_autopilot_cloudflare_api_key": GLOBAL_KEY},
     "is not an e-mail address"),
    ({"dns_autopilot_cloudflare_api_token": f"Bearer-{TOKEN}".replace("-", " ", 1)},
     "starts with 'Bearer'"),
    ({"dns_autopilot_cloudflare_api_token": GLOBAL_KEY}, "looks like a Global API Key"),
    ({"dns_autopilot_cloudflare_api_token": f"{TOKEN[:20]} {TOKEN[20:]}"},
     "characters an API token never has"),
    ({"dns_autopilot_cloudflare_api_token": TOKEN,
      "dns_autopilot_cloudflare_api_url": "api.cloudflare.com"}, "is not an http(s) URL"),
    ({"dns_autopilot_cloudflare_token": TOKEN}, "unknown Cloudflare key(s): "
     "dns_autopilot_cloudflare_token (probably dns_autopilot_cloudflare_api_token)"),
    ({"dns_autopilot_cloudflare_api_token": TOKEN,
      "dns_autopilot_cloudflare_api_url": "http://api.example.net/client/v4"}, "http:// URL"),
])
def test_each_bad_key_is_one_error_with_a_fix_and_no_secret(tmp_path: Path, values, named
                                                            ) -> None:
    with pytest.raises(errors.PluginError) as caught:
        load(tmp_path, values)
    message = str(caught.value)
    assert named in message and "Fix:" in message
    assert TOKEN not in message and GLOBAL_KEY not in message
    assert isinstance(caught.value, AutopilotError) and caught.value.code == "bad-config"


def test_only_the_configured_credential_is_sent_whatever_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "someone@example.com")
    monkeypatch.setenv("CLOUDFLARE_API_KEY", GLOBAL_KEY)
    headers = CloudflareWriter(token=TOKEN).client.auth_headers
    assert headers == {"Authorization": f"Bearer {TOKEN}"}
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    client = CloudflareWriter(email="ops@example.com", api_key=GLOBAL_KEY).client
    assert client.api_token is None
    assert client.auth_headers == {"X-Auth-Email": "ops@example.com"}
    assert client.default_headers["X-Auth-Key"] == GLOBAL_KEY


@pytest.mark.parametrize("content, value", [
    ("abc", "abc"), ('"abc"', "abc"), ('"ab" "c"', "abc"), (r'"a\"b"', 'a"b'),
    ('"abc', '"abc'), ('say "hi"', 'say "hi"'),
])
def test_cloudflare_content_is_compared_as_the_value_dns_serves(content: str, value: str
                                                                ) -> None:
    assert unquote(content) == value


def test_quote_round_trips() -> None:
    for value in ("DsOyr8DzfecIxb22aHCDFKTtxjtXBgSN5ukm2FpvoxI", 'a"b\\c'):
        assert unquote(quote(value)) == value


def test_an_unreachable_api_names_the_url_and_the_key() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/client/v4"
    writer = CloudflareWriter(token=TOKEN, url=url)
    writer.policy = retry.Policy(attempts=3, base=0.0, cap=0.0)
    writer.events = RecordedEvents()
    with pytest.raises(AutopilotError) as caught:
        writer.find_zone("_acme-challenge.example.com")
    assert caught.value.code == "provider-unreachable"
    assert [(e["attempt"], e["reason"]) for e in writer.events.retries] == [
        (1, "connection"), (2, "connection")], "each retry an event, then the error"
    assert url in caught.value.problem and "dns_autopilot_cloudflare_api_url" in caught.value.fix
    assert TOKEN not in str(caught.value)


def scripted(writer: CloudflareWriter, answers: list[tuple[int, dict]]) -> list[str]:
    """Give ``writer``'s SDK client a transport answering ``answers`` in turn; the paths
    asked are returned as they come."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        status, body = answers.pop(0)
        headers = {"retry-after": "0"} if status == 429 else {}
        return httpx.Response(status, headers=headers, content=json.dumps(body).encode(),
                              request=request)
    assert writer.client.max_retries == 0, "the SDK's own retries are off: ours report each"
    writer._client = writer.client.copy(http_client=httpx.Client(
        transport=httpx.MockTransport(handler)))
    return asked


ZONE = {"id": "z1", "name": "example.com", "status": "active"}


def page(*items: dict) -> dict:
    return {"success": True, "errors": [], "messages": [], "result": list(items),
            "result_info": {"page": 1, "per_page": 50, "count": len(items),
                            "total_count": len(items), "total_pages": 1}}


def test_a_limited_call_is_retried_once_per_429_and_each_retry_is_an_event() -> None:
    writer = CloudflareWriter(token=TOKEN, url="https://api.example.test/client/v4")
    writer.policy = retry.Policy(attempts=4, base=0.0, cap=0.0)
    writer.events = RecordedEvents()
    limited = {"success": False, "errors": [{"code": 971, "message": "Please wait"}]}
    asked = scripted(writer, [(429, limited), (503, {"success": False, "errors": []}),
                              (200, page(ZONE))])
    assert writer.find_zone("example.com") == "example.com"
    assert len(asked) == 3
    assert [(e["attempt"], e["reason"]) for e in writer.events.retries] == [
        (1, "HTTP 429"), (2, "HTTP 503")]


@pytest.mark.parametrize(("status", "errors", "code"), [
    (401, [{"code": 9109, "message": "Invalid access token"}], "permission-denied"),
    (403, [{"code": 10000, "message": "Authentication error"}], "permission-denied"),
    (400, [{"code": 1000, "message": "Invalid API Token"}], "permission-denied"),
    (404, [{"code": 7003, "message": "Could not route"}], "zone-not-found"),
    (429, [{"code": 971, "message": "Please wait"}], "provider-unreachable"),
    (502, [{"code": 10000, "message": "Bad gateway"}], "provider-unreachable"),
])
def test_each_answer_has_its_code_and_a_refusal_is_not_retried(status: int, errors: list,
                                                                code: str) -> None:
    writer = CloudflareWriter(token=TOKEN, url="https://api.example.test/client/v4")
    writer.policy = retry.Policy(attempts=2, base=0.0, cap=0.0)
    writer.events = RecordedEvents()
    body = {"success": False, "errors": errors, "messages": [], "result": None}
    asked = scripted(writer, [(status, body)] * 2)
    with pytest.raises(AutopilotError) as caught:
        writer._zone_id("example.com")
    assert caught.value.code == code, caught.value
    transient = status == 429 or status >= 500
    assert asked.count("/client/v4/zones") == (2 if transient else 1)
    assert len(writer.events.retries) == (1 if transient else 0)
    assert TOKEN not in str(caught.value)
