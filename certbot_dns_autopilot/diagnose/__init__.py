"""Why did the CA fail a challenge? Pure decisions over the CA's words and live evidence.

`auth_hint` gathers `evidence.Evidence` for each failed name while our records are still
live (certbot calls it before cleanup) and `diagnose` reads it beside the CA's error: one
stable code, one sentence, the answers that prove it, the fix, and a dig line. The rules go
from the most specific cause to the least: a CAA refusal, a broken DNSSEC chain, a CNAME
that moved, a nameserver that does not answer, a value that is not ours, a server behind,
and only when every server we can ask is right, a resolver's (or the CA's) cached view.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, replace

from ..codes import Code
from ..shown import LONG, quoted, shown
from ..wait.propagation import UNREACHABLE, Observation, is_lame, unverified_line
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", Code(self.code))  # an unknown code fails here

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"code": self.code.value, "evidence": list(self.evidence),
                               "docs": self.docs}

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
            "(--dns-autopilot-authoritative-check false)",
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
            "problem": found.problem + " (the wait was off: --dns-autopilot-propagation-"
                                       "timeout 0)",
            "fix": found.fix + "; and let dns-autopilot wait: drop "
                               "--dns-autopilot-propagation-timeout 0"}))
    if ev.incomplete:
        found = Diagnosis(**(asdict(found) | {
            "evidence": found.evidence + (f"(evidence incomplete: {ev.incomplete})",)}))
    return found


def _decide(domain: str, value: str, reading: CaReading, ev: Evidence) -> Diagnosis:
    ca = {"type": reading.typ, "detail": reading.detail}

    def make(code: str, problem: str, fix: str, rows: list[str], dig: str = "") -> Diagnosis:
        return Diagnosis(code, domain, ev.origin, problem, fix, tuple(rows), dig,
                         reading.describe(), ca)

    auth = ev.authoritative
    auth_dig = auth[0].server.dig(ev.target, "TXT") if auth else ""
    resolver_dig = ev.resolvers[0].server.dig(ev.origin, "TXT", recurse=True) \
        if ev.resolvers else f"dig {quoted(ev.origin)} TXT"

    # 1. The CA's own refusals that no record can fix.
    for code in (Code.CAA_BLOCKED, Code.DNSSEC_BROKEN):
        probe = next((f for f in ev.findings if f.code == code), None)
        if probe and (code == Code.DNSSEC_BROKEN or reading.kind == "caa" or reading.typ == "caa"):
            return make(code, probe.problem, probe.fix, probe.evidence.splitlines())
    if reading.kind == "caa" or reading.typ == "caa":
        return make(Code.CAA_BLOCKED, "the CA refused to issue because of CAA, though the CAA "
                    "sets seen from here allow it now",
                    "check CAA at every name from the domain up to its registered domain (a "
                    "CNAME's target's CAA counts too), and the CA's identity",
                    [f"dig +short CAA {quoted(domain.removeprefix('*.'))}"])

    # 2. The name now leads somewhere else than where the value was written.
    if ev.chain_error or (ev.chain_target and ev.chain_target != ev.target):
        now = ev.chain_error or f"it now leads to {ev.chain_target}"
        return make(Code.CNAME_ALIAS,
                    f"the values were written at {ev.target}, but {now}: the CNAME of "
                    f"{ev.origin} changed (or broke) after writing",
                    "keep the _acme-challenge CNAME stable during issuance, or configure the "
                    "alias (dns_autopilot_aliases) to the CNAME's current target",
                    [f"chain now: {ev.chain_text}"] if ev.chain_text else [],
                    f"dig {quoted(ev.origin)} CNAME +trace")

    # 3. A nameserver that does not answer with authority.
    lame = [obs for obs in auth if is_lame(obs.answer)]
    if lame or reading.kind in ("refused", "timeout") and not auth:
        return make(Code.LAME_DELEGATION,
                    f"{len(lame)} of {len(auth)} nameserver address(es) of {ev.zone} did not "
                    "answer with authority; a resolver that asks them fails",
                    "make every nameserver in the zone's NS set (at the registrar and at the "
                    "apex) serve the zone authoritatively, or remove it from the sets",
                    _rows(tuple(lame)), lame[0].server.dig(ev.target, "TXT") if lame else "")

    serving = [obs for obs in auth if value in obs.answer.values]
    missing = [obs for obs in auth if value not in obs.answer.values]
    serials = {s: n for s, n in ev.serials}
    newest = max((n for n in serials.values() if n is not None), default=None)
    serial_rows = [f"zone SOA serial at {s}: {n}" for s, n in ev.serials]
    others = sorted(set().union(*(obs.answer.values for obs in missing))) if missing else []

    # 4. The value the nameservers serve is a near miss of ours: it was altered.
    near = [(v, how) for v in (others if not serving else []) if (how := how_differs(v, value))]
    if near:
        served, how = near[0]
        return make(Code.WRONG_VALUE,
                    f"the nameservers serve \"{served}\", which differs from the expected "
                    f"value by {how}",
                    "write the value exactly as issued (no quotes, spaces or changes); if "
                    "a provider or script alters it, fix that step",
                    _rows(auth) + [f"expected: \"{value}\""], auth_dig)

    # 5. Nameservers behind the zone's newest serial (the primary's) lack it: lag.
    behind = [obs for obs in missing if newest is not None
              and serials.get(obs.server) is not None and serials[obs.server] < newest]
    if behind:
        return make(Code.SECONDARY_LAG,
                    f"{len(behind)} nameserver(s) of {ev.zone} are behind the zone's serial "
                    f"{newest} and do not serve the value yet; the CA asked one of them",
                    "check NOTIFY (also-notify) and zone transfers from the primary "
                    "(allow-transfer, TSIG for XFR, firewall); let dns-autopilot wait for "
                    "every nameserver", _rows(tuple(behind)) + serial_rows,
                    behind[0].server.dig(ev.target, "TXT"))

    # 6. No nameserver serves it, at the newest serial: it is elsewhere, or gone.
    if auth and not serving:
        if ev.doubled and value in ev.doubled.answer.values:
            return make(Code.WRONG_NAME,
                        f"the value sits at {ev.doubled.name}, a doubled name the CA never "
                        "reads", f"write at {ev.target}: give provider UIs and APIs only the "
                        f"part before .{ev.zone}", _rows((ev.doubled,)),
                        ev.doubled.server.dig(ev.doubled.name, "TXT"))
        if set(others) & ev.run_values:
            return make(Code.MULTIPLE_VALUES,
                        f"{ev.target} must hold {len(ev.run_values)} values at once (e.g. apex "
                        "and wildcard), but the nameservers serve only "
                        f"{len(set(others) & ev.run_values)} of this run's values",
                        "make the writer add values beside the existing ones instead of "
                        "replacing the record, or issue the names in separate runs",
                        _rows(auth) + [f"expected: \"{value}\""], auth_dig)
        if others:
            return make(Code.WRONG_VALUE,
                        f"the nameservers serve {len(others)} other value(s) at {ev.target} "
                        "and not the expected one: something replaced or removed it",
                        "find what else writes this name (another certbot, a script, a "
                        "provider UI) and let one issuance at a time own it",
                        _rows(auth) + [f"expected: \"{value}\""], auth_dig)
        return make(Code.PROPAGATION_TIMEOUT,
                    f"no nameserver of {ev.zone} serves the value at {ev.target}",
                    "check that the writer writes to the zone the nameservers serve (the "
                    "primary they transfer from), and that the record was not removed",
                    _rows(auth) + serial_rows, auth_dig)
    if missing:
        return make(Code.PROPAGATION_TIMEOUT,
                    f"{len(missing)} of {len(auth)} nameserver address(es) of {ev.zone} do "
                    "not serve the value", "check that every nameserver transfers the zone "
                    "from the primary the writer changes; let dns-autopilot wait for them",
                    _rows(tuple(missing)) + serial_rows,
                    missing[0].server.dig(ev.target, "TXT"))

    # 7. Every nameserver serves it: the CA read an older or another view.
    foreign = {v: obs.answer.ttl for obs in auth for v in obs.answer.values - ev.run_values}
    for before in (f for f in ev.findings if f.code == Code.STALE_RECORD):
        # Pre-flight saw these values before our write; caches keep the TTL they had then.
        foreign.update({v: max(before.ttl or 0, foreign.get(v) or 0) for v in before.values
                        if v in foreign})
    stale_resolvers = [obs for obs in ev.resolvers
                       if obs.answer.values and value not in obs.answer.values]
    negative = [obs for obs in ev.resolvers
                if not obs.answer.values and obs.answer.rcode in ("NXDOMAIN", "NOERROR")]
    if stale_resolvers or (foreign and reading.kind in ("wrong-txt", "unknown")):
        ttl = max([o.answer.ttl or 0 for o in stale_resolvers] + [t or 0 for t in
                                                                  foreign.values()])
        return make(Code.STALE_RECORD,
                    f"an old value set is still served from caches for up to {ttl} s: every "
                    "nameserver serves the new value, but the CA's resolver answered from "
                    "the old set", "remove old _acme-challenge values that no issuance needs "
                    "(or run with --dns-autopilot-remove-stale true), keep their TTL short, "
                    f"and retry after {ttl} s",
                    _rows(tuple(stale_resolvers)) + [f"old value at the nameservers: \"{v}\" "
                                                     f"(TTL {t})" for v, t in foreign.items()],
                    resolver_dig)
    if negative:
        ttl = max(o.answer.ttl or 0 for o in negative)
        return make(Code.RESOLVER_DISAGREEMENT,
                    f"every nameserver serves the value, but resolvers still answer from a "
                    f"cached negative answer (for up to {ttl} s)",
                    f"retry after {ttl} s; nothing should ask for _acme-challenge names before "
                    "the record exists (that caches the negative answer)",
                    _rows(tuple(negative)), resolver_dig)
    negative_ttl = f"{ev.negative_ttl} s" if ev.negative_ttl is not None else "its SOA minimum"
    if reading.kind in ("nxdomain", "no-txt"):
        return make(Code.RESOLVER_DISAGREEMENT,
                    "every nameserver and every resolver asked from here serves the value, "
                    "but the CA's resolver said it does not exist: it held a negative answer "
                    f"cached before the record was written (this zone caches those for "
                    f"{negative_ttl})",
                    f"retry after {negative_ttl}; make sure nothing (a monitor, a previous "
                    "run, a manual dig at a public resolver) asks for the name before the "
                    "record exists", _rows(ev.resolvers), resolver_dig)
    return make(Code.RESOLVER_DISAGREEMENT,
                "every nameserver and every resolver asked from here serves the value, but "
                "the CA saw something else: it reads another view (split-horizon DNS, an "
                "old delegation cached at its resolvers, or a different network path)",
                "compare what the CA reported with `dig` from outside your network; for "
                "split-horizon DNS make the public view serve the record",
                _rows(ev.resolvers), resolver_dig)
