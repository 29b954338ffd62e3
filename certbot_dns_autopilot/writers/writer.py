"""The `Writer` every record writer is: what a writer declares about itself, what a run hands
it (`Context`), and the plumbing every writer shares, so that a writer's module holds only
what is its provider's own.

A writer's class is its declaration: its ``title``, its ``KEYS``, the ``extra`` that brings
its SDK and its docs ``page``. The registry finds it by its module (the module's name is its
kind: ``dns_autopilot_<kind>_<key>``); the docs, the extras and the wheel test are checked
against the same attributes. The base class reads the declared keys (`settings`), says
``bad-config`` (`bad_config`), retries an API's calls and reports each retry (`call`,
`on_retry`), turns what the API said into one error (`api_error`), and takes back what a
failed add may have written (`rolled_back`, `add_each`).
"""

from __future__ import annotations

import abc
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ..codes import Code
from ..errors import AutopilotError
from . import apierrors, retry, schema
from .locks import Locks
from .sections import SectionKeys

T = TypeVar("T")

# zone -> {record name -> values}; names are normalized, without the trailing dot.
Records = Mapping[str, Set[str]]

PROBE_PREFIX = "dns-autopilot-permission-probe-"
#: The TTL of every value written, the probe's included. A TXT set has one TTL (RFC 2181
#: 5.2): an RFC 2136 server gives the values already at the name the TTL of the one added,
#: so a probe written with a TTL of 1 s would leave someone else's values at 1 s.
RECORD_TTL = 60

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """What a run hands every writer it builds, at construction: its event log (retries,
    hook calls; None outside a run), its challenges as (domain, value) in certbot's order
    (the exec writer's hooks get certbot's view of them), and the locks its entry point
    shares with certbot's renewals."""

    events: Any = None
    challenges: tuple[tuple[str, str], ...] = ()
    locks: Locks = field(default_factory=Locks)


