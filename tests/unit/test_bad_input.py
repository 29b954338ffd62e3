"""Every input a user controls, as a table: one clear PluginError naming the key or value
and the fix, never a traceback, never a secret; names the user may spell in several ways
(IDN, upper case, a trailing dot) are accepted and normalized."""

from __future__ import annotations

import argparse
import functools
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import dns.query
import pytest
from certbot import errors
from unit_helpers import DNSWorld

from certbot_dns_autopilot import credentials, dnsio, names
from certbot_dns_autopilot.dnsio import Server
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.options import parse_bool
from certbot_dns_autopilot.plan import aliases
from certbot_dns_autopilot.plan.aliases import Alias
from certbot_dns_autopilot.plugin.authenticator import Authenticator
from certbot_dns_autopilot.resolvers import parse as parse_resolvers

SECRET = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"  # TSIG secret (base64)
TOKEN = "Tok3n-that-must-never-be-printed_0123456789"     # API tokens, client secrets
SECRETS = (SECRET, TOKEN)
RFC2136 = ("dns_autopilot_rfc2136_server = 192.0.2.1\n"
           "dns_autopilot_rfc2136_name = acme-key\n"
           f"dns_autopilot_rfc2136_secret = {SECRET}\n")
AZURE = ("dns_autopilot_azure_subscription_id = 00000000-0000-0000-0000-000000000001\n"
         "dns_autopilot_azure_resource_group = dns-rg\n")
GUID = "00000000-0000-0000-0000-000000000002"
LONG_NAME = ".".join(["a" * 63] * 4)  # 4 * 64 = 256 octets with the root: too long
LABEL_64 = "a" * 64


def write(tmp_path: Path, text: str | bytes, name: str = "credentials.ini") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class Bad:
    """A credentials file, the words its error must hold, and a phrase of its fix."""

    text: str | bytes
    named: tuple[str, ...]
    fix: str


def case(id_: str, text: str | bytes, named: tuple[str, ...] | str, fix: str) -> object:
    named = (named,) if isinstance(named, str) else named
    return pytest.param(Bad(text, named, fix), id=id_)


