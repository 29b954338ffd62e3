"""Sphinx configuration: the Markdown pages of docs/, read with myst-parser.

Built in CI with warnings as errors (tests/release/test_docs.py):
    .venv/bin/sphinx-build -W -b html docs docs/_build/html
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from certbot_dns_autopilot import __version__  # noqa: E402  (after the path is set)
from certbot_dns_autopilot.links import DOCS_URL  # noqa: E402

project = "certbot-dns-autopilot"
author = "certbot-dns-autopilot contributors"
release = version = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# Anchors for `[text](page.md#a-heading)` links, as GitHub renders them.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
html_theme = "alabaster"
html_title = f"certbot-dns-autopilot {release}"
# Where the pages are published: hints and errors link there (certbot_dns_autopilot/links.py).
html_baseurl = DOCS_URL