class Writer(abc.ABC):
    """Adds and removes TXT values at one DNS provider.

    Every error a writer raises is an `AutopilotError` whose text starts with its label and
    carries a diagnosis code (``permission-denied``, ``zone-not-found``, …) and the
    provider-specific fix; SDKs are imported by the writer's module, which the registry
    imports only when a credentials file configures it.
    """

    # -- the declaration: the registry, the docs and setup.cfg's extras read it ----------
    #: The kind, as in its keys: the name of the writer's module (set for each subclass).
    kind: ClassVar[str] = ""
    #: How messages and the docs name the kind ("Route 53").
    title: ClassVar[str] = ""
    #: Its keys (``dns_autopilot_<kind>_<key>``): validation, secret scrubbing, the docs'
    #: key table. The first one is the key messages name when no writer is configured.
    KEYS: ClassVar[tuple[schema.Key, ...]] = ()
    #: The requirements of its pip extra ``[<kind>]`` (its SDK); none: no extra.
    extra: ClassVar[tuple[str, ...]] = ()
    #: Its page in docs/ (``providers/cloudflare``), which the README links.
    page: ClassVar[str] = ""
    #: Whether pre-flight runs its probe on every run, not only in doctor (it writes nothing).
    probe_is_free: ClassVar[bool] = False
    #: The retries of its API's calls (429, 5xx, a dropped connection, a timeout).
    policy: retry.Policy = apierrors.POLICY

    #: How the writer is named in messages, e.g. "RFC 2136 server 192.0.2.1 (key acme)".
    #: Never holds a secret.
    label: str
    #: domain -> the name its ``_acme-challenge`` must be a CNAME to, for writers that can
    #: write at fixed names only (acme-dns: each registration's fulldomain). The writer map
    #: routes those names to the writer; the router checks each domain's CNAME against them.
    cname_targets: Mapping[str, str] = {}
    #: What the run handed it (`Context`); a writer made without one reports nowhere.
    events: Any = None
    challenges: tuple[tuple[str, str], ...] = ()
    locks: Locks = Locks()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind = cls.__module__.rpartition(".")[2]

    def __init__(self, context: Context | None = None) -> None:
        context = context or Context()
        self.events, self.challenges, self.locks = (context.events, context.challenges,
                                                    context.locks)

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def from_credentials(cls, keys: SectionKeys, context: Context | None = None) -> Writer:
        """The writer the keys describe, each value checked in a short named step; nothing
        is sent to the provider yet. Every writer the registry builds defines it.

        :raises AutopilotError: ``bad-config``, naming the key and the fix.
        """
        raise NotImplementedError(f"{cls.__name__} is not built from credentials")

    @classmethod
    def settings(cls, keys: SectionKeys, passes: Callable[[str], bool] | None = None
                 ) -> schema.Settings:
        """Its keys read by its ``KEYS`` (`schema.read`); ``passes`` accepts key names the
        declaration cannot list (lexicon's provider options)."""
        return schema.read(keys, cls.kind, cls.KEYS, keys.where, title=cls.title or cls.kind,
                           extra=passes)

    @classmethod
    def key(cls, name: str) -> str:
        """One of its keys as the file spells it: ``dns_autopilot_<kind>_<name>``."""
        return schema.key_name(cls.kind, name)

    @staticmethod
    def bad_config(problem: str, fix: str, evidence: str = "") -> AutopilotError:
        """``bad-config``: a value in the credentials file is not what its key takes."""
        return AutopilotError(Code.BAD_CONFIG, problem, fix, evidence)

    # -- calls to a provider's API -------------------------------------------------------

    def said(self, exc: Exception) -> apierrors.Said | None:
        """What the provider's API said, read off an exception of its SDK (None: no answer
        of the API's). API writers override it; `call` retries what it calls transient."""
        return None

    def call(self, what: str, fn: Callable[[], T],
             read: Callable[[Exception], apierrors.Said | None] | None = None) -> T:
        """``fn()``, tried again (bounded by `policy`) while what the API said (``read``,
        `said` by default) is transient, each retry reported; the last error as it came."""
        return apierrors.call(fn, read or self.said, what, self.on_retry, self.policy)

    def on_retry(self, what: str, attempt: int, pause: float, exc: Exception | str) -> None:
        """Report a retry (`retry.call`'s hook): an event, and a line in certbot's log."""
        reason = exc if isinstance(exc, str) else type(exc).__name__
        logger.info("dns-autopilot: %s: %s failed (%s, attempt %d); retrying in %.1f s",
                    self.label, what, reason, attempt, pause)
        if self.events is not None:
            self.events.emit("retry", "retrying", writer=self.label, what=what,
                             attempt=attempt, pause_s=round(pause, 2), reason=reason)

    def api_error(self, what: str, said: apierrors.Said, fixes: apierrors.Fixes,
                  **texts: Any) -> AutopilotError:
        """What the API said to ``what`` as one error (`apierrors.error`), named by the
        label; ``texts`` as `apierrors.error` takes them (``api``, ``problem``, ``secrets``…)."""
        return apierrors.error(self.label, what, said, fixes, **texts)

    def kept_changing(self, what: str, doing: str, tries: int) -> AutopilotError:
        """``write-conflict``: a conditional write (an etag, a batch that must find the set
        as read) lost to another writer's change on every one of ``tries`` re-reads. Nothing
        of this write was applied; the other writer is outside this run, so only finding it
        helps."""
        return AutopilotError(
            Code.WRITE_CONFLICT,
            f"{self.label}: {what} kept changing while {doing}: another writer's change "
            f"landed between each read and write ({tries} reads), so the writer gave up",
            "find the other writer at the same name (another certbot, lego or acme.sh, often "
            "on a second host renewing the same names, or a tool syncing the zone) and "
            "serialize them: one issuance at a time per name; then run again")

    # -- the interface -------------------------------------------------------------------

    @abc.abstractmethod
    def find_zone(self, name: str) -> str:
        """The zone (normalized) this writer must change to publish a record at ``name``;
        "" for writers with no zones of their own (exec, acme-dns): the router then takes
        the zone the DNS says holds ``name``."""

    @abc.abstractmethod
    def add(self, zone: str, records: Records, ttl: int) -> None:
        """Add each value to its name's TXT set, keeping values already there; one batch
        per zone where the provider allows it. Returns once the provider accepted it (for
        providers with a change status, once it reports the change as applied). An add
        that raises leaves none of its values behind (it rolls back what it created)."""

    @abc.abstractmethod
    def remove(self, zone: str, records: Records) -> None:
        """Remove exactly these values; other values at the same names stay. Idempotent:
        values that are not there are no error (it also takes back an add that failed
        midway, or that may have been applied after all)."""

    @abc.abstractmethod
    def values(self, zone: str, name: str) -> set[str]:
        """The TXT values currently at ``name``, as the provider holds them."""

    @contextlib.contextmanager
    def rolled_back(self, zone: str, tried: Records) -> Iterator[None]:
        """For `add`: when the block raises, remove ``tried`` (the whole batch, or what the
        block noted in it so far; values never written are skipped) before the error goes
        on, which then says it left nothing (`AutopilotError.left_nothing`)."""
        try:
            yield
        except Exception as failed:
            try:
                self.remove(zone, tried)
            except Exception as exc:  # noqa: BLE001 - the add's own error is the one to raise
                logger.warning("dns-autopilot: %s: could not take back the values of a failed "
                               "add in %s (%s); the run's cleanup retries", self.label, zone,
                               getattr(exc, "problem", type(exc).__name__))
            else:
                if isinstance(failed, AutopilotError):
                    failed.left_nothing = True
            raise

    def add_each(self, zone: str, records: Records, add: Callable[[str, str], None]) -> None:
        """`add` value by value (names and values in order) with ``add(name, value)``; a
        failure takes back every value tried, the failed one too (it may have been
        applied): `rolled_back`."""
        tried: dict[str, set[str]] = {}
        with self.rolled_back(zone, tried):
            for name, values in sorted(records.items()):
                for value in sorted(values):
                    tried.setdefault(name, set()).add(value)
                    add(name, value)

    def probe(self, zone: str, name: str) -> None:
        """Prove the credential can create, read back and delete a value at ``name`` in
        ``zone``; raise AutopilotError (``permission-denied``, ``zone-not-found``) naming
        the provider's fix. Writers override this to check provider-specific rights first
        (e.g. Route 53's GetChange, which a write alone does not exercise)."""
        value = PROBE_PREFIX + uuid.uuid4().hex[:12]
        records = {name: {value}}
        self.add(zone, records, RECORD_TTL)
        try:
            if value not in self.values(zone, name):
                raise AutopilotError(
                    Code.PERMISSION_DENIED,
                    f"{self.label}: a probe value written at {name} could not be read back",
                    f"check that the credential may read records in {zone} and that the "
                    "writer changes the zone the nameservers serve")
        finally:
            self.remove(zone, records)
