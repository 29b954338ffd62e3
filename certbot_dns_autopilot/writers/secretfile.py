"""A file of secrets root acts on (the credentials file, acme-dns's registrations): who may
change it and who may read it, checked before it is read."""

from __future__ import annotations

import logging
import os
import stat

from .. import statefiles
from ..codes import Code
from ..errors import AutopilotError

logger = logging.getLogger(__name__)


def check(path: str) -> None:
    """One anybody but its owner (root or this user) can change, or that sits where anybody
    else can replace it, is refused (with the exec writer it names commands root runs); one
    every local user can read is refused; one its group can read, warned about. A missing
    file is left to its reader, which says so in its own words.

    :raises AutopilotError: (``bad-config``) the file is refused.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    try:
        statefiles.check_trusted(path)
    except statefiles.Unsafe as exc:
        raise AutopilotError(
            Code.BAD_CONFIG, f"refusing the file {path}: {exc.path}: {exc.why}",
            "keep it in a directory only root (or the user certbot runs as) can write, such "
            "as /etc/letsencrypt, owned by that user, and chmod 600 it (directories above "
            "it: chmod go-w, chown root)") from None
    except OSError:
        return
    if mode & stat.S_IROTH:
        raise AutopilotError(
            Code.BAD_CONFIG, f"the credentials file {path} is readable by every user of this "
            f"machine (mode {stat.S_IMODE(mode):o}); it holds secrets", f"chmod 600 {path}")
    if mode & stat.S_IRGRP:
        logger.warning("dns-autopilot: the credentials file %s is readable by its group "
                       "(mode %o); consider chmod 600 %s", path, stat.S_IMODE(mode), path)
