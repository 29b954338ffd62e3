"""Secrets out of everything the plugin writes: log records (SDK records included), what
certbot displays, the event log, the failure hook's JSON, doctor's output and textfile.

certbot writes DEBUG records of every library into letsencrypt.log. botocore logs request
headers (``X-Amz-Security-Token``, ``Authorization``) and response bodies (an AssumeRole
answer holds a temporary ``SecretAccessKey`` and ``SessionToken``); azure-core, msal, httpx
and urllib3 log headers, token answers and URLs (some lexicon providers send keys in query
strings, and load SDKs of their own: zeep, SoftLayer, oci). One function, `scrub`, masks
every secret the credentials file holds (as written, and as JSON escapes it), the password
of any URL's userinfo, and, in records of any library but certbot's and this plugin's,
whatever the patterns below recognise as a credential: each becomes ``***``. Every output
path goes through it: `Scrubber`, a logging filter on the handlers certbot installed;
`scrubbed`, for data before it is serialised; `Stream`, for the CLI's stdout and stderr. A
filter changes no logger's level, so the per-zone writers running in threads never race
over levels; the known secrets are guarded by a lock.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any, TextIO

MASK = "***"
#: Shorter values (e.g. "true", a port) would mask ordinary words: a declared secret that
#: short is refused, another one warned about (it cannot be kept out of what is written).
MIN_SECRET = 6

#: Loggers of the SDKs the writers use, whose own handlers (if any) get the filter too.
SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "requests", "azure", "msal",
               "httpx", "httpcore", "cloudflare", "lexicon", "dns")
#: Loggers whose records are not read for credential shapes (their words are certbot's and
#: ours, already free of secrets, and a shape such as ``key_type=`` would be masked): every
#: other library's are, whichever SDK a lexicon provider loads.
OWN_LOGGERS = ("certbot", "acme", "josepy", "certbot_dns_autopilot")
#: The password of a URL's userinfo (``https://user:password@host``, which requests sends).
USERINFO = re.compile(r"(?<=://)([^\s/@:'\"<>]*:)[^\s/@'\"<>]+(?=@)")

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
    """Known secrets (credential values): masked wherever they appear, longest first, also
    as JSON writes them (a quote, a backslash or non-ASCII escaped). Values shorter than
    `MIN_SECRET` are not kept: callers refuse or warn about them."""
    global _secrets
    fresh = set()
    for secret in secrets:
        if secret is not None and len(str(secret)) >= MIN_SECRET:
            text = str(secret)
            fresh |= {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | fresh, key=len, reverse=True))


def register_userinfo(url: object) -> None:
    """The password (and ``user:password``) of a URL's userinfo, as a known secret."""
    for found in USERINFO.finditer(str(url or "")):
        register([found[0], found[0][len(found[1]):]])


def scrub(text: str, patterns: bool = True) -> str:
    """``text`` with known secrets and userinfo passwords (and, with ``patterns``,
    credential shapes) masked: the one function every output path goes through."""
    for secret in _secrets:  # a tuple, replaced whole under the lock: safe to iterate
        if secret in text:
            text = text.replace(secret, MASK)
    if "@" in text:
        text = USERINFO.sub(lambda m: m[1] + MASK, text)
    if patterns:
        for pattern in PATTERNS:
            text = pattern.sub(lambda m: "".join(m.groups()[:-1]) + MASK, text)
        if "=" in text:
            text = _PAIR.sub(lambda m: m[1] + MASK if _SECRET_NAME.search(m[1]) else m[0],
                             text)
    return text


def scrubbed(data: Any, patterns: bool = False) -> Any:
    """``data`` (JSON-shaped: dicts, lists, strings…) with `scrub` applied to every string
    in it, before it is serialised: JSON escapes a secret holding a quote, a backslash or
    non-ASCII, and the escaped form would no longer be found. Anything else that is not a
    number, a bool or None becomes its scrubbed text, as ``json.dumps(default=str)`` would."""
    if isinstance(data, str):
        return scrub(data, patterns)
    if isinstance(data, dict):
        return {key: scrubbed(value, patterns) for key, value in data.items()}
    if isinstance(data, list | tuple | set | frozenset):
        return [scrubbed(value, patterns) for value in data]
    if data is None or isinstance(data, bool | int | float):
        return data
    return scrub(str(data), patterns)


class Stream(io.TextIOBase):
    """A text stream writing `scrub` of each text to ``stream``: the CLI's stdout and
    stderr (a secret never spans two writes: print and json.dump write each string whole)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(scrub(text, patterns=False))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True


def _patterned(name: str) -> bool:
    """Whether a logger's records are read for credential shapes: any library's but ours."""
    return not any(name == root or name.startswith(root + ".") for root in OWN_LOGGERS)


class Scrubber(logging.Filter):
    """Rewrites each record's message (and traceback) without secrets; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_dns_autopilot_scrubbed", False):
            return True
        patterns = _patterned(record.name)
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
