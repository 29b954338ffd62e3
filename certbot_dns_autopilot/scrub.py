"""Secrets out of every log record, SDK records included.

certbot writes DEBUG records of every library into letsencrypt.log. botocore logs request
headers (``X-Amz-Security-Token``, ``Authorization``) and response bodies (an AssumeRole
answer holds a temporary ``SecretAccessKey`` and ``SessionToken``); azure-core, msal, httpx
and urllib3 log headers, token answers and URLs (some lexicon providers send keys in query
strings). One `Scrubber`, a logging filter on the handlers certbot installed, rewrites each
record before it is written: every secret the credentials file holds, and whatever the
patterns below recognise as a credential, becomes ``***``. A filter changes no logger's
level, so the per-zone writers running in threads never race over levels; its state (the
known secrets) is guarded by a lock.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "***"
MIN_SECRET = 6  # shorter values (e.g. "true", a port) would mask ordinary words

#: Loggers of the SDKs the writers use: their records are also read for credential shapes.
SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "requests", "azure", "msal",
               "httpx", "httpcore", "cloudflare", "lexicon", "dns")

_HEADERS = (r"authorization|proxy-authorization|x-amz-security-token|x-auth-key|x-auth-token|"
            r"x-api-key|api-key|apikey|x-api-token|auth-token|x-auth-user-token|cookie|"
            r"set-cookie|x-ms-client-secret")
_FIELDS = (r"secretaccesskey|sessiontoken|secret_access_key|session_token|aws_secret_access_key|"
           r"aws_session_token|access_token|refresh_token|id_token|client_secret|"
           r"client_assertion|password|passwd|secret|token|api_key|apikey|api_token|auth_token|"
           r"private_key|key")
PATTERNS = [
    # Header dicts and lines: 'Authorization': b'…', Authorization: Bearer …
    re.compile(rf"((?:{_HEADERS})['\"]?\s*[:=]\s*b?['\"])([^'\"]*)", re.I),
    re.compile(rf"(^|[\s{{,])((?:{_HEADERS})\s*:\s*)([^\r\n'\",}}]+)", re.I | re.M),
    # XML elements and JSON fields: <SessionToken>…</SessionToken>, "client_secret": "…"
    re.compile(rf"(<(?:{_FIELDS})>)([^<]*)(?=</)", re.I),
    re.compile(rf"([\"'](?:{_FIELDS})[\"']\s*:\s*[\"'])([^\"']*)", re.I),
]
# Form bodies and query strings: client_secret=…, ?api_key=…&token=… (every name=value pair
# is found in one pass; the value is masked when the name says it holds a credential).
_PAIR = re.compile(r"(?<![\w.-])([\w.-]+=)([^&\s'\"<>]+)")
_SECRET_NAME = re.compile(rf"{_FIELDS}|signature|credential|sig|auth|pass", re.I)

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register(secrets: Iterable[object]) -> None:
    """Known secrets (credential values): masked wherever they appear, longest first."""
    global _secrets
    fresh = {str(s) for s in secrets if s is not None and len(str(s)) >= MIN_SECRET}
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | fresh, key=len, reverse=True))


def scrub(text: str, patterns: bool = True) -> str:
    """``text`` with known secrets (and, with ``patterns``, credential shapes) masked."""
    for secret in _secrets:  # a tuple, replaced whole under the lock: safe to iterate
        if secret in text:
            text = text.replace(secret, MASK)
    if patterns:
        for pattern in PATTERNS:
            text = pattern.sub(lambda m: "".join(m.groups()[:-1]) + MASK, text)
        if "=" in text:
            text = _PAIR.sub(lambda m: m[1] + MASK if _SECRET_NAME.search(m[1]) else m[0],
                             text)
    return text


def _from_sdk(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in SDK_LOGGERS)


class Scrubber(logging.Filter):
    """Rewrites each record's message (and traceback) without secrets; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_dns_autopilot_scrubbed", False):
            return True
        patterns = _from_sdk(record.name)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's to report
            return True
        record.msg, record.args = scrub(message, patterns), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, patterns)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, patterns)
        record._dns_autopilot_scrubbed = True
        return True


_SCRUBBER = Scrubber()


def install() -> None:
    """Put the scrubber on every handler that writes records (the root logger's, the
    targets of certbot's buffering handler, logging's last resort), and on the SDK
    loggers' own handlers."""
    seen: list[logging.Handler] = []
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in SDK_LOGGERS)]
    last_resort = [logging.lastResort] if logging.lastResort else []  # no handler at all
    for handlers in [last_resort, *(lg.handlers for lg in loggers)]:
        stack = list(handlers)
        while stack:
            handler = stack.pop()
            if handler in seen:
                continue
            seen.append(handler)
            if _SCRUBBER not in handler.filters:
                handler.addFilter(_SCRUBBER)
            target = getattr(handler, "target", None)
            if isinstance(target, logging.Handler):
                stack.append(target)
