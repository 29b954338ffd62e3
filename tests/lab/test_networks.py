"""Real networks, made on this machine: a nameserver address this host cannot reach is not a
lagging nameserver. Each case publishes or blocks something for one run, then checks that
the certificate is issued, that the event log names what could not be checked, and that
nothing is left behind (records, addresses on lo, sockets, nftables tables, sysctls).

Every address used is loopback or a unique-local IPv6 address added to ``lo`` of the
namespace the lab runs in; the filters are nftables tables made and removed by the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from labkit import Certbot, Lab, Run, wait_absent
from netconditions import (
    NS2,
    certonly_in_group,
    cloudflare_writer,
    extra_address,
    port53_blocked,
    without_ipv6,
)

pytestmark = pytest.mark.lab


@pytest.fixture
def cloudflare(lab: Lab, tmp_path: Path) -> Iterator[Path]:
    with cloudflare_writer(lab, tmp_path) as path:
        yield path


def issued(certbot: Certbot, run: Run, domain: str) -> None:
    assert run.returncode == 0, run.output
    assert certbot.cert_names(domain) == {domain}
    assert "Traceback" not in run.output


def unverified(run: Run) -> list[str]:
    [done] = run.steps("wait-done", outcome="ok")
    return done["unverified"]


def test_an_ipv6_address_where_nothing_listens_is_refused_named_and_not_waited_on(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    with extra_address(lab) as address:
        run = certbot.certonly(fresh_name)
    issued(certbot, run, fresh_name)
    where = f"{NS2} ({address})"
    assert "[unreachable] warning: autopilot.test: this host cannot reach 1 nameserver " \
           "address(es)" in run.output
    assert f"{where}: UNREACHABLE (UDP: refused (ICMP port unreachable); TCP: refused " \
           "(reset))" in run.output
    assert f"dig @{address} autopilot.test SOA +norecurse" in run.output
    assert [u.split(": ")[0] for u in unverified(run)] == [where]
    assert f"not checked from this host: {where}" in run.output
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_an_address_that_swallows_queries_costs_one_query_timeout(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    with extra_address(lab, listen=True) as address:
        run = certbot.certonly(fresh_name)
    issued(certbot, run, fresh_name)
    where = f"{NS2} ({address})"
    asked = [q for q in run.events if q.get("server") == where and q["step"] == "query"]
    assert all(q["answer"]["rcode"] == "TIMEOUT" for q in asked)
    assert [u.split(": ")[0] for u in unverified(run)] == [where]
    assert "UDP: no answer in 1.3 s; TCP: no answer in" in unverified(run)[0]
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_a_host_without_ipv6_skips_the_ipv6_addresses_with_one_notice(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    with extra_address(lab) as address, without_ipv6():
        run = certbot.certonly(fresh_name)
    issued(certbot, run, fresh_name)
    where = f"{NS2} ({address})"
    [skipped] = run.steps("unreachable", outcome="skipped")
    assert skipped["servers"] == [where]
    assert skipped["reason"] == "this host has no IPv6 route (no address of that family to " \
        "send from)"
    assert f"dns-autopilot: {skipped['reason']}: the addresses {where} were not checked; the " \
           "CA may use them" in run.output
    assert not [q for q in run.steps("query") if q.get("server") == where], "never asked"
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_address_family_ipv4_leaves_the_ipv6_addresses_out_without_a_warning(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    with extra_address(lab) as address:
        run = certbot.certonly(fresh_name, extra=("--dns-autopilot-address-family", "ipv4"))
    issued(certbot, run, fresh_name)
    assert "[unreachable]" not in run.output, "left out on purpose: not a finding"
    [skipped] = run.steps("unreachable", outcome="skipped")
    assert skipped["servers"] == [f"{NS2} ({address})"]
    assert skipped["reason"] == "ipv6 not checked (--dns-autopilot-address-family ipv4)"
    renewal = (certbot.config_dir / "renewal" / f"{fresh_name}.conf").read_text()
    assert "dns_autopilot_address_family = ipv4" in renewal, "restored by certbot renew"
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_port_53_to_the_nameservers_filtered_leaves_the_resolvers_to_decide(
        lab: Lab, certbot: Certbot, fresh_name: str, cloudflare: Path) -> None:
    with port53_blocked(allow=(lab.resolver,)):
        run = certonly_in_group(certbot, fresh_name, credentials=cloudflare)
    issued(certbot, run, fresh_name)
    assert "[unreachable] warning: autopilot.test: no nameserver address of the zone is " \
           "reachable from this host" in run.output
    assert "resolvers only for autopilot.test: the authoritative servers are unreachable " \
           "from this host; the resolvers decide" in run.output
    [only] = run.steps("resolvers-only")
    assert sorted(only["servers"]) == [f"ns1.autopilot.test ({lab.primary})",
                                       f"{NS2} ({lab.secondary})"]
    assert len(unverified(run)) == 2
    assert run.steps("public-round", outcome="done"), "the resolvers decided"
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_authoritative_check_off_asks_no_nameserver(lab: Lab, certbot: Certbot,
                                                    fresh_name: str, cloudflare: Path) -> None:
    # An API writer that answers once its nameservers serve the change: nothing here waits
    # for the lab's secondary any more.
    run = certbot.certonly(fresh_name, credentials=cloudflare,
                           extra=("--dns-autopilot-authoritative-check", "false"))
    issued(certbot, run, fresh_name)
    assert not run.steps("query", phase="authoritative")
    assert run.steps("authoritative-skipped")
    assert run.steps("public-round", outcome="done")
    renewal = (certbot.config_dir / "renewal" / f"{fresh_name}.conf").read_text()
    assert "dns_autopilot_authoritative_check = False" in renewal
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_a_resolver_reachable_only_over_https_does_everything(
        lab: Lab, certbot: Certbot, fresh_name: str, cloudflare: Path) -> None:
    doh = lab.env["LAB_DOH"]
    with port53_blocked(allow=()):  # no DNS over port 53 at all, to anyone
        run = certonly_in_group(certbot, fresh_name, credentials=cloudflare,
                                extra=("--dns-autopilot-resolvers", doh))
    issued(certbot, run, fresh_name)
    # Zones, nameservers and their addresses came through DoH; then the public phase.
    [nameservers] = run.steps("nameservers")
    assert sorted(nameservers["servers"]) == [f"ns1.autopilot.test ({lab.primary})",
                                              f"{NS2} ({lab.secondary})"]
    public = run.steps("query", phase="public")
    assert public and {q["server"] for q in public} == {doh}
    assert public[-1]["outcome"] == "served"
    assert len(unverified(run)) == 2 and run.steps("resolvers-only")
    wait_absent(lab, f"_acme-challenge.{fresh_name}")


def test_doctor_reads_the_zone_through_a_doh_resolver(lab: Lab, fresh_name: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", lab.env["LAB_CA_BUNDLE"])
    status, out = lab.doctor(fresh_name, extra=("--resolvers", lab.env["LAB_DOH"],
                                                "--no-permission-probe"))
    assert status == 0, out
    assert out["routes"][0]["zone"] == "autopilot.test"
    monkeypatch.delenv("SSL_CERT_FILE")
    status, out = lab.doctor(fresh_name, extra=("--resolvers", lab.env["LAB_DOH"],
                                                "--no-permission-probe"))
    assert status == 2 and "CERTIFICATE_VERIFY_FAILED" in json.dumps(out), out


def test_when_the_ca_fails_the_addresses_not_checked_are_named_as_suspects(
        lab: Lab, certbot: Certbot, fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    with extra_address(lab) as address:
        # The CA's resolver cached NXDOMAIN before the record existed: the CA will fail.
        assert lab.txt(lab.ca_resolver, name, recurse=True) == set()
        run = certbot.certonly(fresh_name)
    assert run.returncode != 0 and "Traceback" not in run.output
    where = f"{NS2} ({address})"
    assert f"suspects, not checked from this host: {where}" in run.hint, run.output
    assert "could not be checked from this host: suspects too" in run.hint
    [event] = run.steps("diagnosis", domain=fresh_name)
    unchecked = [a for a in event["evidence"]["authoritative"] if a["server"] == where]
    assert unchecked and unchecked[0]["rcode"] == "UNREACHABLE"
    wait_absent(lab, name)


def test_doctor_warns_of_an_unreachable_address_unless_its_family_is_left_out(
        lab: Lab, fresh_name: str) -> None:
    with extra_address(lab) as address:
        status, out = lab.doctor(fresh_name, extra=("--no-permission-probe",))
        left_out, quiet = lab.doctor(fresh_name, extra=("--no-permission-probe",
                                                        "--address-family", "ipv4"))
    assert status == 1, out
    [finding] = [f for f in out["findings"] if f["code"] == "unreachable"]
    assert finding["severity"] == "warning" and f"{NS2} ({address})" in finding["evidence"]
    assert left_out == 0, quiet
