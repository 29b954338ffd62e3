"""Asking DNS servers, with dnspython, and nothing else: every query of the plugin goes here.

Every message of the probes, the wait and the hint leaves through one function, `exchange`
(a request to one server, its response): `fetch`, `ask`, `Reach` and `Recursive` take
another in its place, so a test hands them recorded responses (real `dns.message` objects)
and the same reading runs on them as on the lab's servers. Answers come back as plain
`Answer` values (`read`) so that the decisions made on them (`answers`) stay pure.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset

from .options import flag
from .shown import quoted, shown

DEFAULT_QUERY_TIMEOUT = 2.0
UDP_SHARE = 2 / 3  # of a query's timeout for UDP; the rest is for a TCP retry when UDP is lost
NO_ANSWER = ("TIMEOUT", "UNREACHABLE")  # pseudo-rcodes: nothing answered from this host
#: The EDNS UDP payload size every question offers, as resolvers do since DNS Flag Day 2020
#: (RFC 9715 recommends staying below it: larger UDP answers risk IP fragmentation). An
#: answer larger than this is truncated over UDP (TC) and complete only over TCP (RFC 7766),
#: for the CA's resolvers as for us.
UDP_SIZE = 1232
#: pseudo-rcode: the server answered over UDP truncated (TC) and not over TCP
TRUNCATED = "TRUNCATED"


@dataclass(frozen=True, order=True)
class Server:
    """One address to ask; ``name`` is the nameserver's host name when known."""

    address: str
    port: int = 53
    name: str = ""
    url: str = ""  # a DNS-over-HTTPS resolver: https://host[:port]/path (address: its host)

    def __str__(self) -> str:
        if self.url:
            return self.url
        where = self.address if self.port == 53 else f"{self.address}:{self.port}"
        return f"{self.name} ({where})" if self.name else where

    def dig(self, qname: str, rdtype: str, recurse: bool = False) -> str:
        """The dig command that repeats a query of ours, for users to paste."""
        flags = "" if recurse else " +norecurse"
        if self.url:
            path = urllib.parse.urlsplit(self.url).path
            port = "" if self.port == 443 else f" -p {self.port}"
            return f"dig @{self.address}{port} +https={path} {quoted(qname)} {rdtype}{flags}"
        port = "" if self.port == 53 else f" -p {self.port}"
        return f"dig @{self.address}{port} {quoted(qname)} {rdtype}{flags}"


@dataclass(frozen=True)
class Answer:
    """What one server said: an rcode, TXT values, TTLs, SOA serial.

    ``rcode`` may also be a pseudo-rcode: TIMEOUT (no answer over UDP nor TCP within the
    query timeout), UNREACHABLE (refused at the network level, no route, or an address family
    this host cannot use: ``error`` says which) or ERROR (an answer that could not be read).
    """

    rcode: str
    values: frozenset[str] = field(default_factory=frozenset)
    ttl: int | None = None  # the answer RRset's TTL, or the negative-caching TTL
    authoritative: bool = False
    serial: int | None = None
    error: str = ""
    cname: str | None = None  # target of a CNAME owned by the query name
    ns: tuple[str, ...] = ()  # NS targets at the query name (answer, or a referral)
    referral: str | None = None  # a delegation below the server's zone (NS, no AA)
    #: an NSEC/NSEC3 record of the authority section whose range covers the query name
    #: (the proof a denial came from, with its TTL: how long a resolver keeps denying)
    denial: str = ""
    denial_ttl: int | None = None
    mname: str | None = None  # the SOA's primary nameserver, when an SOA was in the answer
    minimum: int | None = None  # the SOA's minimum: the zone's negative-caching TTL
    recursion: bool = False  # the RA bit: the server offers recursion (a resolver)
    size: int = 0  # the response's length on the wire, in bytes (UDP carries `UDP_SIZE`)

    @property
    def answered(self) -> bool:
        """Something answered, whatever it said (False: nothing reached us from there)."""
        return self.rcode not in NO_ANSWER

    def as_dict(self) -> dict[str, object]:
        """The answer as event-log fields."""
        return {"rcode": self.rcode, "values": sorted(self.values), "ttl": self.ttl,
                "aa": self.authoritative, "serial": self.serial, "error": self.error or None}

    def describe(self, rdtype: str = "TXT") -> str:
        """A short human reading of an answer to a ``rdtype`` question: ``NOERROR "v1"
        "v2"``, ``NOERROR CNAME t``, ``NOERROR (no TXT)``, ``NXDOMAIN``, ``TIMEOUT``."""
        text = self.rcode
        if self.values:
            text += " " + " ".join(f'"{shown(v, limit=300)}"' for v in sorted(self.values))
        elif self.cname:
            text += f" CNAME {shown(self.cname)}"
        elif self.rcode == "NOERROR":
            text += f" (no {rdtype})"
        if self.serial is not None:
            text += f" serial={self.serial}"
        if self.error:
            text += f" ({shown(self.error)})"
        return text


