"""The documentation site builds without a warning and names every option and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from release_paths import DEV_BIN, TOP, plugin_options, run

pytestmark = pytest.mark.release

DOCS = TOP / "docs"


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    result = run(DEV_BIN / "sphinx-build", "-W", "--keep-going", "-q", "-b", "html",
                 "-d", out / ".doctrees", DOCS, out, timeout=300)
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_sphinx_build_has_no_warnings(html):
    for page in ("index", "install", "quickstart", "options", "migration", "waiter",
                 "diagnosis-codes", "providers/route53"):
        assert (html / f"{page}.html").exists(), page


def test_options_page_names_every_option(html):
    source = (DOCS / "options.md").read_text()
    built = (html / "options.html").read_text()
    for option in plugin_options():
        assert f"`{option}" in source, f"docs/options.md does not document {option}"
        assert option in built


def test_the_keys_common_to_every_writer_are_documented():
    """Each writer's own key table is its ``KEYS``, row for row: the writer contract's pure
    part checks it (tests/lab/test_writer_contract.py, `declaration_problems`)."""
    source = (DOCS / "options.md").read_text()
    for key in ("dns_autopilot_zones", "dns_autopilot_aliases"):
        assert f"`{key}`" in source


def test_index_links_every_page():
    """Every page is in a toctree: by name, or by a glob (``providers/*``: a writer's page
    needs no line of its own)."""
    import fnmatch

    entries = re.findall(r"^([\w/*.-]+)$", (DOCS / "index.md").read_text(), re.M)
    pages = sorted(p.relative_to(DOCS).with_suffix("").as_posix()
                   for p in DOCS.rglob("*.md") if "_build" not in p.parts)
    assert "providers/*" in entries
    for page in pages:
        if page != "index":
            assert any(fnmatch.fnmatchcase(page, entry) for entry in entries), \
                f"{page} not in a toctree"


def test_every_code_link_resolves_in_the_built_pages(html):
    """Hints and errors link to troubleshooting.html#<code> (certbot_dns_autopilot/links.py)."""
    from certbot_dns_autopilot import links

    built = (html / "troubleshooting.html").read_text()
    codes = re.findall(r"^\| `([a-z-]+)` \|", (DOCS / "diagnosis-codes.md").read_text(), re.M)
    assert len(codes) > 10
    for code in codes:
        assert links.code(code).startswith(links.DOCS_URL + "troubleshooting.html#")
        assert f'id="{code}"' in built, f"troubleshooting.html has no anchor #{code}"


def test_every_page_link_in_the_package_resolves(html):
    """Each links.page(name, anchor) the package calls names a built page and anchor."""
    calls = set()
    for path in (TOP / "certbot_dns_autopilot").rglob("*.py"):
        calls |= set(re.findall(r"""links\.page\(['"]([\w/-]+)['"](?:,\s*['"]([\w-]+)['"])?\)""",
                                path.read_text()))
    assert len(calls) >= 4, calls
    for name, anchor in calls:
        built = html / f"{name}.html"
        assert built.exists(), name
        if anchor:
            assert f'id="{anchor}"' in built.read_text(), f"{name}.html#{anchor}"


def test_the_codes_table_is_the_enumeration():
    """docs/diagnosis-codes.md lists exactly the codes of `codes.Code`, and
    docs/troubleshooting.md explains each under its own ``### <code>`` heading."""
    from certbot_dns_autopilot.codes import Code

    table = re.findall(r"^\| `([a-z-]+)` \|", (DOCS / "diagnosis-codes.md").read_text(), re.M)
    assert sorted(table) == sorted(c.value for c in Code)
    assert len(table) == len(set(table)), "a code is listed twice"
    sections = set(re.findall(r"^### ([a-z-]+)$", (DOCS / "troubleshooting.md").read_text(),
                              re.M))
    for code in Code:
        assert code.value in sections, f"docs/troubleshooting.md has no ### {code.value}"
        assert code.url.endswith(f"troubleshooting.html#{code.value}")
        assert code.severity in ("error", "warning") and code.meaning



def test_the_options_table_shows_each_options_default():
    """docs/options.md's row for each option (`options.OPTIONS`) shows its default."""
    from certbot_dns_autopilot.options import OPTIONS

    source = (DOCS / "options.md").read_text()
    for option in OPTIONS:
        [row] = re.findall(rf"^\| `--dns-autopilot-{option.name}[ `].*$", source, re.M)
        default = option.default
        if isinstance(default, bool):
            assert f"| `{str(default).lower()}` |" in row, option.name
        elif default not in (None, ""):
            assert f"| `{default}` |" in row, option.name
        else:
            assert "| `" not in row.split("|")[2], option.name  # a word, not a value
