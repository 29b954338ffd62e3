"""TSIG keys as a credentials file gives them (RFC 8945): the algorithm, the key's name and
its base64 secret, each checked before any message is signed; and the exceptions dnspython
raises when a server rejects a signature."""

from __future__ import annotations

import base64
import binascii

import dns.exception
import dns.name
import dns.tsig

ALGORITHMS = {f"HMAC-{hash_}": getattr(dns.tsig, f"HMAC_{hash_}")
              for hash_ in ("MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512")}
DEFAULT_ALGORITHM = "HMAC-SHA512"
#: A server's refusal of a signature (its answer's TSIG error), or an answer whose own
#: signature does not verify with the key.
REJECTIONS = (dns.tsig.PeerBadKey, dns.tsig.PeerBadSignature, dns.tsig.PeerBadTime,
              dns.tsig.PeerBadTruncation, dns.tsig.BadSignature, dns.tsig.BadTime)


class Unusable(ValueError):
    """One part of a key (``name``, ``secret`` or ``algorithm``) that cannot be used: what is
    wrong with it (``shown``: how the problem quotes its value, if it may) and the fix."""

    def __init__(self, part: str, problem: str, fix: str, shown: str = "") -> None:
        super().__init__(problem)
        self.part, self.problem, self.fix, self.shown = part, problem, fix, shown


def algorithm(text: str | None) -> str:
    """The algorithm's name as dnspython knows it (``hmac-sha256`` and ``SHA256`` read as
    ``HMAC-SHA256``)."""
    name = (text or DEFAULT_ALGORITHM).upper()
    name = name if name.startswith("HMAC-") else f"HMAC-{name}"
    if name not in ALGORITHMS:
        raise Unusable("algorithm", "names an unknown TSIG algorithm",
                       f"use one of {', '.join(ALGORITHMS)} (the algorithm of the key on the "
                       "server)")
    return name


def secret(text: str | None) -> str:
    """The secret, checked to be base64 (never quoted in a message)."""
    try:
        base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        raise Unusable("secret", "is not valid base64",
                       "copy the secret exactly as `tsig-keygen` printed it (the text between "
                       "the quotes of `secret \"…\";`)") from None
    return text or ""


def key_name(text: str | None) -> str:
    """The key's name, a domain name as in the server's ``key "…" { … };`` clause."""
    name, fix = text or "", "set it to the key's name as in the server's `key \"…\" { … };` clause"
    if "," in name:  # configobj reads an unquoted comma as a list
        raise Unusable("name", "holds a comma (read as a list)", fix)
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException:
        raise Unusable("name", "is not a key name", fix, shown=f" = {name!r}") from None
    return name


def keyring(name: str, secret_: str, algorithm_: str) -> dict[dns.name.Name, dns.tsig.Key]:
    """The keyring dnspython signs with: the one key."""
    return {dns.name.from_text(name): dns.tsig.Key(name, secret_, ALGORITHMS[algorithm_])}
