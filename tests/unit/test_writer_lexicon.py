"""The dns-lexicon writer without a network: bad INI input, how options reach the provider,
the names it is given, and how provider failures become codes (with a fake provider)."""

from __future__ import annotations

import fcntl
import logging
import socket
import threading
import types
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import dns.exception
import pytest
import requests
from lexicon.exceptions import AuthenticationError
from lexicon.interfaces import Provider
from unit_helpers import RecordedEvents, load_map

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import Context, Locks, retry
from certbot_dns_autopilot.writers import lexicon as lexicon_writer
from certbot_dns_autopilot.writers.lexicon import LexiconWriter

TOKEN = "tok-3f9a8b7c6d5e4f3a2b1c"
TSIG = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"


OVH = ("dns_autopilot_lexicon_provider = ovh\n"
       "dns_autopilot_lexicon_auth_entrypoint = ovh-eu\n"
       "dns_autopilot_lexicon_auth_application_key = app-key\n"
       "dns_autopilot_lexicon_auth_application_secret = app-secret-123456\n"
       "dns_autopilot_lexicon_auth_consumer_key = consumer-key\n"
       "dns_autopilot_zones = example.com\n")


def locks(tmp_path: Path) -> Locks:
    """The locks of the writers these tests build (a work dir of the test's own)."""
    return Locks(str(tmp_path / "work"))


def load(tmp_path: Path, text: str) -> LexiconWriter:
    [writer] = load_map(tmp_path, {}, text, Context(locks=locks(tmp_path))).writers
    assert isinstance(writer, LexiconWriter)
    return writer


def failure(tmp_path: Path, text: str) -> AutopilotError:
    with pytest.raises(AutopilotError) as info:
        load(tmp_path, text)
    return info.value


# -- bad INI input --------------------------------------------------------------------

@pytest.mark.parametrize("typo, suggestion", [("ddsn", "ddns"), ("cloudfare", "cloudflare")])
def test_an_unknown_provider_lists_close_matches(tmp_path: Path, typo: str,
                                                 suggestion: str) -> None:
    exc = failure(tmp_path, f"dns_autopilot_lexicon_provider = {typo}\n"
                            "dns_autopilot_zones = example.com\n")
    assert exc.code == "bad-config"
    assert f"did you mean {suggestion}" in str(exc) and "lexicon --help" in exc.fix


def test_the_provider_name_ignores_case(tmp_path: Path) -> None:
    writer = load(tmp_path, OVH.replace("= ovh\n", "= OVH\n"))
    assert writer.provider == "ovh" and writer.options["auth_entrypoint"] == "ovh-eu"


def test_a_cloud_providers_missing_option_is_named_by_its_key(tmp_path: Path) -> None:
    exc = failure(tmp_path, OVH.replace("dns_autopilot_lexicon_auth_consumer_key = "
                                        "consumer-key\n", ""))
    assert exc.code == "bad-config"
    assert exc.problem.endswith("needs dns_autopilot_lexicon_auth_consumer_key, not set in "
                                f"{tmp_path / 'credentials.ini'}")
    assert "app-secret-123456" not in str(exc)


def test_auto_is_refused_it_looks_providers_up_on_the_network(tmp_path: Path) -> None:
    exc = failure(tmp_path, "dns_autopilot_lexicon_provider = auto\n"
                            "dns_autopilot_zones = example.com\n")
    assert exc.code == "bad-config"
    assert "auto" in exc.problem and "name the provider" in exc.fix


def test_an_unset_provider_is_bad_config(tmp_path: Path) -> None:
    exc = failure(tmp_path, "dns_autopilot_lexicon_auth_token = x\n"
                            "dns_autopilot_zones = example.com\n")
    assert exc.code == "bad-config"
    assert exc.problem.endswith("does not set dns_autopilot_lexicon_provider")
    assert "lexicon's provider name" in exc.fix


