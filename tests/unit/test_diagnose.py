"""The diagnosis rules on hand-built evidence: one case per code the hint can give."""

from __future__ import annotations

import pytest

from certbot_dns_autopilot.answers import Observation
from certbot_dns_autopilot.diagnose import diagnose, how_differs
from certbot_dns_autopilot.diagnose.ca_errors import read
from certbot_dns_autopilot.diagnose.evidence import Evidence
from certbot_dns_autopilot.dnsio import Answer, Server
from certbot_dns_autopilot.preflight.findings import ERROR, WARNING, Finding

ORIGIN = "_acme-challenge.www.example.com"
V, OTHER = "expected-token-AbC", "wildcard-token-XyZ"
NS1 = Server("192.0.2.1", name="ns1.example.com")
NS2 = Server("192.0.2.2", name="ns2.example.com")
PRIMARY = Server("192.0.2.9", name="hidden.example.com (SOA primary)")
RESOLVER = Server("198.51.100.53")
NXDOMAIN = read("urn:ietf:params:acme:error:dns",
                f"DNS problem: NXDOMAIN looking up TXT for {ORIGIN} - check that a DNS record "
                "exists for this domain")
WRONG = read("urn:ietf:params:acme:error:unauthorized", "Correct value not found for DNS challenge")


def auth(*answers: Answer, name: str = ORIGIN) -> tuple[Observation, ...]:
    return tuple(Observation(s, name, frozenset({V}), a) for s, a in zip((NS1, NS2), answers,
                                                                         strict=False))


def served(*values: str, ttl: int = 60) -> Answer:
    return Answer("NOERROR", frozenset(values), ttl=ttl, authoritative=True)


def resolver(answer: Answer) -> tuple[Observation, ...]:
    return (Observation(RESOLVER, ORIGIN, frozenset({V}), answer, recurse=True),)


def evidence(**fields: object) -> Evidence:
    base: dict[str, object] = {
        "origin": ORIGIN, "target": ORIGIN, "zone": "example.com",
        "run_values": frozenset({V}), "authoritative": auth(served(V), served(V)),
        "serials": ((NS1, 7), (NS2, 7)), "resolvers": resolver(served(V)),
        "chain_target": ORIGIN, "negative_ttl": 60}
    return Evidence(**(base | fields))  # type: ignore[arg-type]


NX = Answer("NXDOMAIN", ttl=60, authoritative=True)
CASES = [
    ("the CAA probe refuses", "caa-blocked", read("caa", "CAA record for www.example.com "
                                                  "prevents issuance"),
     evidence(findings=(Finding("caa-blocked", ERROR, "www.example.com", "CAA forbids",
                                "example.com. CAA 0 issue \"other.example\"", "add it"),))),
    ("a stale DS", "dnssec-broken", read("dns", f"DNS problem: looking up TXT for {ORIGIN}: "
                                         "DNSSEC: Bogus"),
     evidence(findings=(Finding("dnssec-broken", ERROR, "example.com", "no DNSKEY matches",
                                "DS 1", "fix the DS"),))),
    ("the CNAME moved", "cname-alias", NXDOMAIN,
     evidence(chain_target="_acme-challenge.elsewhere.example.net", chain_text="a -> b")),
    ("a nameserver refuses", "lame-delegation", NXDOMAIN,
     evidence(authoritative=auth(served(V), Answer("REFUSED")))),
    ("quotes added", "wrong-value", WRONG,
     evidence(authoritative=auth(served(f'"{V}"'), served(f'"{V}"')))),
    ("replaced by another value", "wrong-value", WRONG,
     evidence(authoritative=auth(served("totally-different"), served("totally-different")))),
    ("one value per name kept", "multiple-values", WRONG,
     evidence(run_values=frozenset({V, OTHER}),
              authoritative=auth(served(OTHER), served(OTHER)))),
    ("written at the doubled name", "wrong-name", NXDOMAIN,
     evidence(authoritative=auth(NX, NX),
              doubled=Observation(NS1, f"{ORIGIN}.example.com", frozenset({V}), served(V)))),
    ("a secondary behind the hidden primary", "secondary-lag", NXDOMAIN,
     evidence(authoritative=auth(served(V), NX), serials=((NS1, 8), (NS2, 7), (PRIMARY, 8)))),
    ("nobody serves it at the newest serial", "propagation-timeout", NXDOMAIN,
     evidence(authoritative=auth(NX, NX))),
    ("an old set cached", "stale-record", WRONG,
     evidence(authoritative=auth(served(V, "old"), served(V, "old")),
              findings=(Finding("stale-record", WARNING, ORIGIN, "old", "", "remove",
                                values=("old",), where=("example.com", ORIGIN), ttl=3600),))),
    ("a negative answer cached at our resolver", "resolver-disagreement", NXDOMAIN,
     evidence(resolvers=resolver(Answer("NXDOMAIN", ttl=42)))),
    ("the CA's resolver alone is behind", "resolver-disagreement", NXDOMAIN, evidence()),
    ("no nameserver reachable from here", "unreachable", NXDOMAIN,
     evidence(authoritative=auth(Answer("TIMEOUT"), Answer("UNREACHABLE", error="no route")))),
]
ALIAS = "_acme-challenge.www.acme.example.net"


