"""The Cloudflare writer's half that talks to Cloudflare (`CloudflareApi`, its base class):
the SDK client made with the file's credential only, every call, and what Cloudflare answers
read into one error with the fix for that credential (an API token's permission, or the
Global API Key's login)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import cloudflare
import httpx

from ..errors import AutopilotError
from . import apierrors
from .writer import Writer

T = TypeVar("T")

DEFAULT_URL = "https://api.cloudflare.com/client/v4"
TIMEOUT = 30.0
#: Cloudflare error codes that mean "this credential is not accepted at all".
INVALID_CREDENTIAL = {1000, 1001, 6003, 6100, 6101, 6102, 6103, 6111, 9103, 9106, 9109}
DASHBOARD = "dash.cloudflare.com → My Profile → API Tokens"
DNS_EDIT = "Zone → DNS → Edit"


def make_client(token: str | None, email: str | None, api_key: str | None, url: str) -> Any:
    """The SDK client; only this credential is sent (the SDK would otherwise also pick
    CLOUDFLARE_* variables from the environment). The SDK's own retries are off: the
    writer's `Writer.call` retries, and reports each retry. No redirect is followed: httpx
    keeps X-Auth-Email/X-Auth-Key (the Global API Key) on a redirect, to http:// or to
    another host alike."""
    made = cloudflare.Cloudflare(
        api_token=token, api_email=email, api_key=api_key, base_url=url, timeout=TIMEOUT,
        max_retries=0, http_client=httpx.Client(follow_redirects=False, timeout=TIMEOUT))
    if token:
        made.api_email = made.api_key = None
    else:
        made.api_token = None
    if hasattr(made, "user_service_key"):
        made.user_service_key = None
    return made


def errors(exc: Exception) -> list[tuple[int, str]]:
    """Cloudflare's (code, message) pairs from an SDK error's response body."""
    body = getattr(exc, "body", None)
    found = []
    for item in (body.get("errors") if isinstance(body, dict) else None) or []:
        for one in [item, *(item.get("error_chain") or [])] if isinstance(item, dict) else []:
            if isinstance(one, dict):
                code = str(one.get("code", 0) or 0)
                found.append((int(code) if code.isdigit() else 0, str(one.get("message", ""))))
    return found


def said(exc: Exception) -> apierrors.Said | None:
    """What Cloudflare said, from an SDK error (None: not an API error). Cloudflare's own
    codes for a refused credential count as 401 and 10000 ("Authentication error") as 403,
    whatever HTTP status carried them."""
    if isinstance(exc, cloudflare.APITimeoutError):
        return apierrors.Said(failure=apierrors.TIMEOUT)
    if isinstance(exc, cloudflare.APIConnectionError):
        return apierrors.Said(failure=apierrors.CONNECTION)
    if isinstance(exc, cloudflare.APIStatusError):
        found = errors(exc)
        codes = {code for code, _ in found}
        status = int(getattr(exc, "status_code", 0) or 0)
        status = 401 if codes & INVALID_CREDENTIAL else \
            403 if 10000 in codes and status < 500 else status
        return apierrors.Said(status=status, message="; ".join(
            f"{code} {msg}".strip() for code, msg in found),
            retry_after=apierrors.retry_after(exc.response))
    if isinstance(exc, cloudflare.APIError):  # an answer that is not Cloudflare's API
        return apierrors.Said(failure=apierrors.MALFORMED, message=type(exc).__name__)
    return None


class CloudflareApi(Writer):
    """The calls of one credential (an API token, or an e-mail and its Global API Key)."""

    label: str
    url: str
    shown_url: str
    token: str | None
    email: str | None
    _api_key: str | None
    _client: Any

    @property
    def client(self) -> Any:
        """The SDK client (`make_client`), made on first use."""
        if self._client is None:
            self._client = make_client(self.token, self.email, self._api_key, self.url)
        return self._client

    said = staticmethod(said)

    def _call(self, what: str, fn: Callable[[], T], zone: str | None = None,
              ok_codes: frozenset[int] = frozenset()) -> T | None:
        """One API call, retried while Cloudflare limits or fails it (`call`); every SDK
        error becomes one AutopilotError with Cloudflare's own code and message as evidence,
        and the fix for this credential. An error carrying one of ``ok_codes`` means the
        wanted state already holds: None."""
        try:
            return self.call(what, fn)
        except cloudflare.APIError as exc:
            if ok_codes & {code for code, _ in errors(exc)}:
                return None
            status = int(getattr(exc, "status_code", 0) or 0)
            if 300 <= status < 400:
                raise apierrors.redirected(self.label, what, status,
                                           exc.response.headers.get("location"),
                                           self.key("api_url")) from None
            said = self.said(exc)
            assert said is not None  # every APIError is read
            raise self._error(what, said, zone) from None

    def _error(self, what: str, said: apierrors.Said, zone: str | None) -> AutopilotError:
        problem = (f"{self.label}: {what}: token invalid or revoked: HTTP {said.status} "
                   f"({said.detail})" if said.status == 401 and self.token else "")
        return self.api_error(what, said, self._fixes(said, zone),
                              api=f"the API at {self.shown_url}", problem=problem,
                              secrets=(self.token, self._api_key))

    def _fixes(self, said: apierrors.Said, zone: str | None) -> apierrors.Fixes:
        """The fix of each kind of answer, for this credential."""
        target, key = f"for {zone} " if zone else "", self.key
        if self.token:
            refused = (f"the API token is invalid, expired or revoked: create a new one "
                       f"({DASHBOARD} → Create Token → \"Edit zone DNS\") and put it in "
                       f"{key('api_token')}")
            denied = (f"add the permission {DNS_EDIT} {target}to the token ({DASHBOARD} → edit "
                      "the token → Permissions; Zone Resources must include the zone)")
        else:
            refused = (f"Cloudflare does not accept {key('email')} with that {key('api_key')}: "
                       f"copy the Global API Key again ({DASHBOARD} → Global API Key) or, better, "
                       f"use an API token in {key('api_token')}")
            denied = (f"give the Cloudflare login {self.email} a role that may edit DNS "
                      f"{target}(e.g. DNS Administrator), or use an API token with {DNS_EDIT}")
        return apierrors.Fixes(
            refused=refused, denied=denied,
            unreachable=(f"check that this host reaches {self.shown_url} over HTTPS (DNS, "
                         f"firewall, HTTPS_PROXY) and that {key('api_url')}, if set, is the API's "
                         f"base URL of Cloudflare's API v4 (default {DEFAULT_URL})")
            if said.failure else ("Cloudflare's API is limiting or failing requests: retry later "
                                  "(see https://www.cloudflarestatus.com)"),
            zone=f"check that {zone or 'the zone'} still exists in the Cloudflare account",
            other="Cloudflare refused the request as shown; check the zone's DNS settings in the "
                  "dashboard")
