"""Network conditions made on this machine for one run, shared by the lab tests
(tests/lab/test_networks.py) and the benchmark (bench/networks.py): an extra IPv6 address on
``lo`` where nothing answers or where a socket swallows queries, a namespace without IPv6,
nftables dropping port 53 for the plugin's process, and nftables holding the secondary back
(no NOTIFY, no transfer) while the primary changes. Each undoes itself and checks that
nothing is left behind.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import dns.rdatatype
from emulators.bind import ZoneBackend
from emulators.cloudflare import CloudflareEmulator
from labkit import Certbot, Lab, Run, exchange, forget, served_everywhere, zone_update

NS2 = "ns2.autopilot.test"
GID = 53153  # the plugin's process runs with this group: nftables tells its packets apart


def unique_local() -> str:
    """A fresh address in fd00::/8 (unique-local: never routed off this machine)."""
    words = [secrets.token_hex(2) for _ in range(3)]
    return ipaddress.ip_address(f"fd{secrets.token_hex(1)}:{':'.join(words)}::53").compressed


def aaaa(lab: Lab, host: str, server: str | None = None) -> set[str]:
    query = dns.message.make_query(host, dns.rdatatype.AAAA)
    response = exchange(query, server or lab.primary)
    return {r.address for rrset in response.answer for r in rrset
            if rrset.rdtype == dns.rdatatype.AAAA}


def settled(lab: Lab, host: str, address: str, present: bool) -> None:
    """Both nameservers agree on ``address`` at ``host`` (the secondary follows by NOTIFY
    and IXFR), then both resolvers forget what they cached: no old answer outlives it."""
    served_everywhere(lab, host, lambda server, at: (address in aaaa(lab, at, server)) == present,
                      seconds=20, every=0.1)
    forget(lab, host)


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
        settled(lab, host, address, present=True)
        yield address
    finally:
        zone_update(lab, "autopilot.test", host, "AAAA", address, add=False)
        settled(lab, host, address, present=False)
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


#: the zones whose primary sends NOTIFYs (slow.test and lag.test send none on purpose)
NOTIFIED = ("autopilot.test", "example.test", "mismatch.test", "signed.test", "badds.test",
            "caafail.test")


@contextlib.contextmanager
def transfers_held(lab: Lab) -> Iterator[Callable[[], None]]:
    """The secondary is held back: nftables drops every DNS message between the primary and
    the secondary (the primary's NOTIFYs, the secondary's SOA queries and transfers), so a
    change made at the primary is not served by the secondary; clients still reach both.
    Yields ``release``: the messages flow again and the secondary is told of every notified
    zone (the NOTIFYs dropped meanwhile are not sent again). Released at the end in any case."""
    table = f"autopilot_{secrets.token_hex(4)}"
    between = (f"ip saddr {lab.primary} ip daddr {lab.secondary}",
               f"ip saddr {lab.secondary} ip daddr {lab.primary}")
    rules = (f"table inet {table} {{\n chain out {{\n  type filter hook output priority 0;\n"
             + "".join(f"  {pair} meta l4proto {{ tcp, udp }} th dport 53 drop\n"
                       for pair in between) + " }\n}\n")
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    lock, held = threading.Lock(), [True]

    def release() -> None:  # once, from a watching thread or at the end
        with lock:
            if not held:
                return
            held.clear()
            subprocess.run(["nft", "delete", "table", "inet", table], check=True)
            for zone in NOTIFIED:
                lab.notify_secondary(zone)

    try:
        yield release
    finally:
        release()
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


class InSync(ZoneBackend):
    """The lab's zones behind a provider's API that answers once every one of its
    nameservers serves the change, as large providers' APIs do (Route 53's INSYNC): with the
    authoritative servers unreachable, nothing else would wait for the lab's secondary."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(lab.credentials)
        self.lab = lab

    def add(self, zone: str, name: str, value: str, ttl: int = 60) -> None:
        super().add(zone, name, value, ttl)
        served_everywhere(self.lab, name, lambda server, at: value in self.lab.txt(server, at),
                          seconds=20, every=0.05)


@contextlib.contextmanager
def cloudflare_writer(lab: Lab, directory: Path) -> Iterator[Path]:
    """A writer that is not DNS: the Cloudflare API emulator (HTTP on loopback), writing
    through to the lab's primary from this process, which no filter here matches."""
    cf = CloudflareEmulator(["autopilot.test"], InSync(lab)).start()
    try:
        path = directory / "cloudflare.ini"
        path.write_text(f"dns_autopilot_cloudflare_api_url = {cf.url}\n"
                        f"dns_autopilot_cloudflare_api_token = {cf.token(['autopilot.test'])}\n")
        path.chmod(0o600)
        yield path
    finally:
        cf.stop()