def links(*answers: Answer) -> tuple[Observation, ...]:
    """The CNAME ORIGIN -> ALIAS asked of NS1, NS2 (the value itself written at ALIAS)."""
    return tuple(Observation(s, ORIGIN, frozenset({ALIAS}), a, rdtype="CNAME",
                             zone="example.com")
                 for s, a in zip((NS1, NS2), answers, strict=False))


CNAMED = Answer("NOERROR", authoritative=True, cname=ALIAS)
CASES.append(("a secondary without the chain's CNAME", "secondary-lag", NXDOMAIN,
              evidence(target=ALIAS, chain_target=ALIAS, zone="example.net",
                       authoritative=auth(served(V), served(V), name=ALIAS),
                       links=links(CNAMED, Answer("NXDOMAIN", ttl=60, authoritative=True,
                                                  serial=6)))))


NO_TXT = read("urn:ietf:params:acme:error:unauthorized",
              f"No TXT record found at {ORIGIN}")
BIG = Answer("NOERROR", frozenset({V, *(f"old-{i:02d}" for i in range(20))}), ttl=60,
             authoritative=True, size=1296)
CASES += [
    ("an answer past 1232 bytes and the CA found no TXT", "oversized-answer", NO_TXT,
     evidence(authoritative=auth(BIG, BIG))),
    ("an address that truncates and drops TCP", "oversized-answer", NXDOMAIN,
     evidence(authoritative=auth(served(V), Answer("TRUNCATED", error="UDP: truncated (TC, "
                                                    "larger than 1232 bytes); TCP: no answer")))),
    ("served when the wait ended, gone now", "write-conflict", WRONG,
     evidence(authoritative=auth(served("theirs"), served("theirs")),
              served=frozenset({NS1, NS2}))),
    ("a resolver denying it from a cached NSEC", "cached-denial", NXDOMAIN,
     evidence(resolvers=resolver(Answer("NXDOMAIN", ttl=60, recursion=True,
                                        denial="www.example.com. 45 IN NSEC example.com. A",
                                        denial_ttl=45)))),
    ("the CA's resolver in a zone signed with NSEC", "cached-denial", NXDOMAIN,
     evidence(denials="nsec")),
]


@pytest.mark.parametrize(("desc", "code", "reading", "ev"), CASES, ids=[c[0] for c in CASES])
def test_each_cause_gets_its_code_with_evidence_and_fix(desc: str, code: str, reading,
                                                        ev: Evidence) -> None:
    diagnosis = diagnose("www.example.com", V, reading, ev)
    assert diagnosis.code == code, diagnosis
    assert diagnosis.fix and diagnosis.problem
    assert f"[{code}] www.example.com: " in diagnosis.text()
    assert diagnosis.as_dict()["docs"].endswith(f"#{code}")


def test_the_stale_ttl_is_the_one_seen_before_the_write() -> None:
    _, _, reading, ev = CASES[10]
    diagnosis = diagnose("www.example.com", V, reading, ev)
    assert "3600 s" in diagnosis.problem and '"old" (TTL 3600)' in "\n".join(diagnosis.evidence)


def test_a_lagging_secondary_names_the_serials_and_a_dig_line() -> None:
    _, _, reading, ev = CASES[8]
    diagnosis = diagnose("www.example.com", V, reading, ev, wait_off=True)
    assert "zone SOA serial at hidden.example.com (SOA primary) (192.0.2.9): 8" in \
        diagnosis.evidence
    assert diagnosis.dig == f"dig @192.0.2.2 {ORIGIN} TXT +norecurse"
    assert "the wait was off" in diagnosis.problem and "timeout 0" in diagnosis.fix


def test_incomplete_evidence_is_said() -> None:
    diagnosis = diagnose("www.example.com", V, NXDOMAIN,
                         evidence(incomplete="no answer within 15 s for: resolvers"))
    assert "(evidence incomplete: no answer within 15 s for: resolvers)" in diagnosis.text()


