"""Every DNS message goes through dnsio: the writers' UPDATEs and queries too, so a test can
hand the writer recorded answers by replacing one function (`dnsio.send`)."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

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


def test_only_dnsio_imports_dnspythons_transports() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "dnsio.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n in ("dns.query", "dns.asyncquery") for n in names), path


class Recorded:
    """A server that answers every message with ``rcode`` and remembers what it got."""

    def __init__(self, rcode: int = dns.rcode.NOERROR) -> None:
        self.rcode, self.sent = rcode, []

    def __call__(self, message, address, port=53, timeout=0.0, tcp=False):
        self.sent.append((message, address, port, tcp))
        response = dns.message.make_response(message)
        response.set_rcode(self.rcode)
        return response


def writer() -> RFC2136Writer:
    return RFC2136Writer(dnsio.Server("192.0.2.53", 5353), "acme-key", SECRET, "HMAC-SHA512")


def test_an_add_is_one_signed_update_with_the_values_quoted(monkeypatch) -> None:
    server = Recorded()
    monkeypatch.setattr(dnsio, "send", server)
    writer().add("example.com", {"_acme-challenge.example.com": {"a", 'b"c'}}, 60)
    [(message, address, port, tcp)] = server.sent
    assert (address, port, tcp) == ("192.0.2.53", 5353, False)
    assert message.opcode() == dns.opcode.UPDATE and message.had_tsig
    assert sorted(r.to_text() for rrset in message.update for r in rrset) == ['"a"', '"b\\"c"']


def test_a_batch_too_large_for_one_datagram_goes_over_tcp(monkeypatch) -> None:
    server = Recorded()
    monkeypatch.setattr(dnsio, "send", server)
    names = {f"_acme-challenge.n{i}.example.com": {"v" * 43} for i in range(40)}
    writer().add("example.com", names, 60)
    assert [tcp for *_, tcp in server.sent] == [True]


@pytest.mark.parametrize(("rcode", "code"), [(dns.rcode.REFUSED, "permission-denied"),
                                             (dns.rcode.NOTZONE, "zone-not-found")])
def test_a_refused_update_is_one_error_with_its_code(monkeypatch, rcode, code) -> None:
    monkeypatch.setattr(dnsio, "send", Recorded(rcode))
    with pytest.raises(AutopilotError) as refused:
        writer().add("example.com", {"_acme-challenge.example.com": {"a"}}, 60)
    assert refused.value.code == code and SECRET not in str(refused.value)
