"""Is a requested name itself a public suffix? (the packaged list; no network)."""

from __future__ import annotations

from collections.abc import Iterable

from .. import names
from ..codes import Code
from .findings import ERROR, Finding


def public_suffix(domains: Iterable[str]) -> list[Finding]:
    """A name that is itself on the Public Suffix List (the packaged list; no network)."""
    psl = names.public_suffix_list()
    found = []
    for domain in domains:
        base = names.normalize(domain.removeprefix("*."))
        if psl.is_public(base):
            found.append(Finding(
                Code.PUBLIC_SUFFIX,
                ERROR, domain, f"{base} is a public suffix: no CA issues for it",
                f"Public Suffix List: {base} is listed (publicsuffixlist "
                f"{getattr(psl, 'version', '') or 'packaged list'})",
                f"request a name below {base} that you registered (e.g. yourname.{base})"))
    return found
