"""One way to fail: a certbot PluginError that carries a stable diagnosis code and the fix.

The code is printed verbatim (e.g. ``[permission-denied]``) so users can search the docs
for it, and the message ends with the published page that explains it (`links.code`).
"""

from __future__ import annotations

from certbot import errors

from . import links


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
        text += f"\nFix: {fix}\nMore: {links.code(code)}"
        super().__init__(text)
