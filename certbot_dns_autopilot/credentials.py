"""Reading the credentials file: its writers (the writer map) and its aliases.

One reader for the plugin and for `dns-autopilot doctor`, so both see the same setup.
"""

from __future__ import annotations

import os

from certbot import errors
from certbot.plugins.dns_common import CredentialsConfiguration

from . import aliases
from .providers import WriterMap, writers_from_credentials

PREFIX = "dns_autopilot_"


def load(path: str) -> tuple[str, WriterMap, list[aliases.Alias]]:
    """(absolute path, writers, aliases); every problem is one PluginError naming the fix."""
    path = os.path.abspath(os.path.expanduser(path))
    credentials = CredentialsConfiguration(path, lambda var: PREFIX + var.replace("-", "_"))
    writers = writers_from_credentials(credentials, path)
    try:
        alias_list = aliases.parse(credentials.confobj.get(aliases.KEY))
    except aliases.AliasSyntaxError as exc:
        raise errors.PluginError(f"{exc} in {path}. Write each alias as 'DOMAIN -> TARGET', "
                                 "separated by commas (see docs/cname-aliases.md)") from None
    return path, writers, alias_list
