"""CAA (RFC 8659, RFC 8657): may this CA issue for a name, to this account, by DNS-01?
Pure decisions over record sets, read as Let's Encrypt's Boulder reads them.

The relevant record set is the closest non-empty one, climbing from the name towards the
root (a resolver follows CNAMEs on the way, as RFC 8659 asks). For a wildcard name,
``issuewild`` records rule when present, otherwise ``issue``. An unknown tag with the
critical flag forbids issuance (Boulder also counts flag bit 1 as critical: it is a
widespread misreading it honours). Records combine with OR: the set authorises when any
one rule record passes all three checks, issuer, ``accounturi`` and ``validationmethods``.

Parsing an ``issue`` value (Boulder ``va/caa.go``, ``parseCAARecord`` and
``caaValidationMethodMatches``; RFC 8659 section 4.2, RFC 8657 sections 3-4):

- the value splits on ``;``: the issuer domain first (spaces and tabs trimmed), then
  parameters; a lone trailing ``;`` after the issuer is allowed;
- each parameter is ``tag=value``: the tag letters and digits only, the value printable
  ASCII without spaces or ``;``; anything else makes the whole record unusable;
- parameter tags are compared in lower case (RFC 8659 matches property tags case
  insensitively; a mixed-case ``AccountURI`` still restricts, so we fail closed);
- ``validationmethods`` is a comma-separated list of labels (letters, digits, ``-``): one
  malformed label (a space, an empty item) makes the record unusable; labels that name no
  ACME method are skipped; ``dns-01`` must be listed, compared exactly;
- ``accounturi`` must equal the URL of the ACME account that asks, exactly;
- a parameter given twice must pass both times (no RFC says which counts; Boulder keeps the
  last, and failing closed never calls a record fine that the CA refuses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..shown import shown

KNOWN_TAGS = {"issue", "issuewild", "iodef"}  # what Boulder knows; others may be critical
ACME_METHODS = {"http-01", "dns-01", "tls-alpn-01", "dns-account-01", "dns-persist-01"}
METHOD = "dns-01"  # the only method this plugin answers

_LABEL = re.compile(r"[A-Za-z0-9-]+\Z")
_TAG = re.compile(r"[A-Za-z0-9]*\Z")
_VALUE = re.compile(r"[\x21-\x3a\x3c-\x7e]*\Z")
STAGING_NOTE = ("staging and production accounts differ; this record only lets the "
                "production account issue")


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
        return self.value.split(";", 1)[0].strip(" \t").lower()


@dataclass(frozen=True)
class Property:
    """An issue/issuewild value read: its issuer, parameters (tags in lower case), and why
    the CA cannot use it at all (``malformed``, "" when well-formed)."""

    issuer: str
    parameters: tuple[tuple[str, str], ...] = ()
    malformed: str = ""

    def every(self, tag: str) -> list[str]:
        """Each value given for ``tag``: a repeated parameter must pass every time (no RFC
        says which one counts; failing closed never calls a refused record fine)."""
        return [value for name, value in self.parameters if name == tag]


def parse(value: str) -> Property:
    """Read an issue/issuewild value as Boulder does (see the module docstring)."""
    parts = value.split(";")
    issuer = parts[0].strip(" \t").lower()
    rest = parts[1:]
    if len(rest) == 1 and not rest[0].strip(" \t"):
        return Property(issuer)
    parameters = []
    for item in rest:
        tag, equals, text = item.partition("=")
        if not equals:
            return Property(issuer, malformed=f"parameter {item.strip()!r} is not tag=value")
        tag, text = tag.strip(" \t"), text.strip(" \t")
        if not _TAG.match(tag):
            return Property(issuer, malformed=f"parameter name {tag!r} is not letters and "
                            "digits")
        if tag.lower() == "validationmethods":  # checked first, to name the bad label
            bad = next((label for label in text.split(",") if not _LABEL.match(label)), None)
            if bad is not None:
                return Property(issuer, malformed=f"validationmethods label {bad!r} is not "
                                "letters, digits and '-' (the list is comma-separated, "
                                "without spaces)")
        if not _VALUE.match(text):
            return Property(issuer, malformed=f"the value of {tag} ({text!r}) holds a space, "
                            "a ';' or a non-ASCII character")
        parameters.append((tag.lower(), text))
    return Property(issuer, tuple(parameters))


def methods_of(text: str) -> list[str]:
    """The ACME methods a validationmethods value lists (unknown labels skipped)."""
    return [m for m in text.split(",") if m in ACME_METHODS]


@dataclass(frozen=True)
class Reading:
    """One rule record and what it says for this run: ``allows``, else ``why`` not. With
    the run's account unknown, a record passing all else ``allows`` when ``account`` (its
    accounturi) turns out to be the run's."""

    record: CAA
    allows: bool
    why: str = ""
    account: str | None = None
    #: it allows only with the issuer's case folded (``LetsEncrypt.org``): Boulder compares
    #: the issuer domain exactly and refuses; other CAs fold case
    folded: bool = False


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    readings: tuple[Reading, ...] = ()
    critical: tuple[CAA, ...] = ()
    #: the run's account is unknown: these accounturi values would each allow issuance
    only_for: tuple[str, ...] = ()
    #: allowed only by records whose issuer matches with its case folded
    case_only: bool = False


