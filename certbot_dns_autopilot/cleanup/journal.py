"""The journal of records this run may have written: what a killed run leaves for the next.

certbot cleans up after errors and signals it can catch, but not after SIGKILL, an OOM kill
or a power cut. So before any writer call, the run notes in
``<certbot work dir>/dns-autopilot/journal/<run>.json`` each zone's values, with its pid and
the process start time (a recycled pid is not the same run), and the credentials file that
knows the writer; cleanup drops a zone from it once the writer confirmed the removal. A
later run first removes what a run that no longer exists left behind, and says so. A run
that still lives is never touched: its values are its own.

The journal decides what root deletes, so a later run trusts one only when this user wrote
it (its own regular file, mode 0600, in the plugin's private directory), every field has its
type, and every value is shaped like a DNS-01 value (43 base64url characters): anything else
is refused with the path and the reason, and left where it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import names, statefiles
from ..names import is_dns01_value

PARTS = ("dns-autopilot", "journal")
SUBDIR = os.path.join(*PARTS)
MAX_SIZE = 1 << 20
SEEN = ".refused"  # the refused journals already reported: {name: "inode:mtime"}
CLAIMED = re.compile(r"\.recovering-(\d+)(?:-(\d+))?$")


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux /proc), to tell a recycled pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:
        return True  # someone else's process: assume it is that run
    return started is None or _start_time(pid) in (None, started)


@dataclass(frozen=True)
class Leftover:
    """What a run that no longer exists had written and not removed."""

    path: Path
    credentials: str
    zones: dict[str, dict[str, list[str]]]  # zone -> {name -> values}


@dataclass(frozen=True)
class Refused:
    """A journal recovery will not act on, and why: reported, and left where it is.
    ``first`` is false when an earlier run already reported this very file (same inode and
    modification time): it is then only noted, not warned about again."""

    path: Path
    why: str
    first: bool = True


class Journal:
    """This run's entries, one JSON file rewritten atomically on every change."""

    def __init__(self, work_dir: str | None, run: str, credentials: str) -> None:
        self.directory = Path(work_dir, SUBDIR) if work_dir else None
        self.work_dir = work_dir
        self.path = self.directory / f"{run}.json" if self.directory else None
        self.credentials = credentials
        self.zones: dict[str, dict[str, list[str]]] = {}
        self._lock = threading.Lock()

    def record(self, zone: str, records: dict[str, frozenset[str]] | dict[str, set[str]]
               ) -> None:
        """Before a writer call: these values may exist from now on.

        :raises AutopilotError: (``unsafe-state``) the journal's directory or file is not
            this user's own.
        """
        with self._lock:
            entry = self.zones.setdefault(zone, {})
            for name, values in records.items():
                entry[name] = sorted(set(entry.get(name, ())) | set(values))
            self._save()

    def forget(self, zone: str) -> None:
        """After the writer confirmed the removal of the zone's values."""
        with self._lock:
            self.zones.pop(zone, None)
            self._save()

    def _save(self) -> None:
        if not self.path or not self.work_dir:
            return
        if not self.zones:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        pid = os.getpid()
        body = json.dumps({"pid": pid, "started": _start_time(pid),
                           "credentials": self.credentials, "zones": self.zones}, indent=1)
        try:
            statefiles.private_dir(self.work_dir, *PARTS)
            # mode 0600 whatever the umask: recovery reads only mode 0600
            statefiles.write_replacing(self.path, body.encode("utf-8"), 0o600)
        except statefiles.Unsafe as exc:
            raise exc.error() from None


def _str(value: Any) -> bool:
    return isinstance(value, str) and value.isprintable() and 0 < len(value) < 4096


