"""Bounded retries: exponential backoff with full jitter, Retry-After honoured, never forever.

A provider's 429 or 5xx, a dropped connection or a lost UDP answer is usually gone a moment
later; a wrong key is not. Writers say which errors are worth another try (and how long the
server asked to wait); this module decides when, and reports each retry as an event so the
event log shows what was retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    attempts: int = 4  # in all, the first included
    base: float = 0.5  # seconds before the second attempt, doubled each time
    cap: float = 10.0  # no single pause longer than this
    budget: float = 30.0  # no more pauses once this much has been spent waiting

    def pause(self, attempt: int, retry_after: float | None,
              rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1): the
        server's Retry-After when it gave one (within the cap), else full jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        return rand() * min(self.cap, self.base * 2 ** (attempt - 1))


DEFAULT = Policy()


def call(fn: Callable[[], T], retryable: Callable[[Exception], tuple[bool, float | None]],
         what: str, on_retry: Callable[[str, int, float, Exception], None] | None = None,
         policy: Policy = DEFAULT, sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, again after a pause while ``retryable(exc)`` says (worth it, Retry-After)
    and the policy allows; the last error is raised as it came."""
    waited = 0.0
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            worth, retry_after = retryable(exc)
            pause = policy.pause(attempt, retry_after)
            if not worth or attempt == policy.attempts or waited + pause > policy.budget:
                raise
            if on_retry:
                on_retry(what, attempt, pause, exc)
            sleep(pause)
            waited += pause
    raise AssertionError("unreachable")  # the loop returns or raises