@pytest.mark.parametrize(("served", "how"), [
    ('"abc-def"', "surrounding quotes"), (" abc-def ", "leading or trailing whitespace"),
    ("abc- def", "whitespace inside it"), ("ABC-DEF", "letter case"),
    ("abc-d", "being cut short (5 of 7 characters)"), ("abc-defx", "extra characters at the end"),
    ("unrelated", None), ("abc-def", None)])
def test_near_misses_are_named(served: str, how: str | None) -> None:
    assert how_differs(served, "abc-def") == how


def test_addresses_not_checked_from_here_are_named_as_suspects() -> None:
    silent = Answer("TIMEOUT", error="UDP: no answer in 1.3 s; TCP: refused")
    found = diagnose("www.example.com", V, NXDOMAIN,
                     evidence(authoritative=auth(served(V), silent)))
    assert found.code == "resolver-disagreement", "a silent server is not a lame one"
    assert "1 address(es) could not be checked from this host: suspects too" in found.problem
    assert found.evidence[0] == ("suspects, not checked from this host: "
                                 "ns2.example.com (192.0.2.2)")
    assert "every nameserver reached" in found.problem  # not every one: the suspects


def test_a_refusing_server_beside_a_silent_one_is_still_lame() -> None:
    found = diagnose("www.example.com", V, NXDOMAIN,
                     evidence(authoritative=auth(Answer("REFUSED"), Answer("TIMEOUT"))))
    assert found.code == "lame-delegation"
    assert "ns1.example.com (192.0.2.1): REFUSED" in found.evidence


def test_a_secondary_without_the_chains_cname_is_named_with_the_cname_and_a_dig_line() -> None:
    [(_, _, reading, ev)] = [c for c in CASES if c[0] == "a secondary without the chain's CNAME"]
    diagnosis = diagnose("www.example.com", V, reading, ev)
    assert f"do not serve the CNAME {ORIGIN} -> {ALIAS}" in diagnosis.problem
    assert "ns2.example.com (192.0.2.2): NXDOMAIN serial=6 [not the CNAME to " \
        f"{ALIAS}]" in diagnosis.evidence
    assert diagnosis.dig == f"dig @192.0.2.2 {ORIGIN} CNAME +norecurse"
    everywhere = diagnose("www.example.com", V, reading,
                          evidence(target=ALIAS, chain_target=ALIAS, zone="example.net",
                                   authoritative=auth(served(V), served(V), name=ALIAS),
                                   links=links(CNAMED, CNAMED)))
    assert everywhere.code == "resolver-disagreement", "served everywhere: not this cause"


def test_the_cas_cached_negative_answer_says_the_other_cause_that_fits() -> None:
    """Nothing seen contradicts either a negative answer cached at the CA's resolver or
    another view: both are said, the likelier first; a signed zone puts the NSEC denial
    first and the negative answer second."""
    unsigned = diagnose("www.example.com", V, NXDOMAIN, evidence())
    assert unsigned.code == "resolver-disagreement" and "cached before" in unsigned.problem
    assert [a.split(" (")[0] for a in unsigned.also] == ["the CA reads another view"]
    assert "Also possible: the CA reads another view" in unsigned.text()
    signed = diagnose("www.example.com", V, NXDOMAIN, evidence(denials="nsec"))
    assert signed.code == "cached-denial" and "aggressive negative caching" in signed.problem
    assert signed.also[0].startswith("the CA's resolver held a negative answer for this very "
                                     "name") and "another view" in signed.also[1]


def test_truncation_is_named_before_any_cache_theory() -> None:
    """20 leftover values make the answer 1296 bytes: the CA's 'no TXT' is truncation, not
    a negative answer its resolver cached (which the old rules said)."""
    found = diagnose("www.example.com", V, NO_TXT, evidence(authoritative=auth(BIG, BIG)))
    assert "1296 bytes, larger than 1232" in found.problem
    assert "--dns-autopilot-remove-stale true" in found.fix and "TCP port 53" in found.fix
    assert found.dig.endswith("+tcp")
    small = diagnose("www.example.com", V, NO_TXT, evidence())
    assert small.code != "oversized-answer"


def test_a_value_gone_where_the_wait_never_saw_it_is_not_called_removed() -> None:
    """Only addresses the wait saw serving the value count: without that evidence (the wait
    off), a value served nowhere is the old reading, not another writer."""
    found = diagnose("www.example.com", V, WRONG,
                     evidence(authoritative=auth(served("theirs"), served("theirs"))))
    assert found.code == "wrong-value"
