"""The writer contract as parts any test can run: the base of a writer's case (`Case`), each
clause of the contract as a function of a case, and the check of a writer's declaration
against the tree (its docs, the README, setup.cfg's extras). tests/lab/test_writer_contract.py
runs them for every writer; tests/lab/test_adding_a_writer.py for a throwaway one.
"""

from __future__ import annotations

import configparser
import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from configobj import ConfigObj
from labkit import Lab, eventually, nsupdate

from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import Writer, registry, writers_from_credentials

TOP = Path(__file__).resolve().parents[2]

ZONE = "autopilot.test"
FOREIGN = "someone-elses-value"
OTHER_ZONE = "example.test"  # where each wrong-scope credential may write (the lab's
#                              otherzone-key: LAB_OTHER_ZONE)


def value(tag: str) -> str:
    """A value shaped as the CA's (43 characters of base64url), which acme-dns insists on."""
    return (tag + "-" * 43)[:43]


def load(path: Path) -> Writer:
    """The one writer a credentials file configures, read as the plugin reads it."""
    conf = ConfigObj(str(path), interpolation=False)
    [writer] = writers_from_credentials(conf, str(path)).writers
    return writer


def write_ini(path: Path, keys: dict[str, object]) -> Path:
    path.write_text("".join(f"{k} = {v}\n" for k, v in keys.items()))
    path.chmod(0o600)
    return path


class Case:
    """One writer under the contract: how to build it, plant a foreign value, and read what
    the zone serves."""

    kind = ""
    #: the zone the writer is handed (its names lie in it)
    zone = ZONE
    #: the credentials the probe must refuse (each built by `denied`): "read-only" (may read,
    #: not write) and, where the provider scopes credentials, "wrong-scope" (may write, but
    #: only in OTHER_ZONE, another resource group or another registration)
    denials: tuple[str, ...] = ("read-only",)
    #: contract clauses the provider cannot keep by design: clause -> why. "foreign": no one
    #: else's value can sit at the writer's names; "delete": values cannot be removed
    cannot: dict[str, str] = {}
    #: the failing add's second name lies outside the zone (the provider refuses it);
    #: otherwise `failing_at` makes the emulator refuse it
    refused_outside_the_zone = False

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab, self.tmp = lab, tmp

    def name(self, domain: str) -> str:
        """The name the writer writes at for ``domain``'s challenge."""
        return f"_acme-challenge.{domain}"

    def writer(self) -> Writer:
        raise NotImplementedError

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        """A writer whose add is refused at ``second``, and how to undo the refusal."""
        raise NotImplementedError

    def denied(self, how: str) -> tuple[Writer, str]:
        """A writer whose credential lacks a right (``how``), and its secret."""
        raise NotImplementedError

    def scoped_home(self, domain: str) -> tuple[Writer, str, str]:
        """The wrong-scope credential's writer where its scope lies, with the zone and name
        to probe there: proof the credential is scoped, not merely broken."""
        return (self.denied("wrong-scope")[0], OTHER_ZONE,
                "_acme-challenge." + domain.replace(ZONE, OTHER_ZONE))

    def where(self, name: str) -> str:
        """How the writer's messages name the place ``name`` is written in."""
        return self.zone

    def removed(self, writer: Writer, name: str, ours: set[str], left: set[str]) -> None:
        """After ``writer`` removed ``ours``: only ``left`` is served at ``name``."""
        assert self.served(name, left) == left

    def rolled_out(self, name: str) -> None:
        """For a case that cannot delete: how its values leave ``name`` instead."""
        raise NotImplementedError(f"{self.kind} deletes: nothing rolls out")

    def plant(self, name: str, value: str, add: bool = True) -> None:
        nsupdate(self.lab, ZONE, name, value, add=add)

    def served(self, name: str, expected: set[str], seconds: float = 15) -> set[str]:
        """What the primary serves at ``name``, once it is ``expected``."""
        eventually(lambda: self.lab.txt(self.lab.primary, name) == expected,
                   lambda: f"the primary serving {sorted(expected)} at {name}, not "
                   f"{sorted(self.lab.txt(self.lab.primary, name))}", seconds)
        return self.lab.txt(self.lab.primary, name)

    def limit_next(self) -> None:
        """Make the provider's API limit the writer's next call, then fail the one after."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Events:
    """The run's event log, as a writer reports to it: each retry."""

    def __init__(self) -> None:
        self.retries: list[dict] = []

    def emit(self, step: str, outcome: str, *args: object, **fields: object) -> None:
        assert (step, outcome) == ("retry", "retrying"), (step, outcome)
        self.retries.append(fields)


@contextlib.contextmanager
def beside_foreign(case: Case, name: str) -> Iterator[set[str]]:
    """Someone else's value planted at ``name`` for the block, where the provider can hold
    one (yields it, or nothing): ours must be written beside it and removed without it."""
    others = set() if "foreign" in case.cannot else {FOREIGN}
    for other in others:
        case.plant(name, other)
    try:
        yield others
    finally:
        for other in others:
            case.plant(name, other, add=False)


def apex_and_wildcard_values_beside_a_foreign_value(case: Case, fresh_name: str) -> None:
    name = case.name(fresh_name)
    ours = {value("apex-value"), value("wildcard-value")}
    with beside_foreign(case, name) as others:
        writer = case.writer()
        writer.add(case.zone, {name: ours}, 60)
        assert case.served(name, ours | others) == ours | others
        writer.remove(case.zone, {name: ours})
        case.removed(writer, name, ours, others)


