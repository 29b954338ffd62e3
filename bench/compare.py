"""Side-by-side issuance benchmark in the lab: dns-autopilot against its peers.

In one run of the lab, the same certificates are issued by
  autopilot        certbot --authenticator dns-autopilot
  rfc2136-60s      certbot-dns-rfc2136 at its default propagation (60 s)
  rfc2136-min      certbot-dns-rfc2136 at the smallest propagation-seconds that succeeded in
                   every run of a search (or --rfc2136-min N)
  lego             lego's rfc2136 provider (Debian package `lego`), its own propagation check
  floor            the same ACME flow with the DNS wait removed (certbot-dns-rfc2136 at 0 s)
  autopilot@REV    dns-autopilot as it was at git revision REV (bench/revision.py: its own
                   venv, made the way lab/bootstrap.sh makes .venv), to compare two revisions
for three cases: 1 name, apex + wildcard + www, and 100 names. Each run uses fresh names
(no resolver has them cached) and starts after a quiet gap, as a cron run would.

Prints medians (wall time, and the CPU time the tool used), success counts, the ratios to
the floor and to each peer, and the DNS messages each tool sent per name, counted on the
wire (tcpdump on lo): a client query is a packet to port 53 whose source and destination
are the same lab address (the kernel's choice for a /32 on lo), except the address Pebble
validates through.

With autopilot@REV among the tools, it also prints this tree's autopilot against REV's:
the ratio of their medians and the median of the per-run ratios (the runs alternate, so
a busy moment on the machine hits both alike), for wall time and DNS messages per name.

Run as root:  .venv/bin/python bench/compare.py [--runs 5] [--cases 1,3,100] [--tools ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import revision

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ZONE = "autopilot.test"
ALL_TOOLS = ["autopilot", "rfc2136-60s", "rfc2136-min", "lego", "floor"]
CASE_NAMES = {1: "1 name", 3: "apex + wildcard + www", 100: "100 names"}


def lab_env() -> dict[str, str]:
    """The lab, up, its secondary lagging each change as BIND's does by default (notify-delay
    5 s; the tests' lab has none)."""
    out = subprocess.run([ROOT / "lab" / "lab.sh", "up"], check=True, capture_output=True,
                         text=True, env=dict(os.environ, LAB_NOTIFY_DELAY="5")).stdout
    env = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        env[key] = shlex.split(value)[0] if value else ""
    return env


def domains_for(case: int) -> list[str]:
    base = f"b{uuid.uuid4().hex[:8]}.{ZONE}"
    if case == 1:
        return [base]
    if case == 3:
        return [base, f"*.{base}", f"www.{base}"]
    return [f"n{i}.{base}" for i in range(case)]


def validation_names(domains: list[str]) -> int:
    return len({d.removeprefix("*.") for d in domains})


@dataclass
class Result:
    seconds: float
    ok: bool
    messages: int
    names: int
    cpu: float = 0.0  # the tool's own CPU seconds (user + system), its children included


@dataclass
class Series:
    results: list[Result] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(r.seconds for r in self.results)

    def ok_median(self) -> float | None:
        """The median of the runs that issued: a failed run ends early and is no floor."""
        done = [r.seconds for r in self.results if r.ok]
        return statistics.median(done) if done else None

    def ok(self) -> str:
        return f"{sum(r.ok for r in self.results)}/{len(self.results)}"

    def per_name(self) -> float:
        return statistics.median(r.messages / r.names for r in self.results)

    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.results)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def is_revision(tool: str) -> bool:
    return tool.startswith("autopilot@")


