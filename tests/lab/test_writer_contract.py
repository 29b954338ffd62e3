"""The writer contract: what every writer must do, run against each one on its emulator or
on the lab's BIND (as certbot's ``BaseAuthenticatorTest`` is one contract every DNS plugin
passes). Each test id carries the writer's kind.

- two values at one name (apex + wildcard) beside someone else's value: both served, and
  removal takes only ours;
- an add that fails at the second name leaves nothing written;
- remove takes only our values and is idempotent;
- two runs writing at one name at once both succeed, and both clean up;
- the permission probe of a read-only (and, where the provider scopes credentials, a
  wrongly scoped) credential is ``permission-denied``, naming the writer and without the
  secret; the wrongly scoped one passes the probe where its scope lies;
- an API writer's call the provider limits (429 or its throttling) then fails (503) is
  retried, each retry a ``retry`` event, and the add still succeeds.

Its pure parts need no lab: every writer kind the registry finds has a case here, and its
declaration is complete and what the tree says of it (`declaration_problems`: its docs page,
its key table in docs/options.md, its link in the README, its extra in setup.cfg). The
clauses themselves are functions of a case in writer_contract.py, which any test can run.

A clause a writer cannot keep by the provider's design is declared in its case's `cannot`
(clause -> why), and the test then asserts the provider's documented alternative instead
(acme-dns: no delete, values roll out with the registration's next two updates).

Adding a writer: one `Case` subclass below and its line in `CASES` (tests/lab/
test_adding_a_writer.py adds a throwaway one with nothing else).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import writer_contract as contract
from emulators.acmedns import AcmeDnsEmulator
from emulators.azure import AzureEmulator
from emulators.bind import ZoneBackend
from emulators.cloudflare import CloudflareEmulator
from emulators.route53 import Route53Emulator
from labkit import ACME_DOMAIN, ACME_ZONE, Lab, acmedns_ini, lab_keys, nsupdate
from writer_contract import (
    OTHER_ZONE,
    ZONE,
    Case,
    Events,
    load,
    value,
    write_ini,
)

from certbot_dns_autopilot.cli.acmedns import register
from certbot_dns_autopilot.writers import Writer, registry

pytestmark = pytest.mark.lab

GROUP, OTHER_GROUP = "rg-dns", "rg-web"  # Azure resource groups


def tsig_denied(lab: Lab, how: str) -> Path:
    """The lab's TSIG key granted nothing (read-only), or granted TXT updates in another zone
    only (wrong-scope: BIND's update-policy for example.test names it, autopilot.test's not)."""
    return Path(lab.env["LAB_CREDENTIALS_READONLY" if how == "read-only"
                        else "LAB_CREDENTIALS_OTHER_ZONE"])


class RFC2136(Case):
    kind = "rfc2136"
    denials = ("read-only", "wrong-scope")
    refused_outside_the_zone = True

    def writer(self) -> Writer:
        return load(self.lab.credentials)

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        # One UPDATE per zone, applied whole or not at all: a name outside the zone makes
        # the server refuse the message (NOTZONE), the first name included.
        return self.writer(), lambda: None

    def denied(self, how: str) -> tuple[Writer, str]:
        path = tsig_denied(self.lab, how)
        return load(path), _ini_value(path, "dns_autopilot_rfc2136_secret")


class Lexicon(Case):
    kind = "lexicon"
    denials = ("read-only", "wrong-scope")
    refused_outside_the_zone = True

    def _ini(self, name: str, key_name: str, secret: str) -> Path:
        return write_ini(self.tmp / name, {
            "dns_autopilot_lexicon_provider": "ddns",
            "dns_autopilot_lexicon_auth_token": f"hmac-sha512:{key_name}:{secret}",
            "dns_autopilot_lexicon_ddns_server": self.lab.primary,
            "dns_autopilot_zones": ZONE})

    def writer(self) -> Writer:
        keys = lab_keys(self.lab)
        return load(self._ini("lexicon.ini", keys["dns_autopilot_rfc2136_name"],
                              keys["dns_autopilot_rfc2136_secret"]))

    def denied(self, how: str) -> tuple[Writer, str]:
        path = tsig_denied(self.lab, how)
        name = _ini_value(path, "dns_autopilot_rfc2136_name")
        secret = _ini_value(path, "dns_autopilot_rfc2136_secret")
        return load(self._ini(f"{how}.ini", name, secret)), secret

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        # lexicon writes name by name: a name outside the zone is refused after the first
        # was written, which the writer must take back.
        return self.writer(), lambda: None


class Exec(Case):
    """The hooks hold the credential (here, nsupdate's TSIG key): a denied one makes the auth
    hook fail, and the probe reports that hook, its exit status and its stderr."""

    kind = "exec"
    denials = ("read-only", "wrong-scope")

    AUTH = ('#!/bin/sh\nset -e\nn=$(($(cat "{count}" 2>/dev/null || echo 0) + 1)); '
            'echo $n >"{count}"\n'
            'if [ -n "{fail_at}" ] && [ "$n" = "{fail_at}" ]; then echo refused >&2; exit 3; fi\n'
            'nsupdate -y "hmac-sha512:{key}:{secret}" <<EOF\nserver {server}\n'
            'update add $DNS_AUTOPILOT_RECORD 60 TXT "$CERTBOT_VALIDATION"\nsend\nEOF\n')
    CLEANUP = ('#!/bin/sh\nnsupdate -y "hmac-sha512:{key}:{secret}" <<EOF\nserver {server}\n'
               'update delete $DNS_AUTOPILOT_RECORD TXT "$CERTBOT_VALIDATION"\nsend\nEOF\n')

    def _writer(self, fail_at: int | None = None, keys: Path | None = None) -> Writer:
        tmp = self.tmp / f"exec-{fail_at or 0}-{time.monotonic_ns()}"
        tmp.mkdir()
        fields = {"count": tmp / "calls", "server": self.lab.primary,
                  "key": _ini_value(keys or self.lab.credentials, "dns_autopilot_rfc2136_name"),
                  "secret": _ini_value(keys or self.lab.credentials,
                                       "dns_autopilot_rfc2136_secret"),
                  "fail_at": fail_at or ""}
        for name, text in (("auth.sh", self.AUTH), ("cleanup.sh", self.CLEANUP)):
            (tmp / name).write_text(text.format(**fields))
            (tmp / name).chmod(0o700)
        return load(write_ini(tmp / "exec.ini", {
            "dns_autopilot_exec_auth_hook": tmp / "auth.sh",
            "dns_autopilot_exec_cleanup_hook": tmp / "cleanup.sh"}))

    def writer(self) -> Writer:
        return self._writer()

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        return self._writer(fail_at=2), lambda: None

    def denied(self, how: str) -> tuple[Writer, str]:
        path = tsig_denied(self.lab, how)
        return self._writer(keys=path), _ini_value(path, "dns_autopilot_rfc2136_secret")


class Cloudflare(Case):
    kind = "cloudflare"
    denials = ("read-only", "wrong-scope")

    def __init__(self, lab: Lab, tmp: Path) -> None:
        super().__init__(lab, tmp)
        self.cf = CloudflareEmulator([ZONE, "example.test"], ZoneBackend(lab.credentials),
                                     backed=[ZONE, "example.test"]).start()

    def _load(self, token: str) -> Writer:
        return load(write_ini(self.tmp / f"cf-{time.monotonic_ns()}.ini", {
            "dns_autopilot_cloudflare_api_url": self.cf.url,
            "dns_autopilot_cloudflare_api_token": token}))

    def writer(self) -> Writer:
        return self._load(self.cf.token([ZONE]))

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        self.cf.refuse = second

        def undo() -> None:
            self.cf.refuse = None
        return self.writer(), undo

    def denied(self, how: str) -> tuple[Writer, str]:
        token = (self.cf.token([ZONE], dns_edit=False) if how == "read-only"
                 else self.cf.token(["example.test"]))
        return self._load(token), token

    def limit_next(self) -> None:
        self.cf.fail_next = [429, 503]

    def plant(self, name: str, value: str, add: bool = True) -> None:
        if add:
            self.cf.put(ZONE, name, f'"{value}"')
        else:  # as the dashboard would: the record goes, from Cloudflare and from BIND
            with self.cf.lock:
                for records in self.cf.records.values():
                    for rid, record in list(records.items()):
                        if record.name == name and value in record.content:
                            del records[rid]
            nsupdate(self.lab, ZONE, name, value, add=False)

    def close(self) -> None:
        self.cf.stop()


class Route53(Case):
    kind = "route53"
    denials = ("read-only", "wrong-scope")
    refused_outside_the_zone = True

    def __init__(self, lab: Lab, tmp: Path) -> None:
        super().__init__(lab, tmp)
        self.r53 = Route53Emulator(ZoneBackend(lab.credentials), pending_polls=1).start()

    def _load(self, user: str) -> tuple[Writer, str]:
        key_id, secret = self.r53.keys[user]
        return load(write_ini(self.tmp / f"r53-{user}-{time.monotonic_ns()}.ini", {
            "dns_autopilot_route53_access_key_id": key_id,
            "dns_autopilot_route53_secret_access_key": secret,
            "dns_autopilot_route53_endpoint_url": self.r53.endpoint,
            "dns_autopilot_route53_sts_endpoint_url": self.r53.endpoint})), secret

    def writer(self) -> Writer:
        return self._load("acme")[0]

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        # A change batch is applied whole or not at all: a name outside the hosted zone makes
        # Route 53 refuse the batch (InvalidChangeBatch), the first name included.
        return self.writer(), lambda: None

    def denied(self, how: str) -> tuple[Writer, str]:
        # wrong-scope: the documented minimal policy, naming example.test's hosted zone
        return self._load("acme-no-change" if how == "read-only" else "acme-other-zone")

    def where(self, name: str) -> str:
        return self.r53.zone_id(ZONE)  # in the IAM statement to add: the hosted zone's ARN

    def limit_next(self) -> None:
        self.r53.fail_next = [(400, "Throttling"), (503, "ServiceUnavailable")]

    def plant(self, name: str, value: str, add: bool = True) -> None:
        current = self.r53.txt(ZONE, name)
        values = set(current["values"]) if current else set()
        values = values | {value} if add else values - {value}
        change = ({"Action": "UPSERT", "ResourceRecordSet": {
            "Name": name, "Type": "TXT", "TTL": 300,
            "ResourceRecords": [{"Value": f'"{v}"'} for v in sorted(values)]}} if values else
            {"Action": "DELETE", "ResourceRecordSet": {
                "Name": name, "Type": "TXT", "TTL": current["TTL"],
                "ResourceRecords": [{"Value": f'"{v}"'} for v in sorted(current["values"])]}})
        self.r53.client().change_resource_record_sets(
            HostedZoneId=self.r53.zone_id(ZONE), ChangeBatch={"Changes": [change]})

    def close(self) -> None:
        self.r53.stop()


class Azure(Case):
    kind = "azure"
    denials = ("read-only", "wrong-scope")

    def __init__(self, lab: Lab, tmp: Path) -> None:
        super().__init__(lab, tmp)
        self._ca = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = lab.env["LAB_CA_BUNDLE"]
        self.az = AzureEmulator(ZoneBackend(lab.credentials), Path(lab.env["LAB_CA_BUNDLE"]),
                                lab.run_dir / "pebble" / "ca.key").start()
        self.az.add_group(GROUP, "example.test", ZONE)
        self.az.add_group(OTHER_GROUP, OTHER_ZONE)  # another group's zone of that name

    def _load(self, scope: str, role: str, group: str = GROUP) -> tuple[Writer, str]:
        secret = f"s3cret-Azure~{time.monotonic_ns()}"
        principal = self.az.add_principal(secret, assignments=[(scope, role)])
        return load(write_ini(self.tmp / f"az-{time.monotonic_ns()}.ini", {
            "dns_autopilot_azure_subscription_id": self.az.subscription,
            "dns_autopilot_azure_resource_group": group,
            "dns_autopilot_azure_tenant_id": self.az.tenant,
            "dns_autopilot_azure_client_id": principal.client_id,
            "dns_autopilot_azure_client_secret": secret,
            "dns_autopilot_azure_resource_manager_url": self.az.url,
            "dns_autopilot_azure_authority_host": self.az.url})), secret

    def writer(self) -> Writer:
        return self._load(self.az.group_scope(GROUP), "DNS Zone Contributor")[0]

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        self.az.refuse = second.removesuffix("." + ZONE)

        def undo() -> None:
            self.az.refuse = None
        return self.writer(), undo

    def denied(self, how: str) -> tuple[Writer, str]:
        if how == "read-only":
            return self._load(self.az.group_scope(GROUP), "Reader")
        return self._load(self.az.group_scope(OTHER_GROUP), "DNS Zone Contributor")

    def scoped_home(self, domain: str) -> tuple[Writer, str, str]:
        writer = self._load(self.az.group_scope(OTHER_GROUP), "DNS Zone Contributor",
                            group=OTHER_GROUP)[0]
        return writer, OTHER_ZONE, "_acme-challenge." + domain.replace(ZONE, OTHER_ZONE)

    def limit_next(self) -> None:
        self.az.fail_next = [(429, "TooManyRequests"), (503, "ServerBusy")]

    def plant(self, name: str, value: str, add: bool = True) -> None:
        relative = name.removesuffix("." + ZONE)
        values = set(self.az.txt(GROUP, ZONE, relative) or [])
        values = values | {value} if add else values - {value}
        self.az.seed(GROUP, ZONE, relative, sorted(values))

    def close(self) -> None:
        self.az.stop()
        if self._ca is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = self._ca


class AcmeDns(Case):
    """acme-dns writes only at each registration's fulldomain, keeps the two newest values of
    a registration (an update replaces the older) and has no delete (its API is /register and
    /update). Its credentials are per registration: a wrong password is refused (read-only),
    and so is another registration's username and password (wrong-scope)."""

    kind = "acmedns"
    zone = ACME_ZONE
    denials = ("read-only", "wrong-scope")
    cannot = {
        "foreign": "acme-dns is the only server of a registration's fulldomain: no one "
                   "else's value can sit there",
        "delete": "acme-dns has no delete: a value stays until the registration's next two "
                  "updates replace it (the writer says so once and removes nothing)",
    }

    def __init__(self, lab: Lab, tmp: Path) -> None:
        super().__init__(lab, tmp)
        self.acme = AcmeDnsEmulator(ACME_DOMAIN, ACME_ZONE, ZoneBackend(lab.credentials)).start()
        self.file = tmp / "acmedns.json"

    def _register(self, domain: str) -> dict[str, str]:
        register(self.acme.url, str(self.file), [domain], [], say=lambda *_: None)
        return json.loads(self.file.read_text())[domain]

    def _load(self, entries: dict[str, dict[str, str]]) -> Writer:
        path = self.tmp / f"acmedns-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(entries))
        path.chmod(0o600)
        return load(acmedns_ini(self.tmp, self.acme, path, name=f"{path.stem}.ini"))

    def name(self, domain: str) -> str:
        return self._register(domain)["fulldomain"]

    def where(self, name: str) -> str:
        """The domain whose registration ``name`` is (the credentials are per registration)."""
        entries = json.loads(self.file.read_text())
        return next(domain for domain, entry in entries.items() if entry["fulldomain"] == name)

    def writer(self) -> Writer:
        return self._load(json.loads(self.file.read_text()))

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        entries = json.loads(self.file.read_text())
        for entry in entries.values():
            if entry["fulldomain"] == second:
                entry["password"] = "p" * 40  # acme-dns refuses this registration's update
        return self._load(entries), lambda: None

    def denied(self, how: str) -> tuple[Writer, str]:
        entries = json.loads(self.file.read_text())
        if how == "read-only":
            secret = "w" * 40
            for entry in entries.values():
                entry["password"] = secret
        else:
            other = self._register(f"other-{time.monotonic_ns()}.{ZONE}")
            secret = other["password"]
            for entry in entries.values():  # every other registration: other's credentials
                entry.update(username=other["username"], password=secret)
        return self._load(entries), secret

    def scoped_home(self, domain: str) -> tuple[Writer, str, str]:
        home = f"home.{domain}"
        name = self.name(home)
        return self._load({home: json.loads(self.file.read_text())[home]}), ACME_ZONE, name

    def plant(self, name: str, value: str, add: bool = True) -> None:
        raise AssertionError(self.cannot["foreign"])

    def removed(self, writer: Writer, name: str, ours: set[str], left: set[str]) -> None:
        assert not left, self.cannot["foreign"]
        assert ours <= self.lab.txt(self.lab.primary, name), "acme-dns cannot delete"
        self.rolled_out(name)

    def rolled_out(self, name: str) -> None:
        """acme-dns's alternative to delete: the registration's next two updates replace
        whatever it served."""
        newer = {value("next-update-1"), value("next-update-2")}
        self.writer().add(self.zone, {name: newer}, 60)
        assert self.served(name, newer) == newer

    def close(self) -> None:
        self.acme.stop()


#: every writer under the contract
CASES: dict[str, type[Case]] = {c.kind: c for c in (RFC2136, Cloudflare, Route53, Azure,
                                                    Lexicon, Exec, AcmeDns)}


def _ini_value(path: Path, key: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(key + " ="):
            return line.split("=", 1)[1].strip()
    raise KeyError(key)


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, lab: Lab, tmp_path: Path) -> Iterator[Case]:
    made = CASES[request.param](lab, tmp_path)
    yield made
    made.close()


def test_apex_and_wildcard_values_beside_a_foreign_value(case: Case, fresh_name: str) -> None:
    contract.apex_and_wildcard_values_beside_a_foreign_value(case, fresh_name)


def test_remove_takes_only_ours_and_is_idempotent(case: Case, fresh_name: str) -> None:
    contract.remove_takes_only_ours_and_is_idempotent(case, fresh_name)


def test_an_add_failing_at_the_second_name_leaves_nothing(case: Case, fresh_name: str
                                                          ) -> None:
    contract.an_add_failing_at_the_second_name_leaves_nothing(case, fresh_name)


def test_two_runs_at_one_name_both_succeed_and_both_clean_up(case: Case, fresh_name: str
                                                             ) -> None:
    contract.two_runs_at_one_name_both_succeed_and_both_clean_up(case, fresh_name)


DENIALS = [pytest.param(kind, how, id=f"{kind}-{how}")
           for kind, cls in sorted(CASES.items()) for how in cls.denials]


@pytest.mark.parametrize(("kind", "how"), DENIALS)
def test_the_probe_of_a_credential_without_the_right(kind: str, how: str, lab: Lab,
                                                     tmp_path: Path, fresh_name: str) -> None:
    case = CASES[kind](lab, tmp_path)
    try:
        contract.the_probe_of_a_credential_without_the_right(case, how, fresh_name)
    finally:
        case.close()


@pytest.mark.parametrize("kind", [pytest.param(kind, id=f"{kind}-wrong-scope")
                                  for kind, cls in sorted(CASES.items())
                                  if "wrong-scope" in cls.denials])
def test_the_wrong_scope_credential_passes_the_probe_where_it_is_scoped(
        kind: str, lab: Lab, tmp_path: Path, fresh_name: str) -> None:
    case = CASES[kind](lab, tmp_path)
    try:
        writer, zone, name = case.scoped_home(fresh_name)
        writer.probe(zone, name)
        assert case.served(name, set(), seconds=3) == set()
    finally:
        case.close()


#: the writers that call a provider's API through its SDK
API_WRITERS = ["azure", "cloudflare", "route53"]


@pytest.mark.parametrize("kind", API_WRITERS)
def test_a_limited_then_failing_call_is_retried_each_time_as_an_event(
        kind: str, lab: Lab, tmp_path: Path, fresh_name: str) -> None:
    case = CASES[kind](lab, tmp_path)
    try:
        name = f"_acme-challenge.{fresh_name}"
        writer = case.writer()
        writer.events = Events()
        case.limit_next()
        writer.add(ZONE, {name: {"after-retries"}}, 60)
        assert case.served(name, {"after-retries"}) == {"after-retries"}
        assert [e["reason"] for e in writer.events.retries] == ["HTTP 429", "HTTP 503"]
        assert [e["attempt"] for e in writer.events.retries] == [1, 2]
        assert {e["writer"] for e in writer.events.retries} == {writer.label}
        writer.remove(ZONE, {name: {"after-retries"}})
        assert case.served(name, set()) == set()
    finally:
        case.close()


# -- the contract's pure parts: every writer has a case, and its declaration is what the tree
# -- says of it (the docs, the README, the extras)

@pytest.mark.parametrize("kind", sorted(registry.every_kind()))
def test_a_writers_declaration_is_what_the_docs_readme_and_extras_say(kind: str) -> None:
    assert contract.declaration_problems(registry.every_kind()[kind]) == []


def test_every_writer_kind_has_a_case_and_every_case_a_writer() -> None:
    assert contract.cases_problems(CASES) == []


def test_all_is_every_writers_extra_and_doh() -> None:
    found = contract.extras(contract.TOP)
    declared = set().union(*(set(kind.cls.extra) for kind in registry.every_kind().values()
                             if kind.cls))
    assert found["all"] == declared | found["doh"]
