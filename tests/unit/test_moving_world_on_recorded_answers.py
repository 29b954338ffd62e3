"""The world moving during a run, on recorded answers: resolvers that do not work, a
resolver denying a name from a proof it cached before the write (the lab tests do the same
against Unbound and BIND)."""

from __future__ import annotations

import pytest
from unit_helpers import RESOLVER, Challenge, DNSWorld, make_plugin, zones_of

from certbot_dns_autopilot import dnsio, resolvers
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.plan import Target
from certbot_dns_autopilot.preflight.findings import ERROR, WARNING
from certbot_dns_autopilot.wait import Waiter

OTHER = "198.51.100.54"
ZONE = "example.test"
NAME = f"_acme-challenge.www.{ZONE}"
PARENT = """
@ 3600 IN SOA ns.test. h.test. 1 3600 600 86400 300
@ 3600 IN NS ns.test.
ns 3600 IN A 192.0.2.10
example 3600 IN NS ns1.example.test.
ns1.example 3600 IN A 192.0.2.1
"""
APEX = """
@ 3600 IN SOA ns1.example.test. h.example.test. 7 3600 600 86400 60
@ 3600 IN NS ns1.example.test.
ns1 3600 IN A 192.0.2.1
www 300 IN A 192.0.2.80
"""


def recursive(world: DNSWorld, *addresses: str) -> dnsio.Recursive:
    return dnsio.Recursive([dnsio.Server(a) for a in addresses], exchange=world)


@pytest.mark.parametrize(("script", "why"), [
    ("silent", "does not answer (UDP: no answer"),
    ("REFUSED", "refuses (REFUSED)"),
    ("SERVFAIL", "fails (SERVFAIL) even for the root"),
    ("NXDOMAIN", "answers NXDOMAIN for the root: it denies every name"),
    ("lame", "does not recurse (no RA bit): an authoritative server, not a resolver"),
])
def test_a_resolver_that_does_not_work_is_named_with_how(script: str, why: str) -> None:
    world = DNSWorld(resolvers=(RESOLVER,))
    world.script(RESOLVER, script)
    [finding] = resolvers.check(recursive(world, RESOLVER))
    assert (finding.code, finding.severity) == ("resolver-unreachable", ERROR)
    assert f"resolver {RESOLVER}: {why}" in finding.evidence
    assert f"dig @{RESOLVER} . SOA" in finding.evidence
    assert "--dns-autopilot-resolvers" in finding.fix and "systemd-resolved" in finding.fix


def test_one_dead_resolver_of_two_is_a_warning_and_the_other_decides() -> None:
    world = DNSWorld(resolvers=(RESOLVER,))  # OTHER: nothing answers there
    both = recursive(world, OTHER, RESOLVER)
    [finding] = resolvers.check(both)
    assert (finding.code, finding.severity) == ("resolver-unreachable", WARNING)
    assert f"resolver {OTHER}: does not answer" in finding.evidence
    assert both.servers == [dnsio.Server(RESOLVER)]
    assert both.probe()[dnsio.Server(RESOLVER)].rcode == "NOERROR"


def test_the_system_resolvers_are_named_as_etc_resolv_conf() -> None:
    world = DNSWorld(resolvers=())  # whatever this host's /etc/resolv.conf lists is silent
    [finding] = resolvers.check(dnsio.Recursive(exchange=world))
    assert (finding.code, finding.severity) == ("resolver-unreachable", ERROR)
    assert "/etc/resolv.conf (read because --dns-autopilot-resolvers is not given)" in \
        finding.fix


def test_a_run_with_a_dead_resolver_stops_with_its_code_before_any_question_or_write(
        tmp_path, monkeypatch) -> None:
    world = DNSWorld(resolvers=(RESOLVER,))
    world.script(RESOLVER, "NXDOMAIN")  # denies everything: dnspython's own text must not show
    import functools
    monkeypatch.setattr(dnsio, "Recursive", functools.partial(dnsio.Recursive, exchange=world))
    auth, calls = make_plugin(tmp_path, monkeypatch, preflight=True, follow_cnames=True)
    auth.prepare()
    with pytest.raises(AutopilotError) as stopped:
        auth.perform([Challenge("example.com")])
    assert stopped.value.code == "resolver-unreachable" and calls == []
    assert "should never happen" not in str(stopped.value)
    assert [(a, n, t) for a, n, t, _ in world.asked] == [(RESOLVER, ".", "SOA")]


