"""The world moves during a run, against the lab's BIND, Unbound and Pebble: another client
replacing the TXT set while the run waits, resolvers that do not work, an answer too large
for UDP with TCP port 53 filtered, a signed zone behind an aggressively caching resolver,
and a zone that moved DNS hosts while resolvers still ask the old one."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest
from labkit import (
    Certbot,
    Lab,
    eventually,
    exchange,
    lab_keys,
    nsupdate,
    served_everywhere,
    wait_absent,
    when_logged,
    zone_update,
)
from netconditions import GID, certonly_in_group, transfers_held

pytestmark = pytest.mark.lab

ZONE = "autopilot.test"
THEIRS = "another-clients-value-" + "x" * 21  # 43 characters, as an ACME client writes


def replace_set(lab: Lab, name: str, value: str) -> None:
    """Another ACME client's cleanup and write at once: every TXT value at ``name`` removed,
    its own added (one UPDATE at the primary)."""
    import dns.tsig

    keys = lab_keys(lab)
    key = keys["dns_autopilot_rfc2136_name"]
    update = dns.update.UpdateMessage(ZONE, keyring={dns.name.from_text(key): dns.tsig.Key(
        key, keys["dns_autopilot_rfc2136_secret"], dns.tsig.HMAC_SHA512)}, keyname=key)
    update.delete(dns.name.from_text(name), dns.rdatatype.TXT)
    update.add(dns.name.from_text(name), 60, "TXT", f'"{value}"')
    assert exchange(update, lab.primary, timeout=5).rcode() == 0


@contextlib.contextmanager
def other_writer(lab: Lab, certbot: Certbot, name: str, times: int) -> Iterator[list[str]]:
    """While the run waits, another client replaces the set at ``name`` each time the
    plugin's event log shows the primary serving its value, up to ``times`` times."""
    done: list[str] = []
    stop = threading.Event()

    def due() -> int:
        """How many times the other client should have acted by now: at the first time
        the primary is logged serving ours, and again at the first time after each of the
        run's rewrites (the waiter logs a value it keeps seeing only when that changes)."""
        count, armed = 0, True
        for event in certbot.logged():
            if event["step"] == "rewrite" and event.get("outcome") == "ok":
                armed = True
            elif armed and event["step"] == "query" and event.get("outcome") == "served" \
                    and event.get("name") == name \
                    and str(event.get("server", "")).startswith("ns1."):
                count, armed = count + 1, False
        return count

    def watch() -> None:
        while len(done) < times:
            eventually(lambda: stop.is_set() or due() > len(done),
                       f"a round seeing ours served at the primary ({len(done)} replaced)",
                       seconds=120, every=0.02)
            if stop.is_set():
                return
            replace_set(lab, name, THEIRS)
            done.append(f"replaced after {len(done) + 1} served")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join(5)


