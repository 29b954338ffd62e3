"""Links to the published documentation, from one base URL.

Hints and errors are read on a server, in a cron mail or a log: a repository path such as
``docs/troubleshooting.md`` means nothing there, a URL opens. The base is declared here
once (setup.cfg's ``project_urls`` repeats it for the package index; a unit test keeps
the two equal); pages are the Sphinx pages built from ``docs/``.
"""

from __future__ import annotations

DOCS_URL = "https://certbot-dns-autopilot.readthedocs.io/en/stable/"


def page(name: str, anchor: str = "") -> str:
    """The URL of a documentation page (``docs/<name>.md``), at a heading's anchor."""
    return f"{DOCS_URL}{name}.html" + (f"#{anchor}" if anchor else "")


def code(diagnosis: str) -> str:
    """Where a diagnosis code is explained, with its fix (docs/troubleshooting.md)."""
    return page("troubleshooting", diagnosis)