class Bench:
    def __init__(self, env: dict[str, str], gap: float,
                 revisions: dict[str, Path] | None = None) -> None:
        self.env = env
        self.gap = gap
        self.revisions = revisions or {}  # autopilot@REV -> the bin directory of REV's venv
        self.home = Path(tempfile.mkdtemp(prefix="dns-autopilot-bench-"))
        creds = {}
        for line in Path(env["LAB_CREDENTIALS"]).read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                creds[key.strip()] = value.strip()
        self.creds = creds
        self.rfc2136_ini = self.home / "rfc2136.ini"
        self.rfc2136_ini.write_text("".join(
            f"{k.replace('dns_autopilot_', 'dns_')} = {v}\n" for k, v in creds.items()))
        self.rfc2136_ini.chmod(0o600)

    def certbot(self, tool: str, domains: list[str], seconds: int) -> list[str]:
        run = self.home / uuid.uuid4().hex[:8]
        cmd = [str(self.revisions.get(tool, BIN) / "certbot"), "certonly", "--non-interactive",
               "--agree-tos", "--register-unsafely-without-email",
               "--server", self.env["LAB_ACME_DIRECTORY"],
               "--config-dir", str(run / "c"), "--work-dir", str(run / "w"),
               "--logs-dir", str(run / "l"), "-q"]
        if tool == "autopilot" or is_revision(tool):
            cmd += ["--authenticator", "dns-autopilot",
                    "--dns-autopilot-credentials", self.env["LAB_CREDENTIALS"],
                    "--dns-autopilot-resolvers", self.env["LAB_RESOLVER"]]
        else:
            cmd += ["--authenticator", "dns-rfc2136",
                    "--dns-rfc2136-credentials", str(self.rfc2136_ini),
                    "--dns-rfc2136-propagation-seconds", str(seconds)]
        for domain in domains:
            cmd += ["-d", domain]
        return cmd

    def lego(self, domains: list[str]) -> tuple[list[str], dict[str, str]]:
        cmd = ["lego", "--accept-tos", "--email", "bench@autopilot.test",
               "--server", self.env["LAB_ACME_DIRECTORY"], "--dns", "rfc2136",
               "--dns.resolvers", f"{self.env['LAB_RESOLVER']}:53",
               "--path", str(self.home / uuid.uuid4().hex[:8])]
        for domain in domains:
            cmd += ["-d", domain]
        env = {"RFC2136_NAMESERVER": f"{self.creds['dns_autopilot_rfc2136_server']}:53",
               "RFC2136_TSIG_KEY": self.creds["dns_autopilot_rfc2136_name"],
               "RFC2136_TSIG_SECRET": self.creds["dns_autopilot_rfc2136_secret"],
               "RFC2136_TSIG_ALGORITHM": "hmac-sha512.",
               "LEGO_CA_CERTIFICATES": self.env["LAB_CA_BUNDLE"]}
        return cmd + ["run"], env

    def once(self, tool: str, case: int, rfc2136_min: int) -> Result:
        domains = domains_for(case)
        env = dict(os.environ, REQUESTS_CA_BUNDLE=self.env["LAB_CA_BUNDLE"])
        if tool == "lego":
            cmd, extra = self.lego(domains)
            env.update(extra)
        else:
            seconds = {"rfc2136-60s": 60, "rfc2136-min": rfc2136_min, "floor": 0}.get(tool, 0)
            cmd = self.certbot(tool, domains, seconds)
        time.sleep(self.gap)  # a quiet zone, as a cron run finds it
        capture = self.home / "capture.txt"
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-l", "-q",
                                 "(udp dst port 53) or (tcp dst port 53 and "
                                 "tcp[tcpflags] & tcp-push != 0)"], stdout=capture.open("w"),
                                stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        started, used = time.monotonic(), _children_cpu()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        seconds_taken = time.monotonic() - started
        cpu = _children_cpu() - used  # tcpdump, still running, is not counted yet
        time.sleep(0.3)
        dump.terminate()
        dump.wait()
        return Result(seconds_taken, proc.returncode == 0, self.count(capture),
                      validation_names(domains), cpu)

    def count(self, capture: Path) -> int:
        messages = 0
        for line in capture.read_text().splitlines():
            parts = line.split()
            if len(parts) < 5 or parts[3] != ">":
                continue
            src = parts[2].rsplit(".", 1)[0]
            dst, port = parts[4].rstrip(":").rsplit(".", 1)
            if port == "53" and src == dst and dst != self.env["LAB_CA_RESOLVER"]:
                messages += 1
        return messages


HOSTS_MARK = "# dns-autopilot bench: lego resolves NS names with the system resolver"


@contextlib.contextmanager
def lab_hosts(env: dict[str, str]) -> Iterator[None]:
    """lego looks up nameserver names with the system resolver, not --dns.resolvers; so
    that it finds the lab's (and sends nothing off loopback), /etc/hosts names them while
    the benchmark runs, and is restored afterwards."""
    hosts = Path("/etc/hosts")
    original = hosts.read_text()
    hosts.write_text(original + f"{env['LAB_PRIMARY']} ns1.{ZONE} {HOSTS_MARK}\n"
                     f"{env['LAB_SECONDARY']} ns2.{ZONE} {HOSTS_MARK}\n")
    try:
        yield
    finally:
        hosts.write_text(original)


