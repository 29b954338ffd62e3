"""What a provider's API said, turned into one `AutopilotError` with the right code; and the
bounded retries of the calls whose failure is worth another try.

Every API writer reads its SDK's exception into a `Said` (the HTTP status, the provider's
own error code and message, or that no usable answer came: a dropped connection, a timeout,
an answer that is not the API's) and supplies its own `Fixes`. The code follows from what
was said, the same for every writer:

    401, a refused credential ............ permission-denied  (Fixes.refused)
    403, a right the credential lacks .... permission-denied  (Fixes.denied)
    404, a zone the account does not have  zone-not-found     (Fixes.zone)
    429, 5xx, no answer, not the API ..... provider-unreachable (Fixes.unreachable)
    any other refusal (400, 409, …) ...... permission-denied  (Fixes.other)

429, 5xx, a dropped connection and a timeout are retried first (`call`: one `retry.Policy`,
each retry reported through the writer's ``on_retry``). A redirect is never followed by a
call that carries a credential (`redirected`). Texts pass through the scrubber: no secret
reaches a message, even one the provider echoes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from .. import scrub
from ..codes import Code
from ..errors import AutopilotError
from ..shown import shown
from . import retry

T = TypeVar("T")

CONNECTION, TIMEOUT, MALFORMED = "connection", "timeout", "malformed"

#: One policy for every API writer's calls (`retry.DEFAULT`: 4 tries, 30 s of pauses at most):
#: a provider limiting or failing briefly is waited out, a provider that stays down fails
#: the run within about half a minute.
POLICY = retry.DEFAULT


@dataclass(frozen=True)
class Said:
    """What an API said, as a writer reads it off its SDK's exception."""

    status: int = 0  # the HTTP status; 0 when no HTTP answer came
    code: str = ""  # the provider's own error code ("AccessDenied", "10000", "AADSTS…")
    message: str = ""  # the provider's message
    failure: str = ""  # no usable answer: CONNECTION, TIMEOUT or MALFORMED
    retry_after: float | None = None  # seconds the server asked to wait (Retry-After)

    @property
    def transient(self) -> bool:
        """Worth another try: a limit, a server error, a dropped connection, a timeout."""
        return (self.status == 429 or self.status >= 500
                or self.failure in (CONNECTION, TIMEOUT))

    @property
    def reason(self) -> str:
        """How events and logs name it: ``HTTP 429``, ``timeout``…"""
        return f"HTTP {self.status}" if self.status else (self.failure or "error")

    @property
    def detail(self) -> str:
        return " ".join(p for p in (self.code, self.message) if p) or "no error detail"


@dataclass(frozen=True)
class Fixes:
    """A writer's fix for each kind of answer (see the module's table)."""

    refused: str
    denied: str
    zone: str
    unreachable: str
    other: str = "the provider refused the request as shown; check the message above"


def retry_after(response: object) -> float | None:
    """The seconds an HTTP answer's ``Retry-After`` asks to wait (None: none given, or a date)."""
    try:
        return float(response.headers.get("Retry-After") or "")  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return None


def said_by_requests(exc: BaseException, message: str = "") -> Said | None:
    """What an HTTP API said, from a ``requests`` error (or an answer raised as one,
    ``raise_for_status``): its status and Retry-After, a timeout, a connection that broke;
    None for anything else. ``message`` replaces the error's own text (a scrubbed one)."""
    import requests

    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and status:
        return Said(status=status, message=message or str(exc),
                    retry_after=retry_after(response))
    if isinstance(exc, requests.Timeout):
        return Said(failure=TIMEOUT, message=message or type(exc).__name__)
    if isinstance(exc, requests.ConnectionError):
        return Said(failure=CONNECTION, message=message or type(exc).__name__)
    return None


def unapplied(said: Said | None, exc: BaseException, statuses: Iterable[int] = (429,)
              ) -> Said | None:
    """``said``, for a write, only when the server certainly did not apply it: an answer of
    ``statuses`` (a limit; a proxy's 502 before the API saw it) or a connection never made.
    Anything else (a 5xx, a timeout once the request went out) may have been applied, and
    must not be sent again."""
    if said is not None and (said.status in tuple(statuses) or never_connected(exc)):
        return said
    return None


