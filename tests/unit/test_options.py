"""Every option is defined once (options.OPTIONS): certbot's parser, doctor's and fleet's
map of saved options all come from it."""

from __future__ import annotations

import pytest
from certbot import errors

from certbot_dns_autopilot import options
from certbot_dns_autopilot.cli import doctor, fleet
from certbot_dns_autopilot.plugin.authenticator import Authenticator


def test_certbot_gets_every_option_with_its_default_and_help() -> None:
    added = {}
    Authenticator.add_parser_arguments(lambda name, **kw: added.setdefault(name, kw))
    assert list(added) == [o.name for o in options.OPTIONS]
    for option in options.OPTIONS:
        assert added[option.name]["default"] == option.default
        assert added[option.name]["help"] == option.help


def test_doctor_takes_the_options_marked_for_it_and_fleet_passes_them_on() -> None:
    doctor_flags = fleet._options(doctor._parser())
    for option in options.OPTIONS:
        assert (f"--{option.name}" in doctor_flags) == option.doctor, option.name
        assert fleet.SAVED_OPTIONS[option.dest] == (f"--{option.name}" if option.doctor
                                                    else None)


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
    with pytest.raises(errors.PluginError) as caught:
        options.BY_NAME[name].parse(saved)
    assert str(caught.value).startswith(f"--dns-autopilot-{name}: {saved!r}")
    assert fix in str(caught.value)