def parse_server(text: str, default_port: int = 53) -> Server:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address; ValueError otherwise,
    its message quoting the text and saying what is wrong."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not IP, IP:PORT or [IPv6]:PORT")
        port_text = rest[1:] if rest else ""
        if rest and not port_text:
            raise ValueError(f"{text!r} has no port after the ':'")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        if not port_text:
            raise ValueError(f"{text!r} has no port after the ':'")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address (a host name is not allowed)") from None
    port = default_port
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()):
            raise ValueError(f"port {port_text!r} in {text!r} is not a number")
        port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range (1-65535)")
    return Server(address=host, port=port)


def parse_resolver(text: str) -> Server:
    """A resolver: what `parse_server` reads, or a DNS-over-HTTPS URL
    ``https://host[:port]/path`` (path default ``/dns-query``); ValueError otherwise."""
    text = text.strip()
    if not text.lower().startswith("https://"):
        if "://" in text:
            raise ValueError(f"{text!r}: only https:// URLs (DNS over HTTPS) are resolvers")
        return parse_server(text)
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port or 443
    except ValueError:
        raise ValueError(f"{text!r} has a port that is not a number in 1-65535") from None
    if not parts.hostname:
        raise ValueError(f"{text!r} names no host")
    if parts.query or parts.fragment:
        raise ValueError(f"{text!r}: give the path only (no ?query or #fragment)")
    import dns.query as query_module  # have_doh: dnspython's DoH needs its HTTP/2 client

    if not query_module.have_doh:
        raise ValueError(f"{text!r}: DNS over HTTPS needs dnspython's HTTP/2 client; install "
                         "it with pip install 'certbot-dns-autopilot[doh]'")
    url = urllib.parse.urlunsplit(("https", parts.netloc, parts.path or "/dns-query", "", ""))
    return Server(address=parts.hostname, port=port, url=url)


def _txt_values(response: dns.message.Message) -> frozenset[str]:
    """Every TXT value in the answer, whatever its owner: behind a CNAME, the values sit at
    the chain's target."""
    values = set()
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            for rdata in rrset:
                values.add(b"".join(rdata.strings).decode("utf-8", "replace"))
    return frozenset(values)


def _answer_ttl(response: dns.message.Message, rdtype: int) -> int | None:
    for rrset in response.answer:
        if rrset.rdtype == rdtype:
            return rrset.ttl
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            # RFC 2308: the negative-caching TTL is min(SOA TTL, SOA minimum).
            return min(rrset.ttl, rrset[0].minimum)
    return None


def family(address: str) -> str:
    """``ipv4`` or ``ipv6``: the address family of an IP address."""
    return "ipv6" if ipaddress.ip_address(address).version == 6 else "ipv4"


def _socket_family(address: str) -> int:
    return socket.AF_INET6 if family(address) == "ipv6" else socket.AF_INET


def _how(exc: OSError, refused: str = "refused") -> str:
    """How a socket failed, in the words users search for."""
    return {errno.ECONNREFUSED: refused,
            errno.ENETUNREACH: "no route (network unreachable)",
            errno.EHOSTUNREACH: "no route to host",
            errno.EPERM: "blocked by this host's firewall",
            errno.EADDRNOTAVAIL: "no address of that family to send from",
            errno.EAFNOSUPPORT: "address family not supported by this host"}.get(
                exc.errno or 0, exc.strerror or type(exc).__name__)


