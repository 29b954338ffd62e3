"""Reading a round of answers: served or not, and which code a timeout deserves."""

from __future__ import annotations

from certbot_dns_autopilot.dnsio import Answer, Server
from certbot_dns_autopilot.propagation import (
    Observation,
    authoritative_code,
    cached_wait,
    pending,
)

NS1 = Server("192.0.2.1", name="ns1.example")
NS2 = Server("192.0.2.2", name="ns2.example")
WANT = frozenset({"v1", "v2"})


def obs(server: Server, answer: Answer) -> Observation:
    return Observation(server, "_acme-challenge.example", WANT, answer)


def test_served_needs_every_expected_value_and_tolerates_others() -> None:
    assert obs(NS1, Answer("NOERROR", frozenset({"v1", "v2", "theirs"}), authoritative=True)).served
    assert not obs(NS1, Answer("NOERROR", frozenset({"v1"}), authoritative=True)).served
    assert not obs(NS1, Answer("NXDOMAIN", authoritative=True)).served
    assert not obs(NS1, Answer("TIMEOUT")).served


def test_pending_keeps_only_servers_behind() -> None:
    ok = obs(NS1, Answer("NOERROR", WANT, authoritative=True))
    behind = obs(NS2, Answer("NXDOMAIN", authoritative=True))
    assert pending([ok, behind]) == [behind]


def test_timeout_code_lame_when_a_server_does_not_answer_with_authority() -> None:
    for answer in (Answer("TIMEOUT"), Answer("REFUSED"), Answer("NOERROR", frozenset())):
        assert authoritative_code([obs(NS2, answer)], {NS1: 5, NS2: 5}) == "lame-delegation"


def test_timeout_code_secondary_lag_when_its_serial_is_behind() -> None:
    behind = obs(NS2, Answer("NXDOMAIN", authoritative=True, serial=4))
    assert authoritative_code([behind], {NS1: 5, NS2: 4}) == "secondary-lag"


def test_timeout_code_plain_when_serials_agree() -> None:
    behind = obs(NS2, Answer("NXDOMAIN", authoritative=True, serial=5))
    assert authoritative_code([behind], {NS1: 5, NS2: 5}) == "propagation-timeout"


def test_a_cached_answer_is_waited_out_for_its_ttl() -> None:
    assert cached_wait(Answer("NXDOMAIN", ttl=42)) == 43.0
    assert cached_wait(Answer("TIMEOUT")) == 1.0


def test_row_gives_the_answer_and_a_dig_line() -> None:
    row = obs(NS2, Answer("NOERROR", frozenset({"old"}), authoritative=True)).row()
    assert 'ns2.example (192.0.2.2): NOERROR "old"' in row
    assert "missing 2 of 2" in row
    assert "dig @192.0.2.2 _acme-challenge.example TXT +norecurse" in row
