"""Validation names and the grouping of values per name and zone (pure logic)."""

from __future__ import annotations

import pytest

from certbot_dns_autopilot import names, plan


def test_wildcard_shares_the_apex_validation_name() -> None:
    assert names.validation_name("*.Example.COM.") == "_acme-challenge.example.com"
    assert names.validation_name("example.com") == "_acme-challenge.example.com"
    assert names.validation_name("www.example.com") == "_acme-challenge.www.example.com"


def test_idn_names_are_encoded_once() -> None:
    assert names.validation_name("bücher.example") == "_acme-challenge.xn--bcher-kva.example"


def test_ancestors_go_from_specific_to_tld() -> None:
    assert names.ancestors("_acme-challenge.www.example.com") == [
        "_acme-challenge.www.example.com", "www.example.com", "example.com", "com"]


def test_apex_and_wildcard_become_one_name_with_two_values() -> None:
    challenges = [plan.Challenge.of("example.com", "v-apex"),
                  plan.Challenge.of("*.example.com", "v-wild"),
                  plan.Challenge.of("www.example.com", "v-www")]
    targets = plan.group(challenges, lambda c: ("example.com", c.name))
    assert targets == [
        plan.Target("example.com", "_acme-challenge.example.com",
                    frozenset({"v-apex", "v-wild"})),
        plan.Target("example.com", "_acme-challenge.www.example.com", frozenset({"v-www"})),
    ]
    assert plan.by_zone(targets) == {"example.com": {
        "_acme-challenge.example.com": frozenset({"v-apex", "v-wild"}),
        "_acme-challenge.www.example.com": frozenset({"v-www"})}}


def test_names_in_two_zones_make_two_batches() -> None:
    zones = {"_acme-challenge.a.example": "a.example", "_acme-challenge.b.example": "b.example"}
    targets = plan.group([plan.Challenge.of("a.example", "1"), plan.Challenge.of("b.example", "2")],
                         lambda c: (zones[c.name], c.name))
    assert set(plan.by_zone(targets)) == {"a.example", "b.example"}


def test_two_names_aliased_to_one_target_share_its_txt_set() -> None:
    wanted = [plan.Challenge.of("a.example", "1"), plan.Challenge.of("b.example", "2")]
    targets = plan.group(wanted, lambda c: ("acme.example", "_acme-challenge.acme.example"))
    assert targets == [plan.Target("acme.example", "_acme-challenge.acme.example",
                                   frozenset({"1", "2"}))]
    # The CA asks each original name, expecting its own value there.
    assert [(t.name, t.values) for t in plan.origins(wanted)] == [
        ("_acme-challenge.a.example", frozenset({"1"})),
        ("_acme-challenge.b.example", frozenset({"2"}))]


@pytest.mark.parametrize(("identifiers", "requested", "expected"), [
    (["example.com", "example.com"], ["example.com", "*.example.com"],
     ["example.com", "*.example.com"]),  # apex and wildcard: the second is the wildcard
    (["example.com"], ["*.example.com"], ["*.example.com"]),  # the wildcard alone
    (["example.com"], ["example.com", "*.example.com"], ["example.com"]),  # apex still valid?
    (["www.example.com"], ["www.example.com", "*.example.com"], ["www.example.com"]),
    (["Example.COM"], ["*.example.com."], ["*.example.com"]),
    (["example.com"], [], ["example.com"]),  # nothing requested known: as certbot hands it
], ids=["apex-and-wildcard", "wildcard-only", "ambiguous", "other-name", "case", "unknown"])
def test_requested_names_restore_wildcards(identifiers: list[str], requested: list[str],
                                           expected: list[str]) -> None:
    assert plan.requested_names(identifiers, requested) == expected