def find_rfc2136_min(bench: Bench, runs: int) -> int:
    for seconds in (0, 1, 2, 3, 5, 8, 10, 15, 20, 30):
        results = []
        for _ in range(runs):
            results.append(bench.once("rfc2136-min", 3, seconds))
            if not results[-1].ok:
                break
        print(f"  rfc2136 at {seconds:>2} s: {sum(r.ok for r in results)}/{len(results)} "
              "succeeded", flush=True)
        if all(r.ok for r in results) and len(results) == runs:
            return seconds
    return 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", default="1,3,100")
    parser.add_argument("--tools", default=",".join(ALL_TOOLS),
                        help=f"among {', '.join(ALL_TOOLS)} and autopilot@REV (the plugin at "
                        "git revision REV, e.g. autopilot@main)")
    parser.add_argument("--rfc2136-min", default="auto",
                        help="propagation-seconds for rfc2136-min, or 'auto' to search")
    parser.add_argument("--gap", type=float, default=11.0,
                        help="quiet seconds before each run: over two of BIND's notify-delay "
                        "(5 s), since a peer's cleanup sends several UPDATEs whose NOTIFYs "
                        "BIND spaces 5 s apart, which would make the next run wait")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--lego-100", action="store_true",
                        help="also run lego for 100 names (its rfc2136 provider solves names "
                        "one after another, 60 s apart: over 99 minutes a run)")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("lego"):
        sys.exit("run as root, with tcpdump and lego installed (apt-get install tcpdump lego)")
    cases = [int(c) for c in args.cases.split(",")]
    tools = args.tools.split(",")
    unknown = [t for t in tools if t not in ALL_TOOLS and not is_revision(t)]
    if unknown:
        sys.exit(f"unknown tool {', '.join(unknown)}: use {', '.join(ALL_TOOLS)} or "
                 "autopilot@REV")
    revisions = {t: revision.venv(t.partition("@")[2]) for t in tools if is_revision(t)}
    for tool, bin_dir in revisions.items():
        print(f"{tool}: commit {revision.commit(tool.partition('@')[2])[:12]}, "
              f"{bin_dir.parent}", flush=True)
    env = lab_env()
    # SIGTERM (a killed benchmark) unwinds like Ctrl-C, so /etc/hosts is restored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Only lego needs /etc/hosts (shared with every other namespace): left alone without it.
    with lab_hosts(env) if "lego" in tools else contextlib.nullcontext():
        run(Bench(env, args.gap, revisions), args, cases, tools)


def paired(now: Series, then: Series, measure) -> list[float]:
    """This tree's figure ÷ REV's, run by run: run i of each came one after the other."""
    return [measure(a) / measure(b) for a, b in zip(now.results, then.results, strict=True)
            if a.ok and b.ok and measure(b)]


def print_revision(table: dict[tuple[str, int], Series], cases: list[int], tool: str) -> None:
    """This tree's autopilot against the plugin at REV: above 1 means this tree is slower."""
    print(f"\nthis tree's autopilot ÷ {tool} (above 1: this tree is slower or sends more; "
          "the runs alternate, so a busy moment on the machine hits both alike; per-run: "
          "median and range of the ratios of runs made one after the other, issued runs "
          "only)")
    print(f"{'case':<24}{'ok now/then':>12}{'wall ÷':>8}{'per-run':>9}{'range':>14}"
          f"{'msgs/name ÷':>13}{'per-run':>9}{'cpu ÷':>8}{'per-run':>9}")
    for case in cases:
        now, then = table.get(("autopilot", case)), table.get((tool, case))
        if not now or not then:
            continue
        wall = paired(now, then, lambda r: r.seconds)
        msgs = paired(now, then, lambda r: r.messages)
        cpu = paired(now, then, lambda r: r.cpu)
        spread = f"{min(wall):.2f}-{max(wall):.2f}" if wall else "n/a"
        msgs_then = then.per_name()
        print(f"{CASE_NAMES.get(case, str(case)):<24}{now.ok() + ' ' + then.ok():>12}"
              f"{now.median() / then.median():>8.2f}"
              f"{statistics.median(wall) if wall else float('nan'):>9.2f}{spread:>14}"
              f"{now.per_name() / msgs_then if msgs_then else float('nan'):>13.2f}"
              f"{statistics.median(msgs) if msgs else float('nan'):>9.2f}"
              f"{now.cpu() / then.cpu() if then.cpu() else float('nan'):>8.2f}"
              f"{statistics.median(cpu) if cpu else float('nan'):>9.2f}")


