"""CAA (RFC 8659): may this CA issue for a name? Pure decisions over record sets.

The relevant record set is the closest non-empty one, climbing from the name towards the
root (a resolver follows CNAMEs on the way, as RFC 8659 asks). For a wildcard name,
``issuewild`` records rule when present, otherwise ``issue``. An unknown tag with the
critical flag forbids issuance.
"""

from __future__ import annotations

from dataclasses import dataclass

from .shown import shown

KNOWN_TAGS = {"issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail",
              "issuevmc"}


@dataclass(frozen=True)
class CAA:
    flags: int
    tag: str
    value: str

    def __str__(self) -> str:
        return f'{self.flags} {shown(self.tag, 40)} "{shown(self.value, 300)}"'

    @property
    def issuer(self) -> str:
        """The issuer domain of an issue/issuewild value ("" for the ';' that forbids all)."""
        return self.value.split(";", 1)[0].strip().lower()


def relevant(record_sets: list[tuple[str, list[CAA]]]) -> tuple[str, list[CAA]] | None:
    """The closest non-empty set from (owner, records) pairs ordered name first, root last."""
    return next(((owner, records) for owner, records in record_sets if records), None)


def authorizes(records: list[CAA], identities: set[str], wildcard: bool) -> bool:
    """Whether a CA known by ``identities`` may issue under this record set."""
    if any(r.flags & 128 and r.tag.lower() not in KNOWN_TAGS for r in records):
        return False
    tag = "issuewild" if wildcard and any(r.tag.lower() == "issuewild" for r in records) \
        else "issue"
    rules = [r for r in records if r.tag.lower() == tag]
    if not rules:
        return True
    return any(r.issuer and r.issuer in identities for r in rules)


def line_to_add(owner: str, identity: str, wildcard: bool) -> str:
    tag = "issuewild" if wildcard else "issue"
    return f'{owner}. CAA 0 {tag} "{identity}"'
