"""Issuance time under each network condition of docs/networks.md, beside the plain case.

In the lab, one name per run, fresh each time, with certbot --authenticator dns-autopilot:
  plain                      nothing in the way (RFC 2136 writer)
  ipv6 refused               ns2 has one more address, an IPv6 one where nothing listens
  ipv6 swallowing            ... where a socket reads every query and never answers
  no ipv6 on this host       ... and the namespace has IPv6 turned off for the run
  address-family ipv4        ... left out on purpose (--dns-autopilot-address-family ipv4)
  plain (api writer)         nothing in the way, the Cloudflare API emulator as writer (it
                             answers once the lab's nameservers serve the change)
  authoritative-check false  resolvers only, on purpose
  port 53 filtered           DNS allowed to the resolver only (nftables): resolvers only
  doh only                   no DNS over port 53 at all; the resolver over DNS over HTTPS
  cname served everywhere    _acme-challenge.<name> a CNAME into alias.test (the writer map),
                             served by both nameservers before the quiet gap
The conditions are the lab tests' own (tests/lab/netconditions.py), made before the timed
run and after a quiet gap. Each figure is the median wall time of certbot certonly alone,
with the difference to its plain case (the same writer) and the run's own step times from
the event log (plan, pre-flight, wait; "plugin" is their sum: the wait also holds the lab
secondary's own transfer delay, which varies from run to run). The query timeout is
dnsio.DEFAULT_QUERY_TIMEOUT (2 s): the issue's bound is one of them.

Run as root, inside a network namespace of your own (the lab binds fixed addresses):
  LAB_RUN=/tmp/lab-NS ip netns exec NS .venv/bin/python bench/networks.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

from compare import lab_env  # noqa: E402
from labkit import (  # noqa: E402
    Certbot,
    Lab,
    Run,
    served_everywhere,
    zone_update,
)
from netconditions import (  # noqa: E402
    certonly_in_group,
    cloudflare_writer,
    extra_address,
    port53_blocked,
    without_ipv6,
)

from certbot_dns_autopilot.dnsio import DEFAULT_QUERY_TIMEOUT  # noqa: E402

QUIET = 10.0  # seconds between making a condition (or the last run's cleanup) and the timed
              # run: BIND sends a zone's NOTIFYs at most every notify-delay (5 s), and the
              # last run's cleanup NOTIFY may itself have been deferred that long
Call = Callable[..., Run]  # certonly(name, extra=...) under the condition
Condition = Callable[[Lab, Certbot, Path], contextlib.AbstractContextManager[Call]]


@contextlib.contextmanager
def plain(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    yield certbot.certonly


@contextlib.contextmanager
def refused(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    with extra_address(lab):
        yield certbot.certonly


@contextlib.contextmanager
def swallowing(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    with extra_address(lab, listen=True):
        yield certbot.certonly


@contextlib.contextmanager
def no_ipv6(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    with extra_address(lab), without_ipv6():
        yield certbot.certonly


@contextlib.contextmanager
def family_ipv4(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    with extra_address(lab):
        yield lambda name: certbot.certonly(
            name, extra=("--dns-autopilot-address-family", "ipv4"))


@contextlib.contextmanager
def check_off(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    with cloudflare_writer(lab, home) as credentials:
        yield lambda name: certonly_in_group(
            certbot, name, credentials=credentials,
            extra=("--dns-autopilot-authoritative-check", "false"))


@contextlib.contextmanager
def api_plain(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    with cloudflare_writer(lab, home) as credentials:
        yield lambda name: certonly_in_group(certbot, name, credentials=credentials)


@contextlib.contextmanager
def filtered(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    with cloudflare_writer(lab, home) as credentials, port53_blocked(allow=(lab.resolver,)):
        yield lambda name: certonly_in_group(certbot, name, credentials=credentials)


@contextlib.contextmanager
def doh_only(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    with cloudflare_writer(lab, home) as credentials, port53_blocked(allow=()):
        yield lambda name: certonly_in_group(
            certbot, name, credentials=credentials,
            extra=("--dns-autopilot-resolvers", lab.env["LAB_DOH"]))


@contextlib.contextmanager
def cname(lab: Lab, certbot: Certbot, home: Path) -> Iterator[Call]:
    """Its own fresh name, whose _acme-challenge is a CNAME every nameserver already serves
    (the timed run's name is not used: the CNAME must exist before the quiet gap)."""
    own = f"b{uuid.uuid4().hex[:8]}.autopilot.test"
    origin, target = f"_acme-challenge.{own}", f"_acme-challenge.{own}.alias.test"
    zone_update(lab, "autopilot.test", origin, "CNAME", f"{target}.")
    try:
        served_everywhere(lab, origin, lambda server, at: target in lab.cnames(server, at))
        yield lambda name: certbot.certonly(own, credentials=lab.credentials_map)
    finally:
        zone_update(lab, "autopilot.test", origin, "CNAME", f"{target}.", add=False)


#: case -> (condition, the plain case it is compared with)
CASES: dict[str, tuple[Condition, str]] = {
    "plain": (plain, "plain"),
    "ipv6 refused": (refused, "plain"),
    "ipv6 swallowing": (swallowing, "plain"),
    "no ipv6 on this host": (no_ipv6, "plain"),
    "address-family ipv4": (family_ipv4, "plain"),
    "plain (api writer)": (api_plain, "plain (api writer)"),
    "authoritative-check false": (check_off, "plain (api writer)"),
    "port 53 filtered": (filtered, "plain (api writer)"),
    "doh only": (doh_only, "plain (api writer)"),
    "cname served everywhere": (cname, "plain"),
}


def step_seconds(run: Run, step: str) -> float:
    return sum((e.get("duration_ms") or 0) for e in run.steps(step)) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES),
                        help="comma-separated case names (default: all)")
    args = parser.parse_args()
    lab = Lab(lab_env())
    rows: dict[str, dict[str, list[float]]] = {}
    for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
        condition, _ = CASES[case]
        figures: dict[str, list[float]] = {"total": [], "plan": [], "preflight": [],
                                           "wait": []}
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                home = Path(tmp)
                certbot = Certbot(lab, home)
                name = f"b{uuid.uuid4().hex[:8]}.autopilot.test"
                with condition(lab, certbot, home) as certonly:
                    time.sleep(QUIET)
                    started = time.monotonic()
                    run = certonly(name)
                    figures["total"].append(time.monotonic() - started)
                if run.returncode != 0:
                    print(f"{case}: run failed\n{run.output}", file=sys.stderr)
                    return 1
                for step in ("plan", "preflight"):
                    figures[step].append(step_seconds(run, step))
                done = run.steps("wait-done", outcome="ok")
                figures["wait"].append((done[0]["duration_ms"] or 0) / 1000 if done else 0.0)
        rows[case] = figures
        print(f"  {case}: " + ", ".join(f"{k} {statistics.median(v):.2f} s"
                                         for k, v in figures.items()), file=sys.stderr)
    print(f"\nmedians of {args.runs} run(s); query timeout {DEFAULT_QUERY_TIMEOUT:.1f} s\n")
    print(f"{'case':<28}{'total':>9}{'vs plain':>10}{'plugin':>9}{'vs plain':>10}{'plan':>8}"
          f"{'pre-flight':>12}{'wait':>8}")
    for figures in rows.values():  # the plugin's own time: its steps, not certbot's or the CA's
        figures["plugin"] = [sum(t) for t in zip(figures["plan"], figures["preflight"],
                                                 figures["wait"], strict=True)]
    for case, figures in rows.items():
        base = CASES[case][1]
        median = {k: statistics.median(v) for k, v in figures.items()}

        def delta(key: str, base: str = base, median: dict = median) -> str:
            if base not in rows:
                return "-"
            return f"{median[key] - statistics.median(rows[base][key]):+.2f}s"

        print(f"{case:<28}{median['total']:>8.2f}s{delta('total'):>10}{median['plugin']:>8.2f}s"
              f"{delta('plugin'):>10}{median['plan']:>7.2f}s{median['preflight']:>11.2f}s"
              f"{median['wait']:>7.2f}s")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