FILES = [
    # -- the INI syntax itself ---------------------------------------------------------
    case("an unbalanced quote in the secret's value (the line holds the secret)",
         RFC2136.replace(f"= {SECRET}", f'= "{SECRET}'),
         ("line 3", "dns_autopilot_rfc2136_secret"), "matching quotes"),
    case("an unbalanced quote in the first value",
         RFC2136.replace("= 192.0.2.1", '= "192.0.2.1'),
         ("line 1", "dns_autopilot_rfc2136_server"), "without quotes"),
    case("a key given twice", RFC2136 + f"dns_autopilot_rfc2136_secret = {SECRET}x\n",
         ("line 4", "dns_autopilot_rfc2136_secret", "twice"), "keep one"),
    case("a section given twice",
         RFC2136 + "[a]\ndns_autopilot_zones = a.example\n[a]\n", ("[a]", "twice"),
         "merge the two sections"),
    case("a section header without its closing bracket",
         RFC2136 + "[acme-delegation\ndns_autopilot_zones = acme.example.org\n",
         ("line 4", "[acme-delegation"), "[name]"),
    case("a section header without its opening bracket",
         RFC2136 + "acme-delegation]\n", ("line 4", "acme-delegation]"), "[name]"),
    case("a nested section header", RFC2136 + "[a]\ndns_autopilot_zones = a.example\n[[b]]\n",
         "[[b]]", "top-level [section]"),
    case("a pasted secret on a line of its own", RFC2136 + f"{TOKEN}\n",
         ("line 4", "neither `key = value`"), "one `key = value` per line"),
    case("binary garbage", bytes(range(128, 256)) * 3, ("not UTF-8", "line 1"),
         "plain UTF-8 text"),
    case("a NUL byte", RFC2136.encode() + b"\0\0\0\n", ("NUL", "line 4"), "one `key = value`"),
    case("an empty file", "", "configures no record writer", "dns_autopilot_rfc2136_server"),
    case("comments only", "# dns_autopilot_rfc2136_server = 192.0.2.1\n",
         "configures no record writer", "add the keys of a writer"),
    # -- keys that are not ours --------------------------------------------------------
    case("an unknown writer prefix", f"dns_autopilot_godaddy_key = {TOKEN}\n",
         "dns_autopilot_godaddy_key", "dns_autopilot_lexicon_provider = godaddy"),
    case("an unknown writer prefix next to a good writer",
         RFC2136 + f"dns_autopilot_ovh_secret = {TOKEN}\n", "dns_autopilot_ovh_secret",
         "dns_autopilot_lexicon_provider = ovh"),
    case("an option of the command line put in the file",
         RFC2136 + "dns_autopilot_propagation_timeout = 600\n",
         "dns_autopilot_propagation_timeout", "dns_autopilot_<writer>_<key>"),
    case("certbot-dns-rfc2136's key names, not migrated",
         RFC2136.replace("dns_autopilot_", "dns_"), "dns_rfc2136_server",
         "rename it to dns_autopilot_rfc2136_server"),
    case("certbot-dns-cloudflare's key in a section of its own",
         RFC2136 + f"[cf]\ndns_autopilot_zones = a.example\ndns_cloudflare_api_token = {TOKEN}\n",
         ("[cf]", "dns_cloudflare_api_token"), "dns_autopilot_cloudflare_api_token"),
    case("aliases inside a section (read at the top only)",
         RFC2136 + "[a]\ndns_autopilot_zones = a.example\n" + RFC2136
         + "dns_autopilot_aliases = a.example -> _acme-challenge.a.example.b.example\n",
         ("[a]", "dns_autopilot_aliases"), "above the first [section]"),
    case("a section without a writer", RFC2136 + "[a]\ndns_autopilot_zones = a.example\n",
         "[a]", "the keys of one writer"),
    # -- each writer kind, a key missing ----------------------------------------------
    *[case(f"rfc2136 without {key}", "".join(line + "\n" for line in RFC2136.splitlines()
                                             if not line.startswith(key)),
           key, "should be")
      for key in ("dns_autopilot_rfc2136_server", "dns_autopilot_rfc2136_name",
                  "dns_autopilot_rfc2136_secret")],
    case("rfc2136 with an empty secret", RFC2136.replace(SECRET, ""),
         "dns_autopilot_rfc2136_secret", "should be"),
    case("cloudflare without any credential",
         "dns_autopilot_cloudflare_api_url = https://api.cloudflare.com/client/v4\n",
         "dns_autopilot_cloudflare_api_token", "Create Token"),
    case("cloudflare e-mail without the key", "dns_autopilot_cloudflare_email = a@example.com\n",
         "dns_autopilot_cloudflare_api_key", "add dns_autopilot_cloudflare_api_key"),
    case("cloudflare key without the e-mail", f"dns_autopilot_cloudflare_api_key = {TOKEN}\n",
         "dns_autopilot_cloudflare_email", "add dns_autopilot_cloudflare_email"),
    case("cloudflare token with a misspelt key next to it",
         f"dns_autopilot_cloudflare_api_token = {TOKEN}\ndns_autopilot_cloudflare_apiurl = x\n",
         "dns_autopilot_cloudflare_apiurl", "use only"),
    case("route53 key id without its secret",
         "dns_autopilot_route53_access_key_id = AKIAAAAAAAAAAAAAAAAA\n",
         "dns_autopilot_route53_secret_access_key", "set both keys"),
    case("route53 secret without its key id",
         f"dns_autopilot_route53_secret_access_key = {TOKEN}\n",
         "dns_autopilot_route53_access_key_id", "set both keys"),
    case("route53 session token without a key pair",
         f"dns_autopilot_route53_session_token = {TOKEN}\n",
         "dns_autopilot_route53_session_token", "set dns_autopilot_route53_access_key_id"),
    case("azure without its resource group",
         "dns_autopilot_azure_subscription_id = 00000000-0000-0000-0000-000000000001\n",
         "dns_autopilot_azure_resource_group", "should be"),
    case("azure without a tenant", AZURE, "dns_autopilot_azure_tenant_id",
         "dns_autopilot_azure_use_managed_identity = true"),
    case("azure without a client id",
         AZURE + f"dns_autopilot_azure_tenant_id = {GUID}\n"
         f"dns_autopilot_azure_client_secret = {TOKEN}\n",
         "dns_autopilot_azure_client_id", "appId"),
    case("azure without a client secret or certificate",
         AZURE + f"dns_autopilot_azure_tenant_id = {GUID}\n"
         f"dns_autopilot_azure_client_id = {GUID}\n",
         "dns_autopilot_azure_client_secret", "set exactly one"),
    case("lexicon without its provider", f"dns_autopilot_lexicon_auth_token = {TOKEN}\n",
         "dns_autopilot_lexicon_provider", "lexicon's provider name"),
    case("lexicon without its zones",
         "dns_autopilot_lexicon_provider = cloudflare\n"
         f"dns_autopilot_lexicon_auth_token = {TOKEN}\n",
         "dns_autopilot_zones", "add dns_autopilot_zones"),
    case("lexicon with a misspelt provider",
         "dns_autopilot_lexicon_provider = godady\ndns_autopilot_zones = example.com\n"
         f"dns_autopilot_lexicon_auth_token = {TOKEN}\n", ("'godady'", "godaddy"),
         "lexicon's provider names"),
    # -- RFC 2136 values ---------------------------------------------------------------
    case("an unknown TSIG algorithm", RFC2136 + "dns_autopilot_rfc2136_algorithm = HMAC-SHA999\n",
         "dns_autopilot_rfc2136_algorithm", "use one of HMAC-MD5"),
    case("a secret that is not base64", RFC2136.replace(SECRET, SECRET[:-4] + "!!!="),
         "dns_autopilot_rfc2136_secret", "tsig-keygen"),
    case("a secret cut by a comma", RFC2136.replace(SECRET, SECRET[:9] + "," + SECRET[9:]),
         "dns_autopilot_rfc2136_secret", "tsig-keygen"),
    case("a host name for the server", RFC2136.replace("192.0.2.1", "ns1.example.com"),
         ("dns_autopilot_rfc2136_server", "ns1.example.com"), "a host name is not allowed"),
    case("an unclosed IPv6 bracket for the server", RFC2136.replace("192.0.2.1", "[2001:db8::1"),
         ("dns_autopilot_rfc2136_server", "[2001:db8::1"), "IPv4 or IPv6 address"),
    case("two servers", RFC2136.replace("192.0.2.1", "192.0.2.1, 192.0.2.2"),
         "dns_autopilot_rfc2136_server", "IPv4 or IPv6 address"),
    *[case(f"port {port}", RFC2136 + f"dns_autopilot_rfc2136_port = {port}\n",
           ("dns_autopilot_rfc2136_port", port), "a port number")
      for port in ("70000", "0", "-1", "fifty-three")],
    case("a key name that is a list", RFC2136.replace("acme-key", "acme-key, other"),
         "dns_autopilot_rfc2136_name", "the key's name"),
    # -- names in dns_autopilot_zones ----------------------------------------------------
    case("a zone with a 64-character label", RFC2136 + f"dns_autopilot_zones = {LABEL_64}.com\n",
         ("dns_autopilot_zones", LABEL_64, "63"), "list the zones as domain names"),
    case("a zone over 255 octets", RFC2136 + f"dns_autopilot_zones = {LONG_NAME}\n",
         ("dns_autopilot_zones", "255"), "list the zones as domain names"),
    case("a zone with an empty label", RFC2136 + "dns_autopilot_zones = a..example\n",
         ("dns_autopilot_zones", "a..example", "empty label"), "list the zones"),
    case("a zone with a space", RFC2136 + "dns_autopilot_zones = exa mple.com\n",
         ("dns_autopilot_zones", "exa mple.com"), "list the zones"),
    case("the root as a zone", RFC2136 + "dns_autopilot_zones = .\n",
         ("dns_autopilot_zones", "'.'"), "list the zones"),
    case("a wildcard zone", RFC2136 + "dns_autopilot_zones = *.example.com\n",
         ("dns_autopilot_zones", "*.example.com"), "list the zone itself (example.com)"),
    case("a bad zone in a section", RFC2136 + f"[a]\ndns_autopilot_zones = {LABEL_64}.x\n"
         + RFC2136, ("dns_autopilot_zones", "[a]", LABEL_64), "list the zones"),
]

