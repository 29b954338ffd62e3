"""Finding the run's ACME account URL in certbot's account store, by the challenges' key."""

from __future__ import annotations

import json
from pathlib import Path

import josepy
from cryptography.hazmat.primitives.asymmetric import rsa

from certbot_dns_autopilot.preflight import account

SERVER = "https://acme-v02.api.letsencrypt.org/directory"


def new_key() -> josepy.JWKRSA:
    return josepy.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))


def store(config_dir: Path, account_id: str, key: josepy.JWKRSA, uri: str) -> None:
    where = Path(account.accounts_dir(str(config_dir), SERVER)) / account_id
    where.mkdir(parents=True)
    (where / "regr.json").write_text(json.dumps({"body": {}, "uri": uri}))
    (where / "private_key.json").write_text(key.json_dumps())
    (where / "meta.json").write_text("{}")


def test_the_account_whose_key_signs_the_challenges(tmp_path: Path) -> None:
    mine, other = new_key(), new_key()
    store(tmp_path, "aaa", other, "https://ca.example/acct/1")
    store(tmp_path, "bbb", mine, "https://ca.example/acct/2")
    directory = account.accounts_dir(str(tmp_path), SERVER)
    assert directory == str(tmp_path / "accounts" / "acme-v02.api.letsencrypt.org" / "directory")
    assert account.url_for_key(directory, mine) == "https://ca.example/acct/2"
    assert account.url_for_key(directory, new_key()) is None
    assert account.urls(directory) == ["https://ca.example/acct/1", "https://ca.example/acct/2"]


def test_an_unreadable_store_leaves_the_account_unknown(tmp_path: Path) -> None:
    key = new_key()
    store(tmp_path, "aaa", key, "https://ca.example/acct/1")
    directory = account.accounts_dir(str(tmp_path), SERVER)
    (Path(directory) / "aaa" / "regr.json").write_text("not json")
    assert account.url_for_key(directory, key) is None
    assert account.url_for_key(str(tmp_path / "missing"), key) is None
    assert account.url_for_key(directory, object()) is None


def test_staging_endpoints_and_dry_runs() -> None:
    assert account.is_staging("https://acme-staging-v02.api.letsencrypt.org/directory")
    assert not account.is_staging(SERVER)
    assert account.is_staging(SERVER, dry_run=True)
    assert not account.is_staging(None)
