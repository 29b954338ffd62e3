"""Every failure the package raises for a user to act on is an `AutopilotError` with its
diagnosis code: a bare certbot ``PluginError`` (no code, so a hook, doctor --all and the docs
cannot tell one mistake from another) is raised only by the certbot glue. Read from the
source (AST), as the import-graph test reads imports.

The other exceptions the package raises are not a user's mistake: programming errors (a
step called out of certbot's order, a module declaring two writers, a writer not built from
credentials) and signals caught where they are raised (``ValueError`` of a parser,
``statefiles.Unsafe``, Route 53's ``Conflict``), each turned into an AutopilotError there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import certbot_dns_autopilot

PACKAGE = Path(certbot_dns_autopilot.__file__).parent
#: certbot's interface: where certbot's own PluginError would belong (none is raised today)
GLUE = {"plugin/authenticator.py"}


def bare_plugin_errors(source: str) -> list[int]:
    """The lines of ``source`` that raise ``PluginError`` itself (``errors.PluginError(…)``,
    ``PluginError``), not a subclass."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = raised.attr if isinstance(raised, ast.Attribute) else getattr(raised, "id", "")
        if name == "PluginError":
            found.append(node.lineno)
    return found


def test_no_bare_plugin_error_is_raised_outside_the_certbot_glue() -> None:
    found = [f"{path.relative_to(PACKAGE)}:{line}"
             for path in sorted(PACKAGE.rglob("*.py"))
             if path.relative_to(PACKAGE).as_posix() not in GLUE
             for line in bare_plugin_errors(path.read_text())]
    assert found == [], "raise AutopilotError(code, problem, fix) instead: " + ", ".join(found)


def test_the_walk_finds_a_bare_raise_and_leaves_our_own_error_alone() -> None:
    """The check itself can fail."""
    source = ("from certbot import errors\n"
              "def a():\n    raise errors.PluginError('x. Fix: y')\n"
              "def b():\n    raise PluginError\n"
              "def c():\n    raise AutopilotError('bad-config', 'x', 'y')\n")
    assert bare_plugin_errors(source) == [3, 5]