ALIAS_KEY = "dns_autopilot_aliases"
ALIASES = [
    ("a pattern with a '*' inside", "a.*.example.com -> x.acme.example.org", "'a.*.example.com'",
     "*.example.com"),
    ("a pattern '**.x'", "**.x -> x.acme.example.org", "'**.x'", "*.example.com"),
    ("a pattern '*'", "* -> x.acme.example.org", "'*'", "*.example.com"),
    ("a wildcard target", "example.com -> *.acme.example.org", "'*.acme.example.org'",
     "name one target"),
    ("an alias to its own origin", "example.com -> _acme-challenge.example.com",
     "_acme-challenge.example.com at itself", "remove the alias"),
    ("an alias to its own origin, upper case and a trailing dot",
     "Example.COM -> _ACME-Challenge.example.com.", "at itself", "remove the alias"),
    ("a wildcard alias to its own origin", "*.example.com -> _acme-challenge.{domain}",
     "_acme-challenge.{domain} at itself", "remove the alias"),
    ("an alias to the domain itself", "example.com -> example.com", "at the domain itself",
     "is a CNAME to"),
    ("{domain} mis-spelt", "*.example.com -> _acme-challenge.{domian}.acme.example.org",
     "'{domian}'", "write {domain} exactly"),
    ("{domain} in capitals", "*.example.com -> _acme-challenge.{DOMAIN}.acme.example.org",
     "'{DOMAIN}'", "write {domain} exactly"),
    ("{domain} not closed", "*.example.com -> _acme-challenge.{domain.acme.example.org",
     "'{domain.acme.example.org'", "write {domain} exactly"),
    ("no arrow", "example.com _acme-challenge.example.com.acme.example.org",
     "is not 'DOMAIN -> TARGET'", "write each alias as 'DOMAIN -> TARGET'"),
    ("two arrows", "example.com -> a.example.org -> b.example.org",
     "is not 'DOMAIN -> TARGET'", "write each alias as 'DOMAIN -> TARGET'"),
    ("no target", "example.com ->", "is not 'DOMAIN -> TARGET'", "separated by commas"),
    ("a 64-character label in the pattern", f"{LABEL_64}.com -> x.acme.example.org",
     "63 octets", "write the pattern as a domain name"),
    ("a 64-character label in the target", f"example.com -> {LABEL_64}.example.org",
     "63 octets", "write the target as a domain name"),
    ("a target over 255 octets", f"example.com -> {LONG_NAME}", "255 octets",
     "write the target as a domain name"),
    ("a target over 255 octets once {domain} is filled in",
     f"*.{'c' * 50}.example.com -> {'.'.join(['b' * 63] * 3)}.{{domain}}",
     "once {domain} is replaced",
     "shorten the target"),
    ("one pattern twice", "example.com -> a.example.org, example.com -> b.example.org",
     "two aliases", "keep one alias"),
]
FILES += [case(f"alias: {id_}", RFC2136 + f"{ALIAS_KEY} = {value}\n", (ALIAS_KEY, named), fix)
          for id_, value, named, fix in ALIASES]


