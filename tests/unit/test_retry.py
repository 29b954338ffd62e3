"""Bounded retries: what is retried, how long it waits, and that it ends."""

from __future__ import annotations

import pytest

from certbot_dns_autopilot.writers import retry


class Flaky:
    """Fails ``failures`` times with ``error``, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def transient(exc: Exception) -> tuple[bool, float | None]:
    return isinstance(exc, TimeoutError), getattr(exc, "retry_after", None)


def run(fn: Flaky, policy: retry.Policy = retry.DEFAULT) -> tuple[str, list[tuple], list[float]]:
    retried: list[tuple] = []
    slept: list[float] = []
    result = retry.call(fn, transient, "the update", lambda *a: retried.append(a), policy,
                        sleep=slept.append)
    return result, retried, slept


def test_a_transient_error_is_retried_and_reported() -> None:
    result, retried, slept = run(Flaky(2, TimeoutError()))
    assert result == "ok" and [r[:2] for r in retried] == [("the update", 1), ("the update", 2)]
    assert all(0 <= s <= retry.DEFAULT.cap for s in slept) and len(slept) == 2


def test_a_permanent_error_is_raised_at_once() -> None:
    fn = Flaky(5, PermissionError("bad key"))
    with pytest.raises(PermissionError):
        run(fn)
    assert fn.calls == 1


def test_retries_end_after_the_attempts_and_raise_the_last_error() -> None:
    fn = Flaky(100, TimeoutError())
    with pytest.raises(TimeoutError):
        run(fn, retry.Policy(attempts=3))
    assert fn.calls == 3


def test_retry_after_is_honoured_within_the_cap_and_the_budget_bounds_waiting() -> None:
    error = TimeoutError()
    error.retry_after = 2.5  # type: ignore[attr-defined]
    _, _, slept = run(Flaky(1, error))
    assert slept == [2.5]
    error.retry_after = 60  # type: ignore[attr-defined]
    fn = Flaky(3, error)
    with pytest.raises(TimeoutError):  # one 10 s pause (the cap) fits a 15 s budget, two do not
        run(fn, retry.Policy(attempts=5, cap=10, budget=15))
    assert fn.calls == 2


def test_backoff_grows_exponentially_under_full_jitter() -> None:
    policy = retry.Policy(base=0.5, cap=10)
    assert [policy.pause(n, None, rand=lambda: 1.0) for n in range(1, 7)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert policy.pause(3, None, rand=lambda: 0.0) == 0.0
