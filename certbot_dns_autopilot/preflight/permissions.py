"""The permission probe: each writer creates, reads back and deletes a value."""

from __future__ import annotations

from ..errors import AutopilotError
from ..plan.routing import Route
from .findings import ERROR, Finding


def permission(route: Route) -> list[Finding]:
    """The writer's own probe: create, read back and delete a value (plus its checks)."""
    try:
        route.writer.probe(route.zone, route.name)
    except AutopilotError as exc:
        return [Finding(exc.code, ERROR, route.origin, exc.problem, exc.evidence, exc.fix)]
    return []