@pytest.mark.parametrize("bad", FILES)
def test_a_bad_credentials_file_gives_one_clear_error(tmp_path: Path, bad: Bad) -> None:
    path = write(tmp_path, bad.text)
    with pytest.raises(errors.PluginError) as caught:
        credentials.load(str(path))
    message = str(caught.value)
    for word in bad.named:
        assert word in message, f"{word!r} not named in: {message}"
    assert bad.fix in message, f"no fix ({bad.fix!r}) in: {message}"
    for secret in SECRETS:
        assert secret not in message
        assert secret[:16] not in message


def test_a_missing_or_unreadable_file_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(AutopilotError, match="does not exist\nFix: create it") as caught:
        credentials.load(str(tmp_path / "missing.ini"))
    assert caught.value.code == "bad-config"
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)
    with pytest.raises(AutopilotError, match="not a regular file\nFix") as caught:
        credentials.load(str(folder))
    assert caught.value.code == "bad-config"


# -- accepted and normalized ---------------------------------------------------------

@pytest.mark.parametrize("zones, expected", [
    ("Bücher.Example., EXAMPLE.com.", ("xn--bcher-kva.example", "example.com")),
    ("  example.NET  ", ("example.net",)),
    ("xn--BCHER-kva.example", ("xn--bcher-kva.example",)),
    ('"example.org, example.net"', ("example.org", "example.net")),
], ids=["IDN, upper case and trailing dots", "spaces and upper case",
        "an upper-case A-label", "a quoted list"])
