"""One way to fail: a certbot PluginError that carries a stable diagnosis code and the fix.

The code is printed verbatim (e.g. ``[permission-denied]``) so users can search the docs
for it, and the message ends with the published page that explains it (`links.code`).
"""

from __future__ import annotations

from certbot import errors

from .codes import Code
from .shown import LONG, shown


class AutopilotError(errors.PluginError):
    """A failure the user can act on: what went wrong, the evidence, and the fix."""

    #: Set by a writer whose failed add certainly left nothing (the server answered with a
    #: refusal, or the writer removed the whole batch again): the run then drops the batch
    #: from its journal at once. Otherwise the run removes the batch itself first.
    left_nothing: bool = False

    def __init__(self, code: Code | str, problem: str, fix: str, evidence: str = "") -> None:
        self.code = Code(code)  # an unknown code fails here, where it is written
        self.problem = problem
        self.fix = fix
        self.evidence = evidence
        # Problems and evidence quote DNS data: control characters never reach a terminal.
        text = f"dns-autopilot [{code}]: {shown(problem, LONG)}"
        if evidence:
            text += "\n" + "\n".join(shown(line, LONG) for line in evidence.splitlines())
        text += f"\nFix: {shown(fix, LONG)}"
        text += f"\nMore: {self.code.url}"
        super().__init__(text)