def remove_takes_only_ours_and_is_idempotent(case: Case, fresh_name: str) -> None:
    name = case.name(fresh_name)
    ours = {value("only-once")}
    with beside_foreign(case, name) as others:
        writer = case.writer()
        writer.add(case.zone, {name: ours}, 60)
        assert case.served(name, ours | others) == ours | others
        writer.remove(case.zone, {name: ours})
        writer.remove(case.zone, {name: ours})  # gone already: no error
        writer.remove(case.zone, {name: {value("never-written")}})  # never there: no error
        case.removed(writer, name, ours, others)


def an_add_failing_at_the_second_name_leaves_nothing(case: Case, fresh_name: str
                                                          ) -> None:
    first = case.name(f"a.{fresh_name}")
    second = (f"_acme-challenge.{fresh_name.split('.')[0]}.elsewhere.invalid"
              if case.refused_outside_the_zone else case.name(f"b.{fresh_name}"))
    writer, undo = case.failing_at(first, second)
    try:
        with pytest.raises(AutopilotError) as failed:
            writer.add(case.zone, {first: {value("first-value")},
                                   second: {value("second-value")}}, 60)
    finally:
        undo()
    assert str(failed.value).startswith("dns-autopilot [")
    if "delete" in case.cannot:
        # a value written before the refusal cannot be taken back: the error must not claim
        # that nothing was left, and the next updates roll it out
        assert not failed.value.left_nothing, failed.value
        case.rolled_out(first)
    else:
        assert case.served(first, set()) == set()
    if second.endswith(case.zone):
        assert case.served(second, set()) == set()


def two_runs_at_one_name_both_succeed_and_both_clean_up(case: Case, fresh_name: str
                                                             ) -> None:
    name = case.name(fresh_name)
    runs = {value("run-one"): case.writer(), value("run-two"): case.writer()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda item: item[1].add(case.zone, {name: {item[0]}}, 60), runs.items()))
    assert case.served(name, set(runs)) == set(runs)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda item: item[1].remove(case.zone, {name: {item[0]}}), runs.items()))
    case.removed(runs[value("run-one")], name, set(runs), set())


def the_probe_of_a_credential_without_the_right(case: Case, how: str, fresh_name: str
                                                ) -> None:
    """The probe of a credential lacking a right (``how``) is permission-denied, naming the
    writer and where the right is missing, without the secret; nothing is left written."""
    name = case.name(fresh_name)
    writer, secret = case.denied(how)
    with pytest.raises(AutopilotError) as refused:
        writer.probe(case.zone, name)
    assert refused.value.code == "permission-denied", refused.value
    assert refused.value.problem.startswith(writer.label) or writer.label in str(
        refused.value), refused.value
    assert refused.value.fix
    where = case.where(name)  # the zone (or its provider's id) the right is missing in
    assert where in refused.value.problem + refused.value.fix, refused.value
    assert secret not in str(refused.value) + refused.value.fix
    assert case.served(name, set(), seconds=3) == set()


# -- the declaration of each writer, against the tree -------------------------------------------

def _requirements(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip()}


def extras(top: Path) -> dict[str, set[str]]:
    """setup.cfg's extras: name -> its requirements, as written."""
    parser = configparser.ConfigParser()
    parser.read(top / "setup.cfg")
    return {name: _requirements(value)
            for name, value in parser["options.extras_require"].items()}


def declaration_problems(kind: registry.Kind, top: Path = TOP) -> list[str]:
    """What the tree below ``top`` does not say of writer ``kind`` as it declares itself:
    its docs page, its key table in docs/options.md (its ``KEYS``, row for row), the README's
    link to its page, its extra (and its place in ``all``) in setup.cfg."""
    cls, name, problems = kind.cls, kind.name, []
    assert cls is not None, f"{name}'s SDK is not installed here"
    if not cls.title or not cls.page or not cls.KEYS:
        problems.append(f"{name} declares no title, page or KEYS")
    if not (top / "docs" / f"{cls.page}.md").is_file():
        problems.append(f"docs/{cls.page}.md does not exist: write {name}'s page")
    options = (top / "docs" / "options.md").read_text()
    rows = re.findall(rf"^\| `dns_autopilot_{name}_[a-z0-9_]+` \|.*\|$", options, re.M)
    wanted = [key.row(name) for key in cls.KEYS]
    if rows != wanted:
        problems.append(f"docs/options.md's key table of {name} is not its KEYS; its rows: "
                        + " / ".join(wanted))
    if f"(docs/{cls.page}.md" not in (top / "README.md").read_text():
        problems.append(f"README.md does not link {name}'s page (docs/{cls.page}.md)")
    found = extras(top)
    if cls.extra and found.get(name) != set(cls.extra):
        problems.append(f"setup.cfg's extra [{name}] is not {sorted(cls.extra)}")
    if not set(cls.extra) <= found.get("all", set()):
        problems.append(f"setup.cfg's extra [all] lacks {name}'s {sorted(cls.extra)}")
    if not cls.extra and name in found:
        problems.append(f"setup.cfg has an extra [{name}] the writer does not declare")
    return problems




def cases_problems(cases: Mapping[str, type[Case]]) -> list[str]:
    """Writer kinds without a case, and cases without a writer kind."""
    kinds = set(registry.every_kind())
    return ([f"{kind} has no case" for kind in sorted(kinds - set(cases))]
            + [f"the case {kind} is no writer's" for kind in sorted(set(cases) - kinds)])
