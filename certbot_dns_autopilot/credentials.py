"""Reading the credentials file: its writers (the writer map) and its aliases.

One reader for the plugin and for `dns-autopilot doctor`, so both see the same setup.
"""

from __future__ import annotations

import logging
import os
import stat

from certbot import errors
from certbot.plugins.dns_common import CredentialsConfiguration

from . import aliases
from .providers import WriterMap, writers_from_credentials

PREFIX = "dns_autopilot_"

logger = logging.getLogger(__name__)


def check_mode(path: str) -> None:
    """Secrets readable by every local user are refused; readable by the group, warned."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # a missing file is reported by the reader, with its own message
    if mode & stat.S_IROTH:
        raise errors.PluginError(
            f"the credentials file {path} is readable by every user of this machine "
            f"(mode {stat.S_IMODE(mode):o}); it holds secrets. Fix: chmod 600 {path}")
    if mode & stat.S_IRGRP:
        logger.warning("dns-autopilot: the credentials file %s is readable by its group "
                       "(mode %o); consider chmod 600 %s", path, stat.S_IMODE(mode), path)


def load(path: str) -> tuple[str, WriterMap, list[aliases.Alias]]:
    """(absolute path, writers, aliases); every problem is one PluginError naming the fix."""
    path = os.path.abspath(os.path.expanduser(path))
    check_mode(path)
    credentials = CredentialsConfiguration(path, lambda var: PREFIX + var.replace("-", "_"))
    writers = writers_from_credentials(credentials, path)
    try:
        alias_list = aliases.parse(credentials.confobj.get(aliases.KEY))
    except aliases.AliasSyntaxError as exc:
        raise errors.PluginError(f"{exc} in {path}. Write each alias as 'DOMAIN -> TARGET', "
                                 "separated by commas (see docs/cname-aliases.md)") from None
    return path, writers, alias_list