def run(bench: Bench, args: argparse.Namespace, cases: list[int], tools: list[str]) -> None:
    rfc2136_min = 60
    if "rfc2136-min" in tools:
        if args.rfc2136_min == "auto":
            print("searching the smallest reliable --dns-rfc2136-propagation-seconds "
                  f"(apex + wildcard + www, {args.runs} runs each):", flush=True)
            rfc2136_min = find_rfc2136_min(bench, args.runs)
        else:
            rfc2136_min = int(args.rfc2136_min)
        print(f"rfc2136-min = {rfc2136_min} s", flush=True)

    table: dict[tuple[str, int], Series] = {}
    for case in cases:
        for i in range(args.runs):
            # Interleaved, so drift in the lab hits every tool alike; every other run in
            # reverse order, so no tool always comes first after the quiet gap.
            for tool in tools if i % 2 == 0 else tools[::-1]:
                if tool == "lego" and case >= 100 and not args.lego_100:
                    continue
                table.setdefault((tool, case), Series()).results.append(
                    bench.once(tool, case, rfc2136_min))
        print(f"done: {CASE_NAMES.get(case, case)}", flush=True)

    print(f"\nmedian wall time over {args.runs} runs (rfc2136-min = {rfc2136_min} s), and "
          "CPU seconds the tool used (user + system); ÷ floor divides by the median of the "
          "floor's runs that issued (a run that fails ends early: it is no floor)\n")
    width = max(14, *(len(t) + 2 for t in tools))
    head = (f"{'case':<24}{'tool':<{width}}{'median s':>9}{'ok':>7}{'msgs/name':>11}"
            f"{'cpu s':>7}")
    peers = [t for t in tools if t not in ("autopilot", "floor")]
    if "floor" in tools:
        head += f"{'÷ floor':>9}"
    if "autopilot" in tools:
        head += f"{'peer ÷ autopilot':>18}"
    print(head)
    figures = []
    for case in cases:
        for tool in tools:
            if (tool, case) not in table:
                print(f"{CASE_NAMES.get(case, str(case)):<24}{tool:<{width}}  skipped: sequential, "
                      "60 s per name (RFC2136_SEQUENCE_INTERVAL); pass --lego-100")
                continue
            series = table[(tool, case)]
            row = (f"{CASE_NAMES.get(case, str(case)):<24}{tool:<{width}}{series.median():>9.2f}"
                   f"{series.ok():>7}{series.per_name():>11.1f}{series.cpu():>7.2f}")
            floor = table[("floor", case)].ok_median() if "floor" in tools else None
            if "floor" in tools:
                row += (f"{series.median() / floor:>9.2f}" if floor else f"{'n/a':>9}")
            if "autopilot" in tools and tool in peers:
                row += f"{series.median() / table[('autopilot', case)].median():>18.2f}"
            print(row)
            figures.append({"case": case, "tool": tool, "median_s": series.median(),
                            "ok": series.ok(), "messages_per_name": series.per_name(),
                            "cpu_s": series.cpu(),
                            "runs": [r.__dict__ for r in series.results]})
    if "autopilot" in tools and 1 in cases and 100 in cases:
        ratio = table[("autopilot", 100)].median() / table[("autopilot", 1)].median()
        print(f"\nautopilot: 100 names ÷ 1 name = {ratio:.2f}")
    if "autopilot" in tools:
        for tool in filter(is_revision, tools):
            print_revision(table, cases, tool)
    if args.json:
        Path(args.json).write_text(json.dumps({"rfc2136_min": rfc2136_min,
                                               "figures": figures}, indent=1))
    shutil.rmtree(bench.home, ignore_errors=True)


if __name__ == "__main__":
    main()