def reason(exc: BaseException) -> str:
    """A DNS failure in the user's words: what failed, never dnspython's own sentences
    ("There is no SOA RR at the DNS root name. This should never happen!")."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return "the name does not exist (NXDOMAIN)"
    if isinstance(exc, dns.resolver.NoAnswer):
        return "no record of that type (NOERROR, no answer)"
    if isinstance(exc, dns.resolver.NoRootSOA):
        return "the resolvers deny that even the root exists (NXDOMAIN for '.')"
    if isinstance(exc, dns.resolver.LifetimeTimeout):
        return "no resolver answered in time"
    if isinstance(exc, dns.resolver.NoNameservers):
        failed = sorted({f"{server}: {_rcode_of(error)}" for server, _, _, error, *_ in
                         getattr(exc, "kwargs", {}).get("errors", [])})
        return "every resolver failed the question" + (f" ({'; '.join(failed)})"
                                                       if failed else "")
    if isinstance(exc, dns.exception.Timeout):
        return "no answer in time"
    if isinstance(exc, Unanswerable):
        return str(exc)
    return type(exc).__name__


def _rcode_of(error: object) -> str:
    """How one nameserver failed in dnspython's NoNameservers list, as an rcode or a word."""
    text = str(error)
    for rcode in ("SERVFAIL", "REFUSED", "NOTAUTH", "FORMERR", "NOTIMP"):
        if rcode in text:
            return rcode
    return "no answer" if "timed out" in text.lower() else type(error).__name__


def route_error(address: str, port: int = 53) -> str:
    """Why this host cannot send to ``address`` at all ("" if it can). A UDP connect only
    asks the kernel for a route: no packet leaves."""
    try:
        with socket.socket(_socket_family(address), socket.SOCK_DGRAM) as probe:
            probe.connect((address, port))
    except OSError as exc:
        return _how(exc)
    return ""


#: One request to one server and its response: the wire (`exchange`), or recorded answers.
#: Raises `Unreachable` when nothing answered, dns exceptions for answers it cannot read.
Exchange = Callable[["Server", dns.message.Message, float], dns.message.Message]


class Unanswerable(dns.exception.DNSException):
    """A question no server could answer, in our own words (`reason` shows them as they
    are; dnspython's own texts never reach the user)."""


class Unreachable(OSError):
    """Nothing answered over UDP nor TCP: ``how`` says what each attempt met.
    ``truncated``: UDP did answer, truncated (TC), and TCP did not: the whole answer cannot
    be had from there (a firewall dropping TCP port 53)."""

    def __init__(self, how: str, timed_out: bool, truncated: bool = False) -> None:
        super().__init__(how)
        self.how = how
        self.timed_out = timed_out
        self.truncated = truncated


