"""Hints and errors link to the published documentation, from one base URL."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

from certbot_dns_autopilot import links
from certbot_dns_autopilot.errors import AutopilotError

TOP = Path(__file__).resolve().parents[2]


def test_the_package_metadata_names_the_same_documentation() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(TOP / "setup.cfg")
    urls = dict(line.split(" = ", 1) for line in
                cfg["metadata"]["project_urls"].strip().splitlines())
    assert urls["Documentation"] == links.DOCS_URL
    assert all(url.startswith(links.DOCS_URL) for url in urls.values())


def test_an_error_ends_with_the_page_for_its_code() -> None:
    error = AutopilotError("caa-blocked", "no", "add a record")
    assert str(error).splitlines()[-1] == (
        "More: https://certbot-dns-autopilot.readthedocs.io/en/stable/troubleshooting.html"
        "#caa-blocked")


def test_no_message_points_into_the_repository() -> None:
    """A repository path (docs/x.md, README.md) means nothing where certbot runs."""
    for path in (TOP / "certbot_dns_autopilot").rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)}
        offending = [node.value for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and id(node) not in docstrings
                     and re.search(r"docs/[\w/-]+\.md|README\.md", node.value)]
        assert not offending, f"{path.name}: {offending}"


def test_every_code_has_a_troubleshooting_section() -> None:
    table = (TOP / "docs" / "diagnosis-codes.md").read_text()
    codes = re.findall(r"^\| `([a-z-]+)` \|", table, re.M)
    headings = set(re.findall(r"^### ([a-z-]+)$", (TOP / "docs" / "troubleshooting.md")
                              .read_text(), re.M))
    assert len(codes) > 10 and set(codes) <= headings, set(codes) - headings


def test_a_finding_ends_with_the_page_for_its_code() -> None:
    from certbot_dns_autopilot.preflight.findings import WARNING, Finding

    text = Finding("stale-record", WARNING, "x", "old", "ev", "remove it").text()
    assert text.splitlines()[-2:] == ["    Fix: remove it", "    More: " + links.code(
        "stale-record")]
