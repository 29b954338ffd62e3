"""Helpers the unit tests share (imported by name: no test module imports another)."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import http.server
import shutil
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import configobj
from acme import challenges
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certbot_dns_autopilot.dnsio import Recursive as _RECURSIVE
from certbot_dns_autopilot.writers import (
    Context,
    Records,
    Writer,
    WriterMap,
    writers_from_credentials,
)


def value(seed: str) -> str:
    """A DNS-01 value, shaped as the CA's are."""
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()).rstrip(b"=").decode()


def load_map(tmp_path: Path, values: dict[str, str], sections: str = "",
             context: Context | None = None) -> WriterMap:
    """The writers of a credentials file with ``values`` at its top level and ``sections``,
    built as the plugin builds them (the file's keys read by each writer's declaration)."""
    path = tmp_path / "credentials.ini"
    path.write_text("".join(f"{k} = {v}\n" for k, v in values.items()) + sections)
    path.chmod(0o600)
    return writers_from_credentials(configobj.ConfigObj(str(path), interpolation=False),
                                    str(path), context)


class RecordedEvents:
    """The run's event log as a writer sees it: each retry it reports, recorded."""

    def __init__(self) -> None:
        self.retries: list[dict] = []

    def emit(self, step: str, outcome: str, *args: object, **fields: object) -> None:
        assert (step, outcome) == ("retry", "retrying"), (step, outcome)
        self.retries.append(fields)


NOBODY = 65534
RESOLVER = "198.51.100.53"  # the recorded worlds' resolver (`DNSWorld`), unless a test says

ZONE = "example.com"


class Recording(Writer):
    """A writer that records its calls (``fail``: the error its add raises)."""

    label = "recording writer"

    def __init__(self, calls: list[tuple], fail: Exception | None = None) -> None:
        self.calls, self.fail = calls, fail

    def find_zone(self, name: str) -> str:
        return ZONE

    def add(self, zone: str, records: Records, ttl: int) -> None:
        self.calls.append(("add", zone, {n: set(v) for n, v in records.items()}))
        if self.fail:
            raise self.fail

    def remove(self, zone: str, records: Records) -> None:
        self.calls.append(("remove", zone, {n: set(v) for n, v in records.items()}))

    def values(self, zone: str, name: str) -> set[str]:
        return set()


class Challenge:
    """What certbot hands the plugin for one name (an AnnotatedChallenge's surface)."""

    def __init__(self, domain: str, error: object = None) -> None:
        self.identifier = types.SimpleNamespace(value=domain)
        self.account_key = object()
        self.error = error

    def validation(self, key: object) -> str:
        return f"value-for-{self.identifier.value}"

    def response(self, key: object) -> challenges.ChallengeResponse:
        return challenges.DNS01Response()


def make_plugin(tmp_path: Path, monkeypatch: Any, writer: Writer | None = None,
                **options: object) -> tuple[Any, list[tuple]]:
    """The plugin as certbot builds it, on a recording writer (its calls returned) for
    example.com and *.example.com; ``options`` override the defaults (preflight off, no
    wait, the recorded resolver `RESOLVER`)."""
    from certbot.display import util as display_util

    from certbot_dns_autopilot import credentials
    from certbot_dns_autopilot.plugin.authenticator import Authenticator

    calls: list[tuple] = []
    writer = writer or Recording(calls)
    notes: list[str] = []  # what certbot's display would show
    monkeypatch.setattr(display_util, "notify", notes.append)
    monkeypatch.setattr(credentials, "load",
                        lambda path, context=None: (str(tmp_path / "c.ini"),
                                                    WriterMap([(writer, None)]), []))
    from certbot_dns_autopilot import dnsio

    if dnsio.Recursive is _RECURSIVE:  # a test's own recorded world stays; else the
        world = DNSWorld(resolvers=(RESOLVER,))  # resolver answers (the run asks it first)
        monkeypatch.setattr(dnsio, "Recursive", functools.partial(_RECURSIVE, exchange=world))
    settings = {"credentials": "c.ini", "resolvers": RESOLVER, "propagation_timeout": 0,
                "failure_hook": "", "follow_cnames": False, "preflight": False,
                "caa_identities": "letsencrypt.org", "remove_stale": False,
                "authoritative_check": True, "address_family": "any", "public_check": True}
    config = types.SimpleNamespace(
        work_dir=str(tmp_path), logs_dir=str(tmp_path), domains=["example.com",
                                                                 "*.example.com"],
        **{f"dns_autopilot_{k}": v for k, v in (settings | options).items()})
    return Authenticator(config, "dns-autopilot"), calls


SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def as_nobody(code: str) -> subprocess.Popen[str]:
    """Run ``code`` as the unprivileged user ``nobody``; it prints "ready" once set up."""
    return subprocess.Popen([SYSTEM_PYTHON, "-c", textwrap.dedent(code)], user=NOBODY,
                            group=NOBODY, extra_groups=[], stdout=subprocess.PIPE, text=True,
                            cwd="/")


#: what a loopback HTTP server is handed per request (method, path, headers, body), and what
#: it answers (status, headers, body)
Request = tuple[str, str, dict[str, str], bytes]
Reply = tuple[int, dict[str, str], bytes]


@contextlib.contextmanager
def http_server(answer: Callable[[Request], Reply], host: str = "127.0.0.1",
                tls: Path | None = None) -> Iterator[tuple[str, list[Request]]]:
    """A real HTTP server on a loopback address, answering each request with ``answer``
    (over HTTPS with ``tls``, a PEM file of certificate and key: `loopback_tls`); yields its
    base URL and every request it received."""
    import ssl

    received: list[Request] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = (self.command, self.path, dict(self.headers.items()),
                       self.rfile.read(length))
            received.append(request)
            status, headers, body = answer(request)
            self.send_response(status)
            for name, text in headers.items():
                self.send_header(name, text)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def planted(code: str) -> subprocess.Popen[str]:
    proc = as_nobody(code)
    assert proc.stdout and proc.stdout.readline().strip() == "ready"
    return proc


