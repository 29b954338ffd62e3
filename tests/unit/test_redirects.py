"""Calls that carry a credential never follow a redirect: requests keeps acme-dns's
X-Api-User/X-Api-Key on a redirect (it strips only Authorization), and the Cloudflare SDK's
httpx client keeps the Global API Key's X-Auth-Email/X-Auth-Key. A redirect to http:// or to
another host would hand the key to whoever answers there. Real HTTP(S) servers on loopback:
the API's address redirects, the target records what reaches it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from unit_helpers import Reply, Request, http_server, load_map, loopback_tls, value

from certbot_dns_autopilot.cli.acmedns import register
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import retry
from certbot_dns_autopilot.writers.acmedns import AcmeDnsWriter
from certbot_dns_autopilot.writers.cloudflare import CloudflareWriter

PASSWORD = "pW-0123456789abcdefghijklmnopqrstuvwxyzAB"[:40]
FULL = "d420c923-bbd7-4056-ab64-c3ca54c9b3cf.auth.acme-dns.io"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"  # 37 hex digits, as Cloudflare's are
#: where the redirect points: plain http on this host, or another host (127.0.0.2)
TARGETS = {"to-http": ("127.0.0.1", False), "to-another-host": ("127.0.0.2", True)}


def target_answer(request: Request) -> Reply:
    return 200, {"Content-Type": "application/json"}, b'{"txt": "x", "success": true}'


def redirecting(location: str, status: int) -> object:
    def answer(request: Request) -> Reply:
        return status, {"Location": location + request[1]}, b""
    return answer


def attempt(call: object) -> AutopilotError | None:
    """The error ``call`` raised (None when it returned): asserted after what the redirect's
    target received, which is what matters most."""
    try:
        call()  # type: ignore[operator]
    except AutopilotError as exc:
        return exc
    return None


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The API's https:// address is trusted by requests and by httpx."""
    pem = loopback_tls(tmp_path / "loopback.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    return pem


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("where", TARGETS, ids=list(TARGETS))
def test_acme_dns_never_follows_a_redirect_with_its_key(tmp_path: Path, tls: Path,
                                                       where: str, status: int) -> None:
    host, over_tls = TARGETS[where]
    registrations = tmp_path / "acmedns.json"
    registrations.write_text(json.dumps({"example.com": {
        "username": "c36f50e8-4632-44f0-83fe-e070fef28a10", "password": PASSWORD,
        "fulldomain": FULL, "subdomain": FULL.split(".")[0], "allowfrom": []}}))
    registrations.chmod(0o600)
    with http_server(target_answer, host, tls if over_tls else None) as (target, reached), \
            http_server(redirecting(target, status), tls=tls) as (api, _):
        [writer] = load_map(tmp_path, {
            "dns_autopilot_acmedns_api_url": api,
            "dns_autopilot_acmedns_registration_file": str(registrations)}).writers
        assert isinstance(writer, AcmeDnsWriter)
        writer.policy = retry.Policy(attempts=1, base=0.0, cap=0.0)
        caught = attempt(lambda: writer.add("", {FULL: {value("a value")}}, 60))
    assert not [r for r in reached if PASSWORD in json.dumps(r[2])], "the key was sent on"
    assert reached == []
    assert caught and caught.code == "bad-config" and "redirect" in caught.problem
    assert f"{target}/update" in caught.problem and PASSWORD not in str(caught)


@pytest.mark.parametrize("where", TARGETS, ids=list(TARGETS))
def test_acme_dns_register_never_follows_a_redirect(tmp_path: Path, tls: Path,
                                                    where: str) -> None:
    """The answer to /register holds the new password: it must come from the API asked."""
    host, over_tls = TARGETS[where]
    with http_server(target_answer, host, tls if over_tls else None) as (target, reached), \
            http_server(redirecting(target, 307), tls=tls) as (api, _):
        caught = attempt(lambda: register(api, str(tmp_path / "r.json"), ["example.com"], [],
                                          say=lambda _: None))
    assert reached == []
    assert caught and "redirect" in caught.problem and f"{target}/register" in caught.problem


@pytest.mark.parametrize("where", TARGETS, ids=list(TARGETS))
def test_cloudflare_never_follows_a_redirect_with_the_global_api_key(tls: Path,
                                                                      where: str) -> None:
    host, over_tls = TARGETS[where]
    with http_server(target_answer, host, tls if over_tls else None) as (target, reached), \
            http_server(redirecting(target, 301), tls=tls) as (api, _):
        writer = CloudflareWriter(email="ops@example.com", api_key=GLOBAL_KEY,
                                  url=f"{api}/client/v4")
        writer.policy = retry.Policy(attempts=1, base=0.0, cap=0.0)
        caught = attempt(lambda: writer.find_zone("_acme-challenge.example.com"))
    assert not [r for r in reached if GLOBAL_KEY in json.dumps(r[2])], "the key was sent on"
    assert reached == []
    assert caught and caught.code == "bad-config" and "redirect" in caught.problem
    assert f"{target}/client/v4/zones" in caught.problem and GLOBAL_KEY not in str(caught)
