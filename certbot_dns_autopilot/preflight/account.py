"""The ACME account a run uses: its URL, read from certbot's own account store.

CAA ``accounturi`` (RFC 8657) names an account by URL, and certbot hands an authenticator
only the account's key (each challenge's ``account_key``). certbot keeps every account
under ``<config-dir>/accounts/<server host and path>/<id>/``: ``private_key.json`` (the
key) and ``regr.json`` (its ``uri``). The run's account is the one whose key is the key the
challenges are signed with. Read only: nothing here writes to certbot's directories.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit


def accounts_dir(config_dir: str, server: str) -> str:
    """Where certbot keeps the accounts of the ACME directory ``server``."""
    from certbot.compat import misc

    parsed = urlsplit(server)
    server_path = misc.underscores_for_unsupported_characters_in_path(
        (parsed.netloc + parsed.path).replace("/", os.path.sep))
    return os.path.join(config_dir, "accounts", server_path)


def _stored(directory: str) -> list[tuple[str, str, str]]:
    """(account directory, key JSON, account URL) for each readable account, sorted."""
    try:
        ids = sorted(os.listdir(directory))
    except OSError:
        return []
    found = []
    for account_id in ids:
        path = os.path.join(directory, account_id)
        try:
            with open(os.path.join(path, "regr.json"), encoding="utf-8") as regr:
                uri = json.load(regr).get("uri")
            with open(os.path.join(path, "private_key.json"), encoding="utf-8") as key:
                key_json = key.read()
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(uri, str) and uri:
            found.append((path, key_json, uri))
    return found


def url_for_key(directory: str, key: object) -> str | None:
    """The URL of the stored account whose key is ``key`` (a josepy JWK), if any."""
    from josepy import JWK

    try:
        wanted = key.thumbprint()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - no usable key: the account stays unknown
        return None
    for _, key_json, uri in _stored(directory):
        try:
            if JWK.json_loads(key_json).thumbprint() == wanted:
                return uri
        except Exception:  # noqa: BLE001 - an unreadable key is not this run's account
            continue
    return None


def urls(directory: str) -> list[str]:
    """Every stored account URL for one ACME directory (doctor: this machine's accounts)."""
    return [uri for _, _, uri in _stored(directory)]


def is_staging(server: str | None, dry_run: bool = False) -> bool:
    """A staging endpoint (certbot --dry-run, or a directory URL that says staging)."""
    return dry_run or "staging" in (urlsplit(server or "").netloc.lower())


def url_for_id(config_dir: str, server: str | None, account_id: str | None) -> str | None:
    """The URL of a stored account by its id (a renewal configuration saves the id)."""
    if not server or not account_id:
        return None
    path = os.path.join(accounts_dir(config_dir, server), account_id, "regr.json")
    try:
        with open(path, encoding="utf-8") as handle:
            uri = json.load(handle).get("uri")
    except (OSError, ValueError, AttributeError):
        return None
    return uri if isinstance(uri, str) else None