class DNSWorld:
    """Recorded DNS for the probes: zones written as zone-file text, the addresses serving
    each, and the resolvers' addresses; every request through the door (`dnsio.Exchange`)
    gets the response such a server gives, as a real ``dns.message`` built with
    ``make_response``. An authoritative address (recursion off) answers from its deepest
    zone holding the name: records with AA, a referral (NS, no AA) below a zone cut, NODATA
    or NXDOMAIN with the SOA; REFUSED for a name it does not serve. A resolver answers from
    every zone, following CNAMEs, with RRSIGs when asked for DNSSEC. ``script`` replaces
    the answer of one address (to one name and type, or all): an rcode, no AA, or silence.
    """

    def __init__(self, resolvers: tuple[str, ...] = ("198.51.100.53",)) -> None:
        self.resolvers = set(resolvers)
        self.served: dict[str, list[object]] = {}  # address -> zones
        self.scripts: list[tuple[str, str | None, str | None, str, dict[str, object]]] = []
        self.asked: list[tuple[str, str, str, bool]] = []  # address, name, type, recursion
        self.cache: list[object] = []  # zones the resolvers answer from first (`remember`)

    def serve(self, addresses: tuple[str, ...] | str, origin: str, text: str) -> object:
        """``addresses`` serve the zone ``origin`` made of ``text`` (relative names allowed);
        returns the ``dns.zone.Zone`` for records added by hand (keys, signatures)."""
        import dns.zone

        zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
        for address in (addresses,) if isinstance(addresses, str) else addresses:
            self.served.setdefault(address, []).append(zone)
        return zone

    @staticmethod
    def root() -> object:
        """The root zone as a primed resolver knows it (its SOA), for a world that serves
        none: the one question every run asks each resolver first."""
        import dns.zone

        return dns.zone.from_text("@ 86400 IN SOA a.root-servers.net. nstld.verisign-grs.com. "
                                  "1 1800 900 604800 86400\n@ 518400 IN NS a.root-servers.net.\n",
                                  origin=".", relativize=False, check_origin=False)

    def remember(self, origin: str, text: str) -> None:
        """The resolvers hold this copy of the zone ``origin`` in their cache (an old
        delegation, an old value): they answer from it before any zone a server serves."""
        import dns.zone

        self.cache.insert(0, dns.zone.from_text(text, origin=origin, relativize=False,
                                                check_origin=False))

    def script(self, address: str, answer: str, name: str | None = None,
               rdtype: str | None = None, **flags: object) -> None:
        """``answer``: an rcode (REFUSED, SERVFAIL…), ``silent`` (nothing comes back over UDP
        nor TCP), ``truncated`` (UDP truncated, nothing over TCP) or ``lame`` (the usual
        records without the AA bit). ``unless_cd``: only
        when the request does not set Checking Disabled (a validating resolver)."""
        self.scripts.insert(0, (address, name and name.lower().rstrip("."), rdtype, answer,
                                flags))

    def __call__(self, server, request, timeout=0.0):
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype

        from certbot_dns_autopilot import dnsio

        question = request.question[0]
        name = question.name.to_text(omit_final_dot=True).lower() or "."
        rdtype = dns.rdatatype.to_text(question.rdtype)
        recurse = bool(request.flags & dns.flags.RD)
        self.asked.append((server.address, name, rdtype, recurse))
        if request.had_tsig:
            request.to_wire()  # signed as a client sends it: the response signs over its MAC
        response = dns.message.make_response(request)
        response.want_dnssec(bool(request.ednsflags & dns.flags.DO))  # a server echoes DO
        for address, sname, stype, answer, flags in self.scripts:
            if address != server.address or sname not in (None, name) or \
                    stype not in (None, rdtype):
                continue
            if flags.get("unless_cd") and request.flags & dns.flags.CD:
                continue
            if answer == "silent":
                raise dnsio.Unreachable("UDP: no answer in 1.3 s; TCP: no answer in 0.7 s",
                                        True)
            if answer == "truncated":  # UDP said TC, TCP port 53 dropped
                raise dnsio.Unreachable("UDP: truncated (TC, larger than 1232 bytes); TCP: "
                                        "no answer in 0.7 s", False, truncated=True)
            if answer != "lame":
                response.set_rcode(dns.rcode.from_text(answer))
                return self._wire(request, response)
            self._answer(response, server.address, question, recurse)
            response.flags &= ~dns.flags.AA
            return self._wire(request, response)
        if server.address not in self.served and server.address not in self.resolvers:
            raise dnsio.Unreachable("UDP: no answer in 1.3 s; TCP: no answer in 0.7 s", True)
        if server.address in self.resolvers and recurse:
            response.flags |= dns.flags.RA
        self._answer(response, server.address, question, recurse)
        return self._wire(request, response)  # as it comes off the wire

    @staticmethod
    def _wire(request, response):
        """The response as it comes off the wire; a signed request gets a signed response,
        checked with the request's key as a client checks it."""
        import dns.message

        return dns.message.from_wire(response.to_wire(), keyring=request.keyring,
                                     request_mac=request.mac if request.had_tsig else b"")

    def _zone_for(self, zones, name, rdtype):
        """The deepest zone holding ``name`` (for DS: strictly above it, at the parent)."""
        import dns.rdatatype

        fits = [z for z in zones if name.is_subdomain(z.origin)
                and not (rdtype == dns.rdatatype.DS and name == z.origin)]
        return max(fits, key=lambda z: len(z.origin), default=None)

    def _answer(self, response, address, question, recurse) -> None:
        import dns.flags
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        resolver = address in self.resolvers and recurse
        # A resolver answers from what it cached first (`remember`), then from every zone,
        # then from the root it was primed with.
        zones = self.cache + [z for zs in self.served.values() for z in zs] + [self.root()] \
            if resolver else self.served.get(address, [])
        name, rdtype = question.name, question.rdtype
        want_sigs = bool(response.ednsflags & dns.flags.DO) or resolver
        for _ in range(8):  # a resolver follows CNAMEs; an authoritative server does not
            zone = self._zone_for(zones, name, rdtype)
            if zone is None:
                response.set_rcode(dns.rcode.REFUSED)
                return
            if not resolver:
                response.flags |= dns.flags.AA
            cut = self._cut(zone, name, rdtype)
            if cut is not None:  # a delegation below this zone: refer, without authority
                response.flags &= ~dns.flags.AA
                delegated = zone.get_rdataset(cut, "NS")
                response.authority.append(dns.rrset.from_rdata_list(cut, delegated.ttl,
                                                                    delegated))
                for host in (r.target for r in delegated):  # glue, as a parent sends it
                    for kind in ("A", "AAAA"):
                        glue = zone.get_rdataset(host, kind) if host.is_subdomain(
                            zone.origin) else None
                        if glue is not None:
                            response.additional.append(
                                dns.rrset.from_rdata_list(host, glue.ttl, glue))
                return
            node = zone.get_node(name)
            found = node.get_rdataset(dns.rdataclass.IN, rdtype) if node else None
            if found is not None:
                response.answer.append(dns.rrset.from_rdata_list(name, found.ttl, found))
                sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rdtype)
                if want_sigs and sigs is not None:
                    response.answer.append(dns.rrset.from_rdata_list(name, sigs.ttl, sigs))
                return
            alias = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME) if node else None
            if alias is not None:
                response.answer.append(dns.rrset.from_rdata_list(name, alias.ttl, alias))
                if not resolver:
                    return
                name = alias[0].target
                continue
            below = any(n.is_subdomain(name) for n in zone.nodes)
            if node is None and not below:
                response.set_rcode(dns.rcode.NXDOMAIN)
            soa = zone.get_rdataset(zone.origin, "SOA")
            response.authority.append(dns.rrset.from_rdata_list(zone.origin, soa.ttl, soa))
            if want_sigs:  # the denial's proof: the NSEC records whose range holds the name
                for owner, proof in self._proofs(zone, name):
                    response.authority.append(dns.rrset.from_rdata_list(owner, proof.ttl,
                                                                        proof))
            return

    @staticmethod
    def _proofs(zone, name):
        """The zone's NSEC records at ``name`` (NODATA) or whose range covers it."""
        import dns.rdataclass
        import dns.rdatatype

        for owner, node in zone.nodes.items():
            owner = owner if owner.is_absolute() else owner.derelativize(zone.origin)
            nsec = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC)
            if nsec is None:
                continue
            following = nsec[0].next
            inside = owner < name < following if owner < following else \
                (name > owner or name < following)
            if owner == name or inside:
                yield owner, nsec

    @staticmethod
    def _cut(zone, name, rdtype):
        """The delegation point between the zone's apex and ``name`` (DS at a cut is the
        parent's own record), or None."""
        import dns.rdatatype

        cut = name
        while cut != zone.origin:
            is_target = cut == name and rdtype == dns.rdatatype.DS
            if not is_target and zone.get_rdataset(cut, "NS") is not None:
                return cut
            cut = cut.parent()
        return None


