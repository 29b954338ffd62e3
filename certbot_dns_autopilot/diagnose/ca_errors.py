"""Read the CA's own words when a DNS-01 challenge fails.

certbot hands ``auth_hint`` each failed challenge with ``achall.error`` (an
``acme.messages.Error``). Its ``detail`` is free text, but Boulder (Let's Encrypt) and
Pebble (the lab's CA) write it from a handful of fixed formats. Turning that text into
fields (what rcode, for which name, which value was seen, from which vantage point) lets
the diagnosis compare the CA's view with live evidence instead of pattern-matching prose
in several places. Pure: no I/O, and never raises, because ``auth_hint`` must not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dns.rcode

from .. import names

KINDS = ("nxdomain", "servfail", "refused", "timeout", "network", "no-txt", "wrong-txt",
         "caa", "dnssec", "rcode", "unknown")

# Boulder truncates the first wrong TXT value to this many bytes, then appends "...".
BOULDER_CUT = 100

_RCODE_KINDS = {"NXDOMAIN": "nxdomain", "SERVFAIL": "servfail", "REFUSED": "refused"}

# --- Boulder (bdns/problem.go, va/dns.go, va/caa.go, ra.go) ---------------------------------
_PREFIX = re.compile(
    r"(?:During secondary [A-Za-z ]+?|rechecking caa|While processing CAA for (?P<caa>[^\s:]+)): ",
    re.I)
_DNS_PROBLEM = re.compile(
    r"DNS problem: *(?:(?P<what>[^:\n]+?) )??looking up (?P<qtype>[A-Za-z0-9]+) for "
    r"(?P<name>[^\s:]+)(?:: (?P<ede>.*)| - (?P<why>.*))?")
_INCORRECT_TXT = re.compile(
    r'Incorrect TXT record "(?P<value>(?:[^"\\]|\\.)*)"(?: \(and (?P<more>\d+) more\))?'
    r"(?: found at (?P<name>\S+))?", re.S)
_NO_TXT = re.compile(r"No TXT record found at (?P<name>\S+)")
_CAA_PREVENTS = re.compile(r"CAA record for (?P<name>\S*) prevents issuance")
_CAA_RECHECK = re.compile(r'Rechecking CAA for "(?P<name>[^"]*)"', re.I)
_ANCHOR = re.compile(
    r"During secondary |rechecking caa: |While processing CAA for |DNS problem: |"
    r"Incorrect TXT record |No TXT record found at |CAA record for |Correct value not found |"
    r"No TXT records found |Error retrieving TXT records ", re.I)

# --- Pebble (va/va.go) ---------------------------------------------------------------------
_PEBBLE_TAIL = r'(?: ?:"(?P<ident>[^"]*)")?'
_PEBBLE_WRONG = re.compile(r"Correct value not found for DNS challenge" + _PEBBLE_TAIL)
_PEBBLE_NO_TXT = re.compile(r"No TXT records found for DNS challenge" + _PEBBLE_TAIL)
_PEBBLE_LOOKUP = re.compile(r"Error retrieving TXT records for DNS challenge \((?P<inner>.*)\)",
                            re.S)
_PEBBLE_NAME = re.compile(r'DNS lookup for \\*"(?P<name>[^"\\]+)\\*"')
# The rcode is Go's %q of an int: a char literal such as '\x03', itself %q-quoted once more
# by the outer message ('\\x03'); a raw control character is accepted too.
_PEBBLE_RCODE = re.compile(r"unsuccessful response: '(?P<char>\\{0,2}[^'\\]{1,9}|\\{1,2}'|.)'",
                           re.S)
_GO_LOOKUP_NAME = re.compile(r"lookup (?P<name>[^\s:]+?)(?: on \S+)?: ")

# Boulder's words before "looking up", when they are not an rcode's name
_WHAT_KINDS = (("query timed out", "timeout"), ("networking error", "network"),
               ("server failure", "servfail"))
# Go's resolver errors inside Pebble's lookup failure, first match wins
_GO_ERROR_WORDS: tuple[tuple[tuple[str, ...], dict[str, object]], ...] = (
    (("no such host",), {"kind": "nxdomain", "rcode": "NXDOMAIN"}),
    (("server misbehaving",), {"kind": "servfail"}),
    (("timeout", "timed out", "deadline exceeded"), {"kind": "timeout"}),
    (("refused", "unreachable", "dial ", "read udp", "write udp", "read tcp", "write tcp",
      "connection reset"), {"kind": "network"}),
)

# Boulder's names for Extended DNS Errors (RFC 8914), DNSSEC ones prefixed "DNSSEC: ".
EDE_SUMMARIES = (
    "Other", "DNSSEC: Unsupported DNSKEY Algorithm", "DNSSEC: Unsupported DS Digest Type",
    "Stale Answer", "Forged Answer", "DNSSEC: Indeterminate", "DNSSEC: Bogus",
    "DNSSEC: Signature Expired", "DNSSEC: Signature Not Yet Valid", "DNSSEC: DNSKEY Missing",
    "DNSSEC: RRSIGs Missing", "DNSSEC: No Zone Key Bit Set", "DNSSEC: NSEC Missing",
    "Cached Error", "Not Ready", "Blocked", "Censored", "Filtered", "Prohibited",
    "Stale NXDOMAIN Answer", "Not Authoritative", "Not Supported", "No Reachable Authority",
    "Network Error between Resolver and Authority", "Invalid Data",
)
_EDE_UNKNOWN = re.compile(r"Unknown Extended DNS Error code \d+")

_GO_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
                      "\\": 92, '"': 34, "'": 39}


@dataclass(frozen=True)
class CaReading:
    """What the CA said, as fields: the diagnosis compares these with live evidence.

    ``seen`` holds the TXT values the CA reported (Boulder shows only the first one, with
    ``more`` counting the rest). ``seen_truncated`` means the value may be a prefix of the
    real one (Boulder cuts at 100 bytes and appends "..."), so compare by prefix.
    """

    typ: str = ""
    kind: str = "unknown"
    rcode: str = ""
    qtype: str = ""
    qname: str = ""
    seen: tuple[str, ...] = ()
    seen_truncated: bool = False
    more: int = 0
    secondary: bool = False
    extended: str = ""
    detail: str = ""

    def describe(self) -> str:
        """One short clause of what the CA saw, for certbot's ``Hint:`` line."""
        try:
            text = _describe(self)
        except Exception:  # a hint must never break certbot's error report
            text = "the CA reported a problem"
        if self.secondary:
            text += ", from a secondary vantage point"
        return text