def test_zones_in_any_spelling_are_accepted_and_normalized(
        tmp_path: Path, zones: str, expected: tuple[str, ...]) -> None:
    _, writers, _ = credentials.load(str(write(tmp_path, RFC2136 + f"dns_autopilot_zones = "
                                               f"{zones}\n")))
    [(_, listed)] = writers.entries
    assert listed == expected


@pytest.mark.parametrize("value, expected", [
    ("*.Bücher.Example. -> _ACME-Challenge.{domain}.Acme.Example.ORG.",
     [Alias("*.xn--bcher-kva.example", "_acme-challenge.{domain}.acme.example.org")]),
    ("EXAMPLE.com. -> _acme-challenge.example.com.acme.example.org.",
     [Alias("example.com", "_acme-challenge.example.com.acme.example.org")]),
    ("bücher.example -> _acme-challenge.bücher.example.acme.example.org, "
     "*.example.net -> {domain}.acme.example.org",
     [Alias("xn--bcher-kva.example", "_acme-challenge.xn--bcher-kva.example.acme.example.org"),
      Alias("*.example.net", "{domain}.acme.example.org")]),
], ids=["IDN wildcard, upper case, trailing dots", "upper case and trailing dots",
        "two aliases, IDN in the target"])
def test_aliases_in_any_spelling_are_accepted_and_normalized(
        tmp_path: Path, value: str, expected: list[Alias]) -> None:
    path = write(tmp_path, RFC2136 + f"{ALIAS_KEY} = {value}\n")
    _, _, found = credentials.load(str(path))
    assert found == expected


def test_a_normalized_alias_still_matches_and_fills_in_domain() -> None:
    [alias] = aliases.parse("*.Bücher.Example. -> _ACME-challenge.{domain}.ACME.example.org")
    assert alias.matches("WWW.bücher.example.")
    assert alias.target_for("*.Www.Bücher.Example") == (
        "_acme-challenge.www.xn--bcher-kva.example.acme.example.org")


def test_a_target_too_long_for_one_long_domain_is_one_clear_error() -> None:
    [alias] = aliases.parse(f"*.example.com -> {'b' * 60}.{'c' * 60}.{{domain}}")
    domain = ".".join(["d" * 60] * 2) + ".example.com"
    with pytest.raises(errors.PluginError) as caught:
        alias.target_for(domain)
    assert "[cname-alias]" in str(caught.value) and domain in str(caught.value)
    assert "give " + domain + " its own alias" in str(caught.value)


# -- names as the CA's domains -------------------------------------------------------

@pytest.mark.parametrize("text, fragment", [
    (f"{LABEL_64}.example.com", "63 octets"),
    (LONG_NAME, "255 octets"),
    ("a..example.com", "empty label"),
    ("", "empty"),
    (".", "empty"),
    ("exa mple.com", "' '"),
    ("a.*.example.com", "'*' is not allowed except as the whole first label"),
    ("**.x", "'*'"),
    ("a\\.b.example.com", "'.'"),
    ("{domain}.example.com", "'{'"),
    ("*", "a wildcard needs the name it covers"),
], ids=["a 64-character label", "over 255 octets", "an empty label", "empty", "the root",
        "a space", "a '*' inside", "'**'", "an escaped dot", "a brace", "a lone '*'"])
def test_a_bad_name_is_one_invalid_name_error_quoting_it(text: str, fragment: str) -> None:
    with pytest.raises(names.InvalidName) as caught:
        names.normalize(text)
    assert repr(text.strip()) in str(caught.value) and fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("text, expected", [
    ("Bücher.Example.", "xn--bcher-kva.example"),
    ("WWW.Example.COM.", "www.example.com"),
    ("  _acme-challenge.example.com  ", "_acme-challenge.example.com"),
    ("*.Example.com", "*.example.com"),
], ids=["IDN with a trailing dot", "upper case", "surrounding spaces", "a wildcard owner"])
def test_names_in_any_spelling_are_normalized(text: str, expected: str) -> None:
    assert names.normalize(text) == expected


@pytest.mark.parametrize("domain, fragment", [
    ("*", "a wildcard needs the name it covers"), ("*.*.example.com", "'*'"),
    ("a.*.example.com", "'*'"), ("*.", "empty"), ("", "empty")])
