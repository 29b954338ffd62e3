"""A throwaway root: the docs' commands run as written, as root, on the paths they name.

Each command runs in a private mount namespace (``unshare --mount``) in which /etc, /opt,
/usr/local, /var/lib, /var/log and /root are overlays: the machine's own directories below,
this throwaway machine's changes in a layer on top. So `python3 -m venv /opt/certbot`, a
link in /usr/local/bin, /etc/letsencrypt, /etc/cron.d and /etc/systemd/system are written
where the docs say and the real ones stay untouched; the next command sees what the last one
left. The layers of an earlier machine can lie below a new one (the session's venv below
each page's machine), so each page starts from the same installed state.

Three environments, as the docs' readers meet them: a root login shell (``shell``), cron
(``cron``: ``PATH=/usr/bin:/bin``, ``SHELL=/bin/sh``), and a systemd service
(``service``); none has a terminal (standard input is /dev/null, no controlling TTY).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

OVERLAID = ("/etc", "/opt", "/usr/local", "/var/lib", "/var/log", "/root")
#: root's login shell on Debian, and the PATH systemd gives a system service
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOGIN = {"PATH": ROOT_PATH, "HOME": "/root", "USER": "root", "LOGNAME": "root",
         "SHELL": "/bin/bash", "LANG": "C.UTF-8", "TERM": "dumb"}
#: what cron gives a job of an /etc/cron.d file (cron(8), Debian)
CRON = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "HOME": "/root", "LOGNAME": "root"}
SERVICE = {"PATH": ROOT_PATH, "LANG": "C.UTF-8"}
#: cron's schedule fields: five of them, or one @keyword
SCHEDULE = re.compile(r"^(@(reboot|yearly|annually|monthly|weekly|daily|midnight|hourly)"
                      r"|([0-9a-z*/,-]+\s+){4}[0-9a-z*/,-]+)\s+(?P<user>\S+)\s+(?P<command>.+)$",
                      re.I)


class Machine:
    """One throwaway root, kept in ``home`` (its layers), on top of ``below``'s layers."""

    def __init__(self, home: Path, below: tuple[Path, ...] = (), pass_env: dict[str, str] | None
                 = None) -> None:
        self.home = home
        self.below = below
        #: variables a reader's root shell also has on this machine (pip's settings)
        self.pass_env = pass_env or {}
        for directory in OVERLAID:
            for part in ("upper", "work"):
                (home / part / directory[1:]).mkdir(parents=True, exist_ok=True)

    @property
    def layers(self) -> tuple[Path, ...]:
        """This machine's home and those below it, topmost first: ``below`` for the next."""
        return (self.home, *self.below)

    def path(self, inside: str) -> Path:
        """Where a file this machine wrote lies, seen from outside (its top layer)."""
        return self.home / "upper" / inside.lstrip("/")

    def _enter(self) -> list[str]:
        mounts = []
        for directory in OVERLAID:
            lower = ":".join([str(home / "upper" / directory[1:]) for home in self.below]
                             + [directory])
            options = (f"lowerdir={lower},upperdir={self.home / 'upper' / directory[1:]},"
                       f"workdir={self.home / 'work' / directory[1:]}")
            mounts.append(f"mount -t overlay overlay -o {shlex.quote(options)} {directory}")
        script = "set -e\n" + "\n".join(mounts) + '\nexec "$@"\n'
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script,
                "machine", "setsid", "--wait", "env", "-i"]

    def execute(self, argv: list[str], env: dict[str, str], input: str | None = None,
                timeout: float = 900, cwd: Path | None = None
                ) -> subprocess.CompletedProcess[str]:
        """``argv`` inside the machine with exactly ``env``, no terminal."""
        command = [*self._enter(), *(f"{k}={v}" for k, v in env.items()), *argv]
        return subprocess.run(command, input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd or "/",
                              stdin=None if input is not None else subprocess.DEVNULL)

    def shell(self, script: str, timeout: float = 900, cwd: Path | None = None
              ) -> subprocess.CompletedProcess[str]:
        """Lines pasted into a root login shell (bash), stopping at the first that fails."""
        return self.execute(["/bin/bash", "-e", "-o", "pipefail", "-c", script],
                            {**LOGIN, **self.pass_env}, timeout=timeout, cwd=cwd)

    def write(self, path: str, text: str, append: bool = False) -> None:
        """A file written as an editor writes it (umask 022); its directory must exist."""
        done = self.execute(["/bin/sh", "-c", f'umask 022; cat {">>" if append else ">"} "$1"',
                             "write", path], LOGIN, input=text)
        assert done.returncode == 0, f"cannot write {path}: {done.stderr}"

    def read(self, path: str) -> str:
        done = self.execute(["/bin/cat", path], LOGIN)
        assert done.returncode == 0, f"cannot read {path}: {done.stderr}"
        return done.stdout


