"""A lock between certbot processes on one host, for writers that read, modify and write
a whole record set (Route 53): two renewals at once must not drop each other's value.

The wait is bounded; past it the run stops with a message naming the lock and its holder.
Processes on other hosts are kept apart by the writer itself (conditional changes).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import tempfile
import time
from collections.abc import Iterator

from .errors import AutopilotError

DIRECTORY = os.path.join(tempfile.gettempdir(), "dns-autopilot-locks")
WAIT = 120.0


@contextlib.contextmanager
def held(key: str, what: str, wait: float = WAIT) -> Iterator[None]:
    """Hold the host-wide lock ``key`` for the block, waiting at most ``wait`` seconds."""
    os.makedirs(DIRECTORY, mode=0o700, exist_ok=True)
    path = os.path.join(DIRECTORY, re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    raise AutopilotError(
                        "propagation-timeout",
                        f"another certbot process (pid {holder}) held the lock for {what} for "
                        f"more than {wait:.0f} s", f"let it finish, or if it hangs, stop it; "
                        f"the lock is {path}") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
