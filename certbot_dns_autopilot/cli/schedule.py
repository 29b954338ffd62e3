"""Where this machine runs ``certbot renew``: systemd timers and cron entries, read only.

`doctor --all` asks whether anything renews at all, and how often (`cadence` reads the
schedules). Everything is looked up under ``root`` (``/``, or a host's file system mounted
elsewhere, or a test's tree); systemctl is asked whether a timer is enabled only where
systemd runs at ``root = /``, else a timer counts as enabled when a ``*.wants/`` link under
``etc/systemd/system`` names it, as ``systemctl enable`` leaves it.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import cadence

#: where unit files live, most specific first (a unit in etc/ hides one of the same name)
UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "usr/local/lib/systemd/system",
             "lib/systemd/system", "usr/lib/systemd/system")
#: cron tables with a user field, and the per-user tables without one
SYSTEM_CRONTABS = ("etc/crontab",)
SYSTEM_CRON_DIRS = ("etc/cron.d",)
USER_CRON_DIRS = ("var/spool/cron/crontabs", "var/spool/cron")
#: run-parts directories: each executable script in them runs this often (per day)
PERIODIC_DIRS = {"etc/cron.hourly": 24.0, "etc/cron.daily": 1.0, "etc/cron.weekly": 1 / 7,
                 "etc/cron.monthly": 1 / cadence.MONTH_DAYS}
#: a command that renews: certbot's `renew` verb, or the snap's certbot.renew app
RENEWS = re.compile(r"certbot\S*\s(.*\s)?renew\b|certbot\.renew\b")
#: Debian's /etc/cron.d/certbot does nothing where systemd runs (the timer does it)
ONLY_WITHOUT_SYSTEMD = "/run/systemd/system"
#: the largest script followed from a schedule's command (a wrapper around certbot renew)
SCRIPT_LIMIT = 64 * 1024

Systemctl = Callable[[str], str]


@dataclass(frozen=True)
class Schedule:
    """One timer or cron entry that runs ``certbot renew``."""

    where: str  # the unit or file (and line) it was found in
    command: str
    runs_per_day: float | None  # None: the schedule could not be read
    enabled: bool
    why_not: str = ""  # why it does not run, when it does not


def _read(path: str, limit: int | None = None) -> str | None:
    """A regular file's text (never a FIFO or a device, which could block or never end)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(limit) if limit else handle.read()
    except OSError:
        return None


def renews(command: str, root: str) -> bool:
    """The command runs certbot renew, itself or through a script it names (one level)."""
    if RENEWS.search(command):
        return True
    for word in command.split():
        if word.startswith("/") and not word.startswith("/dev/"):
            text = _read(os.path.join(root, word.lstrip("/")), SCRIPT_LIMIT)
            if text and RENEWS.search(text):
                return True
    return False


def _systemd_runs(root: str) -> bool:
    return os.path.isdir(os.path.join(root, ONLY_WITHOUT_SYSTEMD.lstrip("/")))