# -- what a file is: checked and run as the system would ------------------------------------

@dataclass(frozen=True)
class Job:
    """A command the machine runs on a schedule, with the environment it gets there."""

    source: str  # the cron file or the unit
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    ok: frozenset[int] = frozenset({0})

    def run(self, machine: Machine, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return machine.execute(list(self.argv), dict(self.env), timeout=timeout)


def cron_jobs(path: str, text: str) -> list[Job]:
    """The jobs of an /etc/cron.d file: root's, each through /bin/sh under cron's
    environment (with the file's own VAR=value lines)."""
    env = dict(CRON)
    jobs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line)
        if assignment:
            env[assignment[1]] = assignment[2].strip().strip('"')
            continue
        entry = SCHEDULE.match(line.strip())
        assert entry, f"{path}:{number} is not a cron entry (schedule, user, command): {line}"
        assert entry["user"] == "root", f"{path}:{number} runs as {entry['user']}, not root"
        command = entry["command"]
        assert not re.search(r"(?<!\\)%", command), (
            f"{path}:{number}: cron turns an unescaped % into a newline: {command}")
        jobs.append(Job(f"{path}:{number}", (env["SHELL"], "-c", command),
                        tuple(env.items())))
    assert jobs, f"{path} holds no cron entry"
    return jobs


def unit_settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, in order: systemd allows a key several times."""
    settings, section = [], ""
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.append((section, key.strip(), value.strip()))
    return settings


def service_jobs(path: str, text: str) -> list[Job]:
    """A systemd service's ExecStart commands, as systemd runs them: no shell, PATH as for
    every system service, the unit's Environment= and SuccessExitStatus=."""
    service = [(key, value) for section, key, value in unit_settings(text)
               if section == "Service"]
    assert "User" not in dict(service), f"{path}: the docs' units run as root"
    env, ok, jobs = dict(SERVICE), {0}, []
    for key, value in service:
        if key == "Environment":
            env.update(a.partition("=")[::2] for a in shlex.split(value))
        elif key == "SuccessExitStatus":
            ok |= {int(s) for s in value.split() if s.isdigit()}
    for key, value in service:
        if key != "ExecStart":
            continue
        argv = shlex.split(value.lstrip("-@:+!"))
        assert argv and argv[0].startswith("/"), f"{path}: ExecStart needs an absolute path"
        shell_words = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1"} & set(argv)
        assert not shell_words, f"{path}: systemd runs no shell, {shell_words} is an argument"
        jobs.append(Job(path, tuple(argv), tuple(env.items()), frozenset(ok)))
    assert jobs, f"{path} has no ExecStart"
    return jobs


def verify_units(machine: Machine, *paths: str) -> None:
    """`systemd-analyze verify`, silent: a misspelt key is only a warning there, and fails
    here."""
    done = machine.execute(["systemd-analyze", "verify", *paths], LOGIN)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
        f"systemd-analyze verify {' '.join(paths)}:\n{done.stdout}{done.stderr}")

