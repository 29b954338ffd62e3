"""Every DNS message goes through dnsio: the RFC 2136 writer's UPDATEs and questions, and
every probe's questions; tests hand each recorded answers through the functions they are
given (the door's ``exchange``, and the writer's ``send`` for UPDATEs)."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import dns.exception
import dns.message
import dns.opcode
import dns.rcode
import dns.update
import pytest

import certbot_dns_autopilot
from certbot_dns_autopilot import dnsio
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers.rfc2136 import RFC2136Writer

PACKAGE = Path(certbot_dns_autopilot.__file__).parent
SECRET = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


#: dnspython's modules that send messages: only the door may use them.
TRANSPORTS = ("dns.query", "dns.asyncquery", "dns.resolver", "dns.asyncresolver",
              "dns.nameserver")
#: where the probes, the wait and the hint live: they ask through an injected function.
STEPS = ("plan", "preflight", "wait", "diagnose")


def transports_used(source: str) -> set[str]:
    """Every transport module ``source`` imports (``import dns.query``, ``from dns import
    resolver``, ``from dns.query import udp``) or reaches as an attribute (``dns.query.udp``,
    which works wherever another module imported it first)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            found.add(f"{node.value.id}.{node.attr}")
    return {name for name in found for t in TRANSPORTS if name == t or name.startswith(t + ".")}


@pytest.mark.parametrize("source", [
    "import dns.query", "import dns.resolver as r", "from dns import query",
    "from dns.asyncquery import udp", "from dns import asyncresolver",
    "import dns.message\ndns.query.tcp(m, a)", "import dns\nx = dns.resolver.Resolver()",
    "from dns import nameserver"])
def test_the_check_sees_every_spelling_of_a_transport(source: str) -> None:
    assert transports_used(source)


def test_only_dnsio_imports_dnspythons_transports() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "dnsio.py":
            continue
        assert not transports_used(path.read_text()), path


