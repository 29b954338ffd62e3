"""Every option is defined once (options.OPTIONS): certbot's parser, doctor's and fleet's
map of saved options all come from it."""

from __future__ import annotations

import pytest

from certbot_dns_autopilot import options
from certbot_dns_autopilot.cli import main as cli_main
from certbot_dns_autopilot.errors import AutopilotError
from certbot_dns_autopilot.plugin.authenticator import Authenticator


def test_certbot_gets_every_option_with_its_default_and_help() -> None:
    added = {}
    Authenticator.add_parser_arguments(lambda name, **kw: added.setdefault(name, kw))
    assert list(added) == [o.name for o in options.OPTIONS]
    for option in options.OPTIONS:
        assert added[option.name]["default"] == option.default
        assert added[option.name]["help"] == option.help


def test_doctor_takes_the_options_marked_for_it() -> None:
    doctor_flags = {flag for action in cli_main.subcommand(cli_main.parser(), "doctor")._actions
                    for flag in action.option_strings}
    for option in options.OPTIONS:
        assert (f"--{option.name}" in doctor_flags) == option.doctor, option.name


@pytest.mark.parametrize(("name", "saved", "value"), [
    ("propagation-timeout", "120", 120),
    ("propagation-timeout", 0, 0),
    ("address-family", "IPv6", "ipv6"),
    ("address-family", None, "any"),
    ("public-check", "False", False),
    ("follow-cnames", True, True),
])
def test_a_saved_value_reads_back_as_the_option_takes_it(name, saved, value) -> None:
    assert options.BY_NAME[name].parse(saved) == value


@pytest.mark.parametrize(("name", "saved", "fix"), [
    ("propagation-timeout", "five", "give e.g. 300"),
    ("propagation-timeout", "-1", "give e.g. 300"),
    ("address-family", "ipv5", "any, ipv4 or ipv6"),
    ("remove-stale", "maybe", "true or false"),
])
def test_a_bad_saved_value_is_one_error_naming_the_option_and_the_fix(name, saved, fix) -> None:
    with pytest.raises(AutopilotError) as caught:
        options.BY_NAME[name].parse(saved)
    assert caught.value.code == "bad-config"
    assert caught.value.problem.startswith(f"--dns-autopilot-{name}: {saved!r}")
    assert fix in caught.value.fix


def test_each_option_is_spelt_once_per_surface() -> None:
    resolvers = options.BY_NAME["resolvers"].spellings()
    assert resolvers == {options.PLUGIN: "--dns-autopilot-resolvers",
                         options.DOCTOR: "--resolvers",
                         options.RENEWAL: "dns_autopilot_resolvers",
                         options.INI: "dns-autopilot-resolvers"}
    assert options.BY_NAME["remove-stale"].spellings()[options.DOCTOR] is None
    assert options.flag("remove-stale", options.DOCTOR) == "--dns-autopilot-remove-stale"
    assert options.flag("propagation-timeout", options.RENEWAL) == \
        "dns_autopilot_propagation_timeout"


def test_the_surface_reaches_worker_threads_and_ends_with_the_block() -> None:
    """The probes render messages in their pools' threads: they speak the entry point's
    language too."""
    from concurrent.futures import ThreadPoolExecutor

    with options.speaking(options.DOCTOR), ThreadPoolExecutor(2) as pool:
        assert list(pool.map(options.flag, ["address-family", "authoritative-check"])) == [
            "--address-family", "--dns-autopilot-authoritative-check"]
    assert options.flag("address-family") == "--dns-autopilot-address-family"
    with pytest.raises(ValueError):
        with options.speaking(options.RENEWAL):
            pass


def test_a_bad_value_names_the_option_as_the_user_gave_it() -> None:
    with options.speaking(options.DOCTOR), pytest.raises(AutopilotError) as caught:
        options.BY_NAME["address-family"].parse("ipv5")
    assert caught.value.problem.startswith("--address-family: 'ipv5'")


def test_no_message_spells_a_plugin_flag_by_hand() -> None:
    """Every --dns-autopilot-<option> the package prints comes from the options table, so
    it can be rendered for the surface the user is on."""
    import ast
    from pathlib import Path

    import certbot_dns_autopilot

    package = Path(certbot_dns_autopilot.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "options.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and "--dns-autopilot-" in node.value:
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert found == []


def test_the_docs_spelling_table_is_the_options_table() -> None:
    """docs/options.md's "How each option is spelt" rows are what `spellings` says."""
    import re
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "options.md").read_text()
    rows = {m[0]: m[1:] for m in re.findall(
        r"^\| `([a-z-]+)` \| `(--[a-z-]+)` \| (`--[a-z-]+`|\(none\)) \| `([a-z_]+)` \| "
        r"`([a-z-]+) = …` \|$", docs, re.M)}
    assert list(rows) == [o.name for o in options.OPTIONS]
    for option in options.OPTIONS:
        spelt = option.spellings()
        doctor = f"`{spelt[options.DOCTOR]}`" if spelt[options.DOCTOR] else "(none)"
        assert rows[option.name] == (spelt[options.PLUGIN], doctor, spelt[options.RENEWAL],
                                     spelt[options.INI]), option.name
