"""A writer's keys: declared once (`Key`, a writer's ``KEYS``) and read by that declaration.

Every writer's ``from_credentials`` starts here (through `Writer.settings`): a misspelt key
is an error naming the key probably meant (ignored, it would leave the writer without the
setting the user gave), a required key that is missing or empty is an error naming its help,
and the values come back stripped, so each writer goes on with checks of its own values
only. All of these are ``bad-config``: the file is wrong, no provider was asked yet.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..codes import Code
from ..errors import AutopilotError
from .sections import KEY_PREFIX, SectionKeys

#: A writer's settings as read: key name (without ``dns_autopilot_<kind>_``) -> its value,
#: stripped; None when the file does not set it (or sets it empty).
Settings = dict[str, str | None]


@dataclass(frozen=True)
class Shape:
    """What a key's value must look like to be read at all: what it is ("an AWS region"),
    the test, and the fix (``{key}`` in it: the key's name; ``{key:other}``: another key of
    the writer, as the file spells it). A value of another shape is
    ``bad-config`` before the writer's own checks (which of two keys, which pair) run."""

    what: str
    fits: Callable[[str], object]
    fix: str
    #: whether the message quotes the value (never a secret's; nor a value a secret may
    #: have been pasted into by mistake)
    quoted: bool = True


@dataclass(frozen=True)
class Key:
    """One key of a writer's credentials (``dns_autopilot_<kind>_<name>``): whether it must
    be given, whether its value is a secret (kept out of every log), its default as the docs
    show it, its help, and the shape a value must have. Each writer lists its keys in its
    ``KEYS``."""

    name: str
    required: bool = False
    secret: bool = False
    default: str = ""
    help: str = ""
    shape: Shape | None = None

    def row(self, kind: str) -> str:
        """The key's line in the docs' key table (docs/options.md)."""
        default = "(required)" if self.required else self.default
        cells = [f"`{key_name(kind, self.name)}`", default, self.help]
        return "| " + " | ".join(cell or "" for cell in cells).replace("|  |", "| |") + " |"


def key_name(kind: str, name: str) -> str:
    """The key as written in the file: ``dns_autopilot_<kind>_<name>``."""
    return f"{KEY_PREFIX}{kind}_{name}"


def _spelt(fix: str, kind: str, own: str) -> str:
    """``fix`` with ``{key}`` (``own``) and ``{key:other}`` spelt as the file spells them."""
    return re.sub(r"\{key(?::(\w+))?\}", lambda m: key_name(kind, m[1] or own), fix)


def unknown_keys(present: Iterable[str], kind: str, schema: Sequence[Key],
                 extra: Callable[[str], bool] | None = None) -> list[tuple[str, str | None]]:
    """The ``dns_autopilot_<kind>_*`` keys among ``present`` that ``schema`` does not list
    (nor ``extra(name)`` accepts), each with the schema key it most likely misspells."""
    prefix = key_name(kind, "")
    known = [key.name for key in schema]
    found = []
    for key in sorted(set(present)):
        name = key[len(prefix):]
        if not key.startswith(prefix) or name in known or (extra and extra(name)):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        found.append((key, key_name(kind, close[0]) if close else None))
    return found


def value(raw: object) -> str | None:
    """A value stripped; configobj hands ``a, b`` over as a list: the text as written."""
    if raw is None:
        return None
    text = (", ".join(str(item) for item in raw) if isinstance(raw, list) else str(raw)).strip()
    return text or None


def read(keys: SectionKeys, kind: str, schema: Sequence[Key], where: str, *, title: str = "",
         extra: Callable[[str], bool] | None = None) -> Settings:
    """The writer's settings from ``keys`` (the top level or a section of the credentials
    file), checked against ``schema``.

    :param kind: the writer kind, as in its keys (``dns_autopilot_<kind>_…``).
    :param title: how messages name the writer ("Route 53"); the kind by default.
    :param extra: accepts key names the schema cannot list (lexicon's provider options).
    :raises AutopilotError: ``bad-config``, one error naming every unknown key (and the key
        probably meant), or every required key that is missing, or a value of another
        shape than its key's (the value quoted unless it is a secret).
    """
    title = title or kind
    unknown = unknown_keys(keys.present(), kind, schema, extra)
    if unknown:
        said = ", ".join(key + (f" (probably {meant})" if meant else "") for key, meant in unknown)
        renames = "; ".join(f"rename {key} to {meant}" for key, meant in unknown if meant)
        raise AutopilotError(
            Code.BAD_CONFIG, f"{where} has unknown {title} key(s): {said}",
            (f"{renames}; " if renames else "")
            + f"use only {', '.join(key_name(kind, k.name) for k in schema)} (a misspelt key "
            "would leave the writer without the setting you meant)")
    settings: Settings = {key.name: value(keys.conf(f"{kind}_{key.name}")) for key in schema}
    missing = [key for key in schema if key.required and settings[key.name] is None]
    if missing:
        raise AutopilotError(
            Code.BAD_CONFIG,
            f"{where} does not set {' and '.join(key_name(kind, k.name) for k in missing)}",
            "; ".join(f"set {key_name(kind, k.name)} (it should be {k.help})" for k in missing))
    for key in schema:
        given = settings[key.name]
        if key.shape and given is not None and not key.shape.fits(given):
            quoted = f" = {given!r}" if key.shape.quoted and not key.secret else ""
            raise AutopilotError(
                Code.BAD_CONFIG,
                f"{key_name(kind, key.name)}{quoted} in {where} is not {key.shape.what}",
                _spelt(key.shape.fix, kind, key.name))
    return settings