def test_a_malformed_domain_has_no_validation_name(domain: str, fragment: str) -> None:
    with pytest.raises(names.InvalidName, match=re.escape(fragment)):
        names.validation_name(domain)


# -- command-line options ------------------------------------------------------------

@pytest.mark.parametrize("text, item", [
    ("dns.google", "dns.google"),
    ("1.2.3", "1.2.3"),
    ("[::1", "[::1"),
    ("1.2.3.4:99999", "1.2.3.4:99999"),
    ("1.2.3.4:", "1.2.3.4:"),
    ("1.2.3.4:+53", "1.2.3.4:+53"),
    ("[::1]:", "[::1]:"),
    ("9.9.9.9, dns.quad9.net", "dns.quad9.net"),
], ids=["a host name", "three octets", "an unclosed bracket", "a port out of range",
        "an empty port", "a signed port", "an empty IPv6 port", "one bad item of two"])
def test_a_resolver_that_is_not_an_address_is_named(text: str, item: str) -> None:
    with pytest.raises(errors.PluginError) as caught:
        parse_resolvers(text)
    assert "--dns-autopilot-resolvers" in str(caught.value)
    assert repr(item) in str(caught.value)
    assert "give recursive resolvers as IP, IP:PORT, [IPv6]:PORT or https://host[:port]/path " \
        "(DNS over HTTPS)" in caught.value.fix and caught.value.code == "bad-config"


@pytest.mark.parametrize("text, why", [
    ("http://192.0.2.53/dns-query", "only https:// URLs (DNS over HTTPS) are resolvers"),
    ("https:///dns-query", "names no host"),
    ("https://192.0.2.53:99999/dns-query", "has a port that is not a number in 1-65535"),
    ("https://192.0.2.53/dns-query?dns=x", "give the path only"),
], ids=["plain http", "no host", "a port out of range", "a query string"])
def test_a_doh_resolver_that_is_not_a_url_is_named(text: str, why: str) -> None:
    with pytest.raises(errors.PluginError) as caught:
        parse_resolvers(text)
    assert why in str(caught.value) and "https://host[:port]/path" in str(caught.value)


def test_doh_resolvers_are_read_beside_plain_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns.query, "have_doh", True)  # parsing alone; the client is not used
    doh, plain, named = parse_resolvers("https://192.0.2.53/dns-query, 9.9.9.9, "
                                        "https://dns.example:8443")
    assert doh == Server("192.0.2.53", 443, url="https://192.0.2.53/dns-query")
    assert plain == Server("9.9.9.9")
    assert named == Server("dns.example", 8443, url="https://dns.example:8443/dns-query")
    assert str(doh) == "https://192.0.2.53/dns-query"
    assert doh.dig("_acme-challenge.example.com", "TXT", recurse=True) == \
        "dig @192.0.2.53 +https=/dns-query _acme-challenge.example.com TXT"


def test_a_doh_resolver_without_the_http2_client_names_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns.query, "have_doh", False)  # the "doh" extra not installed
    with pytest.raises(errors.PluginError) as caught:
        parse_resolvers("9.9.9.9, https://192.0.2.53/dns-query")
    assert "pip install 'certbot-dns-autopilot[doh]'" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_empty_resolver_items_are_skipped() -> None:
    assert parse_resolvers(" , 9.9.9.9,,[2620:fe::fe]:53, ") == [
        Server("9.9.9.9"), Server("2620:fe::fe", 53)]
    assert parse_resolvers(",") == []  # nothing given: the system's resolvers


@pytest.mark.parametrize("text", ["maybe", "enabled", "tru", "2", "", "none"])
def test_a_yes_no_option_with_another_word_names_it(text: str) -> None:
    with pytest.raises(ValueError, match=f"{text!r} is not true or false"):
        parse_bool(text)


@pytest.mark.parametrize("text, expected", [("TRUE", True), (" yes ", True), ("On", True),
                                            ("1", True), ("False", False), ("no", False),
                                            ("OFF", False), ("0", False)])
