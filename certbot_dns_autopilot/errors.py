"""One way to fail: a certbot PluginError that carries a stable diagnosis code and the fix.

The code is printed verbatim (e.g. ``[permission-denied]``) so users can search the docs
for it; the table of codes lives in docs/diagnosis-codes.md.
"""

from __future__ import annotations

from certbot import errors


class AutopilotError(errors.PluginError):
    """A failure the user can act on: what went wrong, the evidence, and the fix."""

    def __init__(self, code: str, problem: str, fix: str, evidence: str = "") -> None:
        self.code = code
        self.problem = problem
        self.fix = fix
        self.evidence = evidence
        text = f"dns-autopilot [{code}]: {problem}"
        if evidence:
            text += f"\n{evidence}"
        text += f"\nFix: {fix}"
        super().__init__(text)