def test_a_misspelt_provider_key_names_the_key_meant(tmp_path: Path) -> None:
    # Read with the shared schema reader: a near miss of the writer's own key is that key
    # misspelt, not a provider option.
    exc = failure(tmp_path, "dns_autopilot_lexicon_provder = ovh\n"
                            "dns_autopilot_zones = example.com\n")
    assert exc.code == "bad-config"
    assert ("dns_autopilot_lexicon_provder (probably dns_autopilot_lexicon_provider)"
            in exc.problem)
    assert "rename dns_autopilot_lexicon_provder to dns_autopilot_lexicon_provider" in exc.fix


def test_a_provider_whose_packages_are_missing_is_bad_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexicon_writer, "find_providers",
                        lambda: {"ovh": True, "route53": False})
    exc = failure(tmp_path, "dns_autopilot_lexicon_provider = route53\n"
                            "dns_autopilot_zones = example.com\n")
    assert exc.code == "bad-config"
    assert "pip install 'dns-lexicon[route53]'" in exc.fix


def test_an_http_endpoint_off_loopback_is_bad_config(tmp_path: Path) -> None:
    exc = failure(tmp_path, OVH + "dns_autopilot_lexicon_auth_entrypoint_url = "
                                  "http://api.example.net/1.0\n")
    assert exc.code == "bad-config" and "https://" in exc.fix


def test_the_zones_are_required(tmp_path: Path) -> None:
    exc = failure(tmp_path, "dns_autopilot_lexicon_provider = ddns\n"
                            f"dns_autopilot_lexicon_auth_token = hmac-sha512:k:{TSIG}\n"
                            "dns_autopilot_lexicon_ddns_server = 192.0.2.1\n")
    assert exc.code == "zone-not-found" and "dns_autopilot_zones" in exc.fix
    assert TSIG not in str(exc)


def test_a_missing_option_is_named_by_its_key_at_configuration_time(tmp_path: Path) -> None:
    exc = failure(tmp_path, "dns_autopilot_lexicon_provider = ddns\n"
                            "dns_autopilot_lexicon_ddns_server = 192.0.2.1\n"
                            "dns_autopilot_zones = example.com\n")
    assert exc.code == "bad-config"
    assert "dns_autopilot_lexicon_auth_token" in exc.problem
    assert "dns_autopilot_lexicon_auth_token" in exc.fix


def test_a_malformed_ddns_token_is_one_error_without_the_secret(tmp_path: Path) -> None:
    exc = failure(tmp_path, "dns_autopilot_lexicon_provider = ddns\n"
                            f"dns_autopilot_lexicon_auth_token = {TSIG}\n"
                            "dns_autopilot_lexicon_ddns_server = 192.0.2.1\n"
                            "dns_autopilot_zones = example.com\n")
    assert exc.code == "bad-config"
    assert "dns_autopilot_lexicon_auth_token" in exc.fix and "<algorithm>:<key name>" in exc.fix
    assert TSIG not in str(exc)


@pytest.mark.parametrize("option", ["domain", "ttl", "name", "delegated"])
def test_options_the_writer_sets_itself_are_refused(tmp_path: Path, option: str) -> None:
    exc = failure(tmp_path, "dns_autopilot_lexicon_provider = ovh\n"
                            f"dns_autopilot_lexicon_{option} = x\n"
                            "dns_autopilot_zones = example.com\n")
    assert exc.code == "bad-config" and f"dns_autopilot_lexicon_{option}" in exc.problem


