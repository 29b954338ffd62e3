"""The newcomer path: README's two set-up commands, run by CI exactly as written."""

from __future__ import annotations

import re

import pytest
from release_paths import TOP

pytestmark = pytest.mark.release

COMMANDS = ["./lab/demo.sh", "./lab/test.sh"]


def _commands(lines):
    """Shell lines without comments and blank lines."""
    return [line.split("#", 1)[0].strip() for line in lines
            if line.split("#", 1)[0].strip()]


def test_readme_starts_with_the_two_commands():
    readme = (TOP / "README.md").read_text()
    block = re.search(r"^```[a-z]*\n(.*?)^```", readme, re.M | re.S)
    assert block, "README.md has no fenced block"
    assert _commands(block.group(1).splitlines()) == COMMANDS


def test_ci_runs_them_in_that_order():
    ci = (TOP / ".ci" / "run").read_text().splitlines()
    assert "set -euo pipefail" in ci
    commands = _commands(ci[1:])
    ran = [c for c in commands if c in COMMANDS]
    assert ran == COMMANDS, commands
    for command in COMMANDS:
        assert (TOP / command).stat().st_mode & 0o111, f"{command} is not executable"
