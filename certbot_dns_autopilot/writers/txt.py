"""TXT values in zone-file presentation, as RFC 2136 messages and the providers' APIs take
them."""

from __future__ import annotations

import re

_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_QUOTED = re.compile(r'(?:"(?:[^"\\]|\\.)*"\s*)+')


def quote_txt(value: str, chunk: int | None = None) -> str:
    """``value`` as quoted character strings (of at most ``chunk`` characters each when
    given), backslash and quote escaped."""
    parts = ([value[i:i + chunk] for i in range(0, len(value), chunk)] or [""]) if chunk \
        else [value]
    return " ".join('"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for part in parts)


def unquote_txt(content: str) -> str:
    """The value a resolver serves for ``content`` as an API may hold it: quoted character
    strings (``"abc"`` or ``"ab" "c"``, joined and unescaped) or bare text (as it is)."""
    text = content.strip()
    if _QUOTED.fullmatch(text):
        return "".join(re.sub(r"\\(.)", r"\1", part) for part in _STRING.findall(text))
    return text
