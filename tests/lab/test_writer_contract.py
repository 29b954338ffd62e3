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
  secret.

Adding a writer: one `Case` subclass below and its line in `CASES`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from certbot.plugins.dns_common import CredentialsConfiguration
from conftest import Lab, lab_keys, nsupdate
from emulators.azure import AzureEmulator
from emulators.bind import ZoneBackend
from emulators.cloudflare import CloudflareEmulator
from emulators.route53 import Route53Emulator

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import Writer, writers_from_credentials

pytestmark = pytest.mark.lab

ZONE = "autopilot.test"
FOREIGN = "someone-elses-value"
GROUP, OTHER_GROUP = "rg-dns", "rg-web"  # Azure resource groups


def load(path: Path) -> Writer:
    """The one writer a credentials file configures, read as the plugin reads it."""
    creds = CredentialsConfiguration(str(path), lambda var: f"dns_autopilot_{var}")
    [writer] = writers_from_credentials(creds, str(path)).writers
    return writer


def write_ini(path: Path, keys: dict[str, object]) -> Path:
    path.write_text("".join(f"{k} = {v}\n" for k, v in keys.items()))
    path.chmod(0o600)
    return path


class Case:
    """One writer under the contract: how to build it, plant a foreign value, and read what
    the zone serves."""

    kind = ""
    #: what the probe must refuse: label -> credentials file (built by `denied`)
    denials: tuple[str, ...] = ("read-only",)
    #: the failing add's second name lies outside the zone (the provider refuses it);
    #: otherwise `failing_at` makes the emulator refuse it
    refused_outside_the_zone = False

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab, self.tmp = lab, tmp

    def writer(self) -> Writer:
        raise NotImplementedError

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        """A writer whose add is refused at ``second``, and how to undo the refusal."""
        raise NotImplementedError

    def denied(self, how: str) -> tuple[Writer, str]:
        """A writer whose credential lacks a right (``how``), and its secret."""
        raise NotImplementedError

    def plant(self, name: str, value: str, add: bool = True) -> None:
        nsupdate(self.lab, ZONE, name, value, add=add)

    def served(self, name: str, expected: set[str], seconds: float = 15) -> set[str]:
        """What the primary serves at ``name``, once it is ``expected`` (or the deadline)."""
        deadline = time.monotonic() + seconds
        while True:
            found = self.lab.txt(self.lab.primary, name)
            if found == expected or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def close(self) -> None:
        pass


class RFC2136(Case):
    kind = "rfc2136"
    refused_outside_the_zone = True

    def writer(self) -> Writer:
        return load(self.lab.credentials)

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        # One UPDATE per zone, applied whole or not at all: a name outside the zone makes
        # the server refuse the message (NOTZONE), the first name included.
        return self.writer(), lambda: None

    def denied(self, how: str) -> tuple[Writer, str]:
        path = Path(self.lab.env["LAB_CREDENTIALS_READONLY"])
        return load(path), _ini_value(path, "dns_autopilot_rfc2136_secret")


class Lexicon(Case):
    kind = "lexicon"
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
        path = Path(self.lab.env["LAB_CREDENTIALS_READONLY"])
        name = _ini_value(path, "dns_autopilot_rfc2136_name")
        secret = _ini_value(path, "dns_autopilot_rfc2136_secret")
        return load(self._ini("readonly.ini", name, secret)), secret

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        # lexicon writes name by name: a name outside the zone is refused after the first
        # was written, which the writer must take back.
        return self.writer(), lambda: None


