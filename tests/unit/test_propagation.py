"""Reading a round of answers: served or not, and which code a timeout deserves."""

from __future__ import annotations

import pytest

from certbot_dns_autopilot.answers import (
    BEHIND,
    LAME,
    SERVING,
    UNREACHABLE,
    Observation,
    authoritative_code,
    cached_wait,
    classify,
    cname_targets,
    is_lame,
    pending,
    unverified_line,
    zones_code,
)
from certbot_dns_autopilot.dnsio import Answer, Server

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


def test_timeout_code_lame_when_a_server_answers_without_authority() -> None:
    for answer in (Answer("REFUSED"), Answer("SERVFAIL"), Answer("NOTAUTH"),
                   Answer("ERROR", error="unreadable"), Answer("NOERROR", frozenset())):
        assert authoritative_code([obs(NS2, answer)], {NS1: 5, NS2: 5}) == "lame-delegation"


def test_an_address_that_answers_nothing_never_decides_the_code() -> None:
    lagging = obs(NS1, Answer("NXDOMAIN", authoritative=True, serial=4))
    for silent in (Answer("TIMEOUT", error="UDP: no answer in 1.3 s; TCP: no answer in 0.7 s"),
                   Answer("UNREACHABLE", error="no route (network unreachable)")):
        assert authoritative_code([obs(NS2, silent)], {NS1: 5}) == "propagation-timeout"
        assert authoritative_code([obs(NS2, silent), lagging], {NS1: 4, NS2: None,
                                                                Server("192.0.2.9"): 5}
                                  ) == "secondary-lag"


@pytest.mark.parametrize("answer, status", [
    (Answer("NOERROR", frozenset({"v1", "v2", "x"}), authoritative=True), SERVING),
    (Answer("NOERROR", frozenset({"v1"}), authoritative=True), BEHIND),
    (Answer("NOERROR", frozenset({"old"}), authoritative=True, serial=3), BEHIND),
    (Answer("NXDOMAIN", authoritative=True), BEHIND),
    (Answer("NOERROR", WANT), LAME),  # no AA bit
    (Answer("NXDOMAIN"), LAME),
    (Answer("REFUSED"), LAME),
    (Answer("SERVFAIL"), LAME),
    (Answer("NOTAUTH", authoritative=True), LAME),
    (Answer("ERROR", error="bad EDNS"), LAME),
    (Answer("TIMEOUT"), UNREACHABLE),
    (Answer("UNREACHABLE", error="refused"), UNREACHABLE),
], ids=["serving", "behind-some", "behind-other", "behind-nxdomain", "no-aa", "nxdomain-no-aa",
        "refused", "servfail", "notauth", "unreadable", "timeout", "network"])
def test_classify_reads_each_answer_one_of_four_ways(answer: Answer, status: str) -> None:
    assert classify(answer, WANT) == status
    assert obs(NS1, answer).status == status
    assert is_lame(answer) == (status == LAME)


def test_unverified_line_names_each_address_once() -> None:
    assert unverified_line([]) == ""
    assert unverified_line([NS2, NS1, NS2]) == ("not checked from this host: "
                                                "ns1.example (192.0.2.1), ns2.example (192.0.2.2)")


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


TO = frozenset({"x.acme.example"})


def test_a_cname_link_is_served_only_with_its_target_and_authority() -> None:
    assert classify(Answer("NOERROR", authoritative=True, cname="x.acme.example"), TO,
                    "CNAME") == SERVING
    assert classify(Answer("NXDOMAIN", authoritative=True), TO, "CNAME") == BEHIND
    assert classify(Answer("NOERROR", authoritative=True, cname="y.acme.example"), TO,
                    "CNAME") == BEHIND
    assert classify(Answer("NOERROR", frozenset({"x.acme.example"}), authoritative=True), TO,
                    "CNAME") == BEHIND, "a TXT holding the name is not the CNAME"
    assert classify(Answer("NOERROR", cname="x.acme.example"), TO, "CNAME") == LAME
    link = Observation(NS2, "_acme-challenge.example", TO, Answer("NXDOMAIN",
                       authoritative=True), rdtype="CNAME")
    assert not link.served
    assert "[not the CNAME to x.acme.example]" in link.row()
    assert "dig @192.0.2.2 _acme-challenge.example CNAME +norecurse" in link.row()
    empty = Observation(NS2, "_acme-challenge.example", TO, Answer("NOERROR",
                        authoritative=True), rdtype="CNAME")
    assert "NOERROR (no CNAME) [not the CNAME to x.acme.example]" in empty.row()


def test_cname_targets_a_server_without_it_is_behind_not_a_vote() -> None:
    with_it = Answer("NOERROR", authoritative=True, cname="x.acme.example")
    assert cname_targets([with_it, Answer("NXDOMAIN", authoritative=True)]) == {"x.acme.example"}
    assert cname_targets([Answer("NXDOMAIN", authoritative=True), Answer("TIMEOUT")]) == set()
    assert cname_targets([Answer("NOERROR", cname="z.example")]) == set(), "no authority"
    assert cname_targets([with_it, Answer("NOERROR", authoritative=True, cname="y.example")]
                         ) == {"x.acme.example", "y.example"}


def test_zones_code_compares_serials_within_each_zone() -> None:
    ns3 = Server("192.0.2.3", name="ns3.alias")
    late = Observation(ns3, "_acme-challenge.x.alias", WANT, Answer("NXDOMAIN",
                       authoritative=True), zone="alias")
    link = Observation(NS2, "_acme-challenge.example", TO, Answer("NXDOMAIN",
                       authoritative=True), rdtype="CNAME", zone="example")
    assert zones_code([late], {"alias": {ns3: 3}, "example": {NS1: 8, NS2: 8}}) == \
        "propagation-timeout"
    assert zones_code([late, link], {"alias": {ns3: 3}, "example": {NS1: 8, NS2: 7}}) == \
        "secondary-lag"
