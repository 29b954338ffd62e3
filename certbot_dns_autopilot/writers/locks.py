"""A lock between certbot processes on one host, for writers that read, modify and write
a whole record set (Route 53, lexicon): two renewals at once must not drop each other's value.

The locks live in ``<certbot work dir>/dns-autopilot/locks`` (certbot's own directory, so no
other user can plant anything there), for every entry point that writes: a certbot run, and
`dns-autopilot doctor`'s permission probe (its ``--work-dir``; with ``--all``, each
lineage's saved work dir), so a probe and a renewal never interleave their read-modify-write
of one record set. Without a work dir, in a directory of the temp dir that this user owns
(checked, never followed when it is a symlink). A directory another
user planted is never used: the run takes a fresh private one instead, so it can neither be
redirected nor blocked. The wait is bounded; past it the run stops with ``lock-timeout``,
naming the holder's pid. Processes on other hosts (or with other work dirs) are kept apart
by the writer itself (conditional changes).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .. import statefiles
from ..codes import Code
from ..errors import AutopilotError

logger = logging.getLogger(__name__)

PARTS = ("dns-autopilot", "locks")
WAIT = 120.0

_fallback: Path | None = None  # this process's own directory when there is no work dir
_choose = threading.Lock()


class Locks:
    """The host-wide locks of one entry point: under certbot's work dir when it is known
    (``work_dir``), else in this user's directory below the temp dir. A run hands it to
    every writer it builds (`Context`)."""

    def __init__(self, work_dir: str | None = None) -> None:
        self.work_dir = work_dir

    def directory(self) -> Path:
        """The directory the locks live in: certbot's work dir, or this user's own below the
        temp dir, or (when another user planted that) a fresh private one.

        :raises AutopilotError: (``unsafe-state``) certbot's work dir holds a planted path.
        """
        global _fallback
        if self.work_dir:
            try:
                return statefiles.private_dir(self.work_dir, *PARTS)
            except statefiles.Unsafe as exc:
                raise exc.error() from None
            except OSError as exc:
                raise AutopilotError(
                    Code.BAD_CONFIG, f"the locks shared with certbot's renewals cannot be kept "
                    f"under its work dir {self.work_dir} ({exc.strerror})",
                    "run as the user certbot runs as (root for cron and systemd timers), with "
                    "certbot's work dir (doctor: --work-dir)") from None
        with _choose:
            if _fallback is None:
                base = tempfile.gettempdir()
                try:
                    _fallback = statefiles.private_dir(base,
                                                       f"dns-autopilot-locks-{os.geteuid()}")
                except statefiles.Unsafe as exc:
                    _fallback = Path(tempfile.mkdtemp(prefix="dns-autopilot-locks-"))
                    logger.warning("dns-autopilot: not using %s for locks (%s): another user "
                                   "may have planted it; using %s", exc.path, exc.why, _fallback)
            return _fallback

    @contextlib.contextmanager
    def held(self, key: str, what: str, wait: float = WAIT) -> Iterator[None]:
        """Hold the host-wide lock ``key`` for the block, waiting at most ``wait`` seconds.

        :raises AutopilotError: ``lock-timeout`` past the wait, ``unsafe-state`` when the lock
            file is not this user's own regular file.
        """
        path = self.directory() / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".lock")
        try:
            fd = statefiles.open_file(path, os.O_RDWR | os.O_CREAT)
        except statefiles.Unsafe as exc:
            raise exc.error() from None
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() > deadline:
                        holder = os.pread(fd, 16, 0).decode(errors="replace").strip()
                        holder = holder if holder.isdigit() else "unknown"
                        raise AutopilotError(
                            Code.LOCK_TIMEOUT, f"another certbot process (pid {holder}) held "
                            f"the lock for {what} for more than {wait:.0f} s",
                            f"let it finish, or if it hangs, stop it; the lock is {path}"
                        ) from None
                    time.sleep(0.1)
            os.ftruncate(fd, 0)  # ours: a regular file this user owns, and now held
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the lock