def exchange(server: Server, request: dns.message.Message,
             timeout: float = DEFAULT_QUERY_TIMEOUT) -> dns.message.Message:
    """One request to one server over the network, the whole response: UDP (TCP if
    truncated), and when UDP gets nothing, TCP in what is left of ``timeout``; a connected
    UDP socket hears an ICMP refusal at once; DNS over HTTPS for a resolver URL.
    Raises `Unreachable` when neither answered, dns errors for answers it cannot read."""
    if server.url:
        return _fetch_https(server, request, timeout)
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(_socket_family(server.address), socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # dnspython waits on it with its own deadline
            sock.connect((server.address, server.port))
            response = dns.query.udp(request, server.address, timeout=timeout * UDP_SHARE,
                                     port=server.port, sock=sock, ignore_unexpected=True)
    except dns.exception.Timeout:
        udp, timed_out = f"UDP: no answer in {timeout * UDP_SHARE:.1f} s", True
    except OSError as exc:
        udp, timed_out = f"UDP: {_how(exc, 'refused (ICMP port unreachable)')}", False
    else:
        if not response.flags & dns.flags.TC:
            return response
        return _whole(server, request, max(deadline - time.monotonic(), 0.2))
    left = max(deadline - time.monotonic(), 0.2)
    try:
        return dns.query.tcp(request, server.address, timeout=left, port=server.port)
    except dns.exception.Timeout:
        raise Unreachable(f"{udp}; TCP: no answer in {left:.1f} s", True) from None
    except (OSError, EOFError) as exc:
        how = _how(exc, "refused (reset)") if isinstance(exc, OSError) else "connection closed"
        raise Unreachable(f"{udp}; TCP: {how}", timed_out) from None


def _whole(server: Server, request: dns.message.Message, timeout: float
           ) -> dns.message.Message:
    """The whole answer over TCP, after UDP said it was truncated."""
    try:
        return dns.query.tcp(request, server.address, timeout=timeout, port=server.port)
    except dns.exception.Timeout:
        how = f"no answer in {timeout:.1f} s"
    except (OSError, EOFError) as exc:
        how = _how(exc, "refused (reset)") if isinstance(exc, OSError) else "connection closed"
    raise Unreachable(f"UDP: truncated (TC, larger than {UDP_SIZE} bytes); TCP: {how}", False,
                      truncated=True) from None


def fetch(server: Server, qname: str, rdtype: str, recurse: bool = False, dnssec: bool = False,
          timeout: float = DEFAULT_QUERY_TIMEOUT, exchange: Exchange = exchange
          ) -> dns.message.Message:
    """One query (recursion desired only when ``recurse``), the whole response, through
    ``exchange``. Raises what ``exchange`` raises."""
    query = dns.message.make_query(dns.name.from_text(qname), dns.rdatatype.from_text(rdtype),
                                   use_edns=0, payload=UDP_SIZE, want_dnssec=dnssec)
    if not recurse:
        query.flags &= ~dns.flags.RD
    return exchange(server, query, timeout)


def records(response: dns.message.Message | None, name: str, rdtype: str,
            covers: str = "NONE") -> dns.rrset.RRset | None:
    """The answer section's RRset of ``name`` and ``rdtype`` (RRSIGs: ``covers`` the type
    they sign), or None: for probes that need the records themselves (DNSSEC)."""
    wanted = (dns.name.from_text(name), dns.rdatatype.from_text(rdtype),
              dns.rdatatype.from_text(covers))
    for found in response.answer if response is not None else []:
        if (found.name, found.rdtype, found.covers) == wanted:
            return found
    return None


def send(message: dns.message.Message, address: str, port: int = 53,
         timeout: float = DEFAULT_QUERY_TIMEOUT, tcp: bool = False) -> dns.message.Message:
    """One message (a query, or an RFC 2136 UPDATE) to one server, and its response: UDP
    with a TCP retry when truncated, or TCP when asked (a large UPDATE must not be
    fragmented). The writers' door to DNS, as `fetch` is the probes'.

    :raises dns.exception.Timeout: no answer within ``timeout``.
    """
    if tcp:
        return dns.query.tcp(message, address, port=port, timeout=timeout)
    response, _ = dns.query.udp_with_fallback(message, address, port=port, timeout=timeout)
    return response


_doh_clients: dict[str, object] = {}
_doh_lock = threading.Lock()


def _doh_client(url: str) -> object:
    """One HTTP/2 client per DoH resolver for the whole run: a new one per question would
    load the CA store and open a TLS connection each time. Trusts the system's CAs, or
    ``SSL_CERT_FILE``."""
    import httpx2  # dnspython's DoH client (the "doh" extra); only DoH users import it

    with _doh_lock:
        if url not in _doh_clients:
            _doh_clients[url] = httpx2.Client(http1=True, http2=True)
        return _doh_clients[url]


class _DoHNameserver(dns.nameserver.DoHNameserver):
    """dnspython's DoH nameserver for the resolver object, on the run's client for its URL."""

    def query(self, request: dns.message.QueryMessage, timeout: float, source: str | None,
              source_port: int, max_size: bool = False, one_rr_per_rrset: bool = False,
              ignore_trailing: bool = False) -> dns.message.Message:
        return dns.query.https(request, self.url, timeout=timeout,
                               one_rr_per_rrset=one_rr_per_rrset,
                               ignore_trailing=ignore_trailing, session=_doh_client(self.url))


class _ExchangeNameserver(dns.nameserver.Do53Nameserver):
    """A resolver's nameserver whose messages go through an injected `Exchange`."""

    def __init__(self, server: Server, exchange: Exchange) -> None:
        super().__init__(server.address, server.port)
        self.server, self.exchange = server, exchange

    def query(self, request: dns.message.QueryMessage, timeout: float, source: str | None,
              source_port: int, max_size: bool = False, one_rr_per_rrset: bool = False,
              ignore_trailing: bool = False) -> dns.message.Message:
        return self.exchange(self.server, request, timeout)


def _fetch_https(server: Server, query: dns.message.Message, timeout: float
                 ) -> dns.message.Message:
    """One query over DNS over HTTPS (dnspython's DoH: HTTP/2, the system's trusted CAs, or
    ``SSL_CERT_FILE``)."""
    try:
        return dns.query.https(query, server.url, timeout=timeout,
                               session=_doh_client(server.url))
    except dns.exception.Timeout:
        raise Unreachable(f"HTTPS: no answer in {timeout:.1f} s", True) from None
    except dns.exception.DNSException:
        raise
    except Exception as exc:  # noqa: BLE001 - the HTTP client's own errors: TLS, connect, status
        raise Unreachable(f"HTTPS: {exc or type(exc).__name__}", False) from None


def ask(server: Server, qname: str, rdtype: str = "TXT", recurse: bool = False,
        timeout: float = DEFAULT_QUERY_TIMEOUT, exchange: Exchange = exchange,
        dnssec: bool = False) -> Answer:
    """One query to one server, read into an `Answer`; never raises for DNS failures.
    ``dnssec`` sets the DO bit: a denial then comes with its NSEC/NSEC3 proof
    (`Answer.denial`)."""
    try:
        response = fetch(server, qname, rdtype, recurse=recurse, timeout=timeout,
                         exchange=exchange, dnssec=dnssec)
    except Unreachable as exc:
        rcode = TRUNCATED if exc.truncated else "TIMEOUT" if exc.timed_out else "UNREACHABLE"
        return Answer(rcode=rcode, error=exc.how)
    except dns.exception.Timeout:
        return Answer(rcode="TIMEOUT")
    except OSError as exc:
        return Answer(rcode="UNREACHABLE", error=_how(exc))
    except dns.exception.DNSException as exc:
        return Answer(rcode="ERROR", error=str(exc) or type(exc).__name__)
    return read(response, qname, rdtype)


def _between(low: object, name: object, high: object) -> bool:
    """``low < name < high`` in a ring (the last record of a chain points back to the
    first): the range an NSEC or NSEC3 record proves empty."""
    if low < high:  # type: ignore[operator]
        return low < name < high  # type: ignore[operator]
    return name > low or name < high  # type: ignore[operator]


def covering(response: dns.message.Message, name: dns.name.Name) -> tuple[str, int | None]:
    """The NSEC or NSEC3 record of a response's authority section that proves ``name``
    (or a name above it, for NSEC3's closest encloser) does not exist, and its TTL; ("",
    None) when none does (pure). NSEC ranges are in canonical order (RFC 4034 6.1, which
    dnspython's name comparison follows); NSEC3 ranges over the hashes (RFC 5155)."""
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.NSEC:
            for rdata in rrset:
                if name != rrset.name and _between(rrset.name, name, rdata.next):
                    return rrset.to_text().splitlines()[0], rrset.ttl
        elif rrset.rdtype == dns.rdatatype.NSEC3:
            import base64

            from dns import dnssec  # signed zones only: it loads the crypto libraries

            zone = rrset.name.parent()
            owner = rrset.name.labels[0].decode().upper()
            for rdata in rrset:
                following = base64.b32hexencode(rdata.next).decode().rstrip("=").upper()
                for above in _ancestors_within(name, zone):
                    hashed = dnssec.nsec3_hash(above, rdata.salt, rdata.iterations,
                                               rdata.algorithm)
                    if _between(owner, hashed, following):
                        return rrset.to_text().splitlines()[0], rrset.ttl
    return "", None


def _ancestors_within(name: dns.name.Name, zone: dns.name.Name) -> list[dns.name.Name]:
    found = []
    while name != zone and name.is_subdomain(zone) and len(name) > 1:
        found.append(name)
        name = name.parent()
    return found


def wire_size(response: dns.message.Message) -> int:
    """A response's length on the wire, as its server sent it (0 if it cannot be rendered)."""
    try:
        return len(response.to_wire(max_size=65535))
    except dns.exception.DNSException:
        return 0


def predicted_size(response: dns.message.Message, qname: str, values: Iterable[str]) -> int:
    """How large the TXT answer at ``qname`` becomes once ``values`` join the set in
    ``response`` (an answer to that question, with the DO bit: a signed zone's RRSIG is
    counted, or, where there was no set yet, one of the denial's as a stand-in), with EDNS:
    the size the CA's validating resolver receives (pure)."""
    import dns.rdata
    import dns.rdataclass
    import dns.rrset

    name = dns.name.from_text(qname)
    query = dns.message.make_query(name, dns.rdatatype.TXT, use_edns=0, payload=UDP_SIZE,
                                   want_dnssec=True)
    predicted = dns.message.make_response(query)
    ttl = next((r.ttl for r in response.answer if r.rdtype == dns.rdatatype.TXT), 60)
    texts = set(_txt_values(response)) | set(values)
    txt = dns.rrset.from_rdata_list(name, ttl, [
        dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.TXT, _txt_wire(v), 0,
                            len(_txt_wire(v))) for v in sorted(texts)])
    predicted.answer.append(txt)
    signature = next((r for r in response.answer + response.authority
                      if r.rdtype == dns.rdatatype.RRSIG), None)
    if signature is not None:
        predicted.answer.append(dns.rrset.from_rdata_list(name, ttl, [signature[0]]))
    return wire_size(predicted)


