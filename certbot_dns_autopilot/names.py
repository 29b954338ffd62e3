"""Domain-name helpers shared by every step: one spelling of a name everywhere, and the
shapes of DNS-01's names and values."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable
from typing import Any

import dns.exception
import dns.name

CHALLENGE_LABEL = "_acme-challenge"

#: base64url(SHA-256), unpadded: the shape of every DNS-01 value (RFC 8555 8.4)
DNS01_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")


def is_dns01_value(value: object) -> bool:
    """Whether ``value`` has the shape of a DNS-01 value. Only such values are ever removed
    on another run's behalf or handed to a hook: a TXT value read over DNS is whoever wrote
    it's, and may hold quotes, backticks, line breaks or NUL bytes."""
    return isinstance(value, str) and DNS01_VALUE.fullmatch(value) is not None


# After IDNA encoding and lower-casing: host-name labels, plus "_" for _acme-challenge and
# other service labels. "*" is allowed as the whole first label only (a wildcard owner).
_LABEL = re.compile(rb"[a-z0-9_-]+")


class InvalidName(dns.exception.SyntaxError, ValueError):
    """A text that is not a domain name; the message quotes it and says why."""


def normalize(name: str) -> str:
    """Lower-case, IDNA-encoded, no trailing dot: the form used as a key throughout.

    Raises `InvalidName` (a dnspython exception and a ValueError) naming the text and the
    reason for anything else: empty, an empty label, a label over 63 or a name over 255
    octets, a character no host name has, or "*" anywhere but as the whole first label
    of a longer name.
    """
    text = name.strip()
    try:
        parsed = dns.name.from_text(text)
    except dns.name.EmptyLabel:
        raise InvalidName(f"{text!r} is not a domain name: it has an empty label (two dots "
                          "in a row, or a leading dot)") from None
    except dns.name.LabelTooLong:
        raise InvalidName(f"{text!r} is not a domain name: a label is longer than 63 "
                          "octets (IDN labels count in their xn-- form)") from None
    except dns.name.NameTooLong:
        raise InvalidName(f"{text!r} is not a domain name: it is longer than 255 "
                          "octets") from None
    except dns.exception.DNSException as exc:  # IDNA errors, bad escapes
        reason = str(exc).rstrip(".") or type(exc).__name__
        raise InvalidName(f"{text!r} is not a domain name: {reason}") from None
    labels = [label.lower() for label in parsed.labels if label]
    if not labels:
        raise InvalidName(f"{text!r} is not a domain name: it is empty")
    if labels == [b"*"]:
        raise InvalidName(f"{text!r} is not a domain name: a wildcard needs the name it "
                          "covers (*.example.com)")
    for index, label in enumerate(labels):
        if label == b"*" and index == 0:
            continue
        if not _LABEL.fullmatch(label):
            bad = next(chr(c) for c in label if not _LABEL.fullmatch(bytes([c])))
            where = "except as the whole first label" if bad == "*" else "in a domain name"
            raise InvalidName(f"{text!r} is not a domain name: {bad!r} is not allowed "
                              f"{where} (letters, digits, '-' and '_' only)")
    return b".".join(labels).decode("ascii")


def validation_name(domain: str) -> str:
    """The name the CA reads for ``domain``: a wildcard shares its base name's record."""
    domain = domain.strip()
    base = normalize(domain[2:] if domain.startswith("*.") else domain)  # never empty
    return normalize(f"{CHALLENGE_LABEL}.{base}")


def ancestors(name: str) -> list[str]:
    """``name`` and each enclosing name up to (not including) the root, most specific first."""
    labels = normalize(name).split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def within(name: str, zone: str) -> bool:
    """Is ``name`` the zone's apex or below it? (both normalized)"""
    return name == zone or name.endswith("." + zone)


def longest_zone(name: str, zones: Iterable[str]) -> str | None:
    """The most specific of ``zones`` that encloses ``name`` (None if none does): the one
    rule every writer and the writer map use to pick a zone."""
    name = normalize(name)
    return max((z for z in (normalize(z) for z in zones) if within(name, z)), key=len,
               default=None)


_PSL_LOCK = threading.Lock()


@functools.cache
def _public_suffix_list() -> Any:
    from publicsuffixlist import PublicSuffixList  # imported on use: certbot loads the plugin

    return PublicSuffixList()


def public_suffix_list() -> Any:
    """The packaged Public Suffix List, parsed once per process (it takes tens of
    milliseconds), for every step that reads it: the threads that follow a certificate's
    names at once wait for the one that parses it."""
    with _PSL_LOCK:
        return _public_suffix_list()
