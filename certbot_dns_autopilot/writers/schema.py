"""Reading one writer's keys from the credentials file by its schema (its ``KEYS``).

Every writer's ``from_credentials`` starts here: a misspelt key is an error naming the key
probably meant (ignored, it would leave the writer without the setting the user gave), a
required key that is missing or empty is an error naming its help, and the values come back
stripped, so each writer goes on with checks of its own values only. All of these are
``bad-config``: the file is wrong, no provider was asked yet.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

from ..codes import Code
from ..errors import AutopilotError
from .base import PREFIX, Key, Keys, present_keys

#: A writer's settings as read: key name (without ``dns_autopilot_<kind>_``) -> its value,
#: stripped; None when the file does not set it (or sets it empty).
Settings = dict[str, str | None]


def key_name(kind: str, name: str) -> str:
    """The key as written in the file: ``dns_autopilot_<kind>_<name>``."""
    return f"{PREFIX}{kind}_{name}"


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


def read(keys: Keys, kind: str, schema: Sequence[Key], where: str, *, title: str = "",
         extra: Callable[[str], bool] | None = None) -> Settings:
    """The writer's settings from ``keys`` (certbot's CredentialsConfiguration or a
    `SectionKeys`), checked against ``schema``.

    :param kind: the writer kind, as in its keys (``dns_autopilot_<kind>_…``).
    :param title: how messages name the writer ("Route 53"); the kind by default.
    :param extra: accepts key names the schema cannot list (lexicon's provider options).
    :raises AutopilotError: ``bad-config``, one error naming every unknown key (and the key
        probably meant), or every required key that is missing.
    """
    title = title or kind
    unknown = unknown_keys(present_keys(keys), kind, schema, extra)
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
    return settings