def _txt_wire(value: str) -> bytes:
    """One TXT value as its rdata on the wire: character-strings of at most 255 bytes."""
    raw = value.encode("utf-8")
    chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return b"".join(bytes([len(c)]) + c for c in chunks)


def read(response: dns.message.Message, qname: str, rdtype: str = "TXT") -> Answer:
    """What a response to a question for ``qname``/``rdtype`` says, as an `Answer` (pure)."""
    name = dns.name.from_text(qname)
    rdtype_value = dns.rdatatype.from_text(rdtype)
    serial = mname = minimum = None
    for rrset in response.answer + response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            serial, minimum = rrset[0].serial, rrset[0].minimum
            mname = rrset[0].mname.to_text(omit_final_dot=True).lower()
    cname = next((rrset[0].target.to_text(omit_final_dot=True).lower()
                  for rrset in response.answer
                  if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == name), None)
    ns = tuple(sorted({rdata.target.to_text(omit_final_dot=True).lower()
                       for rrset in response.answer + response.authority
                       if rrset.rdtype == dns.rdatatype.NS and rrset.name == name
                       for rdata in rrset}))
    referral = None
    if not response.flags & dns.flags.AA:
        referral = next((rrset.name.to_text(omit_final_dot=True).lower()
                         for rrset in response.authority if rrset.rdtype == dns.rdatatype.NS),
                        None)
    denial, denial_ttl = covering(response, name) if not response.answer else ("", None)
    return Answer(
        rcode=dns.rcode.to_text(response.rcode()),
        denial=denial,
        denial_ttl=denial_ttl,
        values=_txt_values(response) if rdtype_value == dns.rdatatype.TXT else frozenset(),
        ttl=_answer_ttl(response, rdtype_value),
        authoritative=bool(response.flags & dns.flags.AA),
        serial=serial,
        cname=cname,
        ns=ns,
        referral=referral,
        mname=mname,
        minimum=minimum,
        recursion=bool(response.flags & dns.flags.RA),
        size=wire_size(response),
    )


