"""The plan of a run: which TXT values go at which name, in which zone, via which writer.

Apex and wildcard share ``_acme-challenge.<name>`` with two values, so values are grouped
per (zone, name); one write per zone then carries every value of the certificate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import names


@dataclass(frozen=True)
class Challenge:
    """One DNS-01 challenge: the identifier, the name the CA reads, the value it expects."""

    domain: str
    name: str
    value: str

    @classmethod
    def of(cls, domain: str, value: str) -> Challenge:
        return cls(domain=domain, name=names.validation_name(domain), value=value)


@dataclass(frozen=True)
class Target:
    """Where the values of one validation name are written and must be served."""

    zone: str
    name: str
    values: frozenset[str]


def group(challenges: Iterable[Challenge], zone_of: Callable[[str], str]) -> list[Target]:
    """One target per validation name, holding every value asked for at that name."""
    values: dict[str, set[str]] = defaultdict(set)
    for challenge in challenges:
        values[challenge.name].add(challenge.value)
    return [Target(zone=zone_of(name), name=name, values=frozenset(vals))
            for name, vals in sorted(values.items())]


def by_zone(targets: Iterable[Target]) -> dict[str, dict[str, frozenset[str]]]:
    """zone -> {name -> values}: the unit of one batched write."""
    zones: dict[str, dict[str, frozenset[str]]] = defaultdict(dict)
    for target in targets:
        zones[target.zone][target.name] = target.values
    return dict(zones)
