"""Property tests of everything that reads user input: names, INI values, the whole
credentials file. Each reader either returns a value or raises its one documented error."""

from __future__ import annotations

import os
import re
import string
import tempfile

import dns.exception
from certbot import errors
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from certbot_dns_autopilot import credentials, dnsio, names
from certbot_dns_autopilot.options import parse_bool
from certbot_dns_autopilot.plan import aliases
from certbot_dns_autopilot.resolvers import parse as parse_resolvers

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Text that looks like names: label characters, dots, wildcards and the usual mistakes.
NAME_CHARS = string.ascii_letters + string.digits + "-_.*" + " {}\\@/:,üßİÉ\u00a0\u200b"
label = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=70)
name_like = st.one_of(
    st.text(alphabet=NAME_CHARS, max_size=80),
    st.lists(label, min_size=1, max_size=6).map(".".join),
    st.lists(st.text(alphabet="abcü-", min_size=1, max_size=64), min_size=1, max_size=6)
    .map(".".join),
    st.text(max_size=40),
)
ascii_name = st.lists(label, min_size=1, max_size=5).map(".".join)
VALID = re.compile(r"(\*\.)?[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")


def normalized_or_error(text: str) -> str | None:
    """normalize's one contract: a valid name, or InvalidName quoting the text."""
    try:
        result = names.normalize(text)
    except names.InvalidName as exc:
        assert isinstance(exc, dns.exception.DNSException) and isinstance(exc, ValueError)
        assert repr(text.strip()) in str(exc)
        return None
    assert VALID.fullmatch(result), result
    assert len(result) <= 253
    return result


# -- (a) names -------------------------------------------------------------------------

@FAST
@given(name_like)
def test_normalize_returns_a_valid_name_or_raises_invalid_name(text: str) -> None:
    normalized_or_error(text)


@FAST
@given(name_like)
def test_normalize_is_idempotent(text: str) -> None:
    result = normalized_or_error(text)
    if result is not None:
        assert names.normalize(result) == result


@FAST
@given(ascii_name)
def test_normalize_ignores_ascii_case(text: str) -> None:
    assert normalized_or_error(text.upper()) == normalized_or_error(text.lower())


@FAST
@given(name_like)
def test_normalize_strips_exactly_one_trailing_dot(text: str) -> None:
    text = text.strip()
    assume(not text.endswith("."))
    result = normalized_or_error(text)
    assert normalized_or_error(text + ".") == result
    if result is not None:
        assert normalized_or_error(text + "..") is None


@FAST
@given(name_like)
def test_a_wildcard_shares_its_base_names_validation_name(text: str) -> None:
    def validation(domain: str) -> str | None:
        try:
            return names.validation_name(domain)
        except names.InvalidName:
            return None
    assert validation("*." + text.strip()) == validation(text.strip())


# -- (b) single INI values and option strings ------------------------------------------

alias_like = st.one_of(
    st.text(max_size=120),
    st.text(alphabet=NAME_CHARS + "->{}", max_size=120),
    st.tuples(name_like, st.sampled_from(["->", "- >", "=>", "->->", ""]),
              st.one_of(name_like, name_like.map(lambda t: f"_acme-challenge.{{domain}}.{t}")))
    .map(lambda parts: f"{parts[0]} {parts[1]} {parts[2]}"),
)


@FAST
@given(st.one_of(alias_like, st.lists(alias_like, max_size=4)))
def test_aliases_parse_returns_aliases_or_raises_alias_syntax_error(value) -> None:
    try:
        found = aliases.parse(value)
    except aliases.AliasSyntaxError as exc:
        assert aliases.KEY in str(exc) and exc.fix
        return
    for alias in found:
        assert names.normalize(alias.pattern) == alias.pattern
        sample = "www." + alias.pattern.removeprefix("*.")
        assert alias.matches(sample) == alias.pattern.startswith("*.")


server_like = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=string.hexdigits + ".:[]% +-_", max_size=50),
    st.tuples(st.ip_addresses().map(str), st.text(alphabet=string.digits + "+-_ ", max_size=7))
    .map(lambda p: f"{p[0]}:{p[1]}" if ":" not in p[0] else f"[{p[0]}]:{p[1]}"),
)


@FAST
@given(server_like)
def test_parse_server_returns_a_server_or_raises_value_error(text: str) -> None:
    try:
        server = dnsio.parse_server(text)
    except ValueError:
        return
    assert isinstance(server, dnsio.Server) and 0 < server.port < 65536
    # Only the documented spellings are accepted, and each reads back the same.
    address, port = server.address, server.port
    bracketed = f"[{address}]"
    spellings = {address, f"{address}:{port}", bracketed, f"{bracketed}:{port}"}
    assert re.sub(r":0+(?=\d+$)", ":", text.strip()) in spellings, text  # :053 is port 53
    canonical = f"{bracketed}:{port}" if ":" in address else f"{address}:{port}"
    assert dnsio.parse_server(canonical) == server


@FAST
@given(st.one_of(server_like, st.lists(server_like, max_size=4).map(",".join)))
def test_parse_resolvers_raises_only_plugin_error(text: str) -> None:
    try:
        servers = parse_resolvers(text)
    except errors.PluginError as exc:
        assert "--dns-autopilot-resolvers" in str(exc)
        return
    assert all(isinstance(s, dnsio.Server) for s in servers)


@FAST
@given(st.one_of(st.text(max_size=20), st.sampled_from(
    ["true", "FALSE", " yes", "no ", "On", "off", "1", "0", "2", "maybe"])))
def test_parse_bool_raises_only_value_error(text: str) -> None:
    try:
        assert parse_bool(text) in (True, False)
    except ValueError as exc:
        assert repr(text) in str(exc)


