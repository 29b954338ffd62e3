"""CNAME chains and routes on a small fake DNS: following, loops, dangling targets,
wildcards, explicit aliases and the writer map (the lab tests do the same on BIND)."""

from __future__ import annotations

import pytest
from unit_helpers import FixedZones

from certbot_dns_autopilot.dnsio import Answer, Reach, Server
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.plan import aliases
from certbot_dns_autopilot.plan.chain import Follower
from certbot_dns_autopilot.plan.routing import Router
from certbot_dns_autopilot.writers import WriterMap

# zone -> {owner -> CNAME target}; every zone has one nameserver, ns.<zone>.
ZONES = {
    "example.com": {
        "_acme-challenge.example.com": "_acme-challenge.example.com.acme.example.org",
        "_acme-challenge.two.example.com": "hop.example.net",
        "_acme-challenge.loop.example.com": "loop.example.net",
        "_acme-challenge.dangling.example.com": "_acme-challenge.nowhere.invalid",
        "_acme-challenge.elsewhere.example.com": "_acme-challenge.unwritable.example",
        "*.wc.example.com": "catch-all.example.net",
        "wc.example.com": None,
    },
    "example.net": {
        "hop.example.net": "_acme-challenge.two.acme.example.org",
        "loop.example.net": "_acme-challenge.loop.example.com",
    },
    "acme.example.org": {},
    "unwritable.example": {},
}


class FakeRecursive:
    servers: list[Server] = []

    def addresses(self, host: str) -> list[str]:
        return ["192.0.2.1"]


def zones(query: object, recursive: FakeRecursive | None = None, hosts: int = 1) -> FixedZones:
    """Each zone of ZONES with one nameserver, ns.<zone> (and old.<zone> with two)."""
    names = ["ns", "old"][:hosts]
    return FixedZones(recursive or FakeRecursive(), Reach(query=query),  # type: ignore[arg-type]
                      {z: [f"{n}.{z}" for n in names] for z in ZONES})


def fake_query(server: Server, name: str, rdtype: str, recurse: bool = False) -> Answer:
    zone = server.name.removeprefix("ns.")
    records = ZONES[zone]
    if name in records:
        return Answer("NOERROR", authoritative=True, cname=records[name])
    parent = name.split(".", 1)[1]
    if f"*.{parent}" in records:
        return Answer("NOERROR", authoritative=True, cname=records[f"*.{parent}"])
    return Answer("NXDOMAIN", authoritative=True)


class FakeWriter:
    def __init__(self, label: str) -> None:
        self.label = label

    def find_zone(self, name: str) -> str:
        return zones(fake_query).zone_of(name)


MAIN, ACME = FakeWriter("main"), FakeWriter("acme")


def router(alias_text: str = "", follow: bool = True, map_: WriterMap | None = None) -> Router:
    writers = map_ or WriterMap([(MAIN, ("example.com", "example.net")),
                                 (ACME, ("acme.example.org",))])
    return Router(writers, Follower(zones(fake_query)),  # type: ignore[arg-type]
                  aliases.parse(alias_text), follow_cnames=follow)


def test_a_cross_zone_alias_is_written_at_its_target_by_the_targets_writer() -> None:
    route = router().route("*.example.com")
    assert route.origin == "_acme-challenge.example.com"
    assert route.name == "_acme-challenge.example.com.acme.example.org"
    assert route.zone == "acme.example.org" and route.writer is ACME
    assert [h.name for h in route.chain.hops] == [route.origin, route.name]


def test_a_two_hop_chain_is_followed_to_its_end() -> None:
    route = router().route("two.example.com")
    assert route.name == "_acme-challenge.two.acme.example.org"
    assert len(route.chain.hops) == 3


def test_a_name_without_cname_is_written_in_place() -> None:
    route = router().route("plain.example.com")
    assert route.name == "_acme-challenge.plain.example.com" and route.writer is MAIN


def test_following_off_writes_at_the_original_name() -> None:
    route = router(follow=False).route("example.com")
    assert route.name == "_acme-challenge.example.com" and route.chain is None


@pytest.mark.parametrize("domain, code, words", [
    ("loop.example.com", "cname-alias", "loops"),
    ("dangling.example.com", "cname-alias", "dangling"),
    ("elsewhere.example.com", "cname-alias", "no configured writer serves"),
    ("wc.example.com", "cname-alias", "wildcard *.wc.example.com"),
    ("example.invalid", "zone-not-found", "no zone encloses"),
])
def test_unsafe_chains_stop_with_their_code_and_the_chain(domain: str, code: str,
                                                          words: str) -> None:
    with pytest.raises(AutopilotError) as caught:
        router().route(domain)
    assert caught.value.code == code
    assert words in str(caught.value)