class Reach:
    """Which authoritative addresses this host can ask, learnt once per run.

    An address of a family left out by the ``address-family`` option, or one this host
    has no route to, is not asked at all; one that gave no answer over UDP nor TCP once is
    not asked again in the run (one unusable address costs one query timeout, not the whole
    wait). Only direct (non-recursive) questions are remembered: a resolver that missed one
    question is asked again.
    """

    def __init__(self, family: str = "any", query: Callable[..., Answer] | None = None,
                 route: Callable[[str], str] | None = None, authoritative: bool = True,
                 exchange: Exchange | None = None) -> None:
        self.family = family
        self.authoritative = authoritative  # False: no authoritative address is asked
        self._exchange = exchange  # None: the network
        #: every question as asked, past this object's filter (resolvers, CAA at every
        #: address): ``query``, else `ask` over ``exchange``
        self.query: Callable[..., Answer] = query or (
            partial(ask, exchange=exchange) if exchange else ask)
        # The kernel's routes matter to real queries only; scripted ones reach everything.
        self._route = route or (route_error if self.query is ask else (lambda address: ""))
        self._skipped: dict[str, str] = {}
        self._dead: dict[Server, Answer] = {}
        self._lock = threading.Lock()

    def left_out(self, server: Server) -> bool:
        """Left out on purpose: of a family the ``address-family`` option leaves out, or
        every address (``authoritative-check`` false)."""
        return not self.authoritative or (self.family != "any"
                                          and family(server.address) != self.family)

    def usable(self, server: Server) -> bool:
        """Neither unusable from this host nor already silent in this run."""
        with self._lock:
            dead = server in self._dead
        return not dead and not self.why_not(server)

    def why_not(self, server: Server) -> str:
        """Why ``server`` is not asked from this host ("" when it is)."""
        kind = family(server.address)
        if not self.authoritative:
            return f"not checked ({flag('authoritative-check')} false)"
        if self.left_out(server):
            return f"{kind} not checked ({flag('address-family')} {self.family})"
        if server.address not in self._skipped:
            error = self._route(server.address)
            label = "IPv6" if kind == "ipv6" else "IPv4"
            self._skipped[server.address] = f"this host has no {label} route ({error})" \
                if error else ""
        return self._skipped[server.address]

    def ask(self, server: Server, qname: str, rdtype: str = "TXT", recurse: bool = False
            ) -> Answer:
        """`ask`, unless the address is unusable here or already failed to answer."""
        if recurse:
            return self.query(server, qname, rdtype, recurse=True)
        why = self.why_not(server)
        if why:
            return Answer(rcode="UNREACHABLE", error=why)
        with self._lock:
            known = self._dead.get(server)
        if known is not None:
            return known
        answer = self.query(server, qname, rdtype, recurse=False)
        if not answer.answered:
            with self._lock:
                self._dead.setdefault(server, answer)
        return answer

    def fetch(self, server: Server, qname: str, rdtype: str, dnssec: bool = False
              ) -> dns.message.Message | None:
        """The whole response of one direct question (for probes that need the records
        themselves), or None when the address is not usable or nothing could be read."""
        if not self.usable(server):
            return None
        try:
            return fetch(server, qname, rdtype, dnssec=dnssec,
                         exchange=self._exchange or exchange)
        except (OSError, dns.exception.DNSException):
            return None

    def probe(self, zone: str, servers: list[Server]) -> None:
        """Ask every address of ``zone`` at once (SOA), so that the silent ones are known
        after one query timeout, before questions that go server after server."""
        fresh = [s for s in servers if self.usable(s)]
        if fresh:
            with ThreadPoolExecutor(max_workers=min(len(fresh), 16)) as pool:
                list(pool.map(lambda s: self.ask(s, zone or ".", "SOA"), fresh))

    def unreachable(self) -> dict[Server, Answer]:
        """Every address that gave no answer in this run, with what it met."""
        with self._lock:
            return dict(self._dead)


