"""The writer kinds, found in this package: a module whose `Writer` subclass declares itself
(``title``, ``KEYS``, ``extra``, ``page``) is the writer of the kind its name spells
(``dns_autopilot_<kind>_…``). Nothing else lists the writers: adding one adds its module.

A writer's module (and so its SDK) is imported only when a credentials file names its kind:
certbot imports every installed plugin on every invocation. A kind's name is one word (the
modules with an underscore in their name, and the shared ones, declare no writer).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from .. import scrub
from ..codes import Code
from ..errors import AutopilotError
from . import schema
from .schema import KEY_PREFIX
from .sections import SectionKeys
from .writer import Context, Writer


@dataclass(frozen=True)
class Kind:
    """One writer kind: its name (its module's), and the writer its module declares, or the
    module its SDK did not find (its extra is not installed)."""

    name: str
    cls: type[Writer] | None = None
    missing: str = ""

    @property
    def key(self) -> str:
        """The key messages name to introduce the kind: its first declared key."""
        if self.cls is None or not self.cls.KEYS:
            return f"{KEY_PREFIX}{self.name}_…"
        return schema.key_name(self.name, self.cls.KEYS[0].name)

    def build(self, keys: SectionKeys, context: Context | None = None) -> Writer:
        """The writer, its secrets registered with the log scrubber first (from its
        ``KEYS``), so that nothing the SDK logs while it starts can show them.

        :raises AutopilotError: (``bad-config``) its SDK is not installed; a secret too
            short to be masked wherever it appears (it would mask ordinary words): no
            credential is that short.
        """
        if self.cls is None:
            raise AutopilotError(
                Code.BAD_CONFIG, f"{keys.where} configures a {self.name} writer, but its SDK "
                f"({self.missing}) is not installed",
                f"pip install 'certbot-dns-autopilot[{self.name}]' into certbot's environment")
        for key in self.cls.KEYS:
            secret = schema.value(keys.conf(f"{self.name}_{key.name}")) if key.secret \
                else None
            if secret is not None and len(secret) < scrub.MIN_SECRET:
                raise AutopilotError(
                    Code.BAD_CONFIG, f"{schema.key_name(self.name, key.name)} in {keys.where} "
                    f"is {len(secret)} characters long: too short for a secret, and too short "
                    "to be kept out of logs (it would be masked in ordinary words)",
                    f"give the whole secret as the provider issued it (at least "
                    f"{scrub.MIN_SECRET} characters)")
            scrub.register([secret])
        return self.cls.from_credentials(keys, context)


def _modules() -> list[str]:
    """The one-word module names of this package, read from its directories (its
    ``__path__``: the package is loaded, being this module's parent); none imported."""
    where = sys.modules[__package__].__path__
    return sorted({m.name for m in pkgutil.iter_modules(where)
                   if not m.ispkg and "_" not in m.name})


def kind(name: str) -> Kind | None:
    """The writer kind ``name``, its module imported; None when no module of this package by
    that name declares a writer."""
    if name not in _modules():
        return None
    try:
        module = importlib.import_module(f".{name}", __package__)
    except ImportError as exc:  # a writer's SDK, an extra; the package's own imports resolve
        if (exc.name or "").startswith(__package__.partition(".")[0]):
            raise
        return Kind(name, missing=exc.name or "its SDK")
    declared = [value for value in vars(module).values() if isinstance(value, type)
                and issubclass(value, Writer) and value is not Writer
                and value.__module__ == module.__name__]
    if len(declared) > 1:
        raise TypeError(f"{module.__name__} declares {len(declared)} writers: one per module")
    return Kind(name, declared[0]) if declared else None


def every_kind() -> dict[str, Kind]:
    """Every writer kind, by name, each module imported (with its SDK, where installed): for
    messages that list them, the docs' and the packaging's checks."""
    return {name: found for name in _modules() if (found := kind(name)) is not None}


def kinds(keys: Iterable[str]) -> list[str]:
    """The writer kinds whose keys (``dns_autopilot_<kind>_…``) appear among ``keys``."""
    named = {key[len(KEY_PREFIX):].partition("_") for key in keys if key.startswith(KEY_PREFIX)}
    return sorted({name for name, sep, _ in named if sep and kind(name) is not None})
