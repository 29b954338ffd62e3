"""The CA's error texts (Boulder's and Pebble's exact formats) read back into fields."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import dns.rcode
import pytest
from acme import messages
from hypothesis import given, settings
from hypothesis import strategies as st

from certbot_dns_autopilot.diagnose.ca_errors import KINDS, CaReading, read, read_error

URN = "urn:ietf:params:acme:error:"
NAME = "_acme-challenge.example.com"
VALUE = "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo"

# (id, typ, detail, expected fields): one row per real string form.
CASES: list[tuple[str, str | None, str, dict[str, Any]]] = [
    ("boulder-nxdomain", URN + "dns",
     f"DNS problem: NXDOMAIN looking up TXT for {NAME} - check that a DNS record exists for "
     "this domain",
     dict(typ="dns", kind="nxdomain", rcode="NXDOMAIN", qtype="TXT", qname=NAME)),
    ("boulder-servfail-txt", URN + "dns",
     f"DNS problem: SERVFAIL looking up TXT for {NAME} - the domain's nameservers may be "
     "malfunctioning",
     dict(kind="servfail", rcode="SERVFAIL", qtype="TXT", qname=NAME)),
    ("boulder-servfail-caa", URN + "dns",
     "DNS problem: SERVFAIL looking up CAA for www.example.com - the domain's nameservers may "
     "be malfunctioning",
     dict(kind="servfail", rcode="SERVFAIL", qtype="CAA", qname="www.example.com")),
    ("boulder-refused", "dns", f"DNS problem: REFUSED looking up TXT for {NAME}",
     dict(typ="dns", kind="refused", rcode="REFUSED", qtype="TXT", qname=NAME)),
    ("boulder-other-rcode", "dns", f"DNS problem: FORMERR looking up TXT for {NAME}",
     dict(kind="rcode", rcode="FORMERR", qtype="TXT", qname=NAME)),
    ("boulder-timeout", "dns", f"DNS problem: query timed out looking up TXT for {NAME}",
     dict(kind="timeout", rcode="", qtype="TXT", qname=NAME)),
    ("boulder-timeout-canceled", "dns",
     f"DNS problem: query timed out (and was canceled) looking up TXT for {NAME}",
     dict(kind="timeout", rcode="", qtype="TXT", qname=NAME)),
    ("boulder-networking-error", "dns", f"DNS problem: networking error looking up TXT for {NAME}",
     dict(kind="network", qtype="TXT", qname=NAME)),
    ("boulder-server-failure-at-resolver", "dns",
     f"DNS problem: server failure at resolver looking up TXT for {NAME}",
     dict(kind="servfail", rcode="", qtype="TXT", qname=NAME)),
    ("boulder-ede-dnssec-bogus", "dns",
     f"DNS problem: looking up TXT for {NAME}: DNSSEC: Bogus: validation failure "
     f"<{NAME}. TXT IN>: signature crypto failed from 192.0.2.53",
     dict(kind="dnssec", rcode="", qtype="TXT", qname=NAME,
          extended=f"DNSSEC: Bogus: validation failure <{NAME}. TXT IN>: signature crypto "
                   "failed from 192.0.2.53")),
    ("boulder-ede-signature-expired", "dns",
     f"DNS problem: looking up TXT for {NAME}: DNSSEC: Signature Expired",
     dict(kind="dnssec", qname=NAME, extended="DNSSEC: Signature Expired")),
    ("boulder-ede-dnskey-missing", "dns",
     "DNS problem: looking up CAA for example.com: DNSSEC: DNSKEY Missing",
     dict(kind="dnssec", qtype="CAA", qname="example.com", extended="DNSSEC: DNSKEY Missing")),
    ("boulder-ede-no-reachable-authority", "dns",
     f"DNS problem: looking up TXT for {NAME}: No Reachable Authority: at delegation "
     "example.com.",
     dict(kind="servfail", qtype="TXT", qname=NAME,
          extended="No Reachable Authority: at delegation example.com.")),
    ("boulder-no-txt", URN + "unauthorized", f"No TXT record found at {NAME}",
     dict(typ="unauthorized", kind="no-txt", qtype="TXT", qname=NAME, seen=())),
    ("boulder-incorrect-txt", URN + "unauthorized",
     f'Incorrect TXT record "{VALUE}" found at {NAME}',
     dict(kind="wrong-txt", qtype="TXT", qname=NAME, seen=(VALUE,), more=0,
          seen_truncated=False)),
    ("boulder-incorrect-txt-and-more", URN + "unauthorized",
     f'Incorrect TXT record "old-token-from-last-renewal" (and 2 more) found at {NAME}',
     dict(kind="wrong-txt", qname=NAME, seen=("old-token-from-last-renewal",), more=2)),
    ("boulder-incorrect-txt-truncated", URN + "unauthorized",
     'Incorrect TXT record "' + "v=spf1 " + "x" * 93 + '..." (and 1 more) found at '
     "_acme-challenge.www.example.org",
     dict(kind="wrong-txt", qname="_acme-challenge.www.example.org",
          seen=("v=spf1 " + "x" * 93,), seen_truncated=True, more=1)),
    ("boulder-incorrect-txt-go-escapes", URN + "unauthorized",
     f'Incorrect TXT record "\\"{VALUE}\\" \\t" found at {NAME}',
     dict(kind="wrong-txt", seen=(f'"{VALUE}" \t',), seen_truncated=False)),
    ("boulder-incorrect-txt-cname-name-kept", URN + "unauthorized",
     f'Incorrect TXT record "{VALUE}" found at _acme-challenge.Shop.Example.COM.',
     dict(kind="wrong-txt", qname="_acme-challenge.shop.example.com")),
    ("boulder-secondary-incorrect-txt", URN + "unauthorized",
     f'During secondary validation: Incorrect TXT record "{VALUE}" (and 1 more) found at {NAME}',
     dict(kind="wrong-txt", secondary=True, seen=(VALUE,), more=1, qname=NAME)),
    ("boulder-secondary-timeout", URN + "dns",
     f"During secondary validation: DNS problem: query timed out looking up TXT for {NAME}",
     dict(kind="timeout", secondary=True, qname=NAME)),
    ("boulder-caa-prevents", URN + "caa", "CAA record for example.com prevents issuance",
     dict(typ="caa", kind="caa", qtype="CAA", qname="example.com")),
    ("boulder-caa-while-processing", URN + "caa",
     "While processing CAA for www.example.com: CAA record for example.com prevents issuance",
     dict(kind="caa", qtype="CAA", qname="example.com")),
    ("boulder-rechecking-caa", URN + "caa",
     "rechecking caa: CAA record for example.com prevents issuance",
     dict(kind="caa", qtype="CAA", qname="example.com", secondary=False)),
    ("boulder-rechecking-caa-secondary-dns", URN + "caa",
     "rechecking caa: During secondary validation: While processing CAA for launches.sg: "
     "DNS problem: networking error looking up CAA for launches.sg",
     dict(kind="network", qtype="CAA", qname="launches.sg", secondary=True)),
    ("boulder-secondary-caa-checking", URN + "caa",
     "During secondary CAA checking: While processing CAA for example.net: CAA record for "
     "example.net prevents issuance",
     dict(kind="caa", qname="example.net", secondary=True)),
    ("boulder-rechecking-caa-unparsed-inner", URN + "caa",
     "rechecking caa: While processing CAA for example.com: some future wording",
     dict(kind="caa", qtype="CAA", qname="example.com")),
    ("pebble-correct-value-not-found", URN + "unauthorized",
     "Correct value not found for DNS challenge",
     dict(kind="wrong-txt", qtype="TXT", qname="", seen=(), more=0)),
    ("pebble-correct-value-not-found-ident", URN + "unauthorized",
     'Correct value not found for DNS challenge :"example.com"',
     dict(kind="wrong-txt", qtype="TXT", qname=NAME, seen=())),
    ("pebble-no-txt", URN + "unauthorized", "No TXT records found for DNS challenge",
     dict(kind="no-txt", qtype="TXT", qname="")),
    ("pebble-no-txt-ident", URN + "unauthorized",
     'No TXT records found for DNS challenge :"www.example.test"',
     dict(kind="no-txt", qname="_acme-challenge.www.example.test")),
    ("pebble-rcode-escape", URN + "unauthorized",
     'Error retrieving TXT records for DNS challenge ("DNS lookup for '
     '\\"_acme-challenge.example.test\\" returned an unsuccessful response: \'\\x03\'")',
     dict(kind="nxdomain", rcode="NXDOMAIN", qtype="TXT", qname="_acme-challenge.example.test")),
    ("pebble-rcode-double-escape", URN + "unauthorized",
     'Error retrieving TXT records for DNS challenge ("DNS lookup for '
     '\\"_acme-challenge.example.test\\" returned an unsuccessful response: \'\\\\x02\'")',
     dict(kind="servfail", rcode="SERVFAIL", qname="_acme-challenge.example.test")),
    ("pebble-rcode-raw-byte", URN + "unauthorized",
     'Error retrieving TXT records for DNS challenge ("DNS lookup for '
     '\\"_acme-challenge.example.test\\" returned an unsuccessful response: \'\x05\'")',
     dict(kind="refused", rcode="REFUSED", qname="_acme-challenge.example.test")),
    ("pebble-rcode-named-escape", URN + "unauthorized",
     'Error retrieving TXT records for DNS challenge ("DNS lookup for '
     '\\"_acme-challenge.example.test\\" returned an unsuccessful response: \'\\t\'")',
     dict(kind="rcode", rcode="NOTAUTH")),
    ("pebble-io-timeout", URN + "unauthorized",
     'Error retrieving TXT records for DNS challenge ("read udp 127.0.0.1:41000->'
     '127.0.0.53:53: i/o timeout")',
     dict(kind="timeout", qtype="TXT", qname="")),
    ("pebble-system-resolver-nxdomain", URN + "unauthorized",
     'Error retrieving TXT records for DNS challenge ("lookup _acme-challenge.example.test '
     'on 127.0.0.53:53: no such host")',
     dict(kind="nxdomain", rcode="NXDOMAIN", qname="_acme-challenge.example.test")),
    ("pebble-connection-refused", URN + "unauthorized",
     'Error retrieving TXT records for DNS challenge ("dial udp 127.0.0.2:53: connect: '
     'connection refused")',
     dict(kind="network")),
    ("rate-limited", URN + "rateLimited",
     "too many certificates (5) already issued for this exact set of identifiers in the last "
     "168h0m0s, retry after 2025-01-01 00:00:00 UTC",
     dict(typ="rateLimited", kind="unknown", qname="")),
    ("server-internal-secondary", URN + "serverInternal",
     "During secondary validation: Remote PerformValidation RPC failed",
     dict(typ="serverInternal", kind="unknown", secondary=True)),
    ("about-blank", "about:blank", "something odd", dict(typ="", kind="unknown")),
]


@pytest.mark.parametrize(("typ", "detail", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_real_form_is_read(typ: str | None, detail: str, expected: dict[str, Any]) -> None:
    reading = read(typ, detail)
    assert reading.detail == detail
    assert reading.kind in KINDS
    for field, value in expected.items():
        assert getattr(reading, field) == value, field
    assert reading.describe()


DESCRIBE_CASES = [
    ("nxdomain", f"DNS problem: NXDOMAIN looking up TXT for {NAME} - check that a DNS record "
     "exists for this domain", f"the CA got NXDOMAIN for {NAME} (TXT)"),
    ("wrong-txt-and-more", f'Incorrect TXT record "abc" (and 2 more) found at {NAME}',
     f'the CA found TXT "abc" and 2 more at {NAME}, not the expected value'),
    ("wrong-txt-long", f'Incorrect TXT record "{VALUE}" found at {NAME}',
     f'the CA found TXT "{VALUE[:20]}…" at {NAME}, not the expected value'),
    ("secondary", f"During secondary validation: No TXT record found at {NAME}",
     f"the CA found no TXT record at {NAME}, from a secondary vantage point"),
    ("dnssec", f"DNS problem: looking up TXT for {NAME}: DNSSEC: Bogus: extra words",
     f"the CA's resolver reported DNSSEC: Bogus for {NAME} (TXT)"),
    ("timeout", f"DNS problem: query timed out (and was canceled) looking up TXT for {NAME}",
     f"the CA's DNS query for {NAME} (TXT) timed out"),
    ("caa", "CAA record for example.com prevents issuance",
     "the CA's CAA check at example.com does not allow this CA to issue"),
    ("pebble-wrong", "Correct value not found for DNS challenge",
     "the CA found TXT at the validation name, but not the expected value"),
]


@pytest.mark.parametrize(("detail", "sentence"), [c[1:] for c in DESCRIBE_CASES],
                         ids=[c[0] for c in DESCRIBE_CASES])
def test_describe_says_what_the_ca_saw_in_one_line(detail: str, sentence: str) -> None:
    assert read("unauthorized", detail).describe() == sentence


def test_unknown_and_none_keep_the_type_and_text() -> None:
    assert read(URN + "rateLimited", None) == CaReading(typ="rateLimited")
    assert read(None, None) == CaReading()
    assert read(None, None).describe() == "the CA gave no details"
    assert read("connection", "weird").describe() == "the CA reported connection: weird"


def test_acme_error_is_read_through_its_fields() -> None:
    error = messages.Error(typ=URN + "dns",
                           detail=f"DNS problem: SERVFAIL looking up TXT for {NAME} - the "
                                  "domain's nameservers may be malfunctioning")
    reading = read_error(error)
    assert (reading.typ, reading.kind, reading.rcode, reading.qname) == (
        "dns", "servfail", "SERVFAIL", NAME)
    assert read_error(messages.Error.with_code("unauthorized", detail=f"No TXT record found at "
                                               f"{NAME}")).kind == "no-txt"


def test_subproblems_name_the_failing_identifier() -> None:
    error = messages.Error.from_json({
        "type": URN + "caa",
        "detail": 'Rechecking CAA for "a.example" and 1 more identifiers failed. Refer to '
                  "sub-problems for more information",
        "subproblems": [{"type": URN + "caa", "identifier": {"type": "dns", "value": "a.example"},
                         "detail": "CAA record for a.example prevents issuance"}]})
    reading = read_error(error)
    assert (reading.kind, reading.qname, reading.detail) == (
        "caa", "a.example", "CAA record for a.example prevents issuance")


def test_read_error_accepts_none_duck_types_and_broken_objects() -> None:
    class Duck:
        typ = "unauthorized"
        detail = "No TXT records found for DNS challenge"

    class Broken:
        @property
        def typ(self) -> str:
            raise RuntimeError("boom")

    assert read_error(None) == CaReading()
    assert read_error(Duck()).kind == "no-txt"
    assert read_error({"type": URN + "caa", "detail": "CAA record for x.test prevents issuance"}
                      ).qname == "x.test"
    assert read_error(Broken()).kind == "unknown"
    assert read_error(object()) == CaReading()


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=300)
@given(typ=st.one_of(st.none(), st.text(max_size=40)),
       detail=st.one_of(st.none(), st.text(max_size=300)))
def test_arbitrary_text_never_raises_and_keeps_the_detail(typ: str | None,
                                                           detail: str | None) -> None:
    reading = read(typ, detail)
    assert reading.detail == (detail or "")
    assert reading.kind in KINDS
    assert isinstance(reading.describe(), str)


@settings(max_examples=200)
@given(prefix=st.sampled_from(["", "DNS problem: ", "Incorrect TXT record \"", "During secondary "
                               "validation: ", "Error retrieving TXT records for DNS challenge (",
                               "rechecking caa: ", "CAA record for "]),
       tail=st.text(max_size=120))
def test_near_miss_text_never_raises(prefix: str, tail: str) -> None:
    reading = read("dns", prefix + tail)
    assert reading.detail == prefix + tail
    assert reading.kind in KINDS
    assert reading.describe()


LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,18}[a-zA-Z0-9])?", fullmatch=True)
DNS_NAMES = st.tuples(st.booleans(), st.lists(LABEL, min_size=1, max_size=4), st.booleans()).map(
    lambda t: ("_acme-challenge." if t[0] else "") + ".".join(t[1]) + ("." if t[2] else ""))
RCODES = [r.name for r in dns.rcode.Rcode if r != dns.rcode.NOERROR]
EXPLANATIONS = {"NXDOMAIN": " - check that a DNS record exists for this domain",
                "SERVFAIL": " - the domain's nameservers may be malfunctioning"}
SECONDARY = "During secondary validation: "


def go_quote(value: str) -> str:
    """Go's %q (strconv.Quote) for valid UTF-8, as Boulder writes the value it saw."""
    simple = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
    out = []
    for c in value:
        n = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        elif n in simple:
            out.append(simple[n])
        elif n < 0x80:
            out.append(f"\\x{n:02x}")
        elif n < 0x10000:
            out.append(f"\\u{n:04x}")
        else:
            out.append(f"\\U{n:08x}")
    return '"' + "".join(out) + '"'


