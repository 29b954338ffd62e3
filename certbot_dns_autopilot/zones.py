"""Zones as their parents delegate them: zone cuts, NS sets and nameserver addresses, found
at the authoritative servers from the top down, never from a resolver's cache.

A resolver answers from what it cached, and what the plugin asks it stays there:

- a zone that moved DNS hosts is still delegated to the old host in a resolver's cache
  (NS TTLs of a day), which keeps serving its old copy; its NS set says nothing about
  where the parent delegates the zone now;
- in a signed zone, a negative answer (NODATA for CAA at ``www.example.com``) carries an
  NSEC record proving that nothing exists below ``www``: a resolver doing aggressive
  negative caching (RFC 8198, Unbound's default) then denies ``_acme-challenge.www`` from
  that proof, without asking, until the record's TTL (the SOA minimum) runs out. The run
  would poison its own check, and any resolver the CA shares with this host.

So a name's zone is found as an iterative resolver finds it: from the zone of its public
suffix (asked of the resolvers: a registry's zone, where no answer can deny a name below
a delegation), each zone's servers are asked for the name itself, recursion off; a referral
names the next zone down, the NS set its parent delegates to and the glue; an answer with
authority names the zone that holds the name (its SOA's owner). Each zone's own NS set is
asked of its servers. The resolvers are asked only what cannot deny a name of ours: the
public suffix's zone and its NS set, and the addresses of nameserver hosts that no glue
gave. Where no server of a zone answers from this host (port 53 filtered), the resolvers'
view is the fallback, and the delegation says so (``via``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from . import dnsio, names

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_STEPS = 16  # zone cuts followed down for one name (a loop of referrals stops here)


@dataclass(frozen=True)
class Step:
    """What one authoritative server said about a name, read for the walk down (pure)."""

    kind: str  # "referral", "zone" (the zone holding the name), "cname", or "none"
    zone: str = ""  # the zone referred to, or the zone holding the name
    ns: tuple[str, ...] = ()  # a referral's NS set
    glue: dict[str, tuple[str, ...]] = field(default_factory=dict)  # host -> addresses


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def read_step(response: dns.message.Message | None, zone: str, name: str) -> Step:
    """One server of ``zone`` on ``name`` (asked for its SOA, recursion off): a referral
    below ``zone`` towards ``name``, the zone holding ``name`` (an SOA with authority: in
    the answer when ``name`` is an apex, in the authority section otherwise), a CNAME at
    ``name`` (no zone follows from it: a CNAME's own zone holds its parent), or nothing
    usable (an error rcode, an answer without authority and without a referral)."""
    if response is None or response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return Step("none")
    qname = dns.name.from_text(name)
    top = dns.name.from_text(zone) if zone else dns.name.root
    if response.flags & dns.flags.AA:
        if any(r.rdtype == dns.rdatatype.CNAME and r.name == qname for r in response.answer):
            return Step("cname")
        for section in (response.answer, response.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.SOA and qname.is_subdomain(rrset.name) and \
                        rrset.name.is_subdomain(top):
                    return Step("zone", _text(rrset.name))
        return Step("none")
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.NS and qname.is_subdomain(rrset.name) and \
                rrset.name != top and rrset.name.is_subdomain(top):
            hosts = tuple(sorted({_text(r.target) for r in rrset}))
            glue: dict[str, set[str]] = {}
            for extra in response.additional:
                if extra.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and \
                        _text(extra.name) in hosts:
                    glue.setdefault(_text(extra.name), set()).update(r.address for r in extra)
            return Step("referral", _text(rrset.name), hosts,
                        {h: tuple(sorted(a)) for h, a in glue.items()})
    return Step("none")


@dataclass(frozen=True)
class Delegation:
    """One zone: the NS set its parent delegates to, its own NS set, and every address of
    every host of either set (resolvers may ask any of them)."""

    zone: str
    parent: str | None  # the parent zone whose servers referred to it (None: not asked)
    parent_ns: tuple[str, ...]
    apex_ns: tuple[str, ...]
    servers: tuple[dnsio.Server, ...]
    via: str = "authoritative"  # or why the resolvers' view was taken instead

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.parent_ns) | set(self.apex_ns)))


def _parent(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else ""


def _inside(name: str, zone: str) -> bool:
    return not zone or name == zone or name.endswith("." + zone)


def public_suffix(name: str) -> str:
    """The public suffix of ``name`` (the packaged list; unknown TLDs count as suffixes)."""
    return names.public_suffix_list().publicsuffix(name) or name.rsplit(".", 1)[-1]


class Zones:
    """The run's knowledge of zones: each name's zone, each zone's delegation, found once
    (thread-safe: the plan follows names at once) and shared by every step."""

    def __init__(self, recursive: dnsio.Recursive, reach: dnsio.Reach | None = None) -> None:
        self.recursive = recursive
        #: which authoritative addresses this host can ask, learnt once per run
        self.reach = reach or dnsio.Reach()
        self._zone: dict[str, str] = {}
        self._delegations: dict[str, Delegation] = {}
        self._extra: dict[str, list[dnsio.Server]] = {}
        self._caa: dict[str, list[tuple[int, str, str]]] = {}
        self._once: dict[tuple[object, ...], object] = {}
        self._lock = threading.RLock()
        #: held while a zone's delegation is learnt: names of one certificate, followed at
        #: once, share their zones, which are then learnt once
        self._discovering = threading.RLock()

    def once(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """What ``compute`` answers about the zones, asked once per run for ``key`` (a
        probe's question every name of a certificate would repeat, such as whether a
        zone's parent publishes DS)."""
        with self._lock:
            if key in self._once:
                return self._once[key]  # type: ignore[no-any-return]
        found = compute()
        with self._lock:
            return self._once.setdefault(key, found)  # type: ignore[no-any-return]

    # -- the zone of a name ------------------------------------------------------------------

    def zone_of(self, name: str) -> str:
        """The zone holding ``name`` ("" for the root), found at the authoritative servers
        from the public suffix's zone down; the resolvers' view where none answers.

        :raises dns.exception.DNSException: not even the resolvers can say.
        """
        name = name.lower().rstrip(".")
        with self._lock:
            known = self._zone.get(name)
        if known is not None:
            return known
        zone = self._walk(name)
        with self._lock:
            self._zone[name] = zone
        return zone

    def _start(self, name: str) -> str:
        """The zone of ``name``'s public suffix, as the resolvers see it (a registry's zone:
        what a resolver caches about it denies nothing below a delegation)."""
        suffix = public_suffix(name) if "." in name else name
        with self._discovering:  # once per suffix, while the other names' threads wait
            with self._lock:
                known = self._zone.get(suffix)
            if known is None:
                known = self.recursive.zone_of(suffix)
                view = self._resolvers_view(known, "the public suffix's zone, from the "
                                            "resolvers")
                with self._lock:
                    self._zone[suffix] = known
                    self._delegations.setdefault(known, view)
        return known

    def _walk(self, name: str) -> str:
        """Down from the deepest zone already known to enclose ``name`` (names of one
        certificate share their zones), else from the public suffix's zone."""
        with self._lock:
            known = [z for z in self._delegations if _inside(name, z)]
        zone = max(known, key=len) if known else self._start(name)
        for _ in range(MAX_STEPS):
            step = self._ask_down(zone, name)
            if step.kind == "referral":
                self._referred(zone, step)
                zone = step.zone
                continue
            if step.kind == "cname":  # a CNAME is no apex: its zone holds its parent
                return self.zone_of(_parent(name)) if "." in name else zone
            if step.kind == "zone":
                if step.zone != zone:  # a child zone on the same server: no referral seen
                    self._hosted(zone, step.zone)
                return step.zone
            return self._fallback(name, zone)
        return self._fallback(name, zone)

    def _ask_down(self, zone: str, name: str) -> Step:
        """``name`` SOA at ``zone``'s usable servers, one after the other, until one gives
        a usable answer."""
        for server in self.servers(zone):
            step = read_step(self.reach.fetch(server, name, "SOA"), zone, name)
            if step.kind != "none":
                return step
        return Step("none")

    def _fallback(self, name: str, zone: str) -> str:
        """No server of ``zone`` gave a usable answer from this host: the resolvers' view."""
        found = self.recursive.zone_of(name)
        logger.debug("dns-autopilot: no server of %s answered for %s from this host; the "
                     "resolvers say its zone is %s", zone or ".", name, found or ".")
        with self._lock:
            self._delegations.setdefault(found, self._resolvers_view(
                found, f"no server of {zone or 'the root'} answered from this host"))
        return found

    # -- records at a name ---------------------------------------------------------------

    def caa(self, name: str) -> list[tuple[int, str, str]]:
        """The CAA records at ``name`` as a resolver returns them (CNAMEs followed), asked
        of the authoritative servers of each name's zone; [] if none. Kept for the run:
        every name of a certificate climbs through the same parents.

        :raises dns.exception.DNSException: no server of the zone could answer CAA, and
            (none reachable from here) neither could the resolvers.
        """
        with self._lock:
            known = self._caa.get(name)
        if known is None:
            found = self.lookup(name, "CAA")
            known = self.recursive.caa(name) if found is None else [
                (r.flags, r.tag.decode("ascii", "backslashreplace"),
                 r.value.decode("utf-8", "backslashreplace")) for r in found]
            with self._lock:
                self._caa[name] = known
        return known

    def lookup(self, name: str, rdtype: str) -> list[Any] | None:
        """The ``rdtype`` records at ``name`` (CNAMEs followed, at most `MAX_STEPS`), each
        name asked of its zone's servers with authority; [] when there are none; None when
        no server of a zone on the way answered from this host (the resolvers may).

        :raises dns.exception.DNSException: every server that answered failed the question
            (REFUSED, SERVFAIL, no authority): a resolver would fail it too.
        """
        wanted = dns.rdatatype.from_text(rdtype)
        for _ in range(MAX_STEPS):
            zone = self.zone_of(name)
            response, said = self._authoritative(zone, name, rdtype)
            if response is None:
                if said:
                    raise dns.exception.DNSException(
                        f"no nameserver of {zone or 'the root'} answered {rdtype} at {name} "
                        f"with authority: {'; '.join(said)}")
                return None
            qname = dns.name.from_text(name)
            alias = next((r[0].target for r in response.answer
                          if r.rdtype == dns.rdatatype.CNAME and r.name == qname), None)
            if alias is None or wanted == dns.rdatatype.CNAME:
                return [rdata for rrset in response.answer if rrset.name == qname
                        and rrset.rdtype == wanted for rdata in rrset]
            name = _text(alias)
        raise dns.exception.DNSException(f"more than {MAX_STEPS} CNAMEs from {name}")

    def _authoritative(self, zone: str, name: str, rdtype: str
                       ) -> tuple[dns.message.Message | None, list[str]]:
        """The first answer with authority (NOERROR or NXDOMAIN) to ``name`` ``rdtype``
        from ``zone``'s usable servers, and what the others said before it."""
        said = []
        for server in self.servers(zone):
            response = self.reach.fetch(server, name, rdtype)
            if response is None:
                continue
            rcode = dns.rcode.to_text(response.rcode())
            if response.flags & dns.flags.AA and rcode in ("NOERROR", "NXDOMAIN"):
                return response, said
            said.append(f"{server}: {rcode}{'' if response.flags & dns.flags.AA else ' (no AA)'}")
        return None, said

    # -- delegations ---------------------------------------------------------------------------

    def delegation(self, zone: str) -> Delegation:
        """``zone``'s delegation (its parent's NS set, its own, every address)."""
        with self._lock:
            known = self._delegations.get(zone)
        if known is None:
            self.zone_of(zone)  # walks down to it, noting each delegation on the way
            with self._lock:
                known = self._delegations.get(zone)
            if known is None:  # not a zone cut after all: what the resolvers say of it
                known = self._resolvers_view(zone, "not a zone cut at its parent's servers")
                with self._lock:
                    known = self._delegations.setdefault(zone, known)
        return known

    def servers(self, zone: str) -> list[dnsio.Server]:
        """Every address of every nameserver of ``zone``: the hosts its parent delegates
        to and the hosts its apex lists, and those a check added (`also_serving`)."""
        delegation = self.delegation(zone)
        with self._lock:
            extra = list(self._extra.get(zone, ()))
        return sorted(set(delegation.servers) | set(extra))

    def also_serving(self, zone: str, servers: Iterable[dnsio.Server]) -> None:
        """Addresses resolvers may still ask for ``zone`` (an old delegation they cached)
        that serve its current data: waited for like the others."""
        with self._lock:
            self._extra.setdefault(zone, []).extend(servers)

    def _referred(self, parent: str, step: Step) -> None:
        """A referral from ``parent``'s servers: the child's delegation, its own NS set
        asked of the servers the parent names (once: the other names' threads wait)."""
        with self._discovering:
            with self._lock:
                if step.zone in self._delegations:
                    return
            glued = self._addresses(step.ns, step.glue, step.zone)
            apex = self._apex_ns(step.zone, glued)
            # Resolvers take a host's addresses from the glue and from its own zone: both.
            servers = set(glued) | set(self._addresses(sorted(set(step.ns) | set(apex)), {},
                                                       step.zone, glued))
            self.reach.probe(step.zone, sorted(servers))  # silent ones: one timeout, at once
            with self._lock:
                self._delegations.setdefault(step.zone, Delegation(
                    step.zone, parent, step.ns, apex or step.ns, tuple(sorted(servers))))

    def _hosted(self, parent: str, zone: str) -> None:
        """A child zone whose parent's server serves it too (it answered from the child,
        no referral): the parent's delegation is not seen; the apex's NS set is both."""
        with self._lock:
            if zone in self._delegations:
                return
        apex = self._apex_ns(zone, self.servers(parent))
        servers = self._addresses(apex, {}, zone, self.servers(parent))
        self.reach.probe(zone, servers)
        with self._lock:
            self._delegations.setdefault(zone, Delegation(
                zone, parent, apex, apex, tuple(servers),
                via="its parent's servers serve it too: no referral to read"))

    def _apex_ns(self, zone: str, servers: list[dnsio.Server]) -> tuple[str, ...]:
        """The zone's own NS set, from the first of ``servers`` answering with authority."""
        for server in servers:
            answer = self.reach.ask(server, zone or ".", "NS")
            if answer.authoritative and answer.ns:
                return answer.ns
        return ()

    def _addresses(self, hosts: Iterable[str], glue: dict[str, tuple[str, ...]], zone: str,
                   servers: list[dnsio.Server] | None = None) -> list[dnsio.Server]:
        """Each host's addresses: the glue, and (a host inside ``zone``) its A and AAAA at
        ``servers`` with authority; else the resolvers' (a host outside the zone)."""
        found: list[dnsio.Server] = []
        for host in hosts:
            addresses = list(glue.get(host, ()))
            if servers and _inside(host, zone):
                addresses += self._asked_addresses(host, servers)
            if not addresses:
                try:
                    addresses = self.recursive.addresses(host)
                except dns.exception.DNSException:
                    addresses = []
            found += [dnsio.Server(address=a, name=host) for a in addresses]
        return sorted(set(found))

    def _asked_addresses(self, host: str, servers: list[dnsio.Server]) -> list[str]:
        for server in servers:
            addresses: list[str] = []
            usable = False
            for rdtype in ("A", "AAAA"):
                response = self.reach.fetch(server, host, rdtype)
                if response is None or not response.flags & dns.flags.AA:
                    break
                usable = True
                addresses += [r.address for rrset in response.answer
                              if rrset.rdtype == dns.rdatatype.from_text(rdtype) for r in rrset]
            if usable:
                return addresses
        return []

    def _resolvers_view(self, zone: str, why: str) -> Delegation:
        """The delegation as the resolvers see it (their NS set for the zone), for zones the
        walk did not reach at their parent's servers."""
        try:
            hosts, servers = dnsio.nameserver_addresses(self.recursive, zone)
        except dns.exception.DNSException:
            hosts, servers = [], []
        self.reach.probe(zone, servers)
        return Delegation(zone, None, tuple(hosts), tuple(hosts), tuple(servers), via=why)
