"""Start-up cost of the plugin: `certbot plugins` with and without it installed.

certbot imports every installed plugin on every run (renewals from cron included), so the
plugin must not slow certbot down: the target is at most 1.15x the wall time of the same
environment without it. Two venvs under .venv-bench/ hold certbot (pinned as in
lab/requirements.txt) and every extra's SDK; only "with" has the built wheel. Prints the
median wall time of N runs each (interleaved), peak memory (max RSS of the child), their
ratios, and the modules the plugin adds to certbot's start-up (`python -X importtime`):
no provider SDK may be among them. A measurement, not a test: run as

    bench/startup.sh [--runs 21]
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


def build_wheel(out: Path) -> Path:
    result = subprocess.run([str(TOP / ".venv" / "bin" / "python"), "-m", "build",
                             "--no-isolation", "--wheel", "--outdir", str(out), str(TOP)],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"building the wheel failed:\n{result.stdout}{result.stderr}")
    shutil.rmtree(TOP / "build", ignore_errors=True)
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


def imported(bin_dir: Path, dirs: list[str]) -> dict[str, int]:
    """Module -> its own import time in microseconds, for one `certbot plugins` start-up."""
    result = subprocess.run([str(bin_dir / "python"), "-X", "importtime",
                             str(bin_dir / "certbot"), "plugins", *dirs],
                            capture_output=True, text=True, check=True)
    modules = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", line)
        if match:
            modules[match.group(2)] = int(match.group(1))
    return modules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per venv (default 21)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp) / "dist")
        stamp = hashlib.sha256(wheel.read_bytes() + REQUIREMENTS.read_bytes()).hexdigest()
        print(f"venvs: {BENCH}/with ({wheel.name}) and {BENCH}/without; "
              f"both: {' '.join(pins())}")
        venvs = {"without": make_venv(BENCH / "without", None,
                                      hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()),
                 "with": make_venv(BENCH / "with", wheel, stamp)}
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
        for name in ("without", "with"):
            print(f"  {name:8} wall {wall[name] * 1000:7.1f} ms   peak RSS "
                  f"{rss[name] / 1024:6.1f} MiB")
        ratio = wall["with"] / wall["without"]
        print(f"  ratio    wall {ratio:.3f}x (target <= {TARGET}x: "
              f"{'met' if ratio <= TARGET else 'MISSED'})   peak RSS "
              f"{rss['with'] / rss['without']:.3f}x")
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
