"""Route 53's TXT record sets, read and rewritten (pure: the writer sends what these build).

Route 53 writes names and values in its own presentation format (octal escapes, quoted
strings of at most 255 characters), and holds one record set per name: adding a value is a
new set with every value already there, removing one a set of the rest, and each rewrite is
made conditional on the set as read (DELETE of its exact TTL and values, then CREATE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .. import names
from .txt import quote_txt

_OCTAL = re.compile(r"\\([0-7]{3})")


def host_name(returned: str) -> str | None:
    """A name as Route 53 returns it, normalized; None when it is not a host name. Route 53
    writes every character other than a-z, 0-9, '-' and '_' as a backslash and three octal
    digits (``\\052`` for ``*``, ``\\040`` for a space); dnspython reads three digits as
    decimal, so each escape is rewritten as the decimal one before the name is read."""
    decimal = _OCTAL.sub(lambda m: f"\\{int(m[1], 8):03d}", returned)
    try:
        return names.normalize(decimal)
    except names.InvalidName:
        return None  # a space, a dot inside a label…: a name no challenge is written at


def quote(value: str) -> str:
    """One TXT value as Route 53 wants it: quoted, split into 255-character strings."""
    return quote_txt(value, 255)


def unquote(raw: str) -> str:
    """The value a resolver sees for Route 53's ``"part" "part"``: the strings joined, with
    \\" and \\\\ unescaped and \\ddd read as an octet in octal (Route 53's escape, unlike
    RFC 1035's decimal one)."""
    out = bytearray()
    i, quoted, n = 0, False, len(raw)
    while i < n:
        char = raw[i]
        if char == '"':
            quoted = not quoted
        elif char == "\\" and i + 1 < n:
            digits = raw[i + 1:i + 4]
            if len(digits) == 3 and all(d in "01234567" for d in digits):
                out.append(int(digits, 8) & 0xFF)
                i += 3
            else:
                out += raw[i + 1].encode()
                i += 1
        elif quoted or not char.isspace():
            out += char.encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def merged(current: tuple[int, list[str]] | None, ours: Iterable[str], ttl: int
           ) -> dict[str, Any] | None:
    """The record set holding ``current`` plus ``ours`` (None: every value is there).
    Values already there keep their spelling and the set keeps its TTL."""
    raw = list(current[1]) if current else []
    have = {unquote(r) for r in raw}
    new = sorted(set(ours) - have)
    if not new:
        return None
    return {"TTL": current[0] if current else ttl, "ResourceRecords": raw + [quote(v) for v in new]}


def reduced(current: tuple[int, list[str]] | None, ours: Iterable[str]
            ) -> dict[str, Any] | None | bool:
    """The record set left once ``ours`` is removed from ``current`` (None: nothing is
    left; False: none of ours is there, no change)."""
    if not current:
        return False
    ttl, raw = current
    drop = set(ours)
    keep = [r for r in raw if unquote(r) not in drop]
    if len(keep) == len(raw):
        return False
    return {"TTL": ttl, "ResourceRecords": keep} if keep else None


def replacing(name: str, current: tuple[int, list[str]] | None,
              new: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Changes that turn ``current`` into ``new`` only if the set is still ``current``:
    DELETE with its exact TTL and values (Route 53 refuses it when they differ) then CREATE
    (refused when a set appeared meanwhile), applied together or not at all."""
    changes = []
    if current:
        changes.append({"Action": "DELETE", "ResourceRecordSet": {
            "Name": name + ".", "Type": "TXT", "TTL": current[0],
            "ResourceRecords": _records(current[1])}})
    if new:
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": name + ".", "Type": "TXT", "TTL": new["TTL"],
            "ResourceRecords": _records(new["ResourceRecords"])}})
    return changes


def _records(values: list[str]) -> list[dict[str, str]]:
    return [{"Value": v} for v in values]