@given(name=DNS_NAMES, rcode=st.sampled_from(RCODES), qtype=st.sampled_from(["TXT", "CAA"]),
       secondary=st.booleans())
def test_generated_boulder_rcode_errors_read_back(name: str, rcode: str, qtype: str,
                                                  secondary: bool) -> None:
    detail = (SECONDARY if secondary else "") + (
        f"DNS problem: {rcode} looking up {qtype} for {name}{EXPLANATIONS.get(rcode, '')}")
    reading = read(URN + "dns", detail)
    assert reading.qname == name.rstrip(".").lower()
    assert (reading.rcode, reading.qtype, reading.secondary) == (rcode, qtype, secondary)
    assert reading.kind == {"NXDOMAIN": "nxdomain", "SERVFAIL": "servfail",
                            "REFUSED": "refused"}.get(rcode, "rcode")


@given(name=DNS_NAMES,
       value=st.text(max_size=25).filter(lambda v: len(v.encode()) <= 100),
       more=st.integers(min_value=0, max_value=50), secondary=st.booleans())
def test_generated_boulder_incorrect_txt_reads_back(name: str, value: str, more: int,
                                                    secondary: bool) -> None:
    and_more = f" (and {more} more)" if more else ""
    detail = (SECONDARY if secondary else "") + (
        f"Incorrect TXT record {go_quote(value)}{and_more} found at {name}")
    reading = read(URN + "unauthorized", detail)
    assert reading.kind == "wrong-txt"
    assert reading.qname == name.rstrip(".").lower()
    assert reading.seen == (value,)
    assert reading.more == more
    assert reading.secondary is secondary
    assert reading.seen_truncated is (len(value.encode()) == 100 or value.endswith("..."))


