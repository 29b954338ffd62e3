"""The diagnosis codes: one enumeration of every stable code the plugin prints.

Each code has a default severity, a one-line meaning and an anchor in the published
troubleshooting page. Findings, errors, the hint, doctor and the failure hook all take a
`Code`; its value is the stable string users search for (``[permission-denied]``), so it
compares, prints and serialises as that string. docs/diagnosis-codes.md lists exactly these
codes and docs/troubleshooting.md has a ``### <code>`` section for each (the docs test
checks both).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import links

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class _Info:
    severity: str
    meaning: str


class Code(str, enum.Enum):
    """A stable diagnosis code; the value is the string printed and documented."""

    PERMISSION_DENIED = "permission-denied"
    ZONE_NOT_FOUND = "zone-not-found"
    BAD_CONFIG = "bad-config"
    PROVIDER_UNREACHABLE = "provider-unreachable"
    LAME_DELEGATION = "lame-delegation"
    UNREACHABLE = "unreachable"
    SECONDARY_LAG = "secondary-lag"
    PROPAGATION_TIMEOUT = "propagation-timeout"
    CNAME_ALIAS = "cname-alias"
    CAA_BLOCKED = "caa-blocked"
    PUBLIC_SUFFIX = "public-suffix"
    NS_MISMATCH = "ns-mismatch"
    STALE_RECORD = "stale-record"
    WRONG_NAME = "wrong-name"
    RATE_LIMITED = "rate-limited"
    RESOLVER_DISAGREEMENT = "resolver-disagreement"
    WRONG_VALUE = "wrong-value"
    MULTIPLE_VALUES = "multiple-values"
    RENEWAL_CONFIG = "renewal-config"
    DNSSEC_BROKEN = "dnssec-broken"
    LOCK_TIMEOUT = "lock-timeout"
    WRITE_CONFLICT = "write-conflict"
    UNSAFE_STATE = "unsafe-state"
    RESOLVER_UNREACHABLE = "resolver-unreachable"
    STALE_DELEGATION = "stale-delegation"
    OVERSIZED_ANSWER = "oversized-answer"
    CACHED_DENIAL = "cached-denial"
    MUST_STAPLE = "must-staple"
    RENEWAL_WINDOW = "renewal-window"
    RENEWAL_SCHEDULE = "renewal-schedule"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def severity(self) -> str:
        """The severity a finding with this code has unless the probe says otherwise."""
        return _INFO[self].severity

    @property
    def meaning(self) -> str:
        return _INFO[self].meaning

    @property
    def url(self) -> str:
        """Where the code is explained, with its fix."""
        return links.code(self.value)


_INFO: dict[Code, _Info] = {
    Code.PERMISSION_DENIED: _Info(ERROR, "the writer's credential was refused or lacks a "
                                  "permission"),
    Code.ZONE_NOT_FOUND: _Info(ERROR, "no configured writer (or provider account) holds a zone "
                               "enclosing the name"),
    Code.BAD_CONFIG: _Info(ERROR, "the credentials file, or an option's value, is not what "
                           "it must be (a region, a URL, an ID, a name; the file unreadable)"),
    Code.PROVIDER_UNREACHABLE: _Info(ERROR, "the writer's endpoint (a provider's API, an RFC "
                                     "2136 primary, an exec hook) did not answer, or kept "
                                     "failing, so nothing could be written or checked"),
    Code.LAME_DELEGATION: _Info(ERROR, "a nameserver of the zone refused, failed or answered "
                                "without authority"),
    Code.UNREACHABLE: _Info(WARNING, "this host cannot reach a nameserver address; the CA "
                            "may"),
    Code.SECONDARY_LAG: _Info(ERROR, "a secondary's SOA serial stayed behind the primary's"),
    Code.PROPAGATION_TIMEOUT: _Info(ERROR, "some authoritative server never served the value "
                                    "within the limit"),
    Code.CNAME_ALIAS: _Info(ERROR, "the _acme-challenge CNAME chain (or configured alias) "
                            "cannot be followed to a zone a writer serves"),
    Code.CAA_BLOCKED: _Info(ERROR, "CAA does not let this CA issue for the name, account or "
                            "method"),
    Code.PUBLIC_SUFFIX: _Info(ERROR, "the name is itself on the Public Suffix List"),
    Code.NS_MISMATCH: _Info(WARNING, "the parent's NS set and the zone's apex NS set differ"),
    Code.STALE_RECORD: _Info(WARNING, "values not from this run already sit at the name"),
    Code.WRONG_NAME: _Info(WARNING, "a TXT record sits at a doubled name "
                           "(_acme-challenge.example.com.example.com)"),
    Code.RATE_LIMITED: _Info(WARNING, "this machine's history is near a Let's Encrypt limit"),
    Code.RESOLVER_DISAGREEMENT: _Info(ERROR, "every authoritative server serves the values, "
                                      "a resolver does not"),
    Code.WRONG_VALUE: _Info(ERROR, "the nameservers serve a value that is not the expected "
                            "one"),
    Code.MULTIPLE_VALUES: _Info(ERROR, "a name that must hold several values serves only one"),
    Code.RENEWAL_CONFIG: _Info(ERROR, "a lineage's renewal configuration or certificate "
                               "cannot be used"),
    Code.DNSSEC_BROKEN: _Info(ERROR, "the parent's DS matches no key of the zone, or a "
                              "signature does not validate"),
    Code.LOCK_TIMEOUT: _Info(ERROR, "another certbot process held a record set's lock too "
                             "long"),
    Code.WRITE_CONFLICT: _Info(ERROR, "another run or tool keeps writing the record set at "
                               "the same name: the writer gave up after its re-reads, or "
                               "this run's values, served and then removed, were removed "
                               "again after being written again"),
    Code.UNSAFE_STATE: _Info(ERROR, "a state file or directory is a link, not ours, or not "
                             "what it should be"),
    Code.RESOLVER_UNREACHABLE: _Info(ERROR, "a recursive resolver this host asks does not "
                                     "answer, or refuses or fails every question: the "
                                     "resolver's fault, not the zone's"),
    Code.STALE_DELEGATION: _Info(ERROR, "a resolver still holds an old NS set for the zone "
                                 "(the DNS host moved), and the old servers do not serve the "
                                 "zone's current data"),
    Code.OVERSIZED_ANSWER: _Info(WARNING, "the TXT answer at the validation name is larger "
                                 "than a UDP answer may be (1232 bytes): it is truncated and "
                                 "complete only over TCP"),
    Code.CACHED_DENIAL: _Info(WARNING, "a resolver denies the name from an NSEC proof it "
                              "cached before the record existed (aggressive negative "
                              "caching), while every nameserver serves it"),
    Code.MUST_STAPLE: _Info(ERROR, "a lineage asks for OCSP Must-Staple from a CA that "
                            "refuses it (Let's Encrypt, since May 2025)"),
    Code.RENEWAL_WINDOW: _Info(ERROR, "a lineage's fixed renew_before_expiry is its "
                               "certificate's whole lifetime or more (renews on every run), or "
                               "under a sixth of it (warning)"),
    Code.RENEWAL_SCHEDULE: _Info(ERROR, "no enabled timer or cron entry runs certbot renew on "
                                 "this machine, or it runs less than twice a day for a "
                                 "short-lived lineage (warning)"),
}
