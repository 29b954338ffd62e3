"""Where each validation name's TXT values are written, and by which writer.

The route of ``_acme-challenge.<domain>`` is its CNAME chain's final name (followed at the
authoritative servers), or an explicit alias from the credentials file checked against the
live CNAME, or the name itself. Every refusal here happens before any record is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception

from .. import names
from ..codes import Code
from ..errors import AutopilotError
from ..options import flag
from ..writers import Writer, WriterMap
from . import aliases
from .chain import Chain, Follower


@dataclass(frozen=True)
class Route:
    origin: str           # _acme-challenge.<domain>: the name the CA asks for
    name: str             # where the TXT values are written
    zone: str             # the zone the writer changes
    writer: Writer
    chain: Chain | None
    note: str = ""


class Router:
    def __init__(self, writers: WriterMap, follower: Follower, alias_list: list[aliases.Alias],
                 follow_cnames: bool = True) -> None:
        self.writers = writers
        self.follower = follower
        self.aliases = alias_list
        self.follow_cnames = follow_cnames

    def route(self, domain: str) -> Route:
        origin = names.validation_name(domain)
        alias = aliases.match(self.aliases, domain)
        chain = self.follower.follow(origin) if (self.follow_cnames or alias) else None
        note = ""
        if alias:
            target = alias.target_for(domain)
            if chain and chain.aliased:
                on_chain = [h.name for h in chain.hops] + [h.cname for h in chain.hops if h.cname]
                if target not in on_chain:
                    raise AutopilotError(
                        Code.CNAME_ALIAS,
                        f"the live CNAME of {origin} disagrees with the configured alias: DNS "
                        f"says {chain.hops[0].cname}, {aliases.KEY} says {target}",
                        f"change the CNAME to point at {target}, or change the alias in the "
                        "credentials file to the CNAME's target",
                        evidence=f"Chain as found: {chain.describe()}")
                name = target if chain.wildcard else chain.final
            else:
                name = target
                note = (f"no CNAME from {origin} to {target} is visible at {origin}'s nameservers "
                        "yet; the CA will find the value only if it sees that CNAME")
        elif chain and chain.wildcard:
            raise AutopilotError(
                Code.CNAME_ALIAS,
                f"{origin} has no record of its own: the wildcard {chain.wildcard} CNAME "
                f"{chain.hops[0].cname} answers for it, so the CA would look for the TXT there, "
                "at a name shared by every name the wildcard covers",
                f"publish an explicit CNAME at {origin} pointing into a zone a writer serves, or, "
                f"if {chain.hops[0].cname} is meant as the alias, say so in {aliases.KEY} "
                f"({domain.removeprefix('*.')} -> {chain.hops[0].cname})",
                evidence=f"Chain as found: {chain.describe()}")
        elif chain:
            name = chain.final
        else:
            name = origin
        self._check_fixed_target(domain, origin, name, chain)
        if chain and chain.unchecked and not note:
            note = chain.unchecked
        writer = self.writers.writer_for(name)
        if writer is None:
            if name != origin:
                zone = chain.zone if chain and chain.final == name else "its zone"
                raise AutopilotError(
                    Code.CNAME_ALIAS,
                    f"{origin} leads to {name} (zone {zone}), which no configured writer serves",
                    f"add a writer for {zone} to the credentials file (a section with "
                    f"dns_autopilot_zones = {zone}), or point the CNAME into a zone a writer "
                    "serves",
                    evidence=f"Chain as found: {chain.describe()}" if chain else "")
            raise AutopilotError(
                Code.ZONE_NOT_FOUND, f"no configured writer serves a zone enclosing {origin}",
                f"add {names.normalize(domain.removeprefix('*.'))}'s zone to dns_autopilot_zones "
                "of a writer in the credentials file, or add a writer for it",
                evidence="Writers: " + self.writers.describe())
        zone = writer.find_zone(name) or self._dns_zone(name, chain)
        return Route(origin, name, zone, writer, chain, note)

    def _check_fixed_target(self, domain: str, origin: str, name: str, chain: Chain | None
                            ) -> None:
        """A writer that writes at fixed names only (acme-dns) needs ``origin`` to be a
        CNAME to its name for ``domain``: missing or wrong, say the exact record to add."""
        bare = names.normalize(domain.removeprefix("*."))
        for writer in self.writers.writers:
            target = getattr(writer, "cname_targets", {}).get(bare)
            if target and name != target:
                found = (f"it is a CNAME to {chain.hops[0].cname}" if chain and chain.aliased
                         else "it has no CNAME" if chain
                         else f"CNAMEs are not followed ({flag('follow-cnames')} false)")
                raise AutopilotError(
                    Code.CNAME_ALIAS,
                    f"{origin} must be a CNAME to {target} (its registration with "
                    f"{writer.label}), but {found}",
                    f"add the record `{origin}. CNAME {target}.` in {bare}'s zone (replacing "
                    "any other record at that name)",
                    evidence=f"Chain as found: {chain.describe()}" if chain else "")

    def _dns_zone(self, name: str, chain: Chain | None) -> str:
        """The zone holding ``name`` as the DNS says (for writers with no zones of their own)."""
        if chain and chain.final == name:
            return chain.zone
        try:
            return self.follower.zones.zone_of(name)
        except dns.exception.DNSException as exc:
            raise AutopilotError(
                Code.ZONE_NOT_FOUND, f"no zone encloses {name} ({exc})",
                f"check the spelling, and that the resolvers ({flag('resolvers')}, or "
                "the system's) answer from this host") from None