def _critical(record: CAA) -> bool:
    return bool(record.flags & (128 | 1)) and record.tag.lower() not in KNOWN_TAGS


def read(record: CAA, identities: set[str], account: str | None,
         server: str | None = None, staging: bool = False) -> Reading:
    """One rule record against the CA's identities, the run's account and DNS-01."""
    prop = parse(record.value)
    folded = record.value.split(";", 1)[0].strip(" \t") != prop.issuer
    if prop.malformed:
        return Reading(record, False, f"the CA cannot use this record: {prop.malformed}")
    if not prop.issuer:
        return Reading(record, False, "an empty issuer forbids every CA")
    if prop.issuer not in identities:
        return Reading(record, False, f"it names {prop.issuer}, not "
                       f"{' or '.join(sorted(identities)) or 'this CA'}")
    for listed in prop.every("validationmethods"):
        if METHOD not in methods_of(listed):
            return Reading(record, False, f"validationmethods={listed} does not include "
                           "dns-01 (the only method this plugin answers)")
    pinned = prop.every("accounturi")
    if not pinned:
        return Reading(record, True, folded=folded)
    wanted = next((uri for uri in pinned if uri != account), pinned[0])
    if account is None:
        return Reading(record, False, f"it allows only the ACME account {wanted}",
                       account=wanted)
    if wanted != account:
        why = f"accounturi={wanted} is another ACME account; this run uses {account}"
        note = account_note(wanted, account, server, staging)
        return Reading(record, False, why + (f"; {note}" if note else ""), account=wanted)
    return Reading(record, True, account=wanted, folded=folded)


def account_note(wanted: str, account: str | None, server: str | None, staging: bool) -> str:
    """Why an accounturi cannot match when it names an account at another ACME server."""
    here = urlsplit(account or server or "").netloc.lower()
    there = urlsplit(wanted).netloc.lower()
    if not there or there == here:
        return ""
    if staging or "staging" in here:
        return STAGING_NOTE
    return f"the record names an account at {there}, this run's CA is {here or 'unknown'}"


def evaluate(records: list[CAA], identities: set[str], wildcard: bool,
             account: str | None = None, server: str | None = None,
             staging: bool = False) -> Verdict:
    """Whether a CA known by ``identities`` may issue to ``account`` by DNS-01 here."""
    critical = tuple(r for r in records if _critical(r))
    if critical:
        return Verdict(False, critical=critical)
    tag = "issuewild" if wildcard and any(r.tag.lower() == "issuewild" for r in records) \
        else "issue"
    rules = [r for r in records if r.tag.lower() == tag]
    if not rules:
        return Verdict(True)
    readings = tuple(read(r, identities, account, server, staging) for r in rules)
    if any(r.allows for r in readings):
        return Verdict(True, readings,
                       case_only=not any(r.allows and not r.folded for r in readings))
    only_for = tuple(sorted({r.account for r in readings
                             if account is None and r.account is not None}))
    return Verdict(False, readings, only_for=only_for)


def authorizes(records: list[CAA], identities: set[str], wildcard: bool,
               account: str | None = None) -> bool:
    """Whether the set authorises this CA (and account, when given) to issue by DNS-01."""
    return evaluate(records, identities, wildcard, account).allowed


def relevant(record_sets: list[tuple[str, list[CAA]]]) -> tuple[str, list[CAA]] | None:
    """The closest non-empty set from (owner, records) pairs ordered name first, root last."""
    return next(((owner, records) for owner, records in record_sets if records), None)


def line_to_add(owner: str, identity: str, wildcard: bool, account: str | None = None,
                methods: bool = False) -> str:
    """A record that authorises this CA (for this account, by DNS-01 when asked for)."""
    tag = "issuewild" if wildcard else "issue"
    value = identity + (f"; accounturi={account}" if account else "") \
        + ("; validationmethods=dns-01" if methods else "")
    return f'{owner}. CAA 0 {tag} "{value}"'


@dataclass(frozen=True)
class Requester:
    """Who asks the CA: the ACME account's URL (None: unknown), its directory URL, and
    whether that is a staging endpoint (or certbot --dry-run)."""

    account: str | None = None
    server: str | None = None
    staging: bool = False


OK, REFUSES, UNREACHABLE = "ok", "refuses", "unreachable"


def server_outcome(caa_rcode: str, soa_rcode: str | None) -> str:
    """One nameserver address asked for CAA (and, when that got no answer, for the zone's
    SOA): ``ok`` (NOERROR or NXDOMAIN); ``refuses``: any other rcode, or silence on CAA while
    it answers SOA, which makes the CA refuse; ``unreachable``: it answers nothing at all
    from this host, which says nothing about what the CA meets."""
    if caa_rcode in ("NOERROR", "NXDOMAIN"):
        return OK
    silent = ("TIMEOUT", "UNREACHABLE")  # dnsio's pseudo-rcodes: nothing answered
    if caa_rcode in silent:
        return UNREACHABLE if soa_rcode in (None, *silent) else REFUSES
    return REFUSES  # an rcode other than NOERROR/NXDOMAIN, or an answer that cannot be read
