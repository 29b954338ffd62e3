"""What one run found and did: the value perform builds and cleanup and auth_hint read.

certbot calls ``perform``, then (on a failure) ``auth_hint``, then ``cleanup`` on the same
plugin object; what they share is this one value, made once the credentials file is read
(`Run._setup`). Before that there is no state: nothing was written, nothing is diagnosed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import dnsio
from ..cleanup.journal import Journal
from ..plan.chain import Follower
from ..plan.routing import Route
from ..preflight.findings import Finding
from ..writers import Writer


@dataclass
class RunState:
    """One run's routes, values and writes; filled in by perform as it goes."""

    journal: Journal  # every batch is noted here before its writer is called
    follower: Follower  # the run's resolvers and reach, for the hint's evidence too
    wait_off: bool  # the propagation-timeout option is 0
    routes: dict[str, Route] = field(default_factory=dict)  # origin -> route
    targets: dict[str, frozenset[str]] = field(default_factory=dict)  # name -> our values
    written: dict[str, tuple[Writer, dict[str, frozenset[str]]]] = field(default_factory=dict)
    #: pre-flight's findings about the records at a name (stale values, an oversized
    #: answer), as they were before this run wrote: the hint reads them beside what it sees
    before: list[Finding] = field(default_factory=list)
    #: name -> the authoritative addresses the wait saw serving this run's values at its end
    served: dict[str, frozenset[dnsio.Server]] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)  # pre-flight's warnings, shown once