def signed_world() -> DNSWorld:
    """www.example.test exists in a zone signed with NSEC; the resolver still holds the
    proof its empty answer for www gave before the value was written: www -> apex, which
    covers every name below www (_acme-challenge.www included)."""
    world = DNSWorld(resolvers=(RESOLVER,))
    world.serve("192.0.2.10", "test", PARENT)
    world.serve("192.0.2.1", ZONE, APEX + '_acme-challenge.www 60 IN TXT "token"\n')
    world.remember(ZONE, APEX + "www 45 IN NSEC example.test. A RRSIG NSEC\n")
    return world


def test_a_denial_from_a_proof_cached_before_the_write_is_named_not_waited_out() -> None:
    world = signed_world()
    now = [0.0]
    notes: list[str] = []
    waiter = Waiter(zones_of(world, RESOLVER), 300, clock=lambda: now[0],
                    sleep=lambda s: now.__setitem__(0, now[0] + s), progress=notes.append)
    target = Target(ZONE, NAME, frozenset({"token"}))
    timings = waiter.wait([target])
    assert timings["public"] < 1, "not waited out for the proof's TTL"
    [(where, answer)] = waiter.denials.items()
    assert where == (dnsio.Server(RESOLVER), NAME)
    assert answer.denial == "www.example.test. 45 IN NSEC example.test. A RRSIG NSEC"
    assert answer.denial_ttl == 45
    [note] = [n for n in notes if "[cached-denial]" in n]
    assert f"resolver {RESOLVER} denies {NAME}" in note and "45 s left" in note


def test_without_the_authoritative_evidence_a_cached_denial_is_waited_for() -> None:
    world = signed_world()
    now = [0.0]
    waiter = Waiter(zones_of(world, RESOLVER), 30, clock=lambda: now[0],
                    sleep=lambda s: now.__setitem__(0, now[0] + s), authoritative_check=False)
    with pytest.raises(AutopilotError) as late:
        waiter.wait([Target(ZONE, NAME, frozenset({"token"}))])
    assert late.value.code == "resolver-disagreement" and not waiter.denials


def test_a_resolver_that_stops_answering_during_the_wait_is_left_out_for_the_other() -> None:
    world = DNSWorld(resolvers=(RESOLVER, OTHER))
    world.serve("192.0.2.10", "test", PARENT)
    world.serve("192.0.2.1", ZONE, APEX + '_acme-challenge.www 60 IN TXT "token"\n')
    world.script(OTHER, "silent", NAME)
    now = [0.0]
    notes: list[str] = []
    zones = dnsio.Recursive([dnsio.Server(OTHER), dnsio.Server(RESOLVER)], exchange=world)
    from certbot_dns_autopilot.zones import Zones
    waiter = Waiter(Zones(zones, dnsio.Reach(exchange=world)), 300, clock=lambda: now[0],
                    sleep=lambda s: now.__setitem__(0, now[0] + s), progress=notes.append)
    waiter.wait([Target(ZONE, NAME, frozenset({"token"}))])
    assert any(f"[resolver-unreachable] resolver {OTHER}" in n for n in notes)
    dropped = [e for e in waiter.events.events if e["step"] == "resolver-dropped"]
    assert [e["server"] for e in dropped] == [OTHER]


