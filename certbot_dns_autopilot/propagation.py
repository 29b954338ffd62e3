"""What a round of answers means for propagation: pure decisions, no I/O.

The waiter asks; these functions read the answers. Tests feed them recorded answers,
and the lab feeds them real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .dnsio import Answer, Server

LAME_RCODES = {"TIMEOUT", "REFUSED", "SERVFAIL", "NOTAUTH", "ERROR"}


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
    """A nameserver that refuses, fails, times out, or answers without authority."""
    return answer.rcode in LAME_RCODES or (answer.rcode in ("NOERROR", "NXDOMAIN")
                                           and not answer.authoritative)


def authoritative_code(observations: Sequence[Observation], serials: dict[Server, int | None]
                       ) -> str:
    """The diagnosis code for an authoritative phase that timed out."""
    missing = pending(observations)
    if any(is_lame(obs.answer) for obs in missing):
        return "lame-delegation"
    known = [s for s in serials.values() if s is not None]
    if known and any(serials.get(obs.server) is not None and serials[obs.server] < max(known)
                     for obs in missing):
        return "secondary-lag"
    return "propagation-timeout"


def cached_wait(answer: Answer) -> float:
    """How long a resolver may keep serving what it has now: the TTL it reports (≥ 1 s)."""
    return float(max(answer.ttl or 0, 0) + 1)