def test_a_configured_alias_that_matches_the_live_cname_is_used() -> None:
    route = router("example.com -> _acme-challenge.example.com.acme.example.org",
                   follow=False).route("example.com")
    assert route.name == "_acme-challenge.example.com.acme.example.org" and not route.note


def test_a_configured_alias_that_disagrees_with_the_live_cname_stops_with_both() -> None:
    with pytest.raises(AutopilotError) as caught:
        router("example.com -> _acme-challenge.other.acme.example.org").route("example.com")
    assert caught.value.code == "cname-alias"
    assert "_acme-challenge.example.com.acme.example.org" in str(caught.value)
    assert "_acme-challenge.other.acme.example.org" in str(caught.value)


def test_an_alias_not_yet_visible_is_used_with_a_note() -> None:
    route = router("*.example.com -> _acme-challenge.{domain}.acme.example.org"
                   ).route("new.example.com")
    assert route.name == "_acme-challenge.new.example.com.acme.example.org"
    assert "no CNAME" in route.note


def test_an_alias_can_accept_a_wildcard_cname_knowingly() -> None:
    route = router("wc.example.com -> catch-all.example.net").route("wc.example.com")
    assert route.name == "catch-all.example.net" and route.writer is MAIN


@pytest.mark.parametrize("text", ["example.com", "example.com -> ", "-> x.example", "a..b -> c"])
def test_malformed_aliases_name_the_entry(text: str) -> None:
    with pytest.raises(aliases.AliasSyntaxError, match="dns_autopilot_aliases"):
        aliases.parse(text)


def test_the_most_specific_alias_wins() -> None:
    found = aliases.parse(
        "*.example.com -> a.acme.example.org, www.example.com -> b.acme.example.org")
    assert aliases.match(found, "www.example.com").target == "b.acme.example.org"
    assert aliases.match(found, "api.example.com").target == "a.acme.example.org"
    assert aliases.match(found, "example.com") is None


class FixedNamesWriter(FakeWriter):
    """A writer that writes at fixed names only (as acme-dns does), in the DNS's zone."""

    cname_targets = {"example.com": "_acme-challenge.example.com.acme.example.org",
                     "plain.example.com": "reg.acme.example.org"}

    def find_zone(self, name: str) -> str:
        return ""


def test_a_fixed_name_routes_to_its_writer_in_the_zone_the_dns_says() -> None:
    fixed = FixedNamesWriter("fixed")
    route = router(map_=WriterMap([(MAIN, None), (fixed, ())])).route("*.example.com")
    assert route.writer is fixed and route.zone == "acme.example.org"


@pytest.mark.parametrize("follow,found", [(True, "it has no CNAME"),
                                          (False, "CNAMEs are not followed")])
def test_a_missing_cname_to_a_fixed_name_gives_the_exact_record(follow: bool, found: str
                                                                 ) -> None:
    fixed = FixedNamesWriter("fixed")
    with pytest.raises(AutopilotError) as exc:
        router(follow=follow, map_=WriterMap([(MAIN, None), (fixed, ())])).route(
            "plain.example.com")
    assert exc.value.code == "cname-alias" and found in exc.value.problem
    assert "`_acme-challenge.plain.example.com. CNAME reg.acme.example.org.`" in exc.value.fix


def test_an_upward_referral_from_one_server_does_not_move_the_chain_out_of_the_zone() -> None:
    """Every server of the zone is asked; one that is not authoritative and refers upward
    (to the TLD) is lame, not a delegation: the other's CNAME is the chain's link."""
    class TwoServers(FakeRecursive):
        def addresses(self, host: str) -> list[str]:
            return ["192.0.2.9" if host.startswith("old.") else "192.0.2.1"]

    def query(server: Server, name: str, rdtype: str, recurse: bool = False) -> Answer:
        if server.name.startswith("old."):
            return Answer("NOERROR", referral="com")
        return fake_query(server, name, rdtype, recurse)

    chain = Follower(zones(query, TwoServers(), hosts=2)).follow(  # type: ignore[arg-type]
        "_acme-challenge.example.com")
    assert chain.final == "_acme-challenge.example.com.acme.example.org"
    assert [link.name for link in chain.links()] == ["_acme-challenge.example.com"]