# -- (c) the whole credentials file -----------------------------------------------------

SECRET_KEYS = ["dns_autopilot_rfc2136_secret", "dns_autopilot_cloudflare_api_token",
               "dns_autopilot_cloudflare_api_key", "dns_autopilot_route53_secret_access_key",
               "dns_autopilot_azure_client_secret", "dns_autopilot_lexicon_auth_token"]
KEYS = [
    "dns_autopilot_rfc2136_server", "dns_autopilot_rfc2136_port", "dns_autopilot_rfc2136_name",
    "dns_autopilot_rfc2136_algorithm", "dns_autopilot_zones", "dns_autopilot_aliases",
    "dns_autopilot_cloudflare_email", "dns_autopilot_cloudflare_api_url",
    "dns_autopilot_route53_access_key_id", "dns_autopilot_route53_region",
    "dns_autopilot_azure_subscription_id", "dns_autopilot_azure_resource_group",
    "dns_autopilot_azure_tenant_id", "dns_autopilot_azure_client_id",
    "dns_autopilot_lexicon_provider", "dns_autopilot_godaddy_key", "dns_rfc2136_server",
]
MARK = "S3CR3T"  # every secret carries it, and no other value may
SECRET_VALUE = st.text(alphabet=string.ascii_letters + string.digits + "+/=_-", min_size=18,
                       max_size=34).map(lambda t: MARK + t)
VALUES = st.one_of(
    st.sampled_from(["192.0.2.1", "[2001:db8::1]:53", "53", "70000", "acme-key", "hmac-sha256",
                     "HMAC-SHA999", "example.com", "Bücher.Example., *.example.com",
                     "example.com -> _acme-challenge.{domain}.acme.example.org", "ddns",
                     "00000000-0000-0000-0000-000000000001", "us-east-1", '"quoted', "a, b",
                     "'single'", "", "x" * 70]),
    st.text(max_size=30),
)
line = st.one_of(
    st.tuples(st.sampled_from(KEYS), VALUES).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.sampled_from(["[section]", "[other", "more]", "[[nested]]", "# comment", "",
                     "no equals sign", "= value without key", "dns_autopilot_zones"]),
    st.text(max_size=40).map(lambda t: t.replace("\n", " ")),
)


def ini(lines: list[str], secrets: list[tuple[str, str]], positions: list[int]) -> str:
    """The lines with each secret inserted as a key's value (or, key "", pasted alone)."""
    out = list(lines)
    for (key, value), at in zip(secrets, positions, strict=False):
        out.insert(at % (len(out) + 1), f"{key} = {value}" if key else value)
    return "\n".join(out) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, max_size=12),
       st.lists(st.tuples(st.sampled_from([*SECRET_KEYS, ""]), SECRET_VALUE), max_size=3),
       st.lists(st.integers(0, 20), min_size=3, max_size=3),
       st.sampled_from([b"", b"\xff\xfe", b"\0"]))
def test_the_credentials_loader_raises_only_plugin_errors_and_never_a_secret(
        lines: list[str], secrets: list[tuple[str, str]], positions: list[int],
        garbage: bytes) -> None:
    assume(MARK not in "".join(lines))
    text = ini(lines, secrets, positions)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "credentials.ini")
        with open(path, "wb") as handle:
            handle.write(text.encode("utf-8", "surrogatepass") + garbage)
        os.chmod(path, 0o600)
        try:
            credentials.load(path)
        except errors.PluginError as exc:
            message = str(exc)
            for _, value in secrets:
                assert value not in message, message


# -- DNS data from servers: whatever the bytes, reading them never raises and showing them
# never lets a control character through ----------------------------------------------------

txt_strings = st.lists(st.binary(max_size=255), min_size=1, max_size=4)
odd_label = st.binary(min_size=1, max_size=20)


def _printable_lines(text: str) -> bool:
    return all(line.isprintable() for line in text.split("\n"))


@FAST
@given(values=st.lists(txt_strings, min_size=1, max_size=4), target=st.lists(
    odd_label, min_size=1, max_size=3))
def test_any_answer_reads_and_shows_without_control_characters(
        values: list[list[bytes]], target: list[bytes]) -> None:
    import dns.message
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset
    from dns.rdtypes.ANY.CNAME import CNAME
    from dns.rdtypes.ANY.TXT import TXT

    from certbot_dns_autopilot.errors import AutopilotError
    from certbot_dns_autopilot.preflight.findings import WARNING, Finding

    qname = dns.name.from_text("_acme-challenge.example.com.")
    query = dns.message.make_query(qname, "TXT")
    response = dns.message.make_response(query)
    txt = dns.rrset.RRset(qname, dns.rdataclass.IN, dns.rdatatype.TXT)
    for strings in values:
        txt.add(TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings))
    cname = dns.rrset.RRset(qname, dns.rdataclass.IN, dns.rdatatype.CNAME)
    cname.add(CNAME(dns.rdataclass.IN, dns.rdatatype.CNAME,
                    dns.name.Name([*target, b"example", b"net", b""])))
    response.answer += [txt, cname]
    answer = dnsio.ask(dnsio.Server("192.0.2.1"), str(qname), "TXT",
                       exchange=lambda server, request, timeout: response)
    shown_text = answer.describe()
    assert shown_text.isprintable()
    finding = Finding("stale-record", WARNING, "example.com", f"{answer.cname} serves it",
                      f"ns1: {shown_text}\n" + "\n".join(sorted(answer.values)), "remove it")
    assert _printable_lines(finding.text())
    error = AutopilotError("stale-record", f"{sorted(answer.values)}", "fix",
                           evidence="\n".join(answer.values))
    assert _printable_lines(str(error))