def test_another_writer_replacing_the_set_once_is_written_again_and_issued(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    try:
        with transfers_held(lab) as release, other_writer(lab, certbot, name, times=1) as done:
            with when_logged(certbot, "republish", release):
                run = certbot.certonly(fresh_name)
        assert run.returncode == 0, run.output
        assert done == ["replaced after 1 served"]
        [republish] = run.steps("republish")
        assert (republish["name"], republish["count"], republish["limit"]) == (name, 1, 2)
        assert "[write-conflict] this run's value(s) at " + name in run.output
        assert "by another writer" in run.output and "writing them again" in run.output
        assert run.steps("rewrite", outcome="ok")
        # Cleanup took ours only: the other client's value stays where it wrote it.
        wait_absent(lab, name, values=lab.txt(lab.primary, name) - {THEIRS})
        served_everywhere(lab, name, lambda server, at: lab.txt(server, at) == {THEIRS})
    finally:
        nsupdate(lab, ZONE, name, THEIRS, add=False)


def test_another_writer_replacing_the_set_again_stops_the_run_before_the_ca_is_told(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    try:
        with transfers_held(lab), other_writer(lab, certbot, name, times=2) as done:
            run = certbot.certonly(fresh_name)
        assert run.returncode != 0 and len(done) == 2
        assert f"dns-autopilot [write-conflict]: this run's value(s) at {name} were served, " \
               "then removed at serial" in run.output
        assert "again, after being written again" in run.output
        assert f'ns1.autopilot.test ({lab.primary}): NOERROR "{THEIRS}"' in run.output
        assert "serialize them" in run.output
        assert not run.hint, "the CA was never asked to validate"
        assert len(run.steps("republish")) == 1
        assert lab.txt(lab.primary, name) == {THEIRS}, "theirs kept, ours removed"
    finally:
        nsupdate(lab, ZONE, name, THEIRS, add=False)


# --- resolvers that do not work -------------------------------------------------------------

NOBODY = "127.0.53.99"  # a loopback address where nothing listens


@pytest.mark.parametrize(("resolvers", "why"), [
    (NOBODY, f"resolver {NOBODY}: does not answer (UDP: refused (ICMP port unreachable); TCP: "
             "refused (reset))"),
    ("127.0.53.11", "resolver 127.0.53.11: refuses (REFUSED)"),
], ids=["nothing-listens", "refused"])
def test_a_resolver_that_does_not_work_stops_the_run_and_doctor_with_its_code(
        lab: Lab, certbot: Certbot, fresh_name: str, resolvers: str, why: str) -> None:
    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-resolvers", resolvers))
    assert run.returncode != 0 and "dns-autopilot [resolver-unreachable]" in run.output
    assert why in run.output and f"dig @{resolvers} . SOA" in run.output
    assert "Traceback" not in run.output and not run.steps("write")
    for zone_code in ("zone-not-found", "caa-blocked", "lame-delegation"):
        assert zone_code not in run.output
    status, report = lab.doctor(fresh_name, extra=("--resolvers", resolvers))
    assert status == 2, report
    [finding] = report["findings"]
    assert finding["code"] == "resolver-unreachable" and why in finding["evidence"]
    assert "--resolvers" in finding["fix"] and "--dns-autopilot-resolvers" not in finding["fix"]


def test_one_dead_resolver_of_two_is_a_warning_and_the_other_decides(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    status, report = lab.doctor(fresh_name, extra=("--resolvers", f"{NOBODY},{lab.resolver}",
                                                   "--no-permission-probe"))
    assert status == 1 and [f["code"] for f in report["findings"]] == ["resolver-unreachable"]
    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-resolvers",
                                              f"{NOBODY},{lab.resolver}"))
    assert run.returncode == 0, run.output
    assert "[resolver-unreachable] warning: resolvers: 1 of 2 resolvers do not work" in \
        run.output
    assert run.steps("public-round", outcome="done")
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


# --- an answer too large for UDP ------------------------------------------------------------


@contextlib.contextmanager
def tcp53_dropped(address: str) -> Iterator[None]:
    """nftables drops TCP port 53 from the plugin's process (group ``GID``) to ``address``:
    a firewall that lets DNS over UDP through and not over TCP."""
    import secrets

    table = f"autopilot_{secrets.token_hex(4)}"
    rules = (f"table inet {table} {{\n chain out {{\n  type filter hook output priority 0;\n"
             f"  meta skgid {GID} ip daddr {address} tcp dport 53 drop\n }}\n}}\n")
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    try:
        yield
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=True)


