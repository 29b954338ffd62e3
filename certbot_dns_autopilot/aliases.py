"""Explicit CNAME aliases from the credentials file (pure parsing and matching).

    dns_autopilot_aliases = example.com -> _acme-challenge.example.com.acme.example.org,
                            *.example.net -> _acme-challenge.{domain}.acme.example.org

A pattern ``example.com`` covers the domain itself and ``*.example.com`` (they share
``_acme-challenge.example.com``); ``*.example.net`` covers every name below example.net.
The target is the name that ``_acme-challenge.<domain>`` is (or will be) a CNAME to;
``{domain}`` stands for the domain without any leading ``*.``. The most specific pattern wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception

from . import names

KEY = "dns_autopilot_aliases"


class AliasSyntaxError(ValueError):
    """An alias entry that cannot be read; the message names the entry."""


@dataclass(frozen=True)
class Alias:
    pattern: str  # "example.com" or "*.example.com"
    target: str   # may contain {domain}

    def matches(self, domain: str) -> bool:
        domain = names.normalize(domain.removeprefix("*."))
        if self.pattern.startswith("*."):
            return domain.endswith("." + self.pattern[2:])
        return domain == self.pattern

    def target_for(self, domain: str) -> str:
        return names.normalize(self.target.replace(
            "{domain}", names.normalize(domain.removeprefix("*."))))

    @property
    def specificity(self) -> tuple[int, int]:
        return (0 if self.pattern.startswith("*.") else 1, self.pattern.count("."))


def parse(value: str | list[str] | None) -> list[Alias]:
    """Read the INI value (configobj hands a comma-separated value over as a list)."""
    if not value:
        return []
    entries = value if isinstance(value, list) else value.split(",")
    aliases = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        pattern, arrow, target = entry.partition("->")
        pattern, target = pattern.strip(), target.strip()
        if not arrow or not pattern or not target:
            raise AliasSyntaxError(f"{KEY}: {entry!r} is not 'DOMAIN -> TARGET'")
        try:
            wildcard = pattern.startswith("*.")
            pattern = ("*." if wildcard else "") + names.normalize(pattern.removeprefix("*."))
            names.normalize(target.replace("{domain}", "example"))
        except dns.exception.DNSException as exc:
            raise AliasSyntaxError(f"{KEY}: {entry!r} holds an invalid name ({exc})") from None
        aliases.append(Alias(pattern, target))
    return aliases


def match(aliases: list[Alias], domain: str) -> Alias | None:
    """The most specific alias covering ``domain``, if any."""
    found = [a for a in aliases if a.matches(domain)]
    return max(found, key=lambda a: a.specificity) if found else None