def read(typ: str | None, detail: str | None) -> CaReading:
    """Parse one ACME problem (type URN or short code, detail text); never raises."""
    short = _short_typ(typ)
    text = detail if isinstance(detail, str) else ("" if detail is None else _safe_str(detail))
    try:
        return _read(short, text)
    except Exception:  # defensive: unknown shapes must degrade, not crash auth_hint
        return CaReading(typ=short, detail=text)


def read_error(error: object) -> CaReading:
    """Read an ``acme.messages.Error`` (or anything with ``typ``/``detail``, or None).

    When the top-level problem says nothing specific (Boulder's "Refer to sub-problems"),
    the first subproblem that does is read instead: it names the failing identifier.
    """
    if error is None:
        return CaReading()
    try:
        typ, detail = _fields(error)
        reading = read(typ, detail)
        if reading.kind == "unknown" or "sub-problem" in reading.detail.lower():
            for sub in getattr(error, "subproblems", None) or ():
                sub_reading = read(*_fields(sub))
                if sub_reading.kind != "unknown":
                    return sub_reading
        return reading
    except Exception:
        return CaReading(detail=_safe_str(_safe_attr(error, "detail")))


# --- internals ----------------------------------------------------------------------------


def _fields(error: object) -> tuple[str | None, str | None]:
    """(typ, detail) from an acme Error, a duck-typed object or a problem-document dict."""
    if isinstance(error, Mapping):
        return error.get("type", error.get("typ")), error.get("detail")
    typ = getattr(error, "typ", None)
    if typ is None:
        typ = getattr(error, "code", None)
    return typ, getattr(error, "detail", None)


