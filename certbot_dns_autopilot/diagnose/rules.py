"""Why did the CA fail a challenge? Pure decisions over the CA's words and live evidence.

`auth_hint` gathers `evidence.Evidence` for each failed name while our records are still
live (certbot calls it before cleanup) and `diagnose` reads it beside the CA's error: one
stable code, one sentence, the answers that prove it, the fix, and a dig line. The rules
(`RULES`, one small function per cause) go from the most specific cause to the least: a CAA
refusal, a broken DNSSEC chain, a CNAME that moved or that not every nameserver of its zone
serves, a nameserver that does not answer, a value that is not ours, a server behind, and
only when every server we can ask is right, a resolver's (or the CA's) cached view.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from ..answers import (
    BEHIND,
    TRUNCATED,
    UNREACHABLE,
    Observation,
    is_lame,
    unverified_line,
)
from ..codes import Code
from ..dnsio import UDP_SIZE
from ..options import flag
from ..shown import LONG, quoted, shown
from .ca_errors import CaReading
from .evidence import Evidence

TERMINAL_ROWS = 6  # evidence rows shown per diagnosis in the terminal; all go to the log


@dataclass(frozen=True)
class Diagnosis:
    """One failed name: the code users can search for, what is wrong, proof, and the fix."""

    code: Code
    domain: str
    name: str
    problem: str
    fix: str
    evidence: tuple[str, ...] = ()
    dig: str = ""
    ca: str = ""  # what the CA saw, in words
    ca_error: dict[str, str] = field(default_factory=dict)  # the CA's type and detail
    #: other causes the same evidence fits, most likely first: said, not hidden
    also: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", Code(self.code))  # an unknown code fails here

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"code": self.code.value, "evidence": list(self.evidence),
                               "also": list(self.also), "docs": self.docs}

    @property
    def docs(self) -> str:
        return self.code.url

    def text(self) -> str:
        """The terminal form: short, one block per failed name."""
        lines = [f"[{self.code}] {self.domain}: {shown(self.problem, LONG)}"]
        if self.ca:
            lines.append(f"    CA: {shown(self.ca, LONG)}")
        rows = list(self.evidence)
        first = rows[:TERMINAL_ROWS]
        lines += [f"    {shown(row, LONG)}" for row in first]
        if len(rows) > len(first):
            lines.append(f"    … {len(rows) - len(first)} more in dns-autopilot.jsonl")
        lines += [f"    Also possible: {shown(cause, LONG)}" for cause in self.also]
        lines.append(f"    Fix: {shown(self.fix, LONG)}")
        if self.dig:
            lines.append(f"    Reproduce: {shown(self.dig, LONG)}")
        lines.append(f"    More: {self.docs}")
        return "\n".join(lines)


def how_differs(served: str, expected: str) -> str | None:
    """How a served value misses the expected one, when it is a near miss of it."""
    if served == expected:
        return None
    if served.strip("\"'") == expected:
        return "surrounding quotes"
    if served.strip() == expected:
        return "leading or trailing whitespace"
    if "".join(served.split()) == expected:
        return "whitespace inside it"
    if served.lower() == expected.lower():
        return "letter case"
    if expected.startswith(served):
        return f"being cut short ({len(served)} of {len(expected)} characters)"
    if served.startswith(expected):
        return "extra characters at the end"
    if difflib.SequenceMatcher(None, served, expected).ratio() >= 0.8:
        return "a few characters (a typo)"
    return None


def _rows(observations: tuple[Observation, ...]) -> list[str]:
    return [f"{obs.server}: {obs.answer.describe()}" for obs in observations]


def diagnose(domain: str, value: str, reading: CaReading, ev: Evidence,
             wait_off: bool = False) -> Diagnosis:
    """The diagnosis for one failed challenge (``value`` is the TXT value it expected)."""
    unchecked = [obs for obs in ev.authoritative if obs.status == UNREACHABLE]
    reached = tuple(obs for obs in ev.authoritative if obs.status != UNREACHABLE)
    if unchecked and not reached:
        rows = [f"{obs.server}: {obs.answer.describe()}" for obs in unchecked]
        found = Diagnosis(
            Code.UNREACHABLE, domain, ev.origin,
            f"no nameserver address of {ev.zone} could be asked from this host, so what they "
            "serve is unknown here; the CA's resolvers asked them",
            "check the nameservers from a host that reaches them (the dig below); from this "
            "host allow DNS (port 53, UDP and TCP) out, or rely on the resolvers "
            f"({flag('authoritative-check')} false)",
            tuple(rows + _rows(ev.resolvers)), unchecked[0].server.dig(ev.target, "TXT"),
            reading.describe(), {"type": reading.typ, "detail": reading.detail})
    else:
        found = _decide(domain, value, reading, replace(ev, authoritative=reached))
    if unchecked and reached:
        # Not seen is not fine: the CA may have asked exactly these.
        found = Diagnosis(**(asdict(found) | {
            "problem": found.problem.replace("every nameserver", "every nameserver reached")
            + f" ({len(unchecked)} address(es) could not be checked "
                                       "from this host: suspects too)",
            "evidence": (f"suspects, {unverified_line(o.server for o in unchecked)}",)
            + found.evidence}))
    if wait_off:
        found = Diagnosis(**(asdict(found) | {
            "problem": found.problem + " (the wait was off: "
                                       f"{flag('propagation-timeout')} 0)",
            "fix": found.fix + "; and let dns-autopilot wait: drop "
                               f"{flag('propagation-timeout')} 0"}))
    if ev.incomplete:
        found = Diagnosis(**(asdict(found) | {
            "evidence": found.evidence + (f"(evidence incomplete: {ev.incomplete})",)}))
    return found


class _Case:
    """One failed challenge as the rules read it: the CA's words, the live evidence, and what
    follows from them once (who serves the value, the zone's newest serial, the dig lines)."""

    def __init__(self, domain: str, value: str, reading: CaReading, ev: Evidence) -> None:
        self.domain, self.value, self.reading, self.ev = domain, value, reading, ev
        self.auth = auth = ev.authoritative
        self.serving = [obs for obs in auth if value in obs.answer.values]
        self.missing = [obs for obs in auth if value not in obs.answer.values]
        self.serials = dict(ev.serials)
        self.newest = max((n for n in self.serials.values() if n is not None), default=None)
        self.serial_rows = [f"zone SOA serial at {s}: {n}" for s, n in ev.serials]
        self.others = sorted(set().union(*(obs.answer.values for obs in self.missing))) \
            if self.missing else []
        self.auth_dig = auth[0].server.dig(ev.target, "TXT") if auth else ""
        self.resolver_dig = ev.resolvers[0].server.dig(ev.origin, "TXT", recurse=True) \
            if ev.resolvers else f"dig {quoted(ev.origin)} TXT"

    @property
    def ca_says_caa(self) -> bool:
        return self.reading.kind == "caa" or self.reading.typ == "caa"

    @property
    def served_nowhere(self) -> bool:
        """Nameservers answered, and none serves the value."""
        return bool(self.auth) and not self.serving

    def make(self, code: Code, problem: str, fix: str, rows: list[str], dig: str = "",
             also: tuple[str, ...] = ()) -> Diagnosis:
        return Diagnosis(code, self.domain, self.ev.origin, problem, fix, tuple(rows), dig,
                         self.reading.describe(),
                         {"type": self.reading.typ, "detail": self.reading.detail}, also)

    @property
    def ca_saw_nothing(self) -> bool:
        """The CA found no TXT there, or no name, or no answer at all."""
        return self.reading.kind in ("no-txt", "nxdomain", "servfail", "timeout", "unknown")

    @property
    def answering(self) -> tuple[Observation, ...]:
        """The resolvers asked from here that answered (one that did not says nothing)."""
        return tuple(obs for obs in self.ev.resolvers if obs.answer.answered)

    @property
    def removed(self) -> list[Observation]:
        """Addresses the wait saw serving this run's value, which answer without it now:
        something removed it after the wait."""
        return [obs for obs in self.missing
                if obs.server in self.ev.served and obs.status == BEHIND]

    @property
    def oversized(self) -> tuple[int, list[Observation]]:
        """The largest TXT answer at the target seen from here (or pre-flight's prediction),
        and the addresses that gave it truncated with nothing over TCP."""
        truncated = [obs for obs in self.auth if obs.status == TRUNCATED]
        sizes = [obs.answer.size for obs in self.auth]
        before = self.ev.before(Code.OVERSIZED_ANSWER)
        if before is not None:
            sizes.append(int(before.problem.split(" will be ")[1].split(" ")[0]))
        return max(sizes, default=0), truncated


Rule = Callable[[_Case], Diagnosis | None]


# 1. The CA's own refusals that no record can fix.
def _probe_refusal(c: _Case) -> Diagnosis | None:
    """A pre-flight probe's CAA (when the CA says CAA) or DNSSEC finding, as it stands."""
    for code in (Code.CAA_BLOCKED, Code.DNSSEC_BROKEN):
        probe = next((f for f in c.ev.findings if f.code == code), None)
        if probe and (code == Code.DNSSEC_BROKEN or c.ca_says_caa):
            return c.make(code, probe.problem, probe.fix, probe.evidence.splitlines())
    return None


def _caa_since_changed(c: _Case) -> Diagnosis | None:
    """The CA refused for CAA though the CAA sets seen from here allow it now."""
    if not c.ca_says_caa:
        return None
    return c.make(Code.CAA_BLOCKED, "the CA refused to issue because of CAA, though the CAA "
                  "sets seen from here allow it now",
                  "check CAA at every name from the domain up to its registered domain (a "
                  "CNAME's target's CAA counts too), and the CA's identity",
                  [f"dig +short CAA {quoted(c.domain.removeprefix('*.'))}"])


# 2. The name now leads somewhere else than where the value was written.
def _cname_moved(c: _Case) -> Diagnosis | None:
    ev = c.ev
    if not (ev.chain_error or (ev.chain_target and ev.chain_target != ev.target)):
        return None
    now = ev.chain_error or f"it now leads to {ev.chain_target}"
    return c.make(Code.CNAME_ALIAS,
                  f"the values were written at {ev.target}, but {now}: the CNAME of "
                  f"{ev.origin} changed (or broke) after writing",
                  "keep the _acme-challenge CNAME stable during issuance, or configure the "
                  "alias (dns_autopilot_aliases) to the CNAME's current target",
                  [f"chain now: {ev.chain_text}"] if ev.chain_text else [],
                  f"dig {quoted(ev.origin)} CNAME +trace")


# 2b. A CNAME of the chain that some nameservers of its zone do not serve (not transferred
# yet): a resolver that asked one of them met no CNAME, and keeps that for the negative TTL.
def _cname_not_everywhere(c: _Case) -> Diagnosis | None:
    behind = [obs for obs in c.ev.links if obs.status == BEHIND]
    if not behind:
        return None
    first = behind[0]
    target = ", ".join(sorted(first.expected))
    return c.make(Code.SECONDARY_LAG,
                  f"{len(behind)} nameserver address(es) of {first.zone or 'the zone'} do not "
                  f"serve the CNAME {first.name} -> {target} that the others serve: a resolver "
                  "that asked one of them met no CNAME and keeps that answer for the zone's "
                  "negative TTL",
                  "check NOTIFY (also-notify) and zone transfers from the primary of the "
                  "CNAME's zone (allow-transfer, TSIG for XFR, firewall); let dns-autopilot "
                  "wait (it waits for every nameserver of each CNAME's zone)",
                  [row.strip() for obs in behind for row in obs.row().splitlines()],
                  first.server.dig(first.name, "CNAME"))


# 2c. An answer too large for UDP, and the CA saw nothing: truncation before any cache theory.
def _truncated(c: _Case) -> Diagnosis | None:
    size, truncated = c.oversized
    if not (c.ca_saw_nothing and (truncated or size > UDP_SIZE)):
        return None
    rows = [f"{obs.server}: {obs.answer.describe()}" for obs in truncated] + [
        f"{obs.server}: {len(obs.answer.values)} value(s), {obs.answer.size} bytes"
        for obs in c.auth if obs not in truncated]
    tcp = (f"; {len(truncated)} nameserver address(es) give it truncated and nothing over "
           "TCP" if truncated else "")
    return c.make(Code.OVERSIZED_ANSWER,
                  f"the TXT answer at {c.ev.target} is {size} bytes, larger than {UDP_SIZE}: "
                  "over UDP it is truncated, and the CA found no TXT, so its resolver did not "
                  f"get it over TCP{tcp}",
                  f"remove the values no running issuance needs at {c.ev.target} (or run with "
                  f"{flag('remove-stale')} true) so the answer fits in {UDP_SIZE} bytes; allow "
                  "TCP port 53 to every nameserver",
                  rows, (truncated[0] if truncated else c.auth[0]).server.dig(
                      c.ev.target, "TXT") + " +tcp" if c.auth else "")


# 3. A nameserver that does not answer with authority.
def _lame(c: _Case) -> Diagnosis | None:
    lame = [obs for obs in c.auth if is_lame(obs.answer)]
    if not (lame or c.reading.kind in ("refused", "timeout") and not c.auth):
        return None
    return c.make(Code.LAME_DELEGATION,
                  f"{len(lame)} of {len(c.auth)} nameserver address(es) of {c.ev.zone} did not "
                  "answer with authority; a resolver that asks them fails",
                  "make every nameserver in the zone's NS set (at the registrar and at the "
                  "apex) serve the zone authoritatively, or remove it from the sets",
                  _rows(tuple(lame)), lame[0].server.dig(c.ev.target, "TXT") if lame else "")


# 4. The value the nameservers serve is a near miss of ours: it was altered.
def _altered(c: _Case) -> Diagnosis | None:
    near = [(v, how) for v in (c.others if not c.serving else [])
            if (how := how_differs(v, c.value))]
    if not near:
        return None
    served, how = near[0]
    return c.make(Code.WRONG_VALUE,
                  f"the nameservers serve \"{served}\", which differs from the expected "
                  f"value by {how}",
                  "write the value exactly as issued (no quotes, spaces or changes); if "
                  "a provider or script alters it, fix that step",
                  _rows(c.auth) + [f"expected: \"{c.value}\""], c.auth_dig)


# 4b. The wait saw the value served there; it is gone now: another writer removed it.
def _removed_after_wait(c: _Case) -> Diagnosis | None:
    removed = c.removed
    if not removed:
        return None
    return c.make(Code.WRITE_CONFLICT,
                  f"{len(removed)} nameserver address(es) of {c.ev.zone} served this run's "
                  f"value at {c.ev.target} when the wait ended and do not now: another writer "
                  "removed it (or replaced the set) before the CA looked",
                  "find the other writer at that name (another host's certbot, acme.sh or "
                  "lego, a script, a DNS provider's UI) and serialize them: one issuance at a "
                  "time per name; or give each client its own _acme-challenge CNAME target",
                  _rows(tuple(removed)) + [f"expected: \"{c.value}\""],
                  removed[0].server.dig(c.ev.target, "TXT"))


# 5. Nameservers behind the zone's newest serial (the primary's) lack it: lag.
def _lagging(c: _Case) -> Diagnosis | None:
    behind = [obs for obs in c.missing if c.newest is not None
              and c.serials.get(obs.server) is not None and c.serials[obs.server] < c.newest]
    if not behind:
        return None
    return c.make(Code.SECONDARY_LAG,
                  f"{len(behind)} nameserver(s) of {c.ev.zone} are behind the zone's serial "
                  f"{c.newest} and do not serve the value yet; the CA asked one of them",
                  "check NOTIFY (also-notify) and zone transfers from the primary "
                  "(allow-transfer, TSIG for XFR, firewall); let dns-autopilot wait for "
                  "every nameserver", _rows(tuple(behind)) + c.serial_rows,
                  behind[0].server.dig(c.ev.target, "TXT"))


# 6. No nameserver serves it, at the newest serial: it is elsewhere, or gone.
def _doubled_name(c: _Case) -> Diagnosis | None:
    doubled = c.ev.doubled
    if not (c.served_nowhere and doubled and c.value in doubled.answer.values):
        return None
    return c.make(Code.WRONG_NAME,
                  f"the value sits at {doubled.name}, a doubled name the CA never reads",
                  f"write at {c.ev.target}: give provider UIs and APIs only the part before "
                  f".{c.ev.zone}", _rows((doubled,)), doubled.server.dig(doubled.name, "TXT"))


def _values_replaced_by_ours(c: _Case) -> Diagnosis | None:
    """Another value of this run (apex beside wildcard) replaced this one."""
    ours = set(c.others) & c.ev.run_values
    if not (c.served_nowhere and ours):
        return None
    return c.make(Code.MULTIPLE_VALUES,
                  f"{c.ev.target} must hold {len(c.ev.run_values)} values at once (e.g. apex "
                  f"and wildcard), but the nameservers serve only {len(ours)} of this run's "
                  "values",
                  "make the writer add values beside the existing ones instead of "
                  "replacing the record, or issue the names in separate runs",
                  _rows(c.auth) + [f"expected: \"{c.value}\""], c.auth_dig)


def _values_replaced(c: _Case) -> Diagnosis | None:
    if not (c.served_nowhere and c.others):
        return None
    return c.make(Code.WRONG_VALUE,
                  f"the nameservers serve {len(c.others)} other value(s) at {c.ev.target} "
                  "and not the expected one: something replaced or removed it",
                  "find what else writes this name (another certbot, a script, a "
                  "provider UI) and let one issuance at a time own it",
                  _rows(c.auth) + [f"expected: \"{c.value}\""], c.auth_dig)


def _served_nowhere(c: _Case) -> Diagnosis | None:
    if not c.served_nowhere:
        return None
    return c.make(Code.PROPAGATION_TIMEOUT,
                  f"no nameserver of {c.ev.zone} serves the value at {c.ev.target}",
                  "check that the writer writes to the zone the nameservers serve (the "
                  "primary they transfer from), and that the record was not removed",
                  _rows(c.auth) + c.serial_rows, c.auth_dig)


def _served_by_some(c: _Case) -> Diagnosis | None:
    if not c.missing:
        return None
    return c.make(Code.PROPAGATION_TIMEOUT,
                  f"{len(c.missing)} of {len(c.auth)} nameserver address(es) of {c.ev.zone} do "
                  "not serve the value", "check that every nameserver transfers the zone "
                  "from the primary the writer changes; let dns-autopilot wait for them",
                  _rows(tuple(c.missing)) + c.serial_rows,
                  c.missing[0].server.dig(c.ev.target, "TXT"))


# 7. Every nameserver serves it: the CA read an older or another view.
def _stale_cache(c: _Case) -> Diagnosis | None:
    ev = c.ev
    foreign = {v: obs.answer.ttl for obs in c.auth for v in obs.answer.values - ev.run_values}
    for before in (f for f in ev.findings if f.code == Code.STALE_RECORD):
        # Pre-flight saw these values before our write; caches keep the TTL they had then.
        foreign.update({v: max(before.ttl or 0, foreign.get(v) or 0) for v in before.values
                        if v in foreign})
    stale_resolvers = [obs for obs in ev.resolvers
                       if obs.answer.values and c.value not in obs.answer.values]
    if not (stale_resolvers or (foreign and c.reading.kind in ("wrong-txt", "unknown"))):
        return None
    ttl = max([o.answer.ttl or 0 for o in stale_resolvers] + [t or 0 for t in foreign.values()])
    return c.make(Code.STALE_RECORD,
                  f"an old value set is still served from caches for up to {ttl} s: every "
                  "nameserver serves the new value, but the CA's resolver answered from "
                  "the old set", "remove old _acme-challenge values that no issuance needs "
                  f"(or run with {flag('remove-stale')} true), keep their TTL short, "
                  f"and retry after {ttl} s",
                  _rows(tuple(stale_resolvers)) + [f"old value at the nameservers: \"{v}\" "
                                                   f"(TTL {t})" for v, t in foreign.items()],
                  c.resolver_dig)


def _cached_negative(c: _Case) -> Diagnosis | None:
    negative = [obs for obs in c.ev.resolvers
                if not obs.answer.values and obs.answer.rcode in ("NXDOMAIN", "NOERROR")]
    if not negative:
        return None
    proven = [obs for obs in negative if obs.answer.denial]
    if proven:
        first = proven[0].answer
        return c.make(Code.CACHED_DENIAL,
                      f"every nameserver serves the value, but {len(proven)} resolver(s) deny "
                      "the name from an NSEC record cached before it existed (aggressive "
                      f"negative caching): {first.denial}, {first.denial_ttl} s left",
                      f"retry after {first.denial_ttl} s; keep monitors and manual lookups "
                      "from asking about names of the zone just before issuance",
                      _rows(tuple(proven)), c.resolver_dig)
    ttl = max(o.answer.ttl or 0 for o in negative)
    return c.make(Code.RESOLVER_DISAGREEMENT,
                  f"every nameserver serves the value, but resolvers still answer from a "
                  f"cached negative answer (for up to {ttl} s)",
                  f"retry after {ttl} s; nothing should ask for _acme-challenge names before "
                  "the record exists (that caches the negative answer)",
                  _rows(tuple(negative)), c.resolver_dig)


def _ca_cached_negative(c: _Case) -> Diagnosis | None:
    """The CA said the name does not exist while everything asked from here serves it: its
    resolver answered from a cache. Which cache is a likelihood, not a certainty: in a zone
    signed with NSEC, any negative answer about a nearby name denies this one too (RFC
    8198), which is likelier than someone asking this very name; both are said."""
    if c.reading.kind not in ("nxdomain", "no-txt"):
        return None
    ttl = f"{c.ev.negative_ttl} s" if c.ev.negative_ttl is not None else "its SOA minimum"
    everyone = "every nameserver and every resolver asked from here" if c.answering else \
        "every nameserver (no resolver asked from here answered)"
    view = ("the CA reads another view (split-horizon DNS, an old delegation cached at its "
            "resolvers, or a different network path)")
    negative = (f"the CA's resolver held a negative answer for this very name, cached before "
                f"the record was written (this zone caches those for {ttl})")
    if c.ev.denials == "nsec":
        return c.make(Code.CACHED_DENIAL,
                      f"{everyone} serves the value, but the CA's resolver said it does not "
                      "exist: in this zone, signed with NSEC, a negative answer about any "
                      "name near it (a monitor, a lookup, another tool) carries an NSEC record "
                      "that a resolver doing aggressive negative caching denies this name "
                      f"from, without asking, for the record's TTL ({ttl})",
                      f"retry after {ttl}; keep monitors and lookups of the zone's names away "
                      "from the minutes before issuance", _rows(c.answering), c.resolver_dig,
                      also=(negative, view))
    return c.make(Code.RESOLVER_DISAGREEMENT,
                  f"{everyone} serves the value, but the CA's resolver said it does not "
                  f"exist: {negative}",
                  f"retry after {ttl}; make sure nothing (a monitor, a previous run, a manual "
                  "dig at a public resolver) asks for the name before the record exists",
                  _rows(c.answering), c.resolver_dig, also=(view,))


def _another_view(c: _Case) -> Diagnosis:
    """The last rule: everything asked from here is right, so the CA saw another view."""
    silent = [obs for obs in c.ev.resolvers if not obs.answer.answered]
    return c.make(Code.RESOLVER_DISAGREEMENT,
                  "every nameserver and every resolver asked from here serves the value, but "
                  "the CA saw something else: it reads another view (split-horizon DNS, an "
                  "old delegation cached at its resolvers, or a different network path)",
                  "compare what the CA reported with `dig` from outside your network; for "
                  "split-horizon DNS make the public view serve the record",
                  _rows(c.ev.resolvers), c.resolver_dig,
                  also=(f"{len(silent)} resolver(s) asked from here did not answer: what "
                        "they hold is unknown",) if silent else ())


#: The rules in order, from the most specific cause to the least; the first that names a
#: cause wins, and the last always does.
RULES: tuple[Rule, ...] = (
    _probe_refusal, _caa_since_changed, _cname_moved, _cname_not_everywhere, _truncated,
    _lame, _altered, _removed_after_wait, _lagging, _doubled_name, _values_replaced_by_ours,
    _values_replaced, _served_nowhere, _served_by_some, _stale_cache, _cached_negative,
    _ca_cached_negative, _another_view)


def _decide(domain: str, value: str, reading: CaReading, ev: Evidence) -> Diagnosis:
    case = _Case(domain, value, reading, ev)
    return next(found for rule in RULES if (found := rule(case)) is not None)
