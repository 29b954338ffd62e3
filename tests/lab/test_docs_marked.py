"""Every fenced block of the pages a reader copies from says what it is (docblocks.py), and
every page with blocks to run is run by test_docs_run.py. No lab needed."""

from __future__ import annotations

import re

import docblocks
import pytest

TOP = docblocks.TOP


@pytest.mark.parametrize("page", docblocks.PAGES)
def test_every_block_is_marked(page: str) -> None:
    unmarked = [str(b) for b in docblocks.blocks(page) if b.kind not in docblocks.KINDS]
    assert not unmarked, (
        f"{page}: a block without a known <!-- doc-test: … --> line right before its fence "
        f"(run, file PATH, append PATH, ci, illustrative): {unmarked}")


@pytest.mark.parametrize("page", docblocks.PAGES)
def test_every_marker_is_right_before_a_fence(page: str) -> None:
    lines = (TOP / page).read_text().splitlines()
    stray = [n for n, line in enumerate(lines, 1) if docblocks.MARKER.match(line)
             and (n == len(lines) or not docblocks.FENCE.match(lines[n]))]
    assert not stray, f"{page}: marker lines not followed by a fence: {stray}"


@pytest.mark.parametrize("page", docblocks.PAGES)
def test_blocks_to_run_are_what_a_root_shell_takes(page: str) -> None:
    for block in docblocks.blocks(page):
        if block.kind in ("file", "append"):
            assert block.arg.startswith("/"), f"{block}: the file's absolute path"
        if block.kind != "run":
            continue
        assert block.info == "sh", f"{block}: a block to run is ```sh"
        for line in block.text.splitlines():
            assert not line.startswith(("$ ", "# ")), f"{block}: a prompt is not a command"
            assert not re.match(r"^\s*sudo ", line), f"{block}: the docs run as root, no sudo"


def test_ci_blocks_are_what_ci_runs() -> None:
    ci = {line.strip() for line in (TOP / ".ci" / "run").read_text().splitlines()}
    for page in docblocks.PAGES:
        for block in docblocks.blocks(page):
            if block.kind == "ci":
                commands = {line.split("#", 1)[0].strip() for line in block.text.splitlines()}
                assert commands - {""} <= ci, f"{block}: .ci/run does not run {commands - ci}"


def test_every_page_with_commands_is_run() -> None:
    source = (TOP / "tests" / "lab" / "test_docs_run.py").read_text()
    run = set(re.findall(r'(?:run_page|from_scratch)\(\s*machine,\s*(?:lab,\s*)?"([^"]+)"',
                         source))
    to_run = {page for page in docblocks.PAGES if any(
        b.kind in ("run", "file", "append") for b in docblocks.blocks(page))}
    assert to_run == run, f"pages nobody runs: {to_run - run}; not docs pages: {run - to_run}"