def _safe_attr(obj: object, attr: str) -> object:
    try:
        return getattr(obj, attr, "") or ""
    except Exception:
        return ""


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return ""


def _short_typ(typ: object) -> str:
    """``urn:ietf:params:acme:error:dns`` or ``dns`` -> ``dns``; anything else -> ""."""
    if not isinstance(typ, str):
        return ""
    typ = typ.strip()
    if typ.lower().startswith("urn:"):
        typ = typ.rsplit(":", 1)[-1]
    elif ":" in typ:  # "about:blank" and other non-ACME URIs carry no code
        return ""
    return typ if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", typ) else ""


def _norm(name: str | None) -> str:
    """The project's one spelling of a name; a plain lower-case fallback for odd input."""
    if not name:
        return ""
    name = name.strip()
    try:
        return names.normalize(name) if name.strip(".") else ""
    except Exception:
        return name.rstrip(".").lower()


def _read(typ: str, text: str) -> CaReading:
    """Parse at the start (after Boulder's prefixes); else at each known phrase inside."""
    starts = [0] + [m.start() for m in _ANCHOR.finditer(text) if m.start() > 0]
    for start in starts:
        rest, secondary, caa_name = _strip_prefixes(text[start:])
        fields = _parse_at(rest)
        if fields is None and caa_name is not None:
            # "rechecking caa: …" / "While processing CAA for x: …" whose inner text is new
            fields = {"kind": "caa", "qtype": "CAA", "qname": _norm(caa_name)}
        if fields is not None:
            return CaReading(typ=typ, detail=text, secondary=secondary, **fields)
    return CaReading(typ=typ, detail=text, secondary=_strip_prefixes(text)[1])


def _strip_prefixes(text: str) -> tuple[str, bool, str | None]:
    """Peel Boulder's stacked prefixes: (rest, secondary?, CAA context name or None)."""
    rest, secondary, caa_name = text.lstrip(), False, None
    while m := _PREFIX.match(rest):
        if m.group(0).lower().startswith("during secondary"):
            secondary = True
        else:
            caa_name = m.group("caa") or caa_name or ""
        rest = rest[m.end():]
    return rest, secondary, caa_name


def _parse_at(rest: str) -> dict[str, object] | None:
    """The fields of the one CA message that ``rest`` starts with, or None."""
    for regex, fields in _MESSAGES:
        m = regex.match(rest)
        if m:
            return fields(m)
    return _pebble(rest)


def _incorrect_txt(m: re.Match[str]) -> dict[str, object]:
    value, truncated = _seen_value(m.group("value"))
    return {"kind": "wrong-txt", "qtype": "TXT", "qname": _norm(m.group("name")),
            "seen": (value,), "seen_truncated": truncated, "more": int(m.group("more") or 0)}


def _no_txt(m: re.Match[str]) -> dict[str, object]:
    return {"kind": "no-txt", "qtype": "TXT", "qname": _norm(m.group("name"))}


def _caa(m: re.Match[str]) -> dict[str, object]:
    return {"kind": "caa", "qtype": "CAA", "qname": _norm(m.group("name"))}


def _dns_problem(m: re.Match[str]) -> dict[str, object]:
    """Fields of Boulder's ``DNS problem: … looking up <TYPE> for <name>`` family."""
    what = (m.group("what") or "").strip()
    fields: dict[str, object] = {"qtype": m.group("qtype").upper(),
                                 "qname": _norm(m.group("name"))}
    ede = m.group("ede")
    if ede is not None and not what:
        # An Extended DNS Error replaces the rcode in the text; the resolver answered with a
        # failure (in practice SERVFAIL), and the summary says why.
        fields["extended"] = ede.strip()
        fields["kind"] = "dnssec" if ede.lstrip().upper().startswith("DNSSEC") else "servfail"
        return fields
    lowered = what.lower()
    kind = next((k for prefix, k in _WHAT_KINDS if lowered.startswith(prefix)), None)
    if kind:
        fields["kind"] = kind
    elif re.fullmatch(r"[A-Z][A-Z0-9]*", what):
        fields["rcode"] = what
        fields["kind"] = _RCODE_KINDS.get(what, "rcode")
    else:  # an rcode Boulder has no name for prints as nothing
        fields["kind"] = "rcode" if not what else "unknown"
    return fields


