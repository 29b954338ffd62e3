"""What DNS answers mean: pure decisions, no I/O, the same for every step.

The door (`dnsio`) asks and turns responses into `dnsio.Answer` values; these functions
read them: what one authoritative answer is (serving, behind, lame, unreachable,
truncated), what a round of the wait means, which code a timeout gets, what is wrong with a
resolver. The plan's chain follower, pre-flight, the waiter and the hint all read answers
here. Tests feed them recorded answers, and the lab feeds them real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import dnsio
from .codes import Code
from .dnsio import Answer, Server
from .options import flag

#: What an authoritative address's answer is. Only BEHIND and LAME are the zone's fault: a
#: server that answers nothing cannot hand the CA a wrong answer (its resolvers move on to
#: another server), one that answers without the values can.
SERVING, BEHIND, LAME, UNREACHABLE = "serving", "behind", "lame", "unreachable"
#: An answer larger than a UDP answer may be, that came truncated over UDP and not over
#: TCP: that address cannot hand the whole set to a resolver (a firewall dropping TCP 53).
TRUNCATED = "truncated"


def found(answer: Answer, rdtype: str = "TXT") -> frozenset[str]:
    """What an answer holds of the type asked: its TXT values, or a CNAME's target."""
    if rdtype == "CNAME":
        return frozenset({answer.cname}) if answer.cname else frozenset()
    return answer.values


def classify(answer: Answer, expected: frozenset[str] = frozenset(), rdtype: str = "TXT"
             ) -> str:
    """One authoritative answer, read the one way pre-flight, the waiter and the hint share:
    *serving* (with authority, every expected value; for a CNAME link, its target), *behind*
    (with authority, without them: NXDOMAIN, an old serial, other values), *lame* (REFUSED,
    SERVFAIL, NOTAUTH, an unreadable answer, or no AA bit), *unreachable* from this host
    (no route, an unusable address family, refused at the network level, no answer over UDP
    nor TCP) or *truncated* (too large for UDP, and no answer over TCP)."""
    if not answer.answered:
        return UNREACHABLE
    if answer.rcode == dnsio.TRUNCATED:
        return TRUNCATED
    if answer.rcode not in ("NOERROR", "NXDOMAIN") or not answer.authoritative:
        return LAME
    if answer.rcode == "NOERROR" and expected <= found(answer, rdtype):
        return SERVING
    return BEHIND


def cname_targets(answers: Iterable[Answer]) -> set[str]:
    """The CNAME targets a zone's servers publish at one name, read from every answer with
    authority. A server without the CNAME is behind (a secondary that has not transferred it
    yet), not a vote against it: it is waited for. More than one target: they disagree."""
    return {a.cname for a in answers if a.cname and classify(a) == SERVING}


@dataclass(frozen=True)
class Observation:
    """One server's answer for one name, beside the values that should be there."""

    server: Server
    name: str
    expected: frozenset[str]
    answer: Answer
    recurse: bool = False
    rdtype: str = "TXT"  # CNAME: a link of a CNAME chain, ``expected`` holding its target
    zone: str = ""

    @property
    def served(self) -> bool:
        return self.answer.rcode == "NOERROR" and self.expected <= found(self.answer,
                                                                         self.rdtype)

    @property
    def status(self) -> str:
        """`classify` of this answer (for authoritative servers)."""
        return classify(self.answer, self.expected, self.rdtype)

    def row(self) -> str:
        """``server → answer → dig`` for the timeout table."""
        missing = self.expected - found(self.answer, self.rdtype)
        if self.served:
            verdict = "ok"
        elif self.rdtype == "CNAME":
            verdict = f"not the CNAME to {', '.join(sorted(self.expected))}"
        else:
            verdict = f"missing {len(missing)} of {len(self.expected)}"
        return (f"  {self.server}: {self.answer.describe(self.rdtype)} [{verdict}]\n"
                f"      {self.server.dig(self.name, self.rdtype, recurse=self.recurse)}")


def pending(observations: Iterable[Observation]) -> list[Observation]:
    """The observations that do not yet show every expected value."""
    return [obs for obs in observations if not obs.served]


def is_lame(answer: Answer) -> bool:
    """A nameserver that answers, but refuses, fails, or answers without authority (one that
    answers nothing is `UNREACHABLE`, not lame)."""
    return classify(answer) == LAME


def unverified(observations: Iterable[Observation]) -> list[Observation]:
    """The observations of addresses that could not be asked from this host."""
    return [obs for obs in observations if obs.status == UNREACHABLE]


def unverified_line(servers: Iterable[Server]) -> str:
    """``not checked from this host: ns2.example (2001:db8::2), …`` ("" when none)."""
    names = sorted({str(s) for s in servers})
    return f"not checked from this host: {', '.join(names)}" if names else ""


def authoritative_code(observations: Sequence[Observation], serials: dict[Server, int | None]
                       ) -> str:
    """The diagnosis code for an authoritative phase that timed out (unreachable addresses
    are not the zone's fault and never decide it)."""
    missing = [obs for obs in pending(observations) if obs.status != UNREACHABLE]
    if any(is_lame(obs.answer) for obs in missing):
        return Code.LAME_DELEGATION
    known = [s for s in serials.values() if s is not None]
    if known and any(serials.get(obs.server) is not None and serials[obs.server] < max(known)
                     for obs in missing):
        return Code.SECONDARY_LAG
    return Code.PROPAGATION_TIMEOUT


def zones_code(observations: Sequence[Observation],
               serials: dict[str, dict[Server, int | None]]) -> str:
    """`authoritative_code` zone by zone (a serial is compared with the same zone's only:
    a CNAME's zone and its target's zone have serials of their own), the most specific
    code of them: lame before a lagging secondary before a plain timeout."""
    found_codes = {authoritative_code([o for o in observations if o.zone == zone], by_server)
                   for zone, by_server in serials.items()
                   if any(o.zone == zone for o in observations)}
    return next((code for code in (Code.LAME_DELEGATION, Code.SECONDARY_LAG)
                 if code in found_codes), Code.PROPAGATION_TIMEOUT)


def cached_wait(answer: Answer) -> float:
    """How long a resolver may keep serving what it has now: the TTL it reports (≥ 1 s)."""
    return float(max(answer.ttl or 0, 0) + 1)


def resolver_problem(answer: Answer) -> str:
    """What is wrong with a resolver, from its answer to ``. SOA`` with recursion desired
    ("" when it works): silence, a refusal or failure, a denied root, or no recursion."""
    if not answer.answered:
        return f"does not answer ({answer.error})" if answer.error else "does not answer"
    if answer.rcode == "REFUSED":
        return "refuses (REFUSED): it does not serve this host, or is not a resolver"
    if answer.rcode == "SERVFAIL":
        return "fails (SERVFAIL) even for the root: it cannot resolve anything"
    if answer.rcode == "NXDOMAIN":
        return "answers NXDOMAIN for the root: it denies every name"
    if answer.rcode != "NOERROR":
        return f"answers {answer.rcode} for the root"
    if not answer.recursion:
        return "does not recurse (no RA bit): an authoritative server, not a resolver"
    return ""


def resolver_fix(from_system: bool) -> str:
    """How to repair the resolvers this host asks (the option, or /etc/resolv.conf)."""
    where = (f"/etc/resolv.conf (read because {flag('resolvers')} is not given)"
             if from_system else flag("resolvers"))
    return (f"correct {where}: list recursive resolvers this host may query (IP, IP:PORT, "
            "[IPv6]:PORT or https://host/dns-query); start the local cache "
            "(systemd-resolved, unbound) if one should answer there, or let this host "
            "query it (firewall, access-control)")
