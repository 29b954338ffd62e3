"""Adding a writer is what docs/architecture.md says, and nothing more: a throwaway writer
("memo": TXT values kept in a JSON file) gets its module (written to a directory the writers
package also reads), its docs (its page, its key table, the README's link: in a copy of the
tree) and one contract case, and nothing else. It is then registered, validated from its
declared keys, listed wherever the package lists writers, and passes the writer contract's
pure parts (its clauses, on the JSON file instead of a provider, and the declaration checks).

No lab is needed: the memo provider is the JSON file.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import writer_contract as contract
from configobj import ConfigObj

from certbot_dns_autopilot import credentials, scrub, writers
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers import Writer, registry, writers_from_credentials

ZONE = contract.ZONE
TOKEN = "memo-token-that-must-never-be-shown"

#: The whole writer, as a contributor writes it (the module's name is its kind).
MODULE = '''
"""The memo writer: TXT values in a JSON file (the store), for a test of what adding a
writer takes."""

from __future__ import annotations

import json

from certbot_dns_autopilot import names
from certbot_dns_autopilot.codes import Code
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.writers.schema import Key, Shape
from certbot_dns_autopilot.writers.writer import Writer


class MemoWriter(Writer):
    """Keeps the values of one zone in a JSON file; a read-only token may not change it."""

    title = "Memo"
    page = "providers/memo"
    KEYS = (
        Key("store", required=True, help="the JSON file holding the values"),
        Key("token", required=True, secret=True, help="the store's token"),
        Key("zone", required=True, help="the zone it serves",
            shape=Shape("a zone", lambda text: "." in text, "give the zone's name")),
        Key("mode", default="`read-write`", help="`read-write` or `read-only`",
            shape=Shape("read-write or read-only", ("read-write", "read-only").__contains__,
                        "set {key} = read-write or read-only")),
    )

    def __init__(self, store, zone, read_only, context=None):
        super().__init__(context)
        self.store, self.zone, self.read_only = store, zone, read_only
        self.label = f"memo store {store}" + (" (read-only)" if read_only else "")

    @classmethod
    def from_credentials(cls, keys, context=None):
        settings = cls.settings(keys)
        return cls(settings["store"], names.normalize(settings["zone"]),
                   settings["mode"] == "read-only", context)

    def _change(self, zone, name, change):
        with self.locks.held(f"memo-{zone}", f"{self.label} in zone {zone}"):
            with open(self.store) as file:
                held = json.load(file)
            if self.read_only or name in held["refused"]:
                raise AutopilotError(Code.PERMISSION_DENIED, f"{self.label} may not change "
                                     f"{name}", f"give the token the right to write in {zone}")
            held["names"][name] = sorted(change(set(held["names"].get(name, []))))
            with open(self.store, "w") as file:
                json.dump(held, file)

    def find_zone(self, name):
        return self.zone

    def add(self, zone, records, ttl):
        self.add_each(zone, records, lambda name, value: self._change(
            zone, name, lambda held: held | {value}))

    def remove(self, zone, records):
        for name, values in sorted(records.items()):
            self._change(zone, name, lambda held, v=values: held - set(v))

    def values(self, zone, name):
        with open(self.store) as file:
            return set(json.load(file)["names"].get(name, []))
'''
PAGE = "# Memo\n\nA throwaway writer: its keys are in the options page.\n"
TABLE = textwrap.dedent("""
    ## Memo

    | key | default | meaning |
    | --- | --- | --- |
    | `dns_autopilot_memo_store` | (required) | the JSON file holding the values |
    | `dns_autopilot_memo_token` | (required) | the store's token |
    | `dns_autopilot_memo_zone` | (required) | the zone it serves |
    | `dns_autopilot_memo_mode` | `read-write` | `read-write` or `read-only` |
    """)


@pytest.fixture
def memo(tmp_path: Path) -> Iterator[type[Writer]]:
    """The memo module, in a directory the writers package reads besides its own."""
    where = tmp_path / "writers"
    where.mkdir()
    (where / "memo.py").write_text(MODULE)
    writers.__path__.append(str(where))
    try:
        found = registry.kind("memo")
        assert found is not None and found.cls is not None
        yield found.cls
    finally:
        writers.__path__.remove(str(where))
        sys.modules.pop("certbot_dns_autopilot.writers.memo", None)


def ini(tmp_path: Path, held: Path, **keys: str | None) -> Path:
    """A credentials file of the memo writer: its store ``held``, unless ``keys`` say else
    (None: the key left out)."""
    values = {"store": str(held), "token": TOKEN, "zone": ZONE, **keys}
    path = tmp_path / f"memo-{len(list(tmp_path.glob('memo-*.ini')))}.ini"
    path.write_text("".join(f"dns_autopilot_memo_{k} = {v}\n" for k, v in values.items()
                            if v is not None))
    path.chmod(0o600)
    return path


def store(tmp_path: Path) -> Path:
    path = tmp_path / "store.json"
    if not path.exists():
        path.write_text(json.dumps({"names": {}, "refused": []}))
    return path


def refused(path: Path, message: str = "") -> AutopilotError:
    with pytest.raises(AutopilotError) as caught:
        credentials.load(str(path))
    assert message in str(caught.value)
    assert TOKEN not in str(caught.value)
    return caught.value


# -- registered and listed -------------------------------------------------------------------

def test_its_module_alone_registers_it_and_lists_it_where_writers_are_listed(
        memo: type[Writer], tmp_path: Path) -> None:
    assert memo.kind == "memo" and "memo" in registry.every_kind()
    assert registry.kinds(["dns_autopilot_memo_store"]) == ["memo"]
    _, found, _ = credentials.load(str(ini(tmp_path, store(tmp_path))))
    [writer] = found.writers
    assert isinstance(writer, memo) and writer.label == f"memo store {store(tmp_path)}"
    # The messages that name every writer name it too.
    empty = tmp_path / "empty.ini"
    empty.write_text("")
    empty.chmod(0o600)
    assert "dns_autopilot_memo_store (memo)" in refused(empty, "configures no record writer").fix
    stray = tmp_path / "stray.ini"
    stray.write_text("dns_autopilot_nosuch_key = x\n")
    stray.chmod(0o600)
    assert "memo" in refused(stray, "not a dns-autopilot key").fix
    certbots = tmp_path / "certbots.ini"  # a key of a certbot plugin of that name
    certbots.write_text(f"dns_memo_token = {TOKEN}\n")
    certbots.chmod(0o600)
    assert "rename it to dns_autopilot_memo_token" in refused(certbots).fix


# -- validated from its declared keys ---------------------------------------------------------

@pytest.mark.parametrize(("keys", "named", "fix"), [
    ({"store": None}, "does not set dns_autopilot_memo_store", "the JSON file"),
    ({"stor": "x"}, "dns_autopilot_memo_stor (probably dns_autopilot_memo_store)", "rename"),
    ({"mode": "maybe"}, "dns_autopilot_memo_mode = 'maybe'",
     "set dns_autopilot_memo_mode = read-write or read-only"),
    ({"zone": "localhost"}, "is not a zone", "the zone's name"),
    ({"token": "short"}, "dns_autopilot_memo_token", "at least 6 characters"),
], ids=["required", "misspelt", "shape", "another-shape", "short-secret"])
def test_its_keys_are_checked_by_its_declaration(memo: type[Writer], tmp_path: Path,
                                                 keys: dict, named: str, fix: str) -> None:
    error = refused(ini(tmp_path, store(tmp_path), **keys), named)
    assert error.code == "bad-config" and fix in error.fix


def test_its_declared_secret_is_kept_out_of_every_log(memo: type[Writer], tmp_path: Path
                                                      ) -> None:
    credentials.load(str(ini(tmp_path, store(tmp_path))))
    assert TOKEN not in scrub.scrub(f"an SDK's debug line with {TOKEN}")


# -- documented: the contract's declaration check, on a copy of the tree ----------------------

def test_its_docs_are_its_page_its_key_table_and_the_readmes_link(memo: type[Writer],
                                                                   tmp_path: Path) -> None:
    top = tmp_path / "tree"
    shutil.copytree(contract.TOP / "docs", top / "docs",
                    ignore=shutil.ignore_patterns("_build"))
    for name in ("README.md", "setup.cfg"):
        shutil.copy(contract.TOP / name, top / name)
    kind = registry.every_kind()["memo"]
    missing = contract.declaration_problems(kind, top)
    assert [p.split(" ")[0] for p in missing] == ["docs/providers/memo.md", "docs/options.md's",
                                                  "README.md"], missing
    (top / "docs" / "providers" / "memo.md").write_text(PAGE)
    with (top / "docs" / "options.md").open("a") as options:
        options.write(TABLE)
    with (top / "README.md").open("a") as readme:
        readme.write("\nKeep values in a file with the [memo writer](docs/providers/memo.md).\n")
    assert contract.declaration_problems(kind, top) == []


# -- the contract's clauses, with a case of its own --------------------------------------------

class Memo(contract.Case):
    """The memo provider is its JSON store: what it holds is what it serves."""

    kind = "memo"

    def writer(self, **keys: str) -> Writer:
        path = ini(self.tmp, store(self.tmp), **keys)
        [writer] = writers_from_credentials(ConfigObj(str(path)), str(path)).writers
        return writer

    def _store(self, change: Callable[[dict], None]) -> None:
        held = json.loads(store(self.tmp).read_text())
        change(held)
        store(self.tmp).write_text(json.dumps(held))

    def failing_at(self, first: str, second: str) -> tuple[Writer, Callable[[], None]]:
        self._store(lambda held: held["refused"].append(second))
        return self.writer(), lambda: self._store(lambda held: held["refused"].clear())

    def denied(self, how: str) -> tuple[Writer, str]:
        return self.writer(mode="read-only"), TOKEN

    def plant(self, name: str, value: str, add: bool = True) -> None:
        def change(held: dict) -> None:
            values = set(held["names"].get(name, []))
            held["names"][name] = sorted(values | {value} if add else values - {value})
        self._store(change)

    def served(self, name: str, expected: set[str], seconds: float = 0) -> set[str]:
        return set(json.loads(store(self.tmp).read_text())["names"].get(name, []))


CLAUSES = [contract.apex_and_wildcard_values_beside_a_foreign_value,
           contract.remove_takes_only_ours_and_is_idempotent,
           contract.an_add_failing_at_the_second_name_leaves_nothing,
           contract.two_runs_at_one_name_both_succeed_and_both_clean_up]


@pytest.mark.parametrize("clause", CLAUSES, ids=lambda clause: clause.__name__)
def test_it_keeps_the_contracts_clauses(memo: type[Writer], tmp_path: Path, fresh_name: str,
                                         clause: Callable[[contract.Case, str], None]) -> None:
    clause(Memo(None, tmp_path), fresh_name)  # type: ignore[arg-type]  # no lab is asked


def test_it_keeps_the_probe_clause(memo: type[Writer], tmp_path: Path, fresh_name: str
                                   ) -> None:
    contract.the_probe_of_a_credential_without_the_right(Memo(None, tmp_path),  # type: ignore
                                                         "read-only", fresh_name)


def test_its_case_is_what_the_contract_asks_of_every_writer(memo: type[Writer]) -> None:
    assert "memo has no case" in contract.cases_problems({})
    assert not [p for p in contract.cases_problems({"memo": Memo}) if "memo" in p]