def _pebble(text: str) -> dict[str, object] | None:
    """Fields of Pebble's three DNS-01 messages, or None when none matches."""
    for regex, kind in ((_PEBBLE_WRONG, "wrong-txt"), (_PEBBLE_NO_TXT, "no-txt")):
        m = regex.match(text)
        if m:
            ident = m.group("ident")
            qname = _norm(f"{names.CHALLENGE_LABEL}.{ident}") if ident else ""
            return {"kind": kind, "qtype": "TXT", "qname": qname}
    m = _PEBBLE_LOOKUP.match(text)
    return _pebble_lookup(m.group("inner")) if m else None


def _pebble_lookup(inner: str) -> dict[str, object]:
    """Fields of Pebble's "Error retrieving TXT records": the rcode Go quoted, else the
    kind Go's resolver error words name."""
    fields: dict[str, object] = {"qtype": "TXT", "kind": "unknown"}
    name = _PEBBLE_NAME.search(inner) or _GO_LOOKUP_NAME.search(inner)
    if name:
        fields["qname"] = _norm(name.group("name"))
    rc = _PEBBLE_RCODE.search(inner)
    number = _go_char(rc.group("char")) if rc else None
    if number is not None:
        fields["rcode"] = _rcode_name(number)
        fields["kind"] = _RCODE_KINDS.get(str(fields["rcode"]), "rcode")
        return fields
    lowered = inner.lower()
    found = next((more for words, more in _GO_ERROR_WORDS
                  if any(w in lowered for w in words)), {})
    return fields | found


def _rcode_name(number: int) -> str:
    try:
        return dns.rcode.to_text(dns.rcode.Rcode.make(number))
    except Exception:
        return str(number)


def _go_char(literal: str) -> int | None:
    """The code point of a Go char literal's body (``\\x03``, ``\\\\x03``, ``\\t``, a raw byte)."""
    if literal.startswith("\\\\"):  # one extra level of quoting from the outer %q
        literal = literal[1:]
    if len(literal) == 1:
        return ord(literal)
    if not literal.startswith("\\") or len(literal) < 2:
        return None
    body = literal[1:]
    if body in _GO_SIMPLE_ESCAPES:
        return _GO_SIMPLE_ESCAPES[body]
    if body[0] in "xuU" and re.fullmatch(r"[0-9A-Fa-f]+", body[1:]) and \
            len(body) - 1 == {"x": 2, "u": 4, "U": 8}[body[0]]:
        return int(body[1:], 16)
    if re.fullmatch(r"[0-7]{3}", body):
        return int(body, 8)
    return None


def _go_unquote(body: str) -> bytes:
    """The bytes of a Go ``%q`` string body (strconv.Quote escapes), lenient on odd input."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        e = body[i + 1]
        if e in _GO_SIMPLE_ESCAPES:
            out.append(_GO_SIMPLE_ESCAPES[e])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(e)
        digits = body[i + 2:i + 2 + width] if width else ""
        if width and len(digits) == width and re.fullmatch(r"[0-9A-Fa-f]+", digits):
            n = int(digits, 16)
            if e == "x":
                out.append(n)
            else:
                out += chr(min(n, 0x10FFFF)).encode("utf-8", "surrogatepass")
            i += 2 + width
            continue
        octal = body[i + 1:i + 4]
        if re.fullmatch(r"[0-3][0-7]{2}", octal):
            out.append(int(octal, 8))
            i += 4
            continue
        out += b"\\"  # not an escape Go would write: keep it as text
        i += 1
    return bytes(out)


def _seen_value(quoted_body: str) -> tuple[str, bool]:
    """The value Boulder showed, and whether it may be only a prefix of the real one."""
    raw = _go_unquote(quoted_body)
    truncated = len(raw) == BOULDER_CUT or raw.endswith(b"...")
    if raw.endswith(b"...") and len(raw) - 3 >= BOULDER_CUT:
        raw = raw[:-3]  # Boulder's own ellipsis: keep the true prefix
    return raw.decode("utf-8", "replace"), truncated


def ede_summary(extended: str) -> str:
    """The EDE summary without the resolver's extra text ("DNSSEC: Bogus")."""
    for summary in sorted(EDE_SUMMARIES, key=len, reverse=True):
        if extended == summary or extended.startswith(summary + ": "):
            return summary
    m = _EDE_UNKNOWN.match(extended)
    return m.group(0) if m else extended.split(": ", 1)[0]