def test_every_resolver_stopping_during_the_wait_is_resolver_unreachable() -> None:
    world = DNSWorld(resolvers=(RESOLVER,))
    world.serve("192.0.2.10", "test", PARENT)
    world.serve("192.0.2.1", ZONE, APEX + '_acme-challenge.www 60 IN TXT "token"\n')
    world.script(RESOLVER, "silent", NAME)
    now = [0.0]
    waiter = Waiter(zones_of(world, RESOLVER), 300, clock=lambda: now[0],
                    sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(AutopilotError) as stopped:
        waiter.wait([Target(ZONE, NAME, frozenset({"token"}))])
    assert stopped.value.code == "resolver-unreachable"
    assert f"resolver {RESOLVER}: TIMEOUT" in stopped.value.evidence
    assert now[0] < 30, "stopped after two rounds, not at the timeout"


# --- another writer at the same name --------------------------------------------------------

TWO = APEX.replace("ns1 3600 IN A 192.0.2.1", "ns1 3600 IN A 192.0.2.1\nns2 3600 IN A "
                   "192.0.2.2\n@ 3600 IN NS ns2.example.test.")
LAGGING = TWO.replace(" 7 3600", " 6 3600")


def contested(removals: int) -> tuple[DNSWorld, object, list[str]]:
    """ns1 serves the run's value, ns2 lags (an older serial, no value); another writer
    replaces the set at ns1 ``removals`` times, each right after ns1 served ours. Returns the
    world, ns1's zone, and a log of what happened."""
    import dns.name
    import dns.rdataset

    world = DNSWorld(resolvers=(RESOLVER,))
    world.serve("192.0.2.10", "test", PARENT.replace(
        "ns1.example 3600 IN A 192.0.2.1",
        "ns1.example 3600 IN A 192.0.2.1\nexample 3600 IN NS ns2.example.test.\n"
        "ns2.example 3600 IN A 192.0.2.2"))
    primary = world.serve("192.0.2.1", ZONE, TWO + f'{NAME} 60 IN TXT "token"\n'
                          .replace(f"{NAME} ", f"{NAME}. "))
    world.serve("192.0.2.2", ZONE, LAGGING)
    log: list[str] = []
    owner = dns.name.from_text(NAME)

    def other_writer() -> None:
        primary.replace_rdataset(owner, dns.rdataset.from_text("IN", "TXT", 60, '"theirs"'))
        log.append("replaced")

    def add_ours() -> None:
        found = primary.get_rdataset(owner, "TXT")
        values = {b"".join(r.strings).decode() for r in found} if found else set()
        primary.replace_rdataset(owner, dns.rdataset.from_text(
            "IN", "TXT", 60, *[f'"{v}"' for v in sorted(values | {"token"})]))
        log.append("rewritten")

    world.other_writer, world.add_ours = other_writer, add_ours  # type: ignore[attr-defined]
    world.removals = removals  # type: ignore[attr-defined]
    return world, primary, log


def watching_waiter(world: DNSWorld, log: list[str], timeout: float = 60) -> Waiter:
    """The other writer acts each time the waiter has seen the primary serve ours since
    its last replacement (as in the lab, where it reads the event log)."""
    now = [0.0]
    waiter: list[Waiter] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds
        served = sum(e["step"] == "query" and e["outcome"] == "served" and
                     e["server"].startswith("ns1.") for e in waiter[0].events.events)
        replaced = log.count("replaced")
        if served > replaced and replaced < world.removals:  # type: ignore[attr-defined]
            world.other_writer()  # type: ignore[attr-defined]

    def republish(target: Target) -> None:
        world.add_ours()  # type: ignore[attr-defined]

    waiter.append(Waiter(zones_of(world, RESOLVER), timeout, clock=lambda: now[0],
                         sleep=sleep, republish=republish, progress=log.append))
    return waiter[0]


def test_a_value_another_writer_removes_during_the_wait_is_written_again_once() -> None:
    world, _, log = contested(removals=1)
    waiter = watching_waiter(world, log, timeout=3)
    with pytest.raises(AutopilotError) as late:  # ns2 never catches up: it lags on purpose
        waiter.wait([Target(ZONE, NAME, frozenset({"token"}))])
    assert late.value.code != "write-conflict"
    assert log[0] == "replaced" and "rewritten" in log
    assert waiter.republished == [NAME]
    [note] = [line for line in log if "[write-conflict]" in line]
    assert "removed at serial 7 of example.test by another writer" in note
    assert '"theirs"' in note and "writing them again" in note
    [event] = [e for e in waiter.events.events if e["step"] == "republish"]
    assert (event["name"], event["count"], event["limit"]) == (NAME, 1, 2)


def test_a_value_removed_again_after_its_rewrite_stops_before_the_ca_is_told() -> None:
    world, _, log = contested(removals=2)
    waiter = watching_waiter(world, log)
    with pytest.raises(AutopilotError) as stopped:
        waiter.wait([Target(ZONE, NAME, frozenset({"token"}))])
    assert stopped.value.code == "write-conflict"
    assert f"this run's value(s) at {NAME} were served, then removed at serial 7 of " \
           f"{ZONE} again, after being written again" in stopped.value.problem
    assert 'ns1.example.test (192.0.2.1): NOERROR "theirs"' in stopped.value.evidence
    assert "serialize them" in stopped.value.fix and "CNAME target" in stopped.value.fix
    assert not [q for q in world.asked if q[0] == RESOLVER and q[1] == NAME], \
        "stopped before the resolvers (and the CA) were asked"


# --- answers too large for UDP --------------------------------------------------------------


def test_a_txt_set_past_1232_bytes_is_oversized_with_its_size_and_count() -> None:
    from certbot_dns_autopilot.plan.routing import Route
    from certbot_dns_autopilot.preflight import existing_values

    world = DNSWorld(resolvers=(RESOLVER,))
    world.serve("192.0.2.10", "test", PARENT)
    stale = "".join(f'{NAME}. 300 IN TXT "{i:02d}{"x" * 41}"\n' for i in range(20))
    world.serve("192.0.2.1", ZONE, APEX + stale)
    route = Route(NAME, NAME, ZONE, writer=object(), chain=None)  # type: ignore[arg-type]
    found = {f.code: f for f in existing_values(route, zones_of(world, RESOLVER), set(),
                                               adding=2)}
    big = found["oversized-answer"]
    assert big.severity == WARNING and big.where == (ZONE, NAME)
    assert "will be 1" in big.problem and "bytes with this run's 2 value(s) beside the 20 " \
        "there now (22 in all)" in big.problem
    size = int(big.problem.split("will be ")[1].split(" bytes")[0])
    assert 1232 < size < 1500
    assert "--dns-autopilot-remove-stale true" in big.fix and "TCP port 53" in big.fix
    assert "stale-record" in found
    world_small = DNSWorld(resolvers=(RESOLVER,))
    world_small.serve("192.0.2.10", "test", PARENT)
    world_small.serve("192.0.2.1", ZONE, APEX + stale.split("\n", 1)[0] + "\n")
    assert "oversized-answer" not in {f.code for f in existing_values(
        route, zones_of(world_small, RESOLVER), set(), adding=2)}


def two_servers(truncating: tuple[str, ...]) -> DNSWorld:
    world = DNSWorld(resolvers=(RESOLVER,))
    world.serve("192.0.2.10", "test", PARENT.replace(
        "ns1.example 3600 IN A 192.0.2.1",
        "ns1.example 3600 IN A 192.0.2.1\nexample 3600 IN NS ns2.example.test.\n"
        "ns2.example 3600 IN A 192.0.2.2"))
    for address in ("192.0.2.1", "192.0.2.2"):
        world.serve(address, ZONE, TWO + '_acme-challenge.www 60 IN TXT "token"\n')
    for address in truncating:
        world.script(address, "truncated", NAME, "TXT")
    return world


def test_an_address_that_truncates_and_drops_tcp_is_named_and_the_other_decides() -> None:
    notes: list[str] = []
    now = [0.0]
    waiter = Waiter(zones_of(two_servers(("192.0.2.2",)), RESOLVER), 60,
                    clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s),
                    progress=notes.append)
    waiter.wait([Target(ZONE, NAME, frozenset({"token"}))])
    assert list(waiter.truncated) == [dnsio.Server("192.0.2.2", name="ns2.example.test")]
    [note] = [n for n in notes if "[oversized-answer]" in n]
    assert "ns2.example.test (192.0.2.2) does not give the whole answer" in note
    assert "TCP: no answer" in note


def test_no_address_giving_the_whole_answer_stops_before_the_ca_is_told() -> None:
    now = [0.0]
    world = two_servers(("192.0.2.1", "192.0.2.2"))
    waiter = Waiter(zones_of(world, RESOLVER), 60, clock=lambda: now[0],
                    sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(AutopilotError) as stopped:
        waiter.wait([Target(ZONE, NAME, frozenset({"token"}))])
    assert stopped.value.code == "oversized-answer"
    assert "no nameserver address gives the whole TXT answer" in stopped.value.problem
    assert f"dig @192.0.2.1 {NAME} TXT +norecurse +tcp" in stopped.value.evidence
    assert not [q for q in world.asked if q[0] == RESOLVER and q[1] == NAME]