def test_an_undeclared_option_is_warned_with_its_close_match(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        load(tmp_path, OVH + "dns_autopilot_lexicon_auth_aplication_key = x\n")
    assert "did you mean dns_autopilot_lexicon_auth_application_key" in caplog.text


def test_providers_that_call_tldextract_never_fetch_the_suffix_list(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # namecheap imports tldextract in every lexicon version this package allows (godaddy
    # not in the lowest)
    lexicon_writer.provider_class("namecheap", "test")
    module = lexicon_writer.load_provider_module("namecheap")

    def no_network(*args: Any) -> None:
        raise AssertionError("tldextract went to the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    parts = module.tldextract.extract("_acme-challenge.www.example.co.uk")
    assert (parts.domain, parts.suffix) == ("example", "co.uk")


# -- a fake provider: option mapping, names, failures ----------------------------------

def http_error(status: int, retry_after: str | None = None) -> requests.HTTPError:
    """What a lexicon provider raises for an HTTP error: requests' raise_for_status on a
    real `requests.Response` (the URL with the token in its query, as some APIs take it)."""
    response = requests.Response()
    response.status_code = status
    response.reason = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                       429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Bad")
    response.url = f"https://api.fake.example/v1/zones/example.com?token={TOKEN}"
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError


class FakeProvider(Provider):
    """Like many lexicon providers: relative names at the API, duplicates refused."""

    records: list[dict[str, Any]] = []
    calls: list[tuple[str, ...]] = []
    seen: dict[str, Any] = {}
    fail: BaseException | None = None
    deletes_rrset = False
    refuse: str | None = None  # a name whose creates the API refuses (403)
    script: dict[str, list[BaseException]] = {}  # operation -> errors raised first, in order

    @staticmethod
    def scripted(operation: str) -> None:
        """Raise the next error scripted for ``operation``, if any (before doing it)."""
        if FakeProvider.script.get(operation):
            raise FakeProvider.script[operation].pop(0)

    @staticmethod
    def get_nameservers() -> list[str]:
        return []

    @staticmethod
    def configure_parser(parser: ArgumentParser) -> None:
        parser.add_argument("--auth-token")
        parser.add_argument("--auth-region")

    def authenticate(self) -> None:
        FakeProvider.seen = {"domain": self.domain, "token": self._get_provider_option(
            "auth_token"), "region": self._get_provider_option("auth_region")}
        if FakeProvider.fail:
            raise FakeProvider.fail
        FakeProvider.scripted("authenticate")

    def create_record(self, rtype: str, name: str, content: str) -> bool:
        self.calls.append(("create", rtype, name, content, str(self._get_lexicon_option("ttl"))))
        FakeProvider.scripted("create")
        rel = self._relative_name(name)
        if name == FakeProvider.refuse:
            raise http_error(403)
        if any(r["name"] == rel and r["content"] == content for r in self.records):
            raise http_error(400)
        self.records.append({"type": rtype, "name": rel, "content": content, "ttl": 120})
        return True

    def list_records(self, rtype: str | None = None, name: str | None = None,
                     content: str | None = None) -> list[dict[str, Any]]:
        self.calls.append(("list", str(rtype), str(name)))
        FakeProvider.scripted("list")
        rel = self._relative_name(name) if name else None
        return [dict(r, id=str(i)) for i, r in enumerate(self.records)
                if (rel is None or r["name"] == rel) and (rtype is None or r["type"] == rtype)]

    def delete_record(self, identifier: str | None = None, rtype: str | None = None,
                      name: str | None = None, content: str | None = None) -> bool:
        self.calls.append(("delete", str(rtype), str(name), str(content)))
        FakeProvider.scripted("delete")
        rel = self._relative_name(str(name))
        FakeProvider.records = [r for r in self.records if not (
            r["name"] == rel and (self.deletes_rrset or r["content"] == content))]
        return True

    def update_record(self, *args: Any, **kwargs: Any) -> bool:
        raise NotImplementedError


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[FakeProvider]:
    real_find, real_load = lexicon_writer.find_providers, lexicon_writer.load_provider_module
    monkeypatch.setattr(lexicon_writer, "find_providers", lambda: {**real_find(), "fake": True})
    monkeypatch.setattr(lexicon_writer, "load_provider_module", lambda name: (
        types.SimpleNamespace(Provider=FakeProvider) if name == "fake" else real_load(name)))
    FakeProvider.records, FakeProvider.calls, FakeProvider.seen = [], [], {}
    FakeProvider.fail, FakeProvider.deletes_rrset, FakeProvider.refuse = None, False, None
    FakeProvider.script = {}
    monkeypatch.setattr(LexiconWriter, "policy", retry.Policy(attempts=3, base=0.0, cap=0.0))
    return FakeProvider


FAKE_INI = ("dns_autopilot_lexicon_provider = fake\n"
            f"dns_autopilot_lexicon_auth_token = {TOKEN}\n"
            "dns_autopilot_lexicon_auth_region = eu-west\n"
            "dns_autopilot_zones = example.com, sub.example.com\n")


def test_options_reach_the_provider_under_its_name_and_the_zone_is_the_domain(
        tmp_path: Path, fake: type[FakeProvider]) -> None:
    writer = load(tmp_path, FAKE_INI)
    assert TOKEN not in writer.label and writer.label == "lexicon provider 'fake'"
    name = "_acme-challenge.www.sub.example.com"
    zone = writer.find_zone(name)
    assert zone == "sub.example.com"  # the longest listed suffix
    writer.values(zone, name)
    assert fake.seen == {"domain": "sub.example.com", "token": TOKEN, "region": "eu-west"}
    with pytest.raises(AutopilotError, match="no zone listed") as info:
        writer.find_zone("_acme-challenge.example.org")
    assert info.value.code == "zone-not-found"


def test_a_section_configures_a_lexicon_writer_beside_others(
        tmp_path: Path, fake: type[FakeProvider]) -> None:
    writers = load_map(tmp_path, {"dns_autopilot_rfc2136_server": "192.0.2.1",
                                  "dns_autopilot_rfc2136_name": "acme-key",
                                  "dns_autopilot_rfc2136_secret": TSIG},
                       "\n[lexicon]\n" + FAKE_INI)
    writer = writers.writer_for("_acme-challenge.example.com")
    assert isinstance(writer, LexiconWriter) and writer.options["auth_region"] == "eu-west"
    assert not isinstance(writers.writer_for("_acme-challenge.example.org"), LexiconWriter)


def test_add_gives_fqdns_and_the_ttl_and_tolerates_existing_values(
        tmp_path: Path, fake: type[FakeProvider]) -> None:
    writer = load(tmp_path, FAKE_INI)
    name = "_acme-challenge.example.com"
    writer.add("example.com", {name: {"v1", "v2"}}, 60)
    writer.add("example.com", {name: {"v1"}}, 60)  # the fake refuses duplicates with a 400
    creates = [c for c in fake.calls if c[0] == "create"]
    assert creates == [("create", "TXT", name, "v1", "60"), ("create", "TXT", name, "v2", "60"),
                       ("create", "TXT", name, "v1", "60")]
    assert {c[2] for c in fake.calls if c[0] == "list"} == {name}
    assert writer.values("example.com", name) == {"v1", "v2"}  # relative names read back


def test_remove_deletes_only_our_values_by_name_and_content(
        tmp_path: Path, fake: type[FakeProvider]) -> None:
    writer = load(tmp_path, FAKE_INI)
    name = "_acme-challenge.example.com"
    writer.add("example.com", {name: {"theirs", "ours"}}, 60)
    writer.remove("example.com", {name: {"ours"}})
    assert ("delete", "TXT", name, "ours") in fake.calls
    assert writer.values("example.com", name) == {"theirs"}


def test_a_provider_that_deletes_the_record_set_gets_the_others_back(
        tmp_path: Path, fake: type[FakeProvider], caplog: pytest.LogCaptureFixture) -> None:
    writer = load(tmp_path, FAKE_INI)
    name = "_acme-challenge.example.com"
    writer.add("example.com", {name: {"theirs", "ours"}}, 60)
    fake.deletes_rrset = True
    with caplog.at_level(logging.WARNING):
        writer.remove("example.com", {name: {"ours"}})
    assert writer.values("example.com", name) == {"theirs"}
    assert "putting it back" in caplog.text
    assert fake.calls[-2][:4] == ("create", "TXT", name, "theirs") and fake.calls[-2][4] == "120"


def test_a_provider_deleting_single_values_never_puts_back_what_another_run_removed(
        tmp_path: Path, fake: type[FakeProvider], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # As ddns: its delete takes one value, so a value gone meanwhile was another run's own
    # removal (simulated here by the fake dropping it with ours), which must stay done.
    monkeypatch.setattr(lexicon_writer, "EXACT_DELETES", frozenset({"fake"}))
    writer = load(tmp_path, FAKE_INI)
    name = "_acme-challenge.example.com"
    writer.add("example.com", {name: {"other-run", "ours"}}, 60)
    fake.deletes_rrset = True
    with caplog.at_level(logging.WARNING):
        writer.remove("example.com", {name: {"ours"}})
    assert writer.values("example.com", name) == set()
    assert "putting it back" not in caplog.text


def test_add_and_remove_wait_for_the_zones_lock(tmp_path: Path, fake: type[FakeProvider],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    writer = load(tmp_path, FAKE_INI)
    name = "_acme-challenge.example.com"
    refused = threading.Event()  # the writer's thread tried the lock and found it held
    flock = fcntl.flock

    def trying(fd: int, operation: int) -> None:
        try:
            flock(fd, operation)
        except BlockingIOError:
            refused.set()
            raise

    monkeypatch.setattr(fcntl, "flock", trying)
    with locks(tmp_path).held("lexicon-example.com", "another run"):
        adding = threading.Thread(target=writer.add, args=("example.com", {name: {"v"}}, 60))
        adding.start()
        assert refused.wait(10), "the writer never asked for the zone's lock"
        assert fake.calls == [] and adding.is_alive()  # nothing read or written meanwhile
    adding.join(10)
    assert writer.values("example.com", name) == {"v"}
    with locks(tmp_path).held("lexicon-sub.example.com", "a run in another zone"):
        writer.remove("example.com", {name: {"v"}})  # another zone's lock: no wait
    assert writer.values("example.com", name) == set()


@pytest.mark.parametrize("error, code", [
    (http_error(403), "permission-denied"),
    (http_error(404), "zone-not-found"),
    (requests.ConnectionError(f"cannot reach https://api.fake.example/?token={TOKEN}"),
     "provider-unreachable"),
    (RuntimeError(f"bad credentials {TOKEN}"), "permission-denied"),
])
def test_provider_failures_become_codes_without_the_secret(
        tmp_path: Path, fake: type[FakeProvider], error: BaseException, code: str) -> None:
    writer = load(tmp_path, FAKE_INI)
    fake.fail = error
    with pytest.raises(AutopilotError) as info:
        writer.add("example.com", {"_acme-challenge.example.com": {"v"}}, 60)
    assert info.value.code == code
    text = str(info.value)
    assert text.startswith("dns-autopilot [") and "lexicon provider 'fake'" in text
    assert TOKEN not in text
    if code == "permission-denied":
        assert "dns_autopilot_lexicon_auth_token" in info.value.fix


def test_a_change_the_provider_claims_but_does_not_make_is_permission_denied(
        tmp_path: Path, fake: type[FakeProvider], monkeypatch: pytest.MonkeyPatch) -> None:
    writer = load(tmp_path, FAKE_INI)
    monkeypatch.setattr(FakeProvider, "create_record", lambda self, rtype, name, content: True)
    with pytest.raises(AutopilotError, match="does not list them") as info:
        writer.probe("example.com", "_acme-challenge.example.com")
    assert info.value.code == "permission-denied"


def test_an_add_failing_at_the_second_name_leaves_nothing_and_keeps_foreign_values(
        tmp_path: Path, fake: type[FakeProvider]) -> None:
    writer = load(tmp_path, FAKE_INI)
    first, second = "_acme-challenge.a.example.com", "_acme-challenge.b.example.com"
    writer.add("example.com", {first: {"foreign"}}, 60)
    fake.refuse = second
    with pytest.raises(AutopilotError):
        writer.add("example.com", {first: {"v1"}, second: {"v2"}}, 60)
    assert writer.values("example.com", first) == {"foreign"}
    assert writer.values("example.com", second) == set()


# -- what the provider's API said, mapped and retried as for every API writer -----------

def never_connected() -> requests.ConnectionError:
    """requests' error for a connection refused before any byte was sent."""
    import urllib3.exceptions

    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, f"/v1?token={TOKEN}", reason))


def writer_with_events(tmp_path: Path) -> LexiconWriter:
    writer = load(tmp_path, FAKE_INI)
    writer.events = RecordedEvents()
    return writer


@pytest.mark.parametrize(("error", "code", "retried"), [
    (http_error(401), "permission-denied", 0),
    (http_error(403), "permission-denied", 0),
    (AuthenticationError("token refused"), "permission-denied", 0),
    (http_error(404), "zone-not-found", 0),
    (http_error(429, retry_after="0"), "provider-unreachable", 2),
    (http_error(503), "provider-unreachable", 2),
    (requests.ReadTimeout(f"read timed out ?token={TOKEN}"), "provider-unreachable", 2),
    (never_connected(), "provider-unreachable", 2),
    (dns.exception.Timeout(), "provider-unreachable", 2),  # ddns: the server is silent
    (ConnectionRefusedError(111, "Connection refused"), "provider-unreachable", 2),
], ids=["401", "403", "AuthenticationError", "404", "429", "503", "read-timeout",
        "never-connected", "ddns-silent", "ddns-refused"])
def test_a_read_maps_what_the_api_said_and_retries_only_transient_answers(
        tmp_path: Path, fake: type[FakeProvider], error: Exception, code: str,
        retried: int) -> None:
    # authenticate is a read: any transient answer is worth another try (3 in all here).
    writer = writer_with_events(tmp_path)
    fake.script = {"authenticate": [error] * 3}
    with pytest.raises(AutopilotError) as info:
        writer.values("example.com", "_acme-challenge.example.com")
    assert info.value.code == code, info.value
    assert len(writer.events.retries) == retried
    assert all(e["writer"] == writer.label for e in writer.events.retries)
    text = str(info.value)
    assert "lexicon provider 'fake'" in text and TOKEN not in text
    if code == "provider-unreachable":
        assert "fake's API" in info.value.fix and "run again later" in info.value.fix
        assert "permission-denied" not in text


def test_a_create_limited_once_is_retried_with_one_retry_event(
        tmp_path: Path, fake: type[FakeProvider]) -> None:
    # A 429 is an answer the provider gives before doing anything: the create is sent again.
    writer = writer_with_events(tmp_path)
    name = "_acme-challenge.example.com"
    fake.script = {"create": [http_error(429, retry_after="0")]}
    writer.add("example.com", {name: {"v1"}}, 60)
    [event] = writer.events.retries
    assert (event["attempt"], event["reason"]) == (1, "HTTP 429")
    assert event["what"] == f"creating a TXT value at {name}"
    assert [c[:4] for c in fake.calls if c[0] == "create"] == [("create", "TXT", name, "v1")] * 2
    assert writer.values("example.com", name) == {"v1"}


def test_a_create_or_delete_whose_connection_was_never_made_is_retried(
        tmp_path: Path, fake: type[FakeProvider]) -> None:
    writer = writer_with_events(tmp_path)
    name = "_acme-challenge.example.com"
    fake.script = {"create": [never_connected()], "delete": [never_connected()]}
    writer.add("example.com", {name: {"v1"}}, 60)
    writer.remove("example.com", {name: {"v1"}})
    assert [e["what"] for e in writer.events.retries] == [
        f"creating a TXT value at {name}", f"deleting a TXT value at {name}"]
    assert writer.values("example.com", name) == set()


@pytest.mark.parametrize("error", [http_error(503), requests.ReadTimeout("read timed out")],
                         ids=["503", "read-timeout"])
def test_a_create_the_provider_may_have_applied_is_not_sent_again(
        tmp_path: Path, fake: type[FakeProvider], error: Exception) -> None:
    # A 5xx or a timeout after the request went out: the provider may have created the
    # value; sending it again could duplicate it. The add fails, unreachable, and takes
    # back what it may have written.
    writer = writer_with_events(tmp_path)
    name = "_acme-challenge.example.com"
    fake.script = {"create": [error]}
    with pytest.raises(AutopilotError) as info:
        writer.add("example.com", {name: {"v1"}}, 60)
    assert info.value.code == "provider-unreachable"
    assert writer.events.retries == []
    assert len([c for c in fake.calls if c[0] == "create"]) == 1
    assert info.value.left_nothing and writer.values("example.com", name) == set()