def never_connected(exc: BaseException) -> bool:
    """Whether a ``requests`` error happened before any byte of the request was sent (the
    connection refused, no route, the name not resolved, the connect timed out): the server
    certainly did not apply it, so even a write may be sent again."""
    import requests
    import urllib3.exceptions

    if isinstance(exc, (requests.ConnectTimeout, ConnectionRefusedError)):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(exc, requests.ConnectionError) and isinstance(
        reason, urllib3.exceptions.NewConnectionError)


def code_for(said: Said) -> Code:
    """The diagnosis code what the API said deserves."""
    if said.failure or said.status == 429 or said.status >= 500:
        return Code.PROVIDER_UNREACHABLE
    if said.status == 404:
        return Code.ZONE_NOT_FOUND
    return Code.PERMISSION_DENIED


def _fix(said: Said, fixes: Fixes) -> str:
    if code_for(said) == Code.PROVIDER_UNREACHABLE:
        return fixes.unreachable
    return {401: fixes.refused, 403: fixes.denied, 404: fixes.zone}.get(said.status,
                                                                        fixes.other)


def masked(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with ``secrets`` (a writer's own) and whatever the scrubber knows masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, scrub.MASK)
    return scrub.scrub(text)


def error(label: str, what: str, said: Said, fixes: Fixes, *, api: str = "the API",
          problem: str = "", evidence: str = "", secrets: Iterable[str | None] = ()
          ) -> AutopilotError:
    """One AutopilotError for what the API said to ``what``: the code from `code_for`, the
    writer's fix, the provider's answer as evidence; ``problem`` and ``evidence`` replace
    the default texts when the writer can say more (the IAM action missing). ``api`` names
    the endpoint in the texts; ``secrets`` are masked besides those the scrubber knows."""
    secrets = list(secrets)
    if said.failure == MALFORMED:
        default = f"{label}: {what}: the answer from {api} is not the provider's API"
    elif said.failure:
        how = "did not answer in time" if said.failure == TIMEOUT else "could not be reached"
        default = f"{label}: {what} failed: {api} {how}"
    elif said.transient:
        default = f"{label}: {what} failed: HTTP {said.status} ({said.detail})"
    else:
        default = f"{label}: {what} was refused: HTTP {said.status} ({said.detail})"
    evidence = evidence or (f"{api} answered HTTP {said.status}: {said.detail}" if said.status
                            else (f"{said.reason}: {said.message}" if said.message else ""))
    return AutopilotError(code_for(said), masked(problem or default, secrets),
                          masked(_fix(said, fixes), secrets), masked(evidence, secrets))


def redirected(label: str, what: str, status: int, location: str | None, key: str
               ) -> AutopilotError:
    """``bad-config``: the API answered ``what`` with a redirect, which is never followed.
    The request carried a credential in its headers, and the HTTP libraries keep such
    headers on a redirect (requests strips only Authorization): a redirect to http:// or to
    another host would hand the credential to whoever answers there. ``key`` is the setting
    of the API's address."""
    parts = urlsplit(str(location or ""))
    where = (f"{parts.scheme}://{parts.hostname or ''}"
             + (f":{parts.port}" if parts.port else "") + parts.path) if parts.scheme else \
        "an address it did not give"
    return AutopilotError(
        Code.BAD_CONFIG,
        masked(f"{label}: {what}: the API answered with a redirect (HTTP {status}) to "
               f"{shown(where, limit=200)}, which is not followed: the request carries the "
               "credential"),
        f"set {key} to the API's own https:// address (where the redirect points, if that "
        "is the provider's)")


def call(fn: Callable[[], T], read: Callable[[Exception], Said | None], what: str,
         on_retry: Callable[[str, int, float, Exception | str], None] | None,
         policy: retry.Policy = POLICY) -> T:
    """``fn()``, tried again (bounded by ``policy``) while ``read(exc)`` says the API's answer
    was transient; each retry goes to ``on_retry`` with its reason (``HTTP 429``). The last
    error is raised as it came, for the writer to turn into its `error`."""
    def retryable(exc: Exception) -> tuple[bool, float | None]:
        said = read(exc)
        return (said is not None and said.transient), (said.retry_after if said else None)

    def report(what_: str, attempt: int, pause: float, exc: Exception) -> None:
        if on_retry is not None:
            said = read(exc)
            on_retry(what_, attempt, pause, said.reason if said else exc)

    return retry.call(fn, retryable, what, report, policy)
