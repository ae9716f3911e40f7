"""A store whose state changes carry the lease token of the job run in progress, when there is one.

The engine writes through ``store.transition`` in many places. A worker runs each job inside
``with lease_fence(token):`` (a context variable, so private to that job's task and the tasks it starts), and
every one of those writes becomes a compare-and-set on the worker's lease, including writes added later.
Outside such a block the store behaves exactly like the one it wraps.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from veokit.errors import LeaseLost
from veokit.models.inputs import BlobRef
from veokit.models.job import Job, JobEvent, JobState, Submission, SubmitBegun
from veokit.store.base import JobStore
from veokit.store.blobs import BlobSource
from veokit.store.budget import BudgetCaps, SpendSummary
from veokit.store.rate_slots import RateSlot
from veokit.store.tenancy import ApiKey, KeyLimits, KeyUsage, Ownership, WebhookDue

_FENCE: ContextVar[int | None] = ContextVar("veokit_lease_fence", default=None)


@contextmanager
def lease_fence(token: int) -> Iterator[None]:
    """Fence every state change made through a :class:`FencedStore` in this context by ``token``."""
    reset = _FENCE.set(token)
    try:
        yield
    finally:
        _FENCE.reset(reset)


class FencedStore:
    def __init__(self, inner: JobStore) -> None:
        self.inner = inner

    @classmethod
    def wrap(cls, store: JobStore) -> FencedStore:
        return store if isinstance(store, FencedStore) else cls(store)

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
        return await self.inner.transition(
            job_id, expect=expect, to=to, message=message, fence=_FENCE.get() if fence is None else fence, **fields
        )

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
        return await self.inner.begin_submit(
            job_id,
            caps=caps,
            fence=_FENCE.get() if fence is None else fence,
            message=message,
            now=now,
            passed=passed,
            **fields,
        )

    async def check_fence(self, job_id: str) -> None:
        """:class:`~veokit.errors.LeaseLost` unless this context's lease (if any) still holds the job: checked
        right before a paid call, which must not go out once another worker may have decided the job."""
        fence = _FENCE.get()
        if fence is not None and await self.inner.lease_token(job_id) != fence:
            raise LeaseLost(f"job {job_id}: lease lost (token {fence} is stale); not sending")

    # Everything else passes through unchanged; recording an accepted operation is unfenced on purpose.
    async def record_accepted(self, job_id: str, seq: int, operation_name: str) -> Submission:
        return await self.inner.record_accepted(job_id, seq, operation_name)

    async def submissions(self, job_id: str) -> builtins.list[Submission]:
        return await self.inner.submissions(job_id)

    async def lease_token(self, job_id: str) -> int:
        return await self.inner.lease_token(job_id)

    async def take_rate_slot(self, key: str, *, gap_s: float, now: float | None = None) -> RateSlot:
        return await self.inner.take_rate_slot(key, gap_s=gap_s, now=now)

    async def rate_slot_sent(
        self, key: str, *, seq: int, ago_s: float, count: int, window_s: float, now: float | None = None
    ) -> None:
        await self.inner.rate_slot_sent(key, seq=seq, ago_s=ago_s, count=count, window_s=window_s, now=now)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def create(self, job: Job, *, message: str = "created") -> Job:
        return await self.inner.create(job, message=message)

    async def create_or_get(self, job: Job, *, message: str = "created") -> tuple[Job, bool]:
        return await self.inner.create_or_get(job, message=message)

    async def create_many(
        self, jobs: builtins.list[Job], *, messages: builtins.list[str] | None = None
    ) -> builtins.list[tuple[Job, bool]]:
        return await self.inner.create_many(jobs, messages=messages)

    async def get(self, job_id: str) -> Job:
        return await self.inner.get(job_id)

    async def get_many(self, job_ids: Iterable[str]) -> builtins.list[Job]:
        return await self.inner.get_many(job_ids)

    async def list(self, *, states: Iterable[JobState] | None = None, limit: int = 100) -> builtins.list[Job]:
        return await self.inner.list(states=states, limit=limit)

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
        return await self.inner.claim(
            owner, lease_s=lease_s, limit=limit, job_ids=job_ids, now=now, take_over=take_over
        )

    async def renew(
        self, owner: str, leases: Mapping[str, int], *, lease_s: float, now: dt.datetime | None = None
    ) -> set[str]:
        return await self.inner.renew(owner, leases, lease_s=lease_s, now=now)

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
        return await self.inner.release(job_id, fence=fence, delay_s=delay_s, message=message, error=error, now=now)

    async def release_many(
        self, leases: Mapping[str, int], *, message: str = "", now: dt.datetime | None = None
    ) -> set[str]:
        return await self.inner.release_many(leases, message=message, now=now)

    async def spend(self, *, since: str | None = None) -> SpendSummary:
        return await self.inner.spend(since=since)

    async def events(self, job_id: str) -> builtins.list[JobEvent]:
        return await self.inner.events(job_id)

    async def counts(self) -> dict[tuple[JobState, str], int]:
        return await self.inner.counts()

    async def find_by_client_key(self, key: str) -> Job | None:
        return await self.inner.find_by_client_key(key)

    async def find_succeeded_by_fingerprint(self, fingerprint: str) -> Job | None:
        return await self.inner.find_succeeded_by_fingerprint(fingerprint)

    async def put_blob(self, content: BlobSource, *, sha256: str | None = None) -> BlobRef:
        return await self.inner.put_blob(content, sha256=sha256)

    async def has_blob(self, sha256: str) -> bool:
        return await self.inner.has_blob(sha256)

    async def get_blob(self, sha256: str) -> bytes:
        return await self.inner.get_blob(sha256)

    def read_blob(self, sha256: str) -> AsyncIterator[bytes]:
        return self.inner.read_blob(sha256)

    async def add_key(self, key: ApiKey) -> ApiKey:
        return await self.inner.add_key(key)

    async def list_keys(self) -> builtins.list[ApiKey]:
        return await self.inner.list_keys()

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        return await self.inner.key_by_hash(key_hash)

    async def revoke_key(self, name: str, *, now: dt.datetime | None = None) -> ApiKey:
        return await self.inner.revoke_key(name, now=now)

    async def create_owned(
        self,
        job: Job,
        owner: Ownership,
        *,
        limits: KeyLimits | None = None,
        message: str = "created",
        now: dt.datetime | None = None,
    ) -> tuple[Job, bool]:
        return await self.inner.create_owned(job, owner, limits=limits, message=message, now=now)

    async def get_owned(self, key_id: str, job_id: str) -> Job:
        return await self.inner.get_owned(key_id, job_id)

    async def list_owned(
        self, key_id: str, *, after: str | None = None, limit: int = 20, ascending: bool = False
    ) -> builtins.list[Job]:
        return await self.inner.list_owned(key_id, after=after, limit=limit, ascending=ascending)

    async def delete_owned(self, key_id: str, job_id: str, *, now: dt.datetime | None = None) -> Job:
        return await self.inner.delete_owned(key_id, job_id, now=now)

    async def key_usage(self, key_id: str, *, now: dt.datetime | None = None) -> KeyUsage:
        return await self.inner.key_usage(key_id, now=now)

    async def due_webhooks(
        self, *, lease_s: float, limit: int = 50, now: dt.datetime | None = None
    ) -> builtins.list[WebhookDue]:
        return await self.inner.due_webhooks(lease_s=lease_s, limit=limit, now=now)

    async def webhook_result(
        self, job_id: str, *, delivered: bool, error: str | None = None, retry_at: dt.datetime | None = None
    ) -> None:
        await self.inner.webhook_result(job_id, delivered=delivered, error=error, retry_at=retry_at)