def systemctl_state(unit: str) -> str:
    """``systemctl is-enabled UNIT``'s word (enabled, disabled, masked, …), "" if unknown."""
    try:
        done = subprocess.run(["systemctl", "is-enabled", unit], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""


def _units(root: str) -> dict[str, str]:
    """Every unit file name -> its path, the most specific directory winning."""
    found: dict[str, str] = {}
    for directory in UNIT_DIRS:
        try:
            names = sorted(os.listdir(os.path.join(root, directory)))
        except OSError:
            continue
        for name in names:
            found.setdefault(name, os.path.join(root, directory, name))
    return found


def _unit(path: str) -> configparser.RawConfigParser | None:
    parser = configparser.RawConfigParser(strict=False, interpolation=None,
                                          dict_type=_MultiDict)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    text = _read(path)
    if text is None:
        return None
    try:
        parser.read_string(text, source=path)
    except configparser.Error:
        return None
    return parser


class _MultiDict(dict):
    """A unit file may repeat a key (two OnCalendar= lines): keep every value, joined by
    newlines, as configparser does for continuation lines."""

    def __setitem__(self, key: str, value: object) -> None:
        if key in self and isinstance(value, list) and isinstance(self[key], list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def _values(unit: configparser.RawConfigParser, section: str, key: str) -> list[str]:
    if not unit.has_option(section, key):
        return []
    return [v.strip() for v in (unit.get(section, key) or "").splitlines() if v.strip()]


def timer_runs_per_day(unit: configparser.RawConfigParser) -> float | None:
    """Every OnCalendar= and OnUnitActiveSec= / OnUnitInactiveSec= of a timer, added up."""
    total = 0.0
    for spec in _values(unit, "Timer", "OnCalendar"):
        runs = cadence.calendar_runs_per_day(spec)
        if runs is None:
            return None
        total += runs
    for key in ("OnUnitActiveSec", "OnUnitInactiveSec"):
        for span in _values(unit, "Timer", key):
            runs = cadence.interval_runs_per_day(span)
            if runs is None:
                return None
            total += runs
    return total


def _enabled_by_links(root: str, name: str) -> bool:
    base = os.path.join(root, "etc/systemd/system")
    try:
        wants = [d for d in os.listdir(base) if d.endswith((".wants", ".requires"))]
    except OSError:
        return False
    return any(os.path.lexists(os.path.join(base, d, name)) for d in wants)


def timers(root: str, systemctl: Systemctl | None) -> Iterator[Schedule]:
    """Each systemd timer whose service runs certbot renew."""
    units = _units(root)
    for name, path in units.items():
        if not name.endswith(".timer"):
            continue
        timer = _unit(path)
        if timer is None:
            continue
        service_name = (_values(timer, "Timer", "Unit") or [name[:-len(".timer")] + ".service"])[0]
        service = _unit(units.get(service_name, "")) if service_name in units else None
        command = " ".join(_values(service, "Service", "ExecStart")) if service else ""
        if not command or not renews(command, root):
            continue
        if systemctl is not None:
            state = systemctl(name)
            enabled = state in ("enabled", "enabled-runtime", "static", "indirect", "alias",
                                "generated", "linked", "linked-runtime")
            why = "" if enabled else f"systemctl is-enabled {name}: {state or 'unknown'}"
        else:
            enabled = _enabled_by_links(root, name)
            why = "" if enabled else "not enabled (no link in etc/systemd/system/*.wants)"
        yield Schedule(f"{name} ({path})", command, timer_runs_per_day(timer), enabled, why)


def _cron_lines(path: str, user_field: bool) -> Iterator[tuple[int, str, str]]:
    """(line number, schedule, command) of each entry of a crontab."""
    for number, line in enumerate((_read(path) or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", line):
            continue
        fields = line.split()
        count = 1 if fields[0].startswith("@") else 5
        skip = count + (1 if user_field else 0)
        if len(fields) <= skip:
            continue
        yield number, " ".join(fields[:count]), " ".join(fields[skip:])


def _files(directory: str) -> list[str]:
    try:
        return [os.path.join(directory, n) for n in sorted(os.listdir(directory))
                if os.path.isfile(os.path.join(directory, n))]
    except OSError:
        return []


def cron_entries(root: str) -> Iterator[Schedule]:
    """Each cron entry (system and per-user tables, run-parts directories) that renews."""
    systemd = _systemd_runs(root)
    tables = [(os.path.join(root, f), True) for f in SYSTEM_CRONTABS]
    tables += [(f, True) for d in SYSTEM_CRON_DIRS for f in _files(os.path.join(root, d))]
    tables += [(f, False) for d in USER_CRON_DIRS for f in _files(os.path.join(root, d))]
    for path, user_field in tables:
        for number, when, command in _cron_lines(path, user_field):
            if not renews(command, root):
                continue
            idle = systemd and ONLY_WITHOUT_SYSTEMD in command
            yield Schedule(f"{path}:{number}", command, cadence.cron_runs_per_day(when),
                           not idle, "it runs only where systemd does not" if idle else "")
    for directory, runs in PERIODIC_DIRS.items():
        for path in _files(os.path.join(root, directory)):
            text = _read(path, SCRIPT_LIMIT) or ""
            if RENEWS.search(text) and ONLY_WITHOUT_SYSTEMD not in text:
                yield Schedule(path, path, runs, os.access(path, os.X_OK),
                               "" if os.access(path, os.X_OK) else "not executable")


#: where a bare ``certbot`` is looked up: cron runs commands with ``PATH=/usr/bin:/bin``,
#: systemd's ExecStart= with its own default (which puts /usr/local first)
CRON_PATH = ("/usr/bin", "/bin")
SYSTEMD_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
#: the distribution the plugin is installed as, in an environment's site-packages
DIST_INFO = re.compile(r"certbot_dns_autopilot-[^/]*\.dist-info\Z")


def certbot_of(found: Schedule, root: str) -> str | None:
    """The certbot executable a timer or cron entry runs (a bare ``certbot`` found on the
    PATH it runs with), or None when it is not named in the command itself (a wrapper
    script, the snap)."""
    word = next((w for w in found.command.split()
                 if os.path.basename(w).startswith("certbot") and "." not in
                 os.path.basename(w)), None)
    if word is None:
        return None
    if word.startswith("/"):
        return word
    path = SYSTEMD_PATH if found.where.split(" ")[0].endswith(".timer") else CRON_PATH
    return next((os.path.join(d, word) for d in path
                 if os.path.lexists(os.path.join(root, d.lstrip("/"), word))), None)


def _inside(root: str, path: str) -> str:
    """``path`` (absolute on the checked system) as a path under ``root``, links followed
    within it."""
    for _ in range(16):
        here = os.path.join(root, path.lstrip("/"))
        if not os.path.islink(here):
            return here
        target = os.readlink(here)
        path = target if target.startswith("/") else os.path.join(os.path.dirname(path),
                                                                  target)
    return os.path.join(root, path.lstrip("/"))


def has_plugin(executable: str, root: str) -> bool | None:
    """Whether the Python environment a certbot script runs in has dns-autopilot installed
    (its dist-info in that environment's site-packages: what certbot's plugin discovery
    reads), read from the script's first line; None when that cannot be told (not a Python
    script, an interpreter that is no virtual environment nor the system's)."""
    first = (_read(_inside(root, executable), 256) or "").splitlines()[:1]
    if not first or not first[0].startswith("#!"):
        return None
    interpreter = first[0][2:].split()[0] if first[0][2:].split() else ""
    if not re.search(r"/python(3(\.\d+)?)?\Z", interpreter):
        return None
    venv = os.path.dirname(os.path.dirname(interpreter))
    if os.path.isfile(_inside(root, os.path.join(venv, "pyvenv.cfg"))):
        places = [os.path.join(venv, "lib")]
    elif venv in ("/usr", "/usr/local"):
        places = ["/usr/lib/python3/dist-packages", "/usr/local/lib"]
    else:
        return None
    for place in places:
        for _, dirs, _files in os.walk(_inside(root, place)):
            if any(DIST_INFO.match(d) for d in dirs):
                return True
            dirs[:] = [d for d in dirs if d.startswith(("python3", "site-packages",
                                                         "dist-packages"))]
    return False


def find(root: str = "/", systemctl: Systemctl | None = None) -> list[Schedule]:
    """Every timer and cron entry under ``root`` that runs certbot renew. systemctl is asked
    (``systemctl`` given, or the real one where systemd runs at ``/``) for timer state."""
    if systemctl is None and os.path.abspath(root) == "/" and _systemd_runs(root):
        systemctl = systemctl_state
    return [*timers(root, systemctl), *cron_entries(root)]
