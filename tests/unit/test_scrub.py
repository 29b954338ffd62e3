"""The scrubber: SDK records as the SDKs write them (botocore, urllib3, msal, lexicon) reach
certbot's log handlers without a secret, from many threads at once, with no logger's level
changed."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator

import pytest

from certbot_dns_autopilot import scrub

KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEMP_SECRET = "TmpSecret+9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e"
TOKEN = "FwoGZXIvYXdzEBYaDKq0session0token0value0abcdef"
LEXICON_KEY = "lx-3f9a8b7c6d5e4f3a2b1c"


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """A root handler as certbot's file handler, with the scrubber installed."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    scrub.install()
    yield out
    root.removeHandler(handler)
    root.setLevel(old)


SDK_RECORDS = [
    ("botocore.endpoint", "Making request for OperationModel(name=ListHostedZones) with params: "
     "{'headers': {'X-Amz-Security-Token': b'%s', 'Authorization': b'AWS4-HMAC-SHA256 "
     "Credential=ASIAEXAMPLE/20261201/us-east-1/route53/aws4_request, SignedHeaders=host, "
     "Signature=abc123'}}", (TOKEN,)),
    ("botocore.parsers", "Response body:\nb'<AssumeRoleResponse><Credentials><AccessKeyId>ASIA"
     "</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>"
     "</Credentials></AssumeRoleResponse>'", (TEMP_SECRET, TOKEN)),
    ("urllib3.connectionpool", 'https://api.dns.example:443 "GET /v1/zones?api_key=%s&page=1 '
     'HTTP/1.1" 200 512', (LEXICON_KEY,)),
    ("msal.token_cache", 'token response: {"access_token": "%s", "token_type": "Bearer"}',
     (TOKEN,)),
    ("azure.identity", "POST body: client_id=x&client_secret=%s&grant_type=client_credentials",
     (TEMP_SECRET,)),
    ("lexicon.providers.fake", "request headers: {'X-Auth-Key': '%s'}", (LEXICON_KEY,)),
]


@pytest.mark.parametrize("logger,message,args", SDK_RECORDS,
                         ids=[r[0] for r in SDK_RECORDS])
def test_credential_shapes_in_sdk_records_are_masked(log: io.StringIO, logger: str,
                                                     message: str, args: tuple) -> None:
    logging.getLogger(logger).debug(message, *args)
    written = log.getvalue()
    assert scrub.MASK in written
    for secret in args:
        assert secret not in written


def test_known_secrets_are_masked_in_any_record_and_traceback(log: io.StringIO) -> None:
    scrub.register([KEY])
    logging.getLogger("certbot_dns_autopilot").debug("key was %s", KEY)
    try:
        raise ValueError(f"refused {KEY}")
    except ValueError:
        logging.getLogger("some.library").debug("failed", exc_info=True)
    assert KEY not in log.getvalue() and log.getvalue().count(scrub.MASK) >= 2


def test_many_threads_logging_while_secrets_are_registered(log: io.StringIO) -> None:
    secrets = [f"thread-secret-{i:04d}-value" for i in range(40)]
    levels = {name: logging.getLogger(name).level for name in scrub.SDK_LOGGERS}

    def work(i: int) -> None:
        scrub.register([secrets[i]])
        for _ in range(50):
            logging.getLogger("botocore.endpoint").debug("sending %s", secrets[i])
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(secrets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = log.getvalue()
    assert written.count("sending ***") == 40 * 50
    assert not any(secret in written for secret in secrets)
    assert levels == {name: logging.getLogger(name).level for name in scrub.SDK_LOGGERS}