@given(value=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e),
                     min_size=101, max_size=300))
def test_values_boulder_cut_keep_a_true_prefix(value: str) -> None:
    shown = value[:100] + "..."  # what Boulder does before quoting
    reading = read("unauthorized", f"Incorrect TXT record {go_quote(shown)} found at {NAME}")
    assert reading.seen == (value[:100],)
    assert reading.seen_truncated
    assert value.startswith(reading.seen[0])


@given(number=st.sampled_from([int(r) for r in dns.rcode.Rcode if r != dns.rcode.NOERROR]),
       form=st.sampled_from(["escaped", "double-escaped", "raw"]))
def test_pebble_rcode_byte_maps_to_the_dnspython_name(number: int, form: str) -> None:
    literal = {"escaped": f"\\x{number:02x}", "double-escaped": f"\\\\x{number:02x}",
               "raw": chr(number)}[form]
    detail = ('Error retrieving TXT records for DNS challenge ("DNS lookup for '
              f'\\"_acme-challenge.example.test\\" returned an unsuccessful response: '
              f"'{literal}'\")")
    reading = read("unauthorized", detail)
    assert reading.rcode == dns.rcode.to_text(number)
    assert reading.qname == "_acme-challenge.example.test"


def test_reading_fields_are_the_documented_ones() -> None:
    assert [f.name for f in fields(CaReading)] == [
        "typ", "kind", "rcode", "qtype", "qname", "seen", "seen_truncated", "more",
        "secondary", "extended", "detail"]
