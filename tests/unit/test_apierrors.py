"""What an API said, turned into one error with the right code, the same for every writer;
and which answers are worth another try."""

from __future__ import annotations

import pytest

from certbot_dns_autopilot import scrub
from certbot_dns_autopilot.writers import apierrors, retry
from certbot_dns_autopilot.writers.apierrors import Fixes, Said

FIXES = Fixes(refused="REFUSED-FIX", denied="DENIED-FIX", zone="ZONE-FIX",
              unreachable="UNREACHABLE-FIX", other="OTHER-FIX")
SECRET = "sEcReT-0123456789-never-shown"


@pytest.mark.parametrize(("said", "code", "fix", "transient"), [
    (Said(status=401, code="9109"), "permission-denied", "REFUSED-FIX", False),
    (Said(status=403, code="AccessDenied"), "permission-denied", "DENIED-FIX", False),
    (Said(status=404, code="NoSuchHostedZone"), "zone-not-found", "ZONE-FIX", False),
    (Said(status=400, code="InvalidInput"), "permission-denied", "OTHER-FIX", False),
    (Said(status=429, retry_after=2.0), "provider-unreachable", "UNREACHABLE-FIX", True),
    (Said(status=503), "provider-unreachable", "UNREACHABLE-FIX", True),
    (Said(failure=apierrors.CONNECTION), "provider-unreachable", "UNREACHABLE-FIX", True),
    (Said(failure=apierrors.TIMEOUT), "provider-unreachable", "UNREACHABLE-FIX", True),
    (Said(failure=apierrors.MALFORMED), "provider-unreachable", "UNREACHABLE-FIX", False),
], ids=["401", "403", "404", "400", "429", "503", "connection", "timeout", "not-the-api"])
def test_each_answer_has_one_code_and_its_writers_fix(said: Said, code: str, fix: str,
                                                       transient: bool) -> None:
    error = apierrors.error("Demo (token)", "listing the zones", said, FIXES,
                            api="the API at https://api.example.test")
    assert (error.code, error.fix, said.transient) == (code, fix, transient)
    assert error.problem.startswith("Demo (token): listing the zones")


def test_no_secret_reaches_the_text_even_one_the_provider_echoes() -> None:
    said = Said(status=401, code="1000", message=f"Invalid API Token {SECRET}")
    error = apierrors.error("Demo", "verifying the token", said, FIXES, secrets=[SECRET])
    assert SECRET not in str(error) and scrub.MASK in error.problem
    said = Said(status=400, message="the request had Authorization: Bearer abc.def.ghi")
    assert "abc.def.ghi" not in str(apierrors.error("Demo", "x", said, FIXES))


def test_call_retries_only_transient_answers_and_reports_each_with_its_reason() -> None:
    class Answer(Exception):
        def __init__(self, said: Said) -> None:
            self.said = said

    script = [Answer(Said(status=429)), Answer(Said(failure=apierrors.TIMEOUT)), "done"]
    reported: list[tuple] = []

    def fn() -> str:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    policy = retry.Policy(attempts=4, base=0.0, cap=0.0)
    assert apierrors.call(fn, lambda e: getattr(e, "said", None), "the listing",
                          lambda *a: reported.append(a), policy) == "done"
    assert [(what, n, reason) for what, n, _, reason in reported] == [
        ("the listing", 1, "HTTP 429"), ("the listing", 2, "timeout")]
    refused = Answer(Said(status=403))
    script[:] = [refused, "never"]
    with pytest.raises(Answer):
        apierrors.call(fn, lambda e: getattr(e, "said", None), "x", None, policy)
    assert script == ["never"], "a refusal is not tried again"
