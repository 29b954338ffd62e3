"""The fenced blocks of the user docs, and what each one is for.

A block's purpose is the HTML comment on the line right before its fence (invisible on
GitHub and in the Sphinx site):

    <!-- doc-test: run -->              shell lines a reader pastes, as root; run by
                                        test_docs_run.py in a throwaway root against the lab
    <!-- doc-test: file PATH -->        the contents of the file PATH; written there, then
    <!-- doc-test: append PATH -->      checked for what it is (cron entries run under cron's
                                        environment, systemd units verified and run, BIND
                                        configuration checked)
    <!-- doc-test: ci -->               commands CI itself runs (.ci/run)
    <!-- doc-test: illustrative -->     not run: output, a synopsis, a fragment of a larger
                                        file; a reason may follow the word
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
#: the pages whose blocks a reader copies: each fenced block in them carries a marker
PAGES = ("README.md", "docs/install.md", "docs/quickstart.md", "docs/migration.md",
         "docs/rollback.md", "docs/uninstall.md", "docs/hooks.md", "docs/doctor.md",
         *sorted(p.relative_to(TOP).as_posix() for p in (TOP / "docs" / "providers").glob("*.md")))
KINDS = ("run", "file", "append", "ci", "illustrative")

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MARKER = re.compile(r"^ *<!-- doc-test: (?P<kind>[a-z]+):?(?: (?P<arg>.*?))? -->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its info string, its text (dedented), its marker."""

    page: str
    line: int  # of the opening fence, 1-based
    info: str
    text: str
    kind: str | None  # None: no marker line before the fence
    arg: str  # the file's path, or the reason given after "illustrative"

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.kind or 'unmarked'} {self.arg})".rstrip()


def blocks(page: str) -> list[Block]:
    """Every fenced block of ``page`` (a path relative to the top of the tree), in order."""
    lines = (TOP / page).read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        end = index + 1
        while end < len(lines) and not re.match(
                rf"^ *{re.escape(fence[0])}{{{len(fence)},}} *$", lines[end]):
            end += 1
        body = "\n".join(line[indent:] if line[:indent].strip() == "" else line
                         for line in lines[index + 1:end])
        marker = MARKER.match(lines[index - 1]) if index else None
        found.append(Block(page, index + 1, opening["info"].strip(), body + "\n",
                           marker["kind"] if marker else None,
                           (marker["arg"] or "") if marker else ""))
        index = end + 1
    return found

