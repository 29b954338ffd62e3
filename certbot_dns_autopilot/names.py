"""Domain-name helpers shared by every step: one spelling of a name everywhere."""

from __future__ import annotations

import dns.name

CHALLENGE_LABEL = "_acme-challenge"


def normalize(name: str) -> str:
    """Lower-case, IDNA-encoded, no trailing dot: the form used as a key throughout."""
    return dns.name.from_text(name.strip()).to_text(omit_final_dot=True).lower()


def validation_name(domain: str) -> str:
    """The name the CA reads for ``domain``: a wildcard shares its base name's record."""
    base = domain[2:] if domain.startswith("*.") else domain
    return normalize(f"{CHALLENGE_LABEL}.{base}")


def ancestors(name: str) -> list[str]:
    """``name`` and each enclosing name up to (not including) the root, most specific first."""
    labels = normalize(name).split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]
