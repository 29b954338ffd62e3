"""Start-up cost of the plugin: `certbot plugins` with and without it installed.

certbot imports every installed plugin on every run (renewals from cron included), so the
plugin must not slow certbot down: the target is at most 1.15x the wall time of the same
environment without it. Two venvs under .venv-bench/ hold certbot (pinned as in
lab/requirements.txt) and every extra's SDK; only "with" has the built wheel. Prints the
median wall time of N runs each (interleaved), peak memory (max RSS of the child), their
ratios, and the modules the plugin adds to certbot's start-up (`python -X importtime`):
no provider SDK may be among them. A measurement, not a test: run as

    bench/startup.sh [--runs 21] [--against REV]

With --against REV, a third venv holds the plugin's wheel built from git revision REV
(bench/revision.py extracts it) beside the same packages; its runs alternate with the other
two, and it prints this tree ÷ REV: wall time, peak memory, and the import time of the
module certbot loads at start (each revision's own `certbot.plugins` entry point, its
cumulative -X importtime after certbot's main module, median of the runs).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import revision

TOP = Path(__file__).resolve().parents[1]
REQUIREMENTS = TOP / "lab" / "requirements.txt"
BENCH = TOP / ".venv-bench"
TARGET = 1.15
# The extras' SDKs (setup.cfg [all]) and the plugin's own dependencies, in both venvs.
PACKAGES = ("certbot", "acme", "dnspython", "publicsuffixlist", "cloudflare", "boto3",
            "azure-mgmt-dns", "azure-identity", "dns-lexicon")
SDK_MODULES = ("cloudflare", "boto3", "botocore", "azure", "lexicon")


def sh(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], stderr=subprocess.PIPE, text=True, **kwargs)
    sys.stderr.write("".join(line for line in result.stderr.splitlines(keepends=True)
                             if "is ignored: it is neither" not in line))
    result.check_returncode()
    return result


def pins() -> list[str]:
    """PACKAGES pinned as lab/requirements.txt pins them."""
    pinned = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pinned[match.group(1).lower()] = match.group(0)
    return [pinned.get(p, p) for p in PACKAGES]


def build_wheel(out: Path, src: Path = TOP) -> Path:
    result = subprocess.run([str(TOP / ".venv" / "bin" / "python"), "-m", "build",
                             "--no-isolation", "--wheel", "--outdir", str(out), str(src)],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"building the wheel failed:\n{result.stdout}{result.stderr}")
    shutil.rmtree(src / "build", ignore_errors=True)
    return next(out.glob("*.whl"))


def make_venv(path: Path, wheel: Path | None, stamp: str) -> Path:
    """A venv with PACKAGES (and the wheel); reused while the stamp matches."""
    marker = path / ".bench-stamp"
    if marker.exists() and marker.read_text() == stamp:
        return path / "bin"
    shutil.rmtree(path, ignore_errors=True)
    sh("python3", "-m", "venv", path)
    pip = [path / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    sh(*pip, "-c", REQUIREMENTS, *pins())
    if wheel:
        sh(*pip, "--no-deps", wheel)
    marker.write_text(stamp)
    return path / "bin"


def one_run(bin_dir: Path, dirs: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `certbot plugins`."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(bin_dir / "certbot"), "plugins", *dirs],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{bin_dir}/certbot plugins failed ({proc.returncode})")
    return elapsed, usage.ru_maxrss


def import_times(bin_dir: Path, args: list[str]) -> dict[str, tuple[int, int]]:
    """Module -> its own and its cumulative import time in microseconds, for one run of
    ``python -X importtime ARGS``."""
    result = subprocess.run([str(bin_dir / "python"), "-X", "importtime", *args],
                            capture_output=True, text=True, check=True, cwd="/")
    modules = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| *(\S+)", line)
        if match:
            modules[match.group(3)] = (int(match.group(1)), int(match.group(2)))
    return modules


def imported(bin_dir: Path, dirs: list[str]) -> dict[str, int]:
    """Module -> its own import time in microseconds, for one `certbot plugins` start-up."""
    times = import_times(bin_dir, [str(bin_dir / "certbot"), "plugins", *dirs])
    return {module: own for module, (own, _) in times.items()}


def entry_module(bin_dir: Path) -> str:
    """The module certbot imports for the plugin: its `certbot.plugins` entry point."""
    return subprocess.run(
        [str(bin_dir / "python"), "-c", "from importlib.metadata import entry_points; "
         "print(entry_points(group='certbot.plugins')['dns-autopilot'].module)"],
        capture_output=True, text=True, check=True, cwd="/").stdout.strip()


def compare_revision(venvs: dict[str, Path], rev: str, runs: int) -> None:
    """This tree's plugin module against REV's, as certbot loads it at start-up.

    certbot imports the entry point with importlib, which -X importtime does not time, so
    each run imports certbot's own main module first (what certbot has loaded when it
    discovers plugins), then the entry module: its cumulative time is what the plugin adds.
    """
    modules = {name: entry_module(venvs[name]) for name in ("with", rev)}
    cost: dict[str, list[int]] = {name: [] for name in modules}
    own: dict[str, dict[str, list[int]]] = {name: {} for name in modules}
    for _ in range(runs):  # alternating, so drift hits both alike
        for name, module in modules.items():
            times = import_times(venvs[name], ["-c", f"import certbot._internal.main; "
                                                     f"import {module}"])
            cost[name].append(times[module][1])
            for mod, (self_us, _) in times.items():
                if mod.split(".")[0] == "certbot_dns_autopilot":
                    own[name].setdefault(mod, []).append(self_us)
    print(f"\nthe plugin's entry module, imported after certbot's main module: median of "
          f"{runs} runs each (-X importtime), with its modules' own times")
    for name, label in (("with", "this tree"), (rev, rev)):
        print(f"  {label:12} {modules[name]:44} {statistics.median(cost[name]) / 1000:6.2f} ms")
        for mod, us in sorted(own[name].items(), key=lambda kv: -statistics.median(kv[1])):
            print(f"      {statistics.median(us) / 1000:6.2f} ms  {mod}")
    ratio = statistics.median(cost["with"]) / statistics.median(cost[rev])
    print(f"  this tree ÷ {rev}: {ratio:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per venv (default 21)")
    parser.add_argument("--against", metavar="REV",
                        help="also the plugin at git revision REV, in a venv of its own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp) / "dist")
        stamp = hashlib.sha256(wheel.read_bytes() + REQUIREMENTS.read_bytes()).hexdigest()
        print(f"venvs: {BENCH}/with ({wheel.name}) and {BENCH}/without; "
              f"both: {' '.join(pins())}")
        venvs = {"without": make_venv(BENCH / "without", None,
                                      hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()),
                 "with": make_venv(BENCH / "with", wheel, stamp)}
        if args.against:
            sha = revision.commit(args.against)
            rev_wheel = build_wheel(Path(tmp) / "dist-rev", revision.source(args.against))
            print(f"{args.against}: commit {sha[:12]}, {BENCH}/with-{sha[:12]} "
                  f"({rev_wheel.name})")
            venvs[args.against] = make_venv(
                BENCH / f"with-{sha[:12]}", rev_wheel,
                hashlib.sha256(rev_wheel.read_bytes() + REQUIREMENTS.read_bytes()).hexdigest())
        dirs = ["--config-dir", f"{tmp}/c", "--work-dir", f"{tmp}/w", "--logs-dir", f"{tmp}/l"]
        for bin_dir in venvs.values():  # warm the page cache and compile .pyc files
            for _ in range(2):
                one_run(bin_dir, dirs)
        samples: dict[str, list[tuple[float, int]]] = {k: [] for k in venvs}
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            for name, bin_dir in venvs.items():
                samples[name].append(one_run(bin_dir, dirs))
        wall = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
        rss = {k: statistics.median(s[1] for s in v) for k, v in samples.items()}
        print(f"\n`certbot plugins`, median of {args.runs} runs each")
        for name in venvs:
            print(f"  {name:8} wall {wall[name] * 1000:7.1f} ms   peak RSS "
                  f"{rss[name] / 1024:6.1f} MiB")
        ratio = wall["with"] / wall["without"]
        print(f"  ratio    wall {ratio:.3f}x (target <= {TARGET}x: "
              f"{'met' if ratio <= TARGET else 'MISSED'})   peak RSS "
              f"{rss['with'] / rss['without']:.3f}x")
        if args.against:
            rev = args.against
            print(f"  {rev} ÷ without: wall {wall[rev] / wall['without']:.3f}x; this tree ÷ "
                  f"{rev}: wall {wall['with'] / wall[rev]:.3f}x, peak RSS "
                  f"{rss['with'] / rss[rev]:.3f}x")
            compare_revision(venvs, rev, args.runs)
        before, after = imported(venvs["without"], dirs), imported(venvs["with"], dirs)
    added = {m: us for m, us in after.items() if m not in before}
    by_package: dict[str, int] = {}
    for module, us in added.items():
        by_package[module.split(".")[0]] = by_package.get(module.split(".")[0], 0) + us
    print(f"\nmodules the plugin adds to certbot's start-up: {len(added)}, "
          f"{sum(added.values()) / 1000:.1f} ms of import time (-X importtime, self), by package:")
    for package in sorted(by_package, key=lambda p: -by_package[p])[:15]:
        count = sum(1 for m in added if m.split(".")[0] == package)
        print(f"  {by_package[package] / 1000:7.1f} ms  {package} ({count} modules)")
    sdks = sorted(m for m in added if m.split(".")[0] in SDK_MODULES)
    print("provider SDKs imported at start-up: " + (", ".join(sdks) if sdks else "none"))
    return 1 if sdks else 0


if __name__ == "__main__":
    sys.exit(main())