class Recursive:
    """The configured recursive resolvers (or the system's), for zone and address lookups."""

    def __init__(self, servers: list[Server] | None = None, timeout: float = 5.0,
                 exchange: Exchange | None = None) -> None:
        """``exchange``: where the resolver's messages go instead of the network (recorded
        answers); dnspython's resolver logic (CNAMEs, zone cuts, retries) runs on them."""
        self.servers = list(servers or [])
        #: the servers come from /etc/resolv.conf (the resolvers option not given)
        self.from_system = not self.servers
        self._exchange = exchange
        if self.servers:
            self._resolver = dns.resolver.Resolver(configure=False)
        else:
            try:
                self._resolver = dns.resolver.Resolver()
            except dns.exception.DNSException:  # no usable /etc/resolv.conf: none to ask
                self._resolver = dns.resolver.Resolver(configure=False)
            self.servers = [Server(address=str(ns)) for ns in self._resolver.nameservers]
        self.keep(self.servers)
        self._resolver.lifetime = timeout
        self._resolver.cache = None
        self._caa: dict[str, list[tuple[int, str, str]]] = {}
        # Checking Disabled: finding zones, nameservers and CAA must work even where a stale
        # DS makes validating resolvers answer SERVFAIL; the DNSSEC probe reports that itself.
        self._resolver.flags = dns.flags.RD | dns.flags.CD

    def keep(self, servers: list[Server]) -> None:
        """Ask only ``servers`` from now on (the resolvers that answer)."""
        self.servers = list(servers)
        self._resolver.nameservers = [
            _ExchangeNameserver(s, self._exchange) if self._exchange is not None
            else _DoHNameserver(s.url) if s.url
            else dns.nameserver.Do53Nameserver(s.address, s.port) for s in self.servers]

    def probe(self, timeout: float = DEFAULT_QUERY_TIMEOUT) -> dict[Server, Answer]:
        """Each resolver's answer to one question about the root (`. SOA`, recursion
        desired), asked at once: what a working resolver always answers, and what says
        nothing about any zone of ours."""
        ask_one = partial(ask, exchange=self._exchange) if self._exchange else ask
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(self.servers)))) as pool:
            answers = pool.map(lambda s: ask_one(s, ".", "SOA", recurse=True,
                                                 timeout=timeout), self.servers)
            return dict(zip(self.servers, answers, strict=True))

    def zone_of(self, name: str) -> str:
        """The zone cut enclosing ``name`` as the resolvers see it ("" for the root).

        Callers pass a name that is safe to ask a cache about: never an
        ``_acme-challenge`` name, whose negative answer the CA would then meet.
        """
        zone = dns.resolver.zone_for_name(name, resolver=self._resolver)
        return "" if zone == dns.name.root else zone.to_text(omit_final_dot=True).lower()

    def caa(self, name: str) -> list[tuple[int, str, str]]:
        """The CAA records at ``name`` (CNAMEs followed by the resolver); [] if none.
        Kept for the run: every name of a certificate climbs through the same parents."""
        if name not in self._caa:
            try:
                answer = self._resolver.resolve(name, "CAA")
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                self._caa[name] = []
            else:
                self._caa[name] = [(r.flags, r.tag.decode("ascii", "backslashreplace"),
                                    r.value.decode("utf-8", "backslashreplace"))
                                   for r in answer]
        return self._caa[name]

    def nameservers(self, zone: str) -> list[str]:
        """The zone's NS host names, as the resolvers see them."""
        answer = self._resolver.resolve(zone, "NS")
        return sorted(rdata.target.to_text(omit_final_dot=True).lower() for rdata in answer)

    def addresses(self, host: str) -> list[str]:
        """Every IPv4 and IPv6 address of ``host`` (a host with neither raises)."""
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                found += [rdata.address for rdata in self._resolver.resolve(host, rdtype)]
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
        if not found:
            raise dns.resolver.NoAnswer(f"{host} has no A or AAAA record")
        return found


