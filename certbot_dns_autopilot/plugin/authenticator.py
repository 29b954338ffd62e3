"""The certbot glue: the plugin's options (`options.OPTIONS`), and perform/cleanup/auth_hint
handed to a `Run`.

certbot imports every installed plugin's module on every invocation (even `certbot
certificates`), so this module imports only what defining the options needs; the steps,
dnspython and any provider SDK load when a run starts (`run.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from acme import challenges
from certbot import achallenges, interfaces
from certbot.plugins import common

from ..options import OPTIONS

if TYPE_CHECKING:
    from .run import Run

logger = logging.getLogger(__name__)


class Authenticator(common.Plugin, interfaces.Authenticator):
    """DNS-01 that waits on evidence (every authoritative server, then the resolvers)."""

    description = ("Obtain certificates with DNS-01 TXT records, waiting until every "
                   "authoritative server and resolver serves them, and explaining failures.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._run: Run | None = None

    @classmethod
    def add_parser_arguments(cls, add: Callable[..., None]) -> None:
        for option in OPTIONS:
            add(option.name, **option.argparse_kwargs())

    def more_info(self) -> str:
        return ("Writes the DNS-01 TXT records through the writer configured in the "
                "credentials file, then waits until every authoritative nameserver address "
                "and each recursive resolver serves them before the CA is asked to validate.")

    def get_chall_pref(self, domain: str) -> Iterable[type[challenges.Challenge]]:
        return [challenges.DNS01]

    @property
    def run(self) -> Run:
        """This invocation's run: made on first use, which loads the steps."""
        if self._run is None:
            from .run import Run

            self._run = Run(self)
        return self._run

    def prepare(self) -> None:
        """Before anything else: remove what an interrupted run left behind."""
        self.run.prepare()

    def perform(self, achalls: list[achallenges.AnnotatedChallenge]
                ) -> list[challenges.ChallengeResponse]:
        return self.run.perform(achalls)

    def cleanup(self, achalls: list[achallenges.AnnotatedChallenge]) -> None:
        """Remove exactly the values this run added."""
        self.run.cleanup()

    def auth_hint(self, failed_achalls: list[achallenges.AnnotatedChallenge]) -> str:
        """Diagnose each failed challenge (see `Run.auth_hint`). Never raises."""
        try:
            return self.run.auth_hint(failed_achalls)
        except Exception:  # noqa: BLE001 - auth_hint must never raise
            logger.debug("dns-autopilot: no hint", exc_info=True)
            return "dns-autopilot could not build a hint; see the log for the run's steps."


__all__ = ["Authenticator"]
