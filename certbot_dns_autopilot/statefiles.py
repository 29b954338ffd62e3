"""The plugin's own files on disk (journal, locks, event log), opened as a program that runs
as root must open them.

certbot runs as root from cron, on hosts with other users. A directory or file that another
user can create, replace or point elsewhere with a symlink would let that user make root
truncate, read or delete what they choose. So a state directory is accepted only when it is
a real directory (not a symlink) this user owns with mode 0700, and a state file is opened
without following symlinks and used only when it is a regular file this user owns. A file
rewritten whole (the journal, the acme-dns registrations, node-exporter's textfile, which
often sits in a directory another user writes) is written beside itself and renamed over
it, its mode set through its descriptor (`write_replacing`).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from .codes import Code
from .errors import AutopilotError

NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO never hangs open


class Unsafe(Exception):
    """A state path that is not this user's own regular file or private directory."""

    def __init__(self, path: str | os.PathLike[str], why: str) -> None:
        self.path, self.why = str(path), why
        super().__init__(f"{path}: {why}")

    def error(self) -> AutopilotError:
        """As the run's error: what, and the fix."""
        return AutopilotError(
            Code.UNSAFE_STATE, f"refusing to use {self.path}: {self.why}",
            "remove it (the plugin recreates its state as a directory with mode 0700 owned by "
            "the user certbot runs as), and check who else can write to its parent directory")


def _owned(st: os.stat_result, path: str | os.PathLike[str]) -> None:
    if st.st_uid != os.geteuid():
        raise Unsafe(path, f"it belongs to uid {st.st_uid}, not to this user "
                           f"(uid {os.geteuid()})")


def check_dir(path: str | os.PathLike[str]) -> None:
    """``path`` is a directory (not a symlink) this user owns, mode 0700 (tightened if ours).

    :raises Unsafe: when it is anything else.
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise Unsafe(path, "it is a symbolic link")
    if not stat.S_ISDIR(st.st_mode):
        raise Unsafe(path, "it is not a directory")
    _owned(st, path)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700, follow_symlinks=False)


def private_dir(base: str | os.PathLike[str], *parts: str) -> Path:
    """``base/parts...``, each part created with mode 0700 or accepted by `check_dir`; the
    base itself (certbot's work or logs dir) is certbot's to secure.

    :raises Unsafe: when a part is a symlink, not a directory, or another user's.
    """
    path = Path(base)
    os.makedirs(path, 0o700, exist_ok=True)  # certbot's own dir, made as certbot makes it
    for part in parts:
        path = path / part
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        check_dir(path)
    return path


def _check_file(fd: int, path: str | os.PathLike[str], mode: int | None) -> None:
    """The open ``fd`` is a regular file this user owns (and has ``mode``, when given).

    :raises Unsafe: otherwise.
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise Unsafe(path, "it is not a regular file")
    _owned(st, path)
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        raise Unsafe(path, f"its mode is {stat.S_IMODE(st.st_mode):04o}, not {mode:04o}")


def open_file(path: str | os.PathLike[str], flags: int, mode: int | None = None) -> int:
    """Open ``path`` without following a symlink, as a regular file this user owns (with
    ``mode`` when given); a new file is created 0600. Never truncates: callers do, once the
    file is known to be theirs.

    :raises Unsafe: a symlink, a non-regular file, another user's file, or the wrong mode.
    :raises OSError: as `os.open` does otherwise.
    """
    try:  # a device or FIFO is refused before it is opened (opening one may act)
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISLNK(st.st_mode):
            raise Unsafe(path, "it is a symbolic link")
        if not stat.S_ISREG(st.st_mode):
            raise Unsafe(path, "it is not a regular file")
    try:  # and checked again once open: it may have been swapped in between
        fd = os.open(path, (flags & ~os.O_TRUNC) | NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # ELOOP: the last component is a symlink
            raise Unsafe(path, "it is a symbolic link") from None
        raise
    try:
        _check_file(fd, path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _trusted_owner(st: os.stat_result, path: str) -> None:
    if st.st_uid not in (0, os.geteuid()):
        raise Unsafe(path, f"it belongs to uid {st.st_uid}, neither to root nor to this user "
                           f"(uid {os.geteuid()}): that user could change what root does")


def _others_write(st: os.stat_result) -> str:
    """Who besides the owner can write (as words), or "" for nobody: a group other than
    root's, or every user (a directory with the sticky bit lets them add names only)."""
    sticky = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if st.st_mode & stat.S_IWOTH and not sticky:
        return "every user"
    if st.st_mode & stat.S_IWGRP and st.st_gid != 0 and not sticky:
        return f"its group (gid {st.st_gid})"
    return ""


def check_trusted(path: str | os.PathLike[str]) -> None:
    """``path`` (a file or a directory) is one root may act on: it names commands root runs
    or holds the keys root writes with, so nobody but root or this user may change it. It
    must belong to root or this user and be writable by nobody else, and so must every
    directory above it (through a symlink: above the link and above its target), or that
    directory's owner could put another file in its place.

    :raises Unsafe: naming the first path that fails, and why.
    :raises OSError: it does not exist or cannot be examined.
    """
    given = os.path.abspath(path)
    real = os.path.realpath(given)
    st = os.stat(real)
    _trusted_owner(st, real)
    if not stat.S_ISDIR(st.st_mode) and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "every user" if st.st_mode & stat.S_IWOTH else f"its group (gid {st.st_gid})"
        raise Unsafe(real, f"{who} can write to it (mode {stat.S_IMODE(st.st_mode):04o})")
    starts = [real if stat.S_ISDIR(st.st_mode) else os.path.dirname(real)]
    if given != real:  # a symlink: the directories holding the link count too
        starts.append(os.path.dirname(given))
    checked: set[str] = set()
    for directory in starts:
        while directory not in checked:
            checked.add(directory)
            dst = os.stat(directory)
            _trusted_owner(dst, directory)
            who = _others_write(dst)
            if who:
                raise Unsafe(directory, f"{who} can write to it (mode "
                                        f"{stat.S_IMODE(dst.st_mode):04o}) and so replace "
                                        "what it holds")
            directory = os.path.dirname(directory)


def write_replacing(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to a new file beside ``path`` and rename it over ``path``: a reader never
    sees half a file, and a crash or a full disk leaves the old one whole. The new file is
    created exclusively and its mode set through its descriptor, never by path: in a
    directory another user can write, that user may swap the new file for a symlink, and a
    chmod by path would change the mode of whatever it points at.

    :raises Unsafe: what was renamed over ``path`` was not the file written (another user
        can write to the directory); it is removed again.
    :raises OSError: as writing or renaming does (the old file is then left as it was).
    """
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix=".dns-autopilot-", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
        os.replace(temp, path)
        ours = os.fstat(fd)
        there = os.lstat(path)
        if (there.st_dev, there.st_ino) != (ours.st_dev, ours.st_ino):
            os.unlink(path)  # a name in that directory: unlink never follows it
            raise Unsafe(path, "the file written was swapped before it was renamed into "
                               f"place: another user can write to {directory}")
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    finally:
        os.close(fd)
