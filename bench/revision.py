"""The plugin as it was at a git revision, beside this tree, for comparing two revisions.

`bench/run.sh --tools autopilot,autopilot@REV,floor` and `bench/startup.sh --against REV`
run the plugin at REV next to this tree's. Its source is `git archive REV` under
.venv-bench/rev-<commit>/src, and its venv .venv-bench/rev-<commit> is made the way
lab/bootstrap.sh makes .venv (REV's own lab/requirements.txt, then the plugin, editable), so
the two differ only in the plugin's code. Made once per commit and reused (pip's cache and
wheel sources as configured); making it needs the package index, so do it outside a lab
network namespace:

    .venv/bin/python bench/revision.py REV [REV ...]     # prints each venv's bin directory
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
BENCH = TOP / ".venv-bench"


def commit(rev: str) -> str:
    """The full commit id REV names (a branch, tag, hash or ``40940e2^1``)."""
    result = subprocess.run(["git", "-C", str(TOP), "rev-parse", "--verify", "--quiet",
                             f"{rev}^{{commit}}"], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{rev!r} names no commit in {TOP}")
    return result.stdout.strip()


def source(rev: str) -> Path:
    """REV's tree, extracted once (`git archive`), as a directory."""
    sha = commit(rev)
    src = BENCH / f"rev-{sha[:12]}" / "src"
    if (src / "setup.cfg").exists():
        return src
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(TOP), "archive", sha], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(src, filter="data")
    return src


def _pip(venv: Path, *args: str | Path) -> None:
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                             "--disable-pip-version-check", *map(str, args)],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"making {venv} failed (it needs the package index: make it outside "
                         f"a network namespace with `.venv/bin/python bench/revision.py "
                         f"REV`):\n{result.stdout}{result.stderr}")


def venv(rev: str) -> Path:
    """The bin directory of a venv with certbot and the plugin at REV; made if missing."""
    src = source(rev)
    venv_dir = src.parent
    stamp = venv_dir / ".bench-stamp"
    want = (src / "lab" / "requirements.txt").read_text() + (src / "setup.cfg").read_text()
    if stamp.exists() and stamp.read_text() == want:
        return venv_dir / "bin"
    subprocess.run(["python3", "-m", "venv", str(venv_dir)], check=True)
    requirements = src / "lab" / "requirements.txt"
    _pip(venv_dir, "-r", requirements)
    _pip(venv_dir, "-e", src, "-c", requirements)
    # Compiled now, as this tree's are by use: a first run does not pay for it.
    subprocess.run([str(venv_dir / "bin" / "python"), "-m", "compileall", "-q",
                    str(src / "certbot_dns_autopilot")], check=True)
    stamp.write_text(want)
    return venv_dir / "bin"


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for rev in sys.argv[1:]:
        print(f"{rev}: {venv(rev)}", flush=True)


if __name__ == "__main__":
    main()