def nameserver_addresses(recursive: Recursive, zone: str) -> tuple[list[str], list[Server]]:
    """The NS host names of ``zone`` and every address of each (hosts without one skipped).
    Raises DNSException when the NS set itself cannot be resolved."""
    hosts = recursive.nameservers(zone or ".")
    servers = []
    for host in hosts:
        try:
            servers += [Server(address=a, name=host) for a in recursive.addresses(host)]
        except dns.exception.DNSException:
            continue
    return hosts, sorted(servers)


def zone_serials(zone: str, servers: list[Server], recursive: Recursive,
                 query: Callable[..., Answer] = ask) -> dict[Server, int | None]:
    """The zone's SOA serial at each server, and at its primary (the SOA's MNAME) when that is
    not one of them: a hidden primary is the reference a lagging secondary is behind."""
    answers = {server: query(server, zone, "SOA") for server in servers}
    serials: dict[Server, int | None] = {s: a.serial for s, a in answers.items()}
    mname = next((a.mname for a in answers.values() if a.mname), None)
    if mname and mname not in {s.name for s in servers}:
        try:
            addresses = recursive.addresses(mname)
        except dns.exception.DNSException:
            addresses = []
        for address in addresses:
            primary = Server(address=address, name=f"{mname} (SOA primary)")
            serials[primary] = query(primary, zone, "SOA").serial
    return serials
