"""The job store port: what the engine, CLI and service need from durable storage.

Every backend implements exactly the semantics documented here; the shared rules live in
:mod:`veokit.store.rules` so the backends cannot drift apart, and ``tests/contract/test_store_contract.py``
runs one suite against all of them.

Three kinds of write, all atomic:

* state changes (:meth:`transition`, :meth:`begin_submit`): compare-and-set on the state and, for a worker,
  on its lease token (``fence``);
* leases (:meth:`claim`, :meth:`renew`, :meth:`release`): see :mod:`veokit.store.leases`;
* the cost ledger, which follows state changes in the same transaction: see :mod:`veokit.store.budget`.

Input images and videos are not in job rows: they are blobs, kept once by SHA-256 (:meth:`put_blob`), and a
job's request refers to them (:class:`veokit.models.request.StoredRequest`). See :mod:`veokit.store.blobs`.

The HTTP service's keys, the videos each owns and their webhooks live here too (:mod:`veokit.store.tenancy`).
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from veokit.models.inputs import BlobRef
from veokit.models.job import Job, JobEvent, JobState, Submission, SubmitBegun
from veokit.store.blobs import BlobSource
from veokit.store.budget import BudgetCaps, SpendSummary
from veokit.store.rate_slots import RateSlot
from veokit.store.tenancy import ApiKey, KeyLimits, KeyUsage, Ownership, WebhookDue


@runtime_checkable
class JobStore(Protocol):
    async def open(self) -> None:
        """Connect and create or upgrade the schema. Idempotent; safe to run from several processes at once."""

    async def close(self) -> None:
        """Release connections. The store may be opened again afterwards."""

    async def create(self, job: Job, *, message: str = "created") -> Job:
        """Insert ``job`` (or return the existing job with the same ``client_key``); see :meth:`create_or_get`."""

    async def create_or_get(self, job: Job, *, message: str = "created") -> tuple[Job, bool]:
        """Insert ``job`` and its first event (``from_state=None``); return ``(stored, True)``.

        When ``job.client_key`` is set and a job with that key exists, nothing is written and
        ``(existing, False)`` is returned: enqueueing is idempotent, also under concurrent callers.
        A duplicate ``id`` without a matching ``client_key`` raises :class:`~veokit.errors.JobStateError`.
        Datetimes must be timezone-aware (naive ones raise ``ValueError``); they are stored as UTC.
        """

    async def create_many(
        self, jobs: builtins.list[Job], *, messages: builtins.list[str] | None = None
    ) -> builtins.list[tuple[Job, bool]]:
        """:meth:`create_or_get` for many jobs (``messages[i]`` for ``jobs[i]``, default ``"created"``), in
        order, in few transactions: each transaction holds whole jobs (the row and its first event), so an
        interruption leaves some jobs recorded completely and the rest not at all, and calling again with the
        same client keys records only the rest. A job whose ``client_key`` exists already (or appears earlier
        in ``jobs``) is answered with the stored job and ``False``.
        """

    async def get(self, job_id: str) -> Job:
        """The job, or :class:`~veokit.errors.JobNotFound`."""

    async def list(self, *, states: Iterable[JobState] | None = None, limit: int = 100) -> builtins.list[Job]:
        """Jobs newest first (by ``created_at``, then ``id``), optionally only those in ``states``."""

    async def transition(
        self,
        job_id: str,
        *,
        expect: JobState | Iterable[JobState],
        to: JobState,
        message: str = "",
        fence: int | None = None,
        **fields: Any,
    ) -> Job:
        """Atomically move a job from one of ``expect`` to ``to`` and set ``fields``; return the new job.

        Raises, without changing anything:

        * ``TypeError`` for a field outside :data:`veokit.store.rules.UPDATABLE_FIELDS`;
        * :class:`~veokit.errors.JobStateError` when ``to`` is not allowed from every expected state
          (so a terminal job never changes), or when the job is not in an expected state;
        * :class:`~veokit.errors.LeaseLost` when ``fence`` is given and differs from the job's ``lease_token``
          (checked before the state, because a worker that lost its lease must stop whatever the state);
        * :class:`~veokit.errors.JobNotFound`.

        ``updated_at`` is set on every change, ``finished_at`` when ``to`` is terminal. A
        :class:`JobEvent` is appended when the state changes or ``message`` is non-empty. The job's cost
        ledger rows follow the change (:func:`veokit.store.budget.ledger_change`); moving to ``submitting``
        reserves the estimate without checking caps: :meth:`begin_submit` is the checked way.
        """

    async def begin_submit(
        self,
        job_id: str,
        *,
        caps: BudgetCaps | None = None,
        fence: int | None = None,
        message: str = "",
        now: dt.datetime | None = None,
        passed: Collection[str] = (),
        **fields: Any,
    ) -> SubmitBegun:
        """``queued → submitting`` and the reservation of the job's estimate, only if ``caps`` allow it, and
        only if no twin holds the job back.

        Checked in one transaction under the budget lock (an advisory lock on PostgreSQL, the write lock on
        SQLite), so concurrent workers see each other's reservations: the sum reserved or spent for the UTC
        day of ``now`` never passes a cap. Raises, changing nothing: the errors of :meth:`transition` (a lost
        lease or a wrong state first), then :class:`~veokit.errors.BudgetExceeded`.

        The same transaction appends a :class:`~veokit.models.job.Submission` (the job's next ``seq``, owner
        ``lease_owner``, started at the new ``updated_at``): the paid call about to be made. Returned: the job
        as written and that submission's ``seq``.

        Twins (:mod:`veokit.store.twins`): when an identical seeded job holds this one back (by
        :func:`~veokit.store.twins.blocking` at ``now``, leaving out succeeded twins in ``passed``), its id is
        recorded as the job's ``twin_of`` (an event when it changes) and :class:`~veokit.errors.TwinInFlight`
        is raised after the lease and state checks and before the budget's; nothing else is written. The
        decision is serialised per fingerprint, so of twins submitted at once only one goes ahead. Going ahead
        clears ``twin_of``.
        """

    async def record_accepted(self, job_id: str, seq: int, operation_name: str) -> Submission:
        """Record that submit ``seq`` of the job was accepted as ``operation_name``; return the submission.

        Deliberately not fenced: the provider accepted the request whoever holds the lease now, and the
        operation must not be dropped. Set once: the same name again changes nothing; another name raises
        :class:`~veokit.errors.JobStateError`; an unknown job or ``seq`` :class:`~veokit.errors.JobNotFound`.
        """

    async def submissions(self, job_id: str) -> builtins.list[Submission]:
        """The job's submissions, oldest first (empty for an unknown job or one never submitted)."""

    async def lease_token(self, job_id: str) -> int:
        """The job's current ``lease_token`` alone (:class:`~veokit.errors.JobNotFound` for an unknown job): what
        a worker compares with its own right before a paid call, without reading the whole row."""

    async def claim(
        self,
        owner: str,
        *,
        lease_s: float,
        limit: int = 1,
        job_ids: Iterable[str] | None = None,
        now: dt.datetime | None = None,
        take_over: str | None = None,
    ) -> builtins.list[Job]:
        """Take the lease of up to ``limit`` claimable jobs, oldest first; return them with their new token.

        Claimable: in :data:`veokit.store.leases.CLAIMABLE` with a free lease (never taken, released, or
        expired at ``now``), and among ``job_ids`` when given. Each claim sets ``lease_owner=owner``,
        ``lease_expires_at=now+lease_s`` and increments ``lease_token``, so the previous holder's writes now
        raise ``LeaseLost``. Taking over an expired lease records an event. Concurrent claimers never get the
        same job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).

        ``take_over``: an owner the caller knows is dead (:func:`veokit.store.leases.owner_is_dead`); its
        leases count as free even before they expire.
        """

    async def renew(
        self, owner: str, leases: Mapping[str, int], *, lease_s: float, now: dt.datetime | None = None
    ) -> set[str]:
        """Heartbeat: extend to ``now+lease_s`` each lease in ``leases`` (job id → token) that ``owner`` still
        holds with that token, in one write. Returns the ids whose lease was lost (stop working on them)."""

    async def release(
        self,
        job_id: str,
        *,
        fence: int,
        delay_s: float = 0.0,
        message: str = "",
        error: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> Job:
        """Give the lease back: owner cleared, token incremented (the releaser's late writes fail), claimable
        again after ``delay_s`` (a back-off). ``error``, when given, replaces the job's error; ``message``
        adds an event. Releasing a terminal job changes nothing. ``LeaseLost`` when ``fence`` is stale."""

    async def release_many(
        self, leases: Mapping[str, int], *, message: str = "", now: dt.datetime | None = None
    ) -> set[str]:
        """:meth:`release` (no delay, error unchanged) for many leases (job id → token) at once, in few
        statements: what a worker stopping with thousands of jobs in flight does. Terminal jobs are left as
        they are. Returns the ids whose lease was lost (stale token or unknown job): those changed nothing."""

    async def get_many(self, job_ids: Iterable[str]) -> builtins.list[Job]:
        """The jobs with these ids, in the order given; unknown ids are skipped."""

    async def spend(self, *, since: str | None = None) -> SpendSummary:
        """The cost ledger grouped by UTC day, provider and model (days ``>= since``, ``YYYY-MM-DD``), and
        the queued jobs' estimates (nothing is reserved for them yet)."""

    async def events(self, job_id: str) -> builtins.list[JobEvent]:
        """The job's events, oldest first (empty for an unknown job)."""

    async def counts(self) -> dict[tuple[JobState, str], int]:
        """How many jobs are in each (state, provider): for metrics, without reading the jobs."""

    async def find_by_client_key(self, key: str) -> Job | None: ...

    async def find_succeeded_by_fingerprint(self, fingerprint: str) -> Job | None:
        """The most recently finished succeeded job with this fingerprint (for reusing results)."""

    # -- pacing shared by every worker (veokit.store.rate_slots) ------------------------------------------------
    async def take_rate_slot(self, key: str, *, gap_s: float, now: float | None = None) -> RateSlot:
        """Take the next free request slot of ``key`` (a provider): at ``now`` or later, at least ``gap_s`` after
        the slot taken before it by any process sharing the store. Returns the seconds from ``now`` until the
        slot (0 when it is free now), which the caller waits out on its own clock, and the take's number.

        Atomic across processes: slots taken concurrently never come closer than their ``gap_s``. ``now`` is
        seconds on the caller's time axis; ``None`` (production) means the store's clock, PostgreSQL's for a
        PostgreSQL store, so machines' clocks need not agree. A slot further ahead than
        :func:`veokit.store.rate_slots.horizon_s` is pulled back to it (a clock that went back costs a bounded
        wait). ``ValueError`` for an empty or over-long key, a ``gap_s`` that is not finite and positive, or a
        ``now`` that is not finite.
        """

    async def rate_slot_sent(
        self, key: str, *, seq: int, ago_s: float, count: int, window_s: float, now: float | None = None
    ) -> None:
        """Take ``seq`` of ``key``'s request left ``ago_s`` before ``now``: hold take ``seq + count`` to no
        earlier than ``window_s`` after that departure (the next take instead, if that one was handed out
        already), a sliding window over departures (see :mod:`veokit.store.rate_slots`). Never moves a slot
        earlier; a report for a key nothing was taken of does nothing. ``now`` as for :meth:`take_rate_slot`:
        the departure is reckoned back from the store's clock, so no process's clock crosses into another's.
        ``ValueError`` for a bad key or ``now`` (as for :meth:`take_rate_slot`), ``seq`` < 0, ``count`` < 1,
        ``ago_s`` < 0 or not finite, or ``window_s`` not finite and positive.
        """

    # -- blobs ----------------------------------------------------------------------------------------------
    async def put_blob(self, content: BlobSource, *, sha256: str | None = None) -> BlobRef:
        """Keep ``content`` once, named by its SHA-256, and return its reference.

        Idempotent: content already stored is not stored again, and when ``sha256`` is given and that blob
        exists, ``content`` is not even read. ``content`` is bytes or an async iterable of byte chunks of any
        size; it is hashed as it streams in and written in chunks, so memory stays flat however large it is.
        Content that does not hash to a given ``sha256`` raises ``ValueError`` and stores nothing; a put
        interrupted part-way leaves nothing readable.
        """

    async def has_blob(self, sha256: str) -> bool:
        """Whether a blob with this SHA-256 is stored (completely)."""

    async def get_blob(self, sha256: str) -> bytes:
        """The blob's content, checked against its hash: :class:`~veokit.store.blobs.BlobNotFound`, or
        :class:`~veokit.store.blobs.BlobCorrupt` when the stored bytes no longer match it."""

    def read_blob(self, sha256: str) -> AsyncIterator[bytes]:
        """The blob's content in chunks, for flat memory. ``BlobNotFound`` comes before the first chunk;
        ``BlobCorrupt`` after the last, when what was read does not match the hash (discard it)."""

    # -- the HTTP service's keys and the videos they own (veokit.store.tenancy) --------------------------------
    async def add_key(self, key: ApiKey) -> ApiKey:
        """Store a new key; :class:`~veokit.errors.KeyNameError` when its name is taken (revoked too)."""

    async def list_keys(self) -> builtins.list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The unrevoked key whose secret hashes to ``key_hash``."""

    async def revoke_key(self, name: str, *, now: dt.datetime | None = None) -> ApiKey:
        """Revoke the key called ``name`` (idempotent: a revoked key keeps its first revocation time);
        :class:`~veokit.errors.KeyNameError` when there is none."""

    async def create_owned(
        self,
        job: Job,
        owner: Ownership,
        *,
        limits: KeyLimits | None = None,
        message: str = "created",
        now: dt.datetime | None = None,
    ) -> tuple[Job, bool]:
        """Record ``job`` as the key's, in one transaction serialised per key; return ``(stored, True)``.

        With ``owner.idempotency_key`` already used by this key: ``(that job, False)`` when the request hash is
        the same, :class:`~veokit.errors.IdempotencyConflict` when not. Else ``limits`` are checked
        against the key's usage on the UTC day of ``now`` (:func:`veokit.store.tenancy.admit`):
        :class:`~veokit.errors.TooManyInFlight` or :class:`~veokit.errors.BudgetExceeded`
        (``cap="key"``), writing nothing."""

    async def get_owned(self, key_id: str, job_id: str) -> Job:
        """The job if this key owns it and has not deleted it; :class:`~veokit.errors.JobNotFound` otherwise
        (another key's job and a missing one look the same)."""

    async def list_owned(
        self, key_id: str, *, after: str | None = None, limit: int = 20, ascending: bool = False
    ) -> builtins.list[Job]:
        """The key's undeleted jobs by creation time (newest first, or oldest with ``ascending``), after the
        job ``after`` (a cursor: an id this key owns; an unknown one is ignored)."""

    async def delete_owned(self, key_id: str, job_id: str, *, now: dt.datetime | None = None) -> Job:
        """Hide the job from its key for good (its job record and costs stay); return it as it was.
        :class:`~veokit.errors.JobNotFound` as :meth:`get_owned`."""

    async def key_usage(self, key_id: str, *, now: dt.datetime | None = None) -> KeyUsage:
        """What the key's jobs committed on the UTC day of ``now``, its queued estimates and jobs in flight."""

    async def due_webhooks(
        self, *, lease_s: float, limit: int = 50, now: dt.datetime | None = None
    ) -> builtins.list[WebhookDue]:
        """Pending webhooks of finished jobs whose retry time has come, oldest finished first; each is leased
        to the caller for ``lease_s`` (``attempt`` counts up), so concurrent deliverers never take the same."""

    async def webhook_result(
        self, job_id: str, *, delivered: bool, error: str | None = None, retry_at: dt.datetime | None = None
    ) -> None:
        """Record an attempt: delivered; or failed, tried again at ``retry_at`` (``None``: given up)."""