def zones_of(recorded: DNSWorld, resolver: str = "198.51.100.53") -> Any:
    """The run's `zones.Zones` on recorded answers: the resolver at ``resolver`` and every
    authoritative address answer through ``recorded`` (nothing reaches the network)."""
    from certbot_dns_autopilot import dnsio
    from certbot_dns_autopilot.zones import Zones

    return Zones(dnsio.Recursive([dnsio.Server(resolver)], exchange=recorded),
                 dnsio.Reach(exchange=recorded))


class FixedZones:
    """`zones.Zones` for tests on scripted `Answer` values (which have no whole responses
    to walk delegations in): each zone's nameserver hosts are given, their addresses come
    from ``recursive.addresses``, the zone of a name is the longest listed zone enclosing
    it; the reach and resolvers are the test's."""

    def __init__(self, recursive: Any, reach: Any, hosts: dict[str, list[str]]) -> None:
        self.recursive, self.reach, self.hosts = recursive, reach, hosts
        self.extra: dict[str, list[Any]] = {}

    def zone_of(self, name: str) -> str:
        found = [z for z in self.hosts if name == z or name.endswith("." + z) or not z]
        return max(found, key=len, default="")

    def delegation(self, zone: str) -> Any:
        from certbot_dns_autopilot import dnsio
        from certbot_dns_autopilot.zones import Delegation

        hosts = tuple(self.hosts.get(zone, ()))
        servers = tuple(sorted(dnsio.Server(address=a, name=h) for h in hosts
                               for a in self.recursive.addresses(h)))
        return Delegation(zone, None, hosts, hosts, servers, via="given by the test")

    def servers(self, zone: str) -> list[Any]:
        return sorted(set(self.delegation(zone).servers) | set(self.extra.get(zone, ())))

    def also_serving(self, zone: str, servers: Any) -> None:
        self.extra.setdefault(zone, []).extend(servers)


def write_cert(path: Path, names: list[str], not_before: datetime, days: float = 90) -> None:
    """A self-signed certificate for ``names``, valid ``days`` from ``not_before``, as a
    lineage's archive holds one (the rate-limit probe and doctor --all read them)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def loopback_tls(path: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 and 127.0.0.2 and its key in one PEM file: for
    `http_server`'s ``tls``, and for clients to trust (REQUESTS_CA_BUNDLE, SSL_CERT_FILE)."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now().astimezone()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(f"127.0.0.{i}")) for i in (1, 2)]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path
