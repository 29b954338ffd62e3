"""API endpoints from the credentials file: never http:// off loopback, never shown with a
password."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .. import scrub
from ..codes import Code
from ..errors import AutopilotError


def without_userinfo(url: str) -> str:
    """``url`` as labels and messages show it: without ``user:password@``, a credential
    (requests sends it as basic authentication)."""
    parts = urlsplit(str(url).strip())
    if "@" not in parts.netloc:
        return str(url).strip()
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def check_endpoint(url: str, key: str, where: str, code: str = Code.BAD_CONFIG) -> None:
    """An API endpoint must be https://: an http:// one would send the credential across the
    network in clear text. Loopback addresses (a local proxy, an emulator) are the exception.
    A password in its userinfo is a secret from now on (labels show `without_userinfo`).

    :raises AutopilotError: an http:// URL whose host is not a loopback address.
    """
    scrub.register_userinfo(url)
    parts = urlsplit(str(url).strip())
    if parts.scheme.lower() != "http":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise AutopilotError(
            code, f"{key} = {without_userinfo(url)!r} in {where} is an http:// URL: the "
            "credential would cross the network in clear text",
            "use the endpoint's https:// URL (http:// is accepted only on a loopback address, "
            "such as a local proxy or emulator)")


def is_url(text: str, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    """Whether ``text`` is a URL of one of ``schemes`` with a host (a key's `Shape`)."""
    parts = urlsplit(text)
    return parts.scheme.lower() in schemes and bool(parts.hostname)
