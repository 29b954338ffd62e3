"""Findings of the pre-flight probes: a stable code, a severity, the evidence and the fix.

An error stops the run before any challenge is answered (so a broken setup never spends
the CA's failed-validation limit); a warning is printed and logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from ..codes import ERROR, WARNING, Code
from ..errors import AutopilotError
from ..shown import LONG, shown


@dataclass(frozen=True)
class Finding:
    code: Code
    severity: str
    name: str
    problem: str
    evidence: str
    fix: str
    #: the record values the finding is about (a stale-record's old values), for tools
    values: tuple[str, ...] = ()
    #: where those values sit: (zone, record name), when the finding is about a record
    where: tuple[str, str] | None = None
    #: the TTL those values were served with, before this run changed anything
    ttl: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", Code(self.code))  # an unknown code fails here

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"code": self.code.value}

    def text(self) -> str:
        lines = [f"[{self.code}] {self.severity}: {shown(self.name)}: "
                 f"{shown(self.problem, LONG)}"]
        lines += [f"    {shown(line, LONG)}" for line in self.evidence.splitlines()
                  if line.strip()]
        lines.append(f"    Fix: {shown(self.fix, LONG)}")
        lines.append(f"    More: {self.code.url}")
        return "\n".join(lines)


def by_cause(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per cause: findings that differ only in the name they were found for (one
    CAA record set ruling several names, one nameserver failing for each) become one that
    lists every name, with the evidence lines of each (each line once). Order is kept."""
    merged: dict[tuple[object, ...], tuple[Finding, list[str]]] = {}
    for finding in findings:
        key = (finding.code, finding.severity, finding.problem, finding.fix, finding.values,
               finding.where, finding.ttl)
        if key not in merged:
            merged[key] = (finding, [finding.name])
            continue
        first, names = merged[key]
        if finding.name not in names:
            names.append(finding.name)
        lines = first.evidence.splitlines()
        lines += [line for line in finding.evidence.splitlines() if line not in lines]
        merged[key] = (replace(first, evidence="\n".join(lines)), names)
    return [replace(first, name=", ".join(names)) for first, names in merged.values()]


def exit_status(findings: Iterable[Finding]) -> int:
    """0 healthy, 1 warnings only, 2 any error (the doctor's exit status)."""
    severities = {f.severity for f in findings}
    return 2 if ERROR in severities else 1 if WARNING in severities else 0


def as_error(findings: Iterable[Finding]) -> AutopilotError | None:
    """One PluginError carrying every error finding, led by the first one's code."""
    errors = [f for f in findings if f.severity == ERROR]
    if not errors:
        return None
    first = errors[0]
    rest = "\n".join(f.text() for f in errors[1:])
    return AutopilotError(first.code, f"{first.name}: {first.problem}", first.fix,
                          evidence="\n".join(filter(None, [first.evidence, rest])))
