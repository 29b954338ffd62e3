"""The credentials file as a root-run program must read it: values verbatim (no configobj
interpolation), and no API endpoint that would carry a credential in clear text."""

from __future__ import annotations

from pathlib import Path

import pytest
from certbot import errors

from certbot_dns_autopilot import credentials
from certbot_dns_autopilot.errors import AutopilotError

KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "credentials.ini"
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize("secret", ["wJalrXUtnFEMI/K7MD%(home)sENG/bPxRfiCY",
                                    "wJalrXUtnFEMI/K7MD$HOME/bPxRfiCYEXAMPLE",
                                    "wJalrXUtnFEMI/K7MD%(bPxRfiCYEXAMPLEKEY"],
                         ids=["named-reference", "template-reference", "unclosed"])
def test_a_secret_holding_interpolation_syntax_is_read_verbatim(tmp_path: Path,
                                                               secret: str) -> None:
    path = write(tmp_path, f"dns_autopilot_route53_access_key_id = {KEY_ID}\n"
                           f"dns_autopilot_route53_secret_access_key = {secret}\n")
    _, writers, _ = credentials.load(path)
    [writer] = writers.writers
    assert writer._session_factory().get_credentials().secret_key == secret


def test_a_value_with_a_comma_or_a_hash_is_read_verbatim_when_quoted(tmp_path: Path) -> None:
    secret = "wJalrXUtnFEMI/K7,MD#bPxRfiCYEXAMPLE"
    path = write(tmp_path, f"dns_autopilot_route53_access_key_id = {KEY_ID}\n"
                           f'dns_autopilot_route53_secret_access_key = "{secret}"\n')
    _, writers, _ = credentials.load(path)
    [writer] = writers.writers
    assert writer._session_factory().get_credentials().secret_key == secret


@pytest.mark.parametrize("key,url,allowed", [
    ("cloudflare_api_url", "http://api.example.net/client/v4", False),
    ("cloudflare_api_url", "http://127.0.0.1:8080/client/v4", True),
    ("cloudflare_api_url", "http://[::1]:8080/client/v4", True),
    ("cloudflare_api_url", "http://localhost:8080/client/v4", True),
    ("cloudflare_api_url", "https://api.example.net/client/v4", True),
    ("route53_endpoint_url", "http://route53.example.net", False),
    ("route53_sts_endpoint_url", "http://10.0.0.5:4566", False),
    ("route53_endpoint_url", "http://127.0.0.1:4566", True),
])
def test_an_http_endpoint_is_refused_except_on_loopback(tmp_path: Path, key: str, url: str,
                                                        allowed: bool) -> None:
    creds = ("dns_autopilot_cloudflare_api_token = Zx9-tokenThatMustNeverBePrinted_0123456\n"
             if key.startswith("cloudflare") else
             f"dns_autopilot_route53_access_key_id = {KEY_ID}\n"
             "dns_autopilot_route53_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY\n")
    path = write(tmp_path, creds + f"dns_autopilot_{key} = {url}\n")
    if allowed:
        credentials.load(path)
        return
    with pytest.raises(errors.PluginError) as caught:
        credentials.load(path)
    assert isinstance(caught.value, AutopilotError)
    assert "clear text" in caught.value.problem and "https://" in caught.value.fix
