"""How an address that answers nothing is read, on real loopback sockets: a socket that
swallows queries (timeout over UDP, then TCP), a closed port (refused at once), and the
run's memory of both (`dnsio.Reach`)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from certbot_dns_autopilot import dnsio
from certbot_dns_autopilot.dnsio import Answer, Reach, Server


@pytest.fixture
def swallower() -> Iterator[Server]:
    """UDP that reads and never answers, and TCP that accepts and never answers."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(8)
    try:
        yield Server("127.0.0.1", port, name="swallow.test")
    finally:
        udp.close()
        tcp.close()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free again once closed: nothing listens there


def test_a_swallowing_address_is_a_timeout_over_udp_and_tcp_within_the_query_timeout(
        swallower: Server) -> None:
    started = time.monotonic()
    answer = dnsio.ask(swallower, "example.test", "SOA", timeout=0.6)
    assert time.monotonic() - started < 0.6 + 0.3, "UDP and TCP share one query timeout"
    assert answer.rcode == "TIMEOUT" and not answer.answered
    assert answer.error.startswith("UDP: no answer in 0.4 s; TCP: no answer in ")


def test_a_closed_port_is_refused_at_once_over_udp_and_tcp() -> None:
    answer = dnsio.ask(Server("127.0.0.1", closed_port()), "example.test", "SOA", timeout=5)
    assert answer.rcode == "UNREACHABLE"
    assert answer.error == "UDP: refused (ICMP port unreachable); TCP: refused (reset)"


def test_reach_asks_a_silent_address_once_per_run() -> None:
    asked: list[str] = []

    def query(server: Server, name: str, rdtype: str, recurse: bool = False) -> Answer:
        asked.append(f"{server.address} {rdtype} {recurse}")
        return Answer("TIMEOUT")

    reach = Reach(query=query)
    silent = Server("127.0.0.9")
    assert reach.ask(silent, "a.test", "SOA").rcode == "TIMEOUT"
    assert reach.ask(silent, "b.test", "TXT").rcode == "TIMEOUT"
    assert reach.ask(silent, "b.test", "TXT", recurse=True).rcode == "TIMEOUT"
    assert asked == ["127.0.0.9 SOA False", "127.0.0.9 TXT True"], "a resolver is asked again"
    assert list(reach.unreachable()) == [silent] and not reach.usable(silent)


def test_reach_leaves_out_a_family_and_everything_when_told() -> None:
    def never(*_: object, **__: object) -> Answer:
        raise AssertionError("not to be asked")

    v6 = Server("fd00::53", name="ns.test")
    reach = Reach("ipv4", query=never)
    assert reach.left_out(v6) and not reach.left_out(Server("127.0.0.1"))
    assert reach.ask(v6, "a.test").error == \
        "ipv6 not checked (--dns-autopilot-address-family ipv4)"
    off = Reach(query=never, authoritative=False)
    assert off.ask(Server("127.0.0.1"), "a.test").error == \
        "not checked (--dns-autopilot-authoritative-check false)"


def test_reach_names_an_address_without_a_route() -> None:
    reach = Reach(route=lambda address: "no route (network unreachable)")
    answer = reach.ask(Server("fd00::53"), "a.test")
    assert answer.rcode == "UNREACHABLE"
    assert answer.error == "this host has no IPv6 route (no route (network unreachable))"