def parse(data: Any) -> tuple[int, str | None, str, dict[str, dict[str, list[str]]]]:
    """A journal's fields, each checked for type and shape.

    :raises ValueError: naming the first field that is not what a run of ours writes.
    """
    if not isinstance(data, dict):
        raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
    pid, started, creds, zones = (data.get(k) for k in ("pid", "started", "credentials",
                                                        "zones"))
    if type(pid) is not int or not 0 < pid < 2**31:
        raise ValueError(f"pid {pid!r} is not a process id")
    if started is not None and not (isinstance(started, str) and started.isdigit()):
        raise ValueError(f"started {started!r} is not a process start time")
    if not (_str(creds) and os.path.isabs(creds)):
        raise ValueError(f"credentials {creds!r} is not an absolute path")
    if not isinstance(zones, dict) or not zones:
        raise ValueError("zones is not an object of zones")
    for zone, entry in zones.items():
        if not (_str(zone) and isinstance(entry, dict) and entry):
            raise ValueError(f"zone {zone!r} does not map names to values")
        for name, values in entry.items():
            if not (_str(name) and _within(names.normalize(name), names.normalize(zone))):
                raise ValueError(f"name {name!r} is not in zone {zone!r}")
            if not (isinstance(values, list) and values
                    and all(is_dns01_value(v) for v in values)):
                raise ValueError(f"the values at {name!r} are not DNS-01 values "
                                 "(43 base64url characters each)")
    return pid, started, creds, zones


def _within(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def _read(path: Path) -> Any:
    fd = statefiles.open_file(path, os.O_RDONLY, mode=0o600)
    with os.fdopen(fd, "rb") as handle:
        body = handle.read(MAX_SIZE + 1)
    if len(body) > MAX_SIZE:
        raise ValueError(f"it is larger than {MAX_SIZE} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:
        raise ValueError("it is not JSON") from None


def leftovers(work_dir: str | None) -> Iterator[Leftover | Refused]:
    """Claim, one by one, the journals of runs that no longer exist (a claimed journal is
    renamed first, so two recovering runs never both act on it; one claimed by a run that
    died while recovering is claimed again). Journals this user did not write, or that
    hold anything but a run's DNS-01 values, come out as `Refused`. Never raises."""
    if not work_dir:
        return
    directory = Path(work_dir, SUBDIR)
    try:
        if not os.path.lexists(directory):
            return
        for part in (Path(work_dir, PARTS[0]), directory):
            statefiles.check_dir(part)
        entries = sorted(os.listdir(directory))
    except (statefiles.Unsafe, OSError) as exc:
        yield Refused(directory, getattr(exc, "why", None) or str(exc))
        return
    me = os.getpid()
    seen, now = _seen(directory), {}
    for entry in entries:
        path = directory / entry
        claimed_by = CLAIMED.search(entry)
        if claimed_by:
            pid, started = int(claimed_by[1]), claimed_by[2]
            if pid == me or _alive(pid, started):
                continue  # another run is recovering it now
        elif not entry.endswith(".json"):
            continue
        try:
            pid, started, creds, zones = parse(_read(path))
        except FileNotFoundError:
            continue
        except (statefiles.Unsafe, OSError, ValueError) as exc:
            try:
                st = os.lstat(path)
                now[entry] = f"{st.st_ino}:{st.st_mtime_ns}"
            except OSError:
                pass
            yield Refused(path, getattr(exc, "why", None) or str(exc),
                          first=seen.get(entry) != now.get(entry))
            continue
        if _alive(pid, started):
            continue
        started_me = _start_time(me)
        claimed = path.with_name(f"{path.name.split('.', 1)[0]}.recovering-{me}"
                                 + (f"-{started_me}" if started_me else ""))
        try:
            os.replace(path, claimed)
        except OSError:
            continue  # another run claimed it first
        yield Leftover(claimed, creds, zones)
    if now != seen:
        _remember(directory, now)


def _seen(directory: Path) -> dict[str, str]:
    try:
        data = _read(directory / SEEN)
    except (statefiles.Unsafe, OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) \
        else {}


def _remember(directory: Path, seen: dict[str, str]) -> None:
    """Note which refused journals were reported (best effort: at worst, warned again)."""
    with contextlib.suppress(statefiles.Unsafe, OSError):
        statefiles.write_replacing(directory / SEEN, json.dumps(seen).encode("utf-8"), 0o600)


def done(leftover: Leftover) -> None:
    """The leftover's values are gone: drop its journal."""
    with contextlib.suppress(FileNotFoundError):
        leftover.path.unlink()


def keep(leftover: Leftover) -> None:
    """The leftover could not be removed now: put it back for a later run."""
    with contextlib.suppress(OSError):
        os.replace(leftover.path, leftover.path.with_name(
            leftover.path.name.split(".", 1)[0] + ".json"))