def test_twenty_leftover_values_are_an_oversized_answer_the_ca_cannot_read(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    """Twenty values another client left make the answer about 1.3 KB: Pebble's resolver
    client does not retry over TCP and finds no TXT. TCP port 53 to the secondary is dropped
    for the plugin: the wait names that address, and the hint names truncation, not a
    negative answer cached by the CA's resolver."""
    name = f"_acme-challenge.{fresh_name}"
    leftovers = [f"leftover-{i:02d}-" + "y" * 32 for i in range(20)]
    try:
        for value in leftovers:
            nsupdate(lab, ZONE, name, value)
        served_everywhere(lab, name, lambda s, at: set(leftovers) <= lab.txt(s, at))
        with tcp53_dropped(lab.secondary):
            run = certonly_in_group(certbot, fresh_name, credentials=lab.credentials)
        assert run.returncode != 0
        assert f"[oversized-answer] warning: _acme-challenge.{fresh_name}: the TXT answer at " \
               f"{name} will be 1" in run.output
        assert "with this run's 1 value(s) beside the 20 there now (21 in all)" in run.output
        assert f"ns2.autopilot.test ({lab.secondary}) does not give the whole answer" in \
            run.output
        assert f"[oversized-answer] {fresh_name}: the TXT answer at {name} is " in run.hint
        assert "resolver-disagreement" not in run.hint.split("pre-flight warned")[0]
        assert "--dns-autopilot-remove-stale true" in run.hint
        wait_absent(lab, name, values=lab.txt(lab.primary, name) - set(leftovers))
        assert lab.txt(lab.primary, name) == set(leftovers), "the other client's values stay"
    finally:
        for value in leftovers:
            nsupdate(lab, ZONE, name, value, add=False)


# --- a signed zone behind an aggressively caching resolver ----------------------------------


def existing_signed_name(lab: Lab) -> str:
    """A fresh name with an address in signed.test (signed with NSEC): a NODATA answer for
    it carries the NSEC record that covers everything below it."""
    host = f"s{uuid.uuid4().hex[:10]}.signed.test"
    zone_update(lab, "signed.test", f"{host}.", "A", "127.0.53.80")
    served_everywhere(lab, host, lambda server, at: bool(
        exchange(dns_query(at, "A"), server).answer))
    return host


def dns_query(name: str, rdtype: str):
    import dns.flags
    import dns.message

    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD
    return query


def resolver_log(lab: Lab, part: str = "unbound") -> list[str]:
    return (lab.run_dir / part / "unbound.log").read_text().splitlines()


def test_a_signed_zone_issues_as_fast_as_an_unsigned_one_and_poisons_nothing(
        lab: Lab, certbot: Certbot) -> None:
    """Before, pre-flight's SOA and CAA lookups of the name went through the validating
    resolver, whose NSEC from the empty answers then denied _acme-challenge.<name> for the
    record's TTL: the public check waited about 60 s. Now nothing under the zone is asked of
    a resolver before the value is served."""
    host = existing_signed_name(lab)
    before = len(resolver_log(lab))
    run = certbot.certonly(host)
    assert run.returncode == 0, run.output
    asked = [line for line in resolver_log(lab)[before:] if f" {host}." in line]
    assert all(f"_acme-challenge.{host}. TXT" in line for line in asked), asked
    [done] = run.steps("wait-done", outcome="ok")
    assert done["public_s"] < 5 and not done["cached_denials"]
    wait_absent(lab, f"_acme-challenge.{host}")


def test_the_cas_resolver_denying_from_a_cached_nsec_is_named_in_the_hint(
        lab: Lab, certbot: Certbot) -> None:
    """Someone asked the CA's resolver about the name just before (a monitor): its NSEC
    proves nothing exists below it, and Pebble's resolver denies the challenge from it."""
    host = existing_signed_name(lab)
    subprocess.run(["dig", f"@{lab.ca_resolver}", host, "CAA", "+dnssec"], check=True,
                   capture_output=True)
    run = certbot.certonly(host)
    assert run.returncode != 0
    assert f"[cached-denial] {host}:" in run.hint, run.output
    assert "signed with NSEC" in run.hint and "Also possible: the CA's resolver held a " \
        "negative answer for this very name" in run.hint
    wait_absent(lab, f"_acme-challenge.{host}")


# --- a zone that moved DNS hosts ------------------------------------------------------------


@contextlib.contextmanager
def old_delegation(lab: Lab, zone: str) -> Iterator[None]:
    """Both resolvers send questions for ``zone`` to its old host (ns3, which still serves
    its old copy), as a resolver holding the old NS set for a day does."""
    controls = [str(lab.run_dir / part / "unbound.conf") for part in ("unbound", "unbound-ca")]

    def control(*args: str) -> None:
        for conf in controls:
            subprocess.run(["unbound-control", "-c", conf, *args], check=True,
                           capture_output=True)

    control("flush_zone", zone)
    control("stub_add", zone, lab.alias_primary)
    try:
        yield
    finally:
        control("stub_remove", zone)
        control("flush_zone", zone)
        control("flush_requestlist")


def test_a_zone_whose_resolvers_hold_the_old_delegation_stops_before_anything_is_written(
        lab: Lab, certbot: Certbot) -> None:
    zone = lab.env["LAB_MOVED_ZONE"]
    name = f"m{uuid.uuid4().hex[:8]}.{zone}"
    with old_delegation(lab, zone):
        status, report = lab.doctor(name, extra=("--no-permission-probe",))
        run = certbot.certonly(name)
    assert status == 2, report
    [stale] = [f for f in report["findings"] if f["code"] == "stale-delegation"]
    assert f"resolver {lab.resolver}: NS ns3.alias.test (cached, " in stale["evidence"]
    assert "parent (.) says: ns1.autopilot.test, ns2.autopilot.test" in stale["evidence"]
    assert f"ns3.alias.test ({lab.alias_primary}): SOA NOERROR" in stale["evidence"]
    assert "serial=0" in stale["evidence"] and "wait until the old delegation expires" in \
        stale["fix"]
    assert "ns-mismatch" not in {f["code"] for f in report["findings"]}
    assert run.returncode != 0 and "dns-autopilot [stale-delegation]" in run.output
    assert not run.steps("write") and not lab.txt(lab.primary, f"_acme-challenge.{name}")


def test_without_the_old_delegation_the_moved_zone_issues_from_the_new_host(
        lab: Lab, certbot: Certbot) -> None:
    name = f"m{uuid.uuid4().hex[:8]}.{lab.env['LAB_MOVED_ZONE']}"
    run = certbot.certonly(name)
    assert run.returncode == 0, run.output
    [plan] = run.steps("nameservers")
    assert sorted(plan["servers"]) == [f"ns1.autopilot.test ({lab.primary})",
                                       f"ns2.autopilot.test ({lab.secondary})"]
    wait_absent(lab, f"_acme-challenge.{name}")
