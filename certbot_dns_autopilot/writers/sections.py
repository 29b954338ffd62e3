"""One part of the credentials file a writer is read from: the top level or a ``[section]``.

configobj hands both over as a ``Section`` (the file itself is the top-level one); tests
may hand a plain mapping. Either way a writer reads its keys without the ``dns_autopilot_``
prefix, as certbot's DNS plugins read theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What every key of the credentials file starts with: ``dns_autopilot_<kind>_<name>``,
#: ``dns_autopilot_zones``.
KEY_PREFIX = "dns_autopilot_"


class SectionKeys:
    """The keys of one part of the credentials file, and how messages name that part
    (``/etc/letsencrypt/autopilot.ini [cloudflare]``)."""

    def __init__(self, section: Mapping[str, Any], where: str) -> None:
        self.section, self.where = section, where

    def conf(self, var: str) -> Any:
        """The value of ``dns_autopilot_<var>``, as configobj read it (None: not set)."""
        return self.section.get(KEY_PREFIX + var)

    def present(self) -> list[str]:
        """The key names this part holds (a configobj section's own, not its sections'):
        writers check them for misspellings, which would otherwise go unnoticed."""
        scalars = getattr(self.section, "scalars", None)
        return [str(key) for key in (scalars if scalars is not None else list(self.section))]
