"""Explicit CNAME aliases from the credentials file (pure parsing and matching).

    dns_autopilot_aliases = example.com -> _acme-challenge.example.com.acme.example.org,
                            *.example.net -> _acme-challenge.{domain}.acme.example.org

A pattern ``example.com`` covers the domain itself and ``*.example.com`` (they share
``_acme-challenge.example.com``); ``*.example.net`` covers every name below example.net.
The target is the name that ``_acme-challenge.<domain>`` is (or will be) a CNAME to;
``{domain}`` stands for the domain without any leading ``*.``. The most specific pattern wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import links, names
from ..codes import Code
from ..errors import AutopilotError

KEY = "dns_autopilot_aliases"


FORMAT_FIX = ("write each alias as 'DOMAIN -> TARGET', separated by commas, e.g. "
              "example.com -> _acme-challenge.example.com.acme.example.org "
              f"(see {links.page('cname-aliases', 'explicit-aliases')})")
PLACEHOLDER = "{domain}"
_SAMPLE = "x-autopilot-domain-x"  # stands for {domain} while the target is normalized


class AliasSyntaxError(ValueError):
    """An alias entry that cannot be read; the message names the entry, ``fix`` the cure."""

    def __init__(self, message: str, fix: str = FORMAT_FIX) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class Alias:
    pattern: str  # "example.com" or "*.example.com", normalized
    target: str   # normalized; may contain {domain}

    def matches(self, domain: str) -> bool:
        domain = names.normalize(domain.removeprefix("*."))
        if self.pattern.startswith("*."):
            return domain.endswith("." + self.pattern[2:])
        return domain == self.pattern

    def target_for(self, domain: str) -> str:
        base = names.normalize(domain.strip().removeprefix("*."))
        try:
            return names.normalize(self.target.replace(PLACEHOLDER, base))
        except names.InvalidName as exc:
            raise AutopilotError(
                Code.CNAME_ALIAS, f"{KEY}: the target {self.target} of {self.pattern} gives no "
                f"valid name for {domain} ({exc})",
                f"shorten the target of {self.pattern} (a name has at most 255 octets), or "
                f"give {domain} its own alias") from None

    @property
    def specificity(self) -> tuple[int, int]:
        return (0 if self.pattern.startswith("*.") else 1, self.pattern.count("."))


def _pattern(entry: str, text: str) -> str:
    wildcard = text.startswith("*.")
    base = text.removeprefix("*.")
    if "*" in base:
        raise AliasSyntaxError(
            f"{KEY}: {entry!r}: the pattern {text!r} has a '*' that is not a leading '*.'",
            "write the pattern as a domain (example.com, which also covers *.example.com) or "
            "as *.example.com (every name below example.com)")
    try:
        return ("*." if wildcard else "") + names.normalize(base)
    except names.InvalidName as exc:
        raise AliasSyntaxError(f"{KEY}: {entry!r}: the pattern {exc}",
                               "write the pattern as a domain name such as example.com or "
                               "*.example.com") from None


def _target(entry: str, text: str) -> str:
    stray = re.findall(r"\{[^{}]*\}?|\}", text.replace(PLACEHOLDER, ""))
    if stray:
        raise AliasSyntaxError(
            f"{KEY}: {entry!r}: the target holds {stray[0]!r}; the only placeholder is "
            f"{PLACEHOLDER}", f"write {PLACEHOLDER} exactly (lower case, in braces), or a "
            "fixed name")
    if "*" in text:
        raise AliasSyntaxError(
            f"{KEY}: {entry!r}: the target {text!r} holds a '*'",
            "name one target (a CNAME points at one name, not a wildcard), e.g. "
            "_acme-challenge.{domain}.acme.example.org")
    try:
        return names.normalize(text.replace(PLACEHOLDER, _SAMPLE)).replace(_SAMPLE, PLACEHOLDER)
    except names.InvalidName as exc:
        raise AliasSyntaxError(
            f"{KEY}: {entry!r}: the target {str(exc).replace(_SAMPLE, PLACEHOLDER)}",
            "write the target as a domain name, e.g. "
            "_acme-challenge.{domain}.acme.example.org") from None


def _check_target(entry: str, alias: Alias) -> None:
    """Refuse a target that can never be right: past 255 octets even for the shortest
    domain, or the origin (``_acme-challenge.<domain>``) or the domain itself."""
    wildcard = alias.pattern.startswith("*.")
    sample = ("a." if wildcard else "") + alias.pattern.removeprefix("*.")
    try:
        target = names.normalize(alias.target.replace(PLACEHOLDER, sample))
    except names.InvalidName:
        raise AliasSyntaxError(
            f"{KEY}: {entry!r}: the target is longer than 255 octets once {PLACEHOLDER} is "
            f"replaced (e.g. for {sample})",
            "shorten the target: a domain name has at most 255 octets") from None
    if wildcard and PLACEHOLDER not in alias.target:
        return  # a fixed target: the same for every name below the pattern
    shown = "_acme-challenge." + ("{domain}" if wildcard else sample)
    if target == names.validation_name(sample):
        raise AliasSyntaxError(
            f"{KEY}: {entry!r} points {shown} at itself",
            f"give the name in another zone that _acme-challenge.<domain> is a CNAME to, e.g. "
            f"{shown}.acme.example.org, or remove the alias (the name is written directly "
            "without one)")
    if target == names.normalize(sample):
        raise AliasSyntaxError(
            f"{KEY}: {entry!r} points {shown} at the domain itself",
            f"give the name that {shown} is a CNAME to, e.g. {shown}.acme.example.org")


def parse(value: str | list[str] | None) -> list[Alias]:
    """Read the INI value (configobj hands a comma-separated value over as a list)."""
    if not value:
        return []
    if not isinstance(value, (str, list)):
        raise AliasSyntaxError(f"{KEY} is a section, not a key",
                               f"write {KEY} = DOMAIN -> TARGET, ... at the top of the file")
    entries = value if isinstance(value, list) else value.split(",")
    aliases: list[Alias] = []
    seen: dict[str, str] = {}
    for entry in (str(e).strip() for e in entries):
        if not entry:
            continue
        pattern, arrow, target = entry.partition("->")
        pattern, target = pattern.strip(), target.strip()
        if not arrow or not pattern or not target or "->" in target:
            raise AliasSyntaxError(f"{KEY}: {entry!r} is not 'DOMAIN -> TARGET'")
        alias = Alias(_pattern(entry, pattern), _target(entry, target))
        _check_target(entry, alias)
        if alias.pattern in seen:
            raise AliasSyntaxError(
                f"{KEY}: {alias.pattern} has two aliases ({seen[alias.pattern]!r} and "
                f"{entry!r})", f"keep one alias for {alias.pattern}")
        seen[alias.pattern] = entry
        aliases.append(alias)
    return aliases


def match(aliases: list[Alias], domain: str) -> Alias | None:
    """The most specific alias covering ``domain``, if any."""
    found = [a for a in aliases if a.matches(domain)]
    return max(found, key=lambda a: a.specificity) if found else None
