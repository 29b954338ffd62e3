"""The plan of a run: which TXT values go at which name, in which zone.

Apex and wildcard share ``_acme-challenge.<name>`` with two values, and several names may
be aliased to one target, so values are grouped per written name; one write per zone then
carries every value of the certificate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .. import names


@dataclass(frozen=True)
class Challenge:
    """One DNS-01 challenge: the identifier, the name the CA reads, the value it expects."""

    domain: str
    name: str
    value: str

    @classmethod
    def of(cls, domain: str, value: str) -> Challenge:
        return cls(domain=domain, name=names.validation_name(domain), value=value)


def requested_names(identifiers: Sequence[str], requested: Iterable[str]) -> list[str]:
    """The name each challenge is for, wildcards restored.

    certbot hands a wildcard's challenge with the bare name (ACME's identifier), so CAA's
    ``issuewild`` would never be read. The names asked for tell them apart: ``*.D`` when only
    the wildcard of D was requested, or the second of two challenges for D (apex and
    wildcard). Where the apex's authorization was still valid and only one challenge for D
    comes, nothing tells which it is: it stays bare, as before.
    """
    wanted = {name.lower().rstrip(".") for name in requested}
    seen: dict[str, int] = defaultdict(int)
    found = []
    for identifier in identifiers:
        bare = identifier.lower().rstrip(".")
        wildcard = f"*.{bare}" in wanted and (bare not in wanted or seen[bare] > 0)
        seen[bare] += 1
        found.append(f"*.{bare}" if wildcard else identifier)
    return found


@dataclass(frozen=True)
class Target:
    """A name whose TXT set must hold ``values``; ``zone`` is "" where it is only read
    (the original names, asked of resolvers). With ``rdtype`` CNAME, a link of a CNAME
    chain that every server of ``zone`` must serve: ``values`` holds its target."""

    zone: str
    name: str
    values: frozenset[str]
    rdtype: str = "TXT"


def group(challenges: Iterable[Challenge], route: Callable[[Challenge], tuple[str, str]]
          ) -> list[Target]:
    """One target per written name; ``route`` gives (zone, written name) of a challenge."""
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    for challenge in challenges:
        values[route(challenge)].add(challenge.value)
    return [Target(zone=zone, name=name, values=frozenset(vals))
            for (zone, name), vals in sorted(values.items())]


def origins(challenges: Iterable[Challenge]) -> list[Target]:
    """The names the CA will ask for, each with the values it must find there."""
    values: dict[str, set[str]] = defaultdict(set)
    for challenge in challenges:
        values[challenge.name].add(challenge.value)
    return [Target(zone="", name=name, values=frozenset(vals))
            for name, vals in sorted(values.items())]


def by_zone(targets: Iterable[Target]) -> dict[str, dict[str, frozenset[str]]]:
    """zone -> {name -> values}: the unit of one batched write."""
    zones: dict[str, dict[str, frozenset[str]]] = defaultdict(dict)
    for target in targets:
        zones[target.zone][target.name] = target.values
    return dict(zones)