def test_yes_no_options_accept_the_usual_spellings(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


def test_a_yes_no_option_on_the_command_line_names_the_fix(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dns-autopilot-preflight", type=parse_bool)
    with pytest.raises(SystemExit):
        parser.parse_args(["--dns-autopilot-preflight", "maybe"])
    assert "'maybe' is not true or false" in capsys.readouterr().err


def setup_with(tmp_path: Path, **options: object) -> tuple[Any, Any]:
    """The run set up from these options, its resolver answering (recorded answers)."""
    path = write(tmp_path, RFC2136)
    config = types.SimpleNamespace(**{
        "dns_autopilot_credentials": str(path), "dns_autopilot_resolvers": "192.0.2.53",
        "dns_autopilot_propagation_timeout": 300, "dns_autopilot_follow_cnames": True,
        "dns_autopilot_public_check": True, "dns_autopilot_address_family": "any",
        "dns_autopilot_authoritative_check": True, "logs_dir": str(tmp_path),
        **{f"dns_autopilot_{k}": v for k, v in options.items()}})
    world = DNSWorld(resolvers=("192.0.2.53",))
    with mock.patch.object(dnsio, "Recursive", functools.partial(dnsio.Recursive,
                                                                  exchange=world)):
        return Authenticator(config, "dns-autopilot").run._setup()


def test_good_options_set_up_a_run(tmp_path: Path) -> None:
    router, waiter = setup_with(tmp_path)
    assert (waiter.timeout, waiter.public_check, waiter.authoritative_check) == (300, True, True)
    assert router.follow_cnames and waiter.recursive.servers == [dnsio.Server("192.0.2.53")]


SETUP = [
    ("a negative propagation timeout", {"propagation_timeout": -1},
     "--dns-autopilot-propagation-timeout", "0 turns the wait off"),
    ("no credentials", {"credentials": ""}, "--dns-autopilot-credentials",
     "options.html#credentials-file-keys-common-to-every-writer"),
    ("a resolver host name", {"resolvers": "dns.google"}, "'dns.google'", "IP:PORT"),
    ("a propagation timeout that is not a number (renewal config)",
     {"propagation_timeout": "5m"}, "--dns-autopilot-propagation-timeout",
     "0 turns the wait off"),
    ("a fractional propagation timeout (renewal config)", {"propagation_timeout": "2.5"},
     "--dns-autopilot-propagation-timeout", "0 turns the wait off"),
    ("follow-cnames with another word (renewal config)", {"follow_cnames": "maybe"},
     "--dns-autopilot-follow-cnames", "true or false"),
    ("public-check with another word (renewal config)", {"public_check": "sometimes"},
     "--dns-autopilot-public-check", "true or false"),
    ("authoritative-check with another word (renewal config)",
     {"authoritative_check": "partly"}, "--dns-autopilot-authoritative-check", "true or false"),
    ("an address family that is none of the three (renewal config)",
     {"address_family": "inet6"}, "--dns-autopilot-address-family", "any, ipv4 or ipv6"),
]


@pytest.mark.parametrize("options, named, fix",
                         [pytest.param(options, named, fix, id=id_)
                          for id_, options, named, fix in SETUP])
def test_a_bad_option_gives_one_plugin_error(tmp_path: Path, options: dict[str, object],
                                             named: str, fix: str) -> None:
    with pytest.raises(errors.PluginError) as caught:
        setup_with(tmp_path, **options)
    assert named in str(caught.value) and fix in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_file_shared_with_certbot_dns_rfc2136_keeps_working(tmp_path: Path) -> None:
    shared = RFC2136 + RFC2136.replace("dns_autopilot_", "dns_")  # both plugins' keys
    _, writers, _ = credentials.load(str(write(tmp_path, shared)))
    assert len(writers.writers) == 1


@pytest.mark.parametrize("line", [f'{SECRET}= "x', f'{SECRET} = "x" y', f"{TOKEN}= 1\n{TOKEN}= 2"],
                         ids=["an unbalanced quote", "text after the quote", "a duplicate"])
def test_a_broken_line_of_pasted_secret_text_is_not_quoted(tmp_path: Path, line: str) -> None:
    with pytest.raises(errors.PluginError, match="line [45]") as caught:
        credentials.load(str(write(tmp_path, RFC2136 + line + "\n")))
    assert SECRET[:12] not in str(caught.value) and TOKEN[:12] not in str(caught.value)
    assert "Fix:" in str(caught.value)