def _show(value: str, truncated: bool = False, limit: int = 24) -> str:
    """A value short and printable enough for a one-line hint, quoted like the CA does."""
    value = value.replace("\\", "\\\\").replace('"', '\\"')
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    if len(shown) > limit:
        shown, truncated = shown[:limit - 4], True
    return f'"{shown}…"' if truncated else f'"{shown}"'


def _where(r: CaReading) -> str:
    return r.qname or "the validation name"


def _asked(r: CaReading) -> str:
    return f"{_where(r)} ({r.qtype})" if r.qtype else _where(r)


def _said_rcode(r: CaReading) -> str:
    return f"the CA got {r.rcode} for {_asked(r)}"


def _said_dnssec(r: CaReading) -> str:
    summary = ede_summary(r.extended) if r.extended else "a DNSSEC failure"
    return f"the CA's resolver reported {summary} for {_asked(r)}"


def _said_servfail(r: CaReading) -> str:
    why = f": {ede_summary(r.extended)}" if r.extended else ""
    return f"the CA's resolver failed looking up {_asked(r)}{why}"


def _said_wrong_txt(r: CaReading) -> str:
    if not r.seen:
        return f"the CA found TXT at {_where(r)}, but not the expected value"
    more = f" and {r.more} more" if r.more else ""
    return (f"the CA found TXT {_show(r.seen[0], r.seen_truncated)}{more} at {_where(r)}, "
            "not the expected value")


def _said_caa(r: CaReading) -> str:
    at = f" at {r.qname}" if r.qname else ""
    return f"the CA's CAA check{at} does not allow this CA to issue"


def _said_something(r: CaReading) -> str:
    """A kind with nothing more specific to say: the CA's own text, short and printable."""
    if r.detail.strip():
        label = f" {r.typ}" if r.typ else ""
        shown = "".join(c if c.isprintable() else " " for c in r.detail.strip())
        shown = shown if len(shown) <= 120 else shown[:116] + "…"
        return f"the CA reported{label}: {shown}"
    return f"the CA reported a {r.typ} error" if r.typ else "the CA gave no details"


_SAID: dict[str, Callable[[CaReading], str]] = {
    "dnssec": _said_dnssec,
    "servfail": _said_servfail,
    "timeout": lambda r: f"the CA's DNS query for {_asked(r)} timed out",
    "network": lambda r: f"the CA hit a networking error looking up {_asked(r)}",
    "no-txt": lambda r: f"the CA found no TXT record at {_where(r)}",
    "wrong-txt": _said_wrong_txt,
    "caa": _said_caa,
    "rcode": lambda r: f"the CA got an error answer for {_asked(r)}",
}


def _describe(r: CaReading) -> str:
    if r.kind in ("nxdomain", "servfail", "refused", "rcode") and r.rcode:
        return _said_rcode(r)
    return _SAID.get(r.kind, _said_something)(r)


# The CA messages `_parse_at` knows, in the order it tries them (Pebble's last).
_MESSAGES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], dict[str, object]]], ...] = (
    (_DNS_PROBLEM, _dns_problem), (_INCORRECT_TXT, _incorrect_txt), (_NO_TXT, _no_txt),
    (_CAA_PREVENTS, _caa), (_CAA_RECHECK, _caa))
