"""Real networks, made on this machine: a nameserver address this host cannot reach is not a
lagging nameserver. Each case publishes or blocks something for one run, then checks that
the certificate is issued, that the event log names what could not be checked, and that
nothing is left behind (records, addresses on lo, sockets, nftables tables, sysctls).

Every address used is loopback or a unique-local IPv6 address added to ``lo`` of the
namespace the lab runs in; the filters are nftables tables made and removed by the test.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
from conftest import Certbot, Lab, Run
from emulators.bind import ZoneBackend
from emulators.cloudflare import CloudflareEmulator
from test_issuance import wait_absent, zone_update

pytestmark = pytest.mark.lab

NS2 = "ns2.autopilot.test"
GID = 53153  # the plugin's process runs with this group: nftables tells its packets apart


def unique_local() -> str:
    """A fresh address in fd00::/8 (unique-local: never routed off this machine)."""
    words = [secrets.token_hex(2) for _ in range(3)]
    return ipaddress.ip_address(f"fd{secrets.token_hex(1)}:{':'.join(words)}::53").compressed


def aaaa(lab: Lab, host: str) -> set[str]:
    query = dns.message.make_query(host, dns.rdatatype.AAAA)
    response = dns.query.udp(query, lab.primary, timeout=3)
    return {r.address for rrset in response.answer for r in rrset
            if rrset.rdtype == dns.rdatatype.AAAA}


def flush(lab: Lab, host: str) -> None:
    """Both resolvers forget what they cached for ``host`` (e.g. "no AAAA")."""
    for part in ("unbound", "unbound-ca"):
        subprocess.run(["unbound-control", "-c", str(lab.run_dir / part / "unbound.conf"),
                        "flush", host], check=True, capture_output=True)


def on_lo(address: str) -> bool:
    return address in subprocess.run(["ip", "-6", "addr", "show", "dev", "lo"],
                                     capture_output=True, text=True).stdout


@contextlib.contextmanager
def extra_address(lab: Lab, host: str = NS2, listen: bool = False) -> Iterator[str]:
    """``host`` gets one more address, an IPv6 address on lo: nothing answers there unless
    ``listen``, then a socket reads every query (UDP and TCP) and never answers."""
    address = unique_local()
    subprocess.run(["ip", "-6", "addr", "add", f"{address}/128", "dev", "lo", "nodad"],
                   check=True)
    sockets: list[socket.socket] = []
    try:
        if listen:
            udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            udp.bind((address, 53))
            tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            tcp.bind((address, 53))
            tcp.listen(16)  # connections complete in the kernel; nothing ever answers
            sockets += [udp, tcp]
            threading.Thread(target=_swallow, args=(udp,), daemon=True).start()
        zone_update(lab, "autopilot.test", host, "AAAA", address, ttl=1)
        flush(lab, host)
        yield address
    finally:
        zone_update(lab, "autopilot.test", host, "AAAA", address, add=False)
        flush(lab, host)
        for sock in sockets:
            sock.close()
        subprocess.run(["ip", "-6", "addr", "del", f"{address}/128", "dev", "lo"],
                       capture_output=True)
    assert address not in aaaa(lab, host) and not on_lo(address)


def _swallow(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            sock.recvfrom(4096)


@contextlib.contextmanager
def without_ipv6() -> Iterator[None]:
    """The namespace the lab runs in loses IPv6 for the block, as Docker's default network
    has none: every IPv6 address (::1 and the unique-local ones) leaves lo."""
    keys = ["net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.lo.disable_ipv6"]
    before = {k: subprocess.run(["sysctl", "-n", k], capture_output=True, text=True,
                                check=True).stdout.strip() for k in keys}
    try:
        for key in keys:
            subprocess.run(["sysctl", "-qw", f"{key}=1"], check=True)
        yield
    finally:
        for key, value in before.items():
            subprocess.run(["sysctl", "-qw", f"{key}={value}"], check=True)
    assert subprocess.run(["sysctl", "-n", keys[1]], capture_output=True, text=True
                          ).stdout.strip() == before[keys[1]]


@contextlib.contextmanager
def port53_blocked(allow: tuple[str, ...]) -> Iterator[str]:
    """nftables drops DNS (UDP and TCP port 53) from the plugin's process (group ``GID``) to
    every address but ``allow``: a network that lets DNS out only to its own resolvers."""
    table = f"autopilot_{secrets.token_hex(4)}"
    allowed = f"ip daddr != {{ {', '.join(allow)} }} " if allow else ""
    rules = (f"table inet {table} {{\n chain out {{\n  type filter hook output priority 0;\n"
             f"  meta skgid {GID} meta nfproto ipv4 {allowed}meta l4proto {{ tcp, udp }} "
             "th dport 53 drop\n"
             f"  meta skgid {GID} meta nfproto ipv6 meta l4proto {{ tcp, udp }} th dport 53 "
             "drop\n }\n}\n")
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    try:
        yield table
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=True)
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert table not in listed


def certonly_in_group(certbot: Certbot, *domains: str, credentials: Path,
                      extra: tuple[str, ...] = ()) -> Run:
    """certonly as the plugin's own process group (``GID``), which the filters match; the
    lab's CA is trusted for DNS over HTTPS (``SSL_CERT_FILE``)."""
    cmd, env = certbot._command(*certbot._certonly_args(domains, credentials, extra),
                                "--non-interactive")
    env["SSL_CERT_FILE"] = certbot.lab.env["LAB_CA_BUNDLE"]

    def group() -> None:
        os.setgroups([])
        os.setgid(GID)

    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                          preexec_fn=group)
    return certbot._run(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture
def cloudflare(lab: Lab, tmp_path: Path) -> Iterator[Path]:
    """A writer that is not DNS: the Cloudflare API emulator (HTTP on loopback), writing
    through to the lab's primary from the test's process, which no filter here matches."""
    cf = CloudflareEmulator(["autopilot.test"], ZoneBackend(lab.credentials)).start()
    try:
        path = tmp_path / "cloudflare.ini"
        path.write_text(f"dns_autopilot_cloudflare_api_url = {cf.url}\n"
                        f"dns_autopilot_cloudflare_api_token = {cf.token(['autopilot.test'])}\n")
        path.chmod(0o600)
        yield path
    finally:
        cf.stop()


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
                                                    fresh_name: str) -> None:
    run = certbot.certonly(fresh_name, extra=("--dns-autopilot-authoritative-check", "false"))
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
