"""What a round of answers means for propagation: pure decisions, no I/O.

The waiter asks; these functions read the answers. Tests feed them recorded answers,
and the lab feeds them real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..codes import Code
from ..dnsio import Answer, Server

#: What an authoritative address's answer is. Only BEHIND and LAME are the zone's fault: a
#: server that answers nothing cannot hand the CA a wrong answer (its resolvers move on to
#: another server), one that answers without the values can.
SERVING, BEHIND, LAME, UNREACHABLE = "serving", "behind", "lame", "unreachable"


def classify(answer: Answer, expected: frozenset[str] = frozenset()) -> str:
    """One authoritative answer, read the one way pre-flight, the waiter and the hint share:
    *serving* (with authority, every expected value), *behind* (with authority, without
    them: NXDOMAIN, an old serial, other values), *lame* (REFUSED, SERVFAIL, NOTAUTH, an
    unreadable answer, or no AA bit) or *unreachable* from this host (no route, an unusable
    address family, refused at the network level, no answer over UDP nor TCP)."""
    if not answer.answered:
        return UNREACHABLE
    if answer.rcode not in ("NOERROR", "NXDOMAIN") or not answer.authoritative:
        return LAME
    if answer.rcode == "NOERROR" and expected <= answer.values:
        return SERVING
    return BEHIND


@dataclass(frozen=True)
class Observation:
    """One server's answer for one name, beside the values that should be there."""

    server: Server
    name: str
    expected: frozenset[str]
    answer: Answer
    recurse: bool = False

    @property
    def served(self) -> bool:
        return self.answer.rcode == "NOERROR" and self.expected <= self.answer.values

    @property
    def status(self) -> str:
        """`classify` of this answer (for authoritative servers)."""
        return classify(self.answer, self.expected)

    def row(self) -> str:
        """``server → answer → dig`` for the timeout table."""
        missing = self.expected - self.answer.values
        verdict = "ok" if self.served else f"missing {len(missing)} of {len(self.expected)}"
        return (f"  {self.server}: {self.answer.describe()} [{verdict}]\n"
                f"      {self.server.dig(self.name, 'TXT', recurse=self.recurse)}")


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


def cached_wait(answer: Answer) -> float:
    """How long a resolver may keep serving what it has now: the TTL it reports (≥ 1 s)."""
    return float(max(answer.ttl or 0, 0) + 1)