class Exec(Case):
    kind = "exec"
    denials = ()  # the hooks hold whatever credential they use: nothing to probe apart

    AUTH = ('#!/bin/sh\nset -e\nn=$(($(cat "{count}" 2>/dev/null || echo 0) + 1)); '
            'echo $n >"{count}"\n'
            'if [ -n "{fail_at}" ] && [ "$n" = "{fail_at}" ]; then echo refused >&2; exit 3; fi\n'
            'nsupdate -y "hmac-sha512:{key}:{secret}" <<EOF\nserver {server}\n'
            'update add $DNS_AUTOPILOT_RECORD 60 TXT "$CERTBOT_VALIDATION"\nsend\nEOF\n')
    CLEANUP = ('#!/bin/sh\nnsupdate -y "hmac-sha512:{key}:{secret}" <<EOF\nserver {server}\n'
               'update delete $DNS_AUTOPILOT_RECORD TXT "$CERTBOT_VALIDATION"\nsend\nEOF\n')

    def _writer(self, fail_at: int | None = None) -> Writer:
        keys = lab_keys(self.lab)
        tmp = self.tmp / f"exec-{fail_at or 0}-{time.monotonic_ns()}"
        tmp.mkdir()
        fields = {"count": tmp / "calls", "server": self.lab.primary,
                  "key": keys["dns_autopilot_rfc2136_name"],
                  "secret": keys["dns_autopilot_rfc2136_secret"], "fail_at": fail_at or ""}
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
        return self._load("acme-no-change")

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
        self.az.add_group(OTHER_GROUP, "web.invalid")

    def _load(self, scope: str, role: str) -> tuple[Writer, str]:
        secret = f"s3cret-Azure~{time.monotonic_ns()}"
        principal = self.az.add_principal(secret, assignments=[(scope, role)])
        return load(write_ini(self.tmp / f"az-{time.monotonic_ns()}.ini", {
            "dns_autopilot_azure_subscription_id": self.az.subscription,
            "dns_autopilot_azure_resource_group": GROUP,
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


#: every writer under the contract (acme-dns writes only at its own registered names and
#: cannot delete: its scenarios are in test_acmedns, as far as acme-dns allows)
CASES: dict[str, type[Case]] = {c.kind: c for c in (RFC2136, Cloudflare, Route53, Azure,
                                                    Lexicon, Exec)}


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
    name = f"_acme-challenge.{fresh_name}"
    ours = {"apex-value-" + "a" * 32, "wildcard-value-" + "b" * 28}
    case.plant(name, FOREIGN)
    try:
        writer = case.writer()
        writer.add(ZONE, {name: ours}, 60)
        assert case.served(name, ours | {FOREIGN}) == ours | {FOREIGN}
        writer.remove(ZONE, {name: ours})
        assert case.served(name, {FOREIGN}) == {FOREIGN}
    finally:
        case.plant(name, FOREIGN, add=False)


def test_remove_takes_only_ours_and_is_idempotent(case: Case, fresh_name: str) -> None:
    name = f"_acme-challenge.{fresh_name}"
    case.plant(name, FOREIGN)
    try:
        writer = case.writer()
        writer.add(ZONE, {name: {"only-once"}}, 60)
        assert case.served(name, {"only-once", FOREIGN}) == {"only-once", FOREIGN}
        writer.remove(ZONE, {name: {"only-once"}})
        writer.remove(ZONE, {name: {"only-once"}})  # gone already: no error
        writer.remove(ZONE, {name: {"never-written"}})  # never there: no error either
        assert case.served(name, {FOREIGN}) == {FOREIGN}
    finally:
        case.plant(name, FOREIGN, add=False)


def test_an_add_failing_at_the_second_name_leaves_nothing(case: Case, fresh_name: str
                                                          ) -> None:
    first = f"_acme-challenge.a.{fresh_name}"
    second = (f"_acme-challenge.{fresh_name.split('.')[0]}.elsewhere.invalid"
              if case.refused_outside_the_zone else f"_acme-challenge.b.{fresh_name}")
    writer, undo = case.failing_at(first, second)
    try:
        with pytest.raises(AutopilotError) as failed:
            writer.add(ZONE, {first: {"first-value"}, second: {"second-value"}}, 60)
    finally:
        undo()
    assert str(failed.value).startswith("dns-autopilot [")
    assert case.served(first, set()) == set()
    if second.endswith(ZONE):
        assert case.served(second, set()) == set()


def test_two_runs_at_one_name_both_succeed_and_both_clean_up(case: Case, fresh_name: str
                                                             ) -> None:
    name = f"_acme-challenge.{fresh_name}"
    runs = {"run-one-" + "c" * 30: case.writer(), "run-two-" + "d" * 30: case.writer()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda item: item[1].add(ZONE, {name: {item[0]}}, 60), runs.items()))
    assert case.served(name, set(runs)) == set(runs)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda item: item[1].remove(ZONE, {name: {item[0]}}), runs.items()))
    assert case.served(name, set()) == set()


DENIALS = [pytest.param(kind, how, id=f"{kind}-{how}")
           for kind, cls in sorted(CASES.items()) for how in cls.denials]


@pytest.mark.parametrize(("kind", "how"), DENIALS)
def test_the_probe_of_a_credential_without_the_right(kind: str, how: str, lab: Lab,
                                                     tmp_path: Path, fresh_name: str) -> None:
    case = CASES[kind](lab, tmp_path)
    try:
        writer, secret = case.denied(how)
        name = f"_acme-challenge.{fresh_name}"
        with pytest.raises(AutopilotError) as refused:
            writer.probe(ZONE, name)
        assert refused.value.code == "permission-denied", refused.value
        assert refused.value.problem.startswith(writer.label) or writer.label in str(
            refused.value), refused.value
        assert refused.value.fix
        assert secret not in str(refused.value)
        assert case.served(name, set(), seconds=3) == set()
    finally:
        case.close()