def test_the_steps_ask_through_an_injected_function_never_dnsio_directly() -> None:
    """A step that called `dnsio.ask` or `dnsio.fetch` itself could not be handed recorded
    answers: they take the run's `dnsio.Reach` (its ``ask``, ``query``, ``fetch``)."""
    for step in STEPS:
        for path in sorted((PACKAGE / step).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                        and node.value.id == "dnsio":
                    assert node.attr not in ("ask", "fetch", "exchange", "send"), \
                        f"{path}: dnsio.{node.attr}"


def test_preflight_on_recorded_answers_sends_nothing_to_the_network(monkeypatch) -> None:
    """Every pre-flight probe, given the door's exchange, asks through it and nothing else:
    with sockets gone, the whole pre-flight still runs on the recorded answers."""
    import socket

    from unit_helpers import DNSWorld, zones_of

    from certbot_dns_autopilot import preflight
    from certbot_dns_autopilot.plan.chain import Follower
    from certbot_dns_autopilot.plan.routing import Route

    world = DNSWorld()
    world.serve("192.0.2.10", "test", """
@ 3600 IN SOA ns.test. h.test. 1 3600 600 86400 300
@ 3600 IN NS ns.test.
ns 3600 IN A 192.0.2.10
example 3600 IN NS ns1.example.test.
ns1.example 3600 IN A 192.0.2.1
""")
    world.serve("192.0.2.1", "example.test", """
@ 3600 IN SOA ns1.example.test. h.example.test. 7 3600 600 86400 300
@ 3600 IN NS ns1.example.test.
ns1 3600 IN A 192.0.2.1
""")

    def no_socket(*args, **kwargs):
        raise AssertionError("a message left through a socket, not the door")

    monkeypatch.setattr(socket, "socket", no_socket)
    follower = Follower(zones_of(world, "198.51.100.53"))
    route = Route("_acme-challenge.example.test", "_acme-challenge.example.test",
                  "example.test", writer=object(), chain=None)  # type: ignore[arg-type]
    found = preflight.run([route], ["example.test"], follower.zones, {"letsencrypt.org"})
    assert found == []
    asked = {(address, name, rdtype) for address, name, rdtype, _ in world.asked}
    # The probes' own questions reached the recorded servers: delegation, DNSSEC, CAA, TXT.
    assert {("192.0.2.10", "example.test", "NS"), ("192.0.2.10", "example.test", "DS"),
            ("192.0.2.1", "example.test", "CAA"),
            ("192.0.2.1", "_acme-challenge.example.test", "TXT")} <= asked


class Recorded:
    """A server that answers every message with ``rcode`` and remembers what it got."""

    def __init__(self, rcode: int = dns.rcode.NOERROR) -> None:
        self.rcode, self.sent = rcode, []

    def __call__(self, message, address, port=53, timeout=0.0, tcp=False):
        self.sent.append((message, address, port, tcp))
        response = dns.message.make_response(message)
        response.set_rcode(self.rcode)
        return response


def writer(send=None, exchange=None) -> RFC2136Writer:
    def nothing_else(*args, **kwargs):
        raise AssertionError("a message left through a function the test did not give")

    return RFC2136Writer(dnsio.Server("192.0.2.53", 5353), "acme-key", SECRET, "HMAC-SHA512",
                         send=send or nothing_else, exchange=exchange or nothing_else)


def test_an_add_is_one_signed_update_with_the_values_quoted() -> None:
    server = Recorded()
    writer(server).add("example.com", {"_acme-challenge.example.com": {"a", 'b"c'}}, 60)
    [(message, address, port, tcp)] = server.sent
    assert (address, port, tcp) == ("192.0.2.53", 5353, False)
    assert message.opcode() == dns.opcode.UPDATE and message.had_tsig
    assert sorted(r.to_text() for rrset in message.update for r in rrset) == ['"a"', '"b\\"c"']


def test_a_batch_too_large_for_one_datagram_goes_over_tcp() -> None:
    server = Recorded()
    names = {f"_acme-challenge.n{i}.example.com": {"v" * 43} for i in range(40)}
    writer(server).add("example.com", names, 60)
    assert [tcp for *_, tcp in server.sent] == [True]


@pytest.mark.parametrize(("rcode", "code"), [(dns.rcode.REFUSED, "permission-denied"),
                                             (dns.rcode.NOTZONE, "zone-not-found")])
def test_a_refused_update_is_one_error_with_its_code(rcode, code) -> None:
    with pytest.raises(AutopilotError) as refused:
        writer(Recorded(rcode)).add("example.com", {"_acme-challenge.example.com": {"a"}}, 60)
    assert refused.value.code == code and SECRET not in str(refused.value)


ZONE_TEXT = """
@ 3600 IN SOA ns1.example.com. h.example.com. 7 3600 600 86400 300
@ 3600 IN NS ns1.example.com.
ns1 3600 IN A 192.0.2.53
_acme-challenge.www 60 IN TXT "theirs" "-joined"
"""


def test_the_writers_questions_go_through_the_exchange_it_is_given() -> None:
    """The SOA that names the zone (signed, its answer checked with the key; recursion off)
    and the TXT read back, on recorded answers: below the apex, the first answer's
    authority section names the zone."""
    from unit_helpers import DNSWorld

    world = DNSWorld()
    world.serve("192.0.2.53", "example.com", ZONE_TEXT)
    primary = writer(exchange=world)
    assert primary.find_zone("_acme-challenge.www.example.com") == "example.com"
    assert primary.values("example.com", "_acme-challenge.www.example.com") == {"theirs-joined"}
    assert [(a, n, t, rd) for a, n, t, rd in world.asked] == [
        ("192.0.2.53", "_acme-challenge.www.example.com", "SOA", False),
        ("192.0.2.53", "_acme-challenge.www.example.com", "TXT", False)]


def test_a_primary_that_does_not_answer_is_provider_unreachable(monkeypatch) -> None:
    """Its own server silent is the writer's endpoint not answering, not a lame nameserver
    of the zone: each lost try a retry event, then provider-unreachable naming the key."""
    from unit_helpers import DNSWorld, RecordedEvents

    from certbot_dns_autopilot.writers import retry, rfc2136

    monkeypatch.setattr(rfc2136, "RETRIES", retry.Policy(attempts=3, base=0.0, cap=0.0))
    world = DNSWorld()
    world.script("192.0.2.53", "silent")
    primary = writer(exchange=world)
    primary.events = RecordedEvents()
    with pytest.raises(AutopilotError) as silent:
        primary.find_zone("_acme-challenge.example.com")
    assert silent.value.code == "provider-unreachable"
    assert "did not answer the SOA query for _acme-challenge.example.com" in silent.value.problem
    assert "UDP: no answer" in silent.value.problem
    assert "dns_autopilot_rfc2136_server" in silent.value.fix
    assert len(primary.events.retries) == 2 and len(world.asked) == 3


def test_an_update_whose_answer_never_came_may_have_been_applied(monkeypatch) -> None:
    from certbot_dns_autopilot.writers import retry, rfc2136

    class Lost(Recorded):
        def __call__(self, message, address, port=53, timeout=0.0, tcp=False):
            self.sent.append((message, address, port, tcp))
            raise dns.exception.Timeout

    monkeypatch.setattr(rfc2136, "RETRIES", retry.Policy(attempts=2, base=0.0, cap=0.0))
    server = Lost()
    with pytest.raises(AutopilotError) as lost:
        writer(server).add("example.com", {"_acme-challenge.example.com": {"a"}}, 60)
    assert lost.value.code == "provider-unreachable" and len(server.sent) == 2
    assert "did not answer the update adding 1 TXT value(s)" in lost.value.problem
    assert not lost.value.left_nothing, "a lost answer's UPDATE may have been applied"


@pytest.mark.parametrize(("authority", "covered"), [
    ("www.example.test. 45 IN NSEC example.test. A RRSIG NSEC", True),  # the chain's last
    ("example.test. 45 IN NSEC www.example.test. A NS SOA", False),  # before www, not under
    ("www.example.test. 45 IN NSEC zzz.example.test. A", True),
    ("aaa.example.test. 45 IN NSEC bbb.example.test. A", False),  # elsewhere in the zone
    ("00000000000000000000000000000000.example.test. 45 IN NSEC3 1 0 0 - "
     "VVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVV A", True),  # every hash in range
    ("00000000000000000000000000000000.example.test. 45 IN NSEC3 1 0 0 - "
     "00000000000000000000000000000001 A", False),
])
def test_a_denial_names_the_nsec_record_whose_range_covers_the_name(authority: str,
                                                                    covered: bool) -> None:
    """RFC 8198: a resolver denies a name from a cached NSEC (canonical order) or NSEC3
    (hash order) range that holds it; `covering` finds that record in a response."""
    import dns.message
    import dns.name

    response = dns.message.from_text("id 1\nopcode QUERY\nrcode NXDOMAIN\nflags QR RD RA\n"
                                     ";AUTHORITY\n" + authority + "\n")
    record, ttl = dnsio.covering(response, dns.name.from_text("_acme-challenge.www.example.test"))
    assert (record != "") is covered
    assert (ttl == 45) is covered
