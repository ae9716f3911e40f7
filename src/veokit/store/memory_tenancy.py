"""The memory store's keys, owned videos and webhooks (:mod:`veokit.store.tenancy`), under the store's one lock."""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from veokit.errors import JobNotFound, JobStateError
from veokit.models.job import TERMINAL, Job, JobEvent
from veokit.store import budget, rules, tenancy
from veokit.store import leases as lease_rules
from veokit.store.codec import clone, normalise_job
from veokit.store.tenancy import ApiKey, KeyLimits, KeyNameError, KeyUsage, Ownership, WebhookDue, WebhookStatus

if TYPE_CHECKING:
    from veokit.store.memory import _LedgerRow


@dataclass(frozen=True)
class _Owned:
    key_id: str
    created_at: dt.datetime
    idempotency_key: str | None
    request_hash: str | None
    deleted_at: dt.datetime | None = None
    webhook_status: WebhookStatus = WebhookStatus.NONE
    webhook_attempts: int = 0
    webhook_next_at: dt.datetime | None = None
    webhook_error: str | None = None


class MemoryTenancy:
    """Mixed into :class:`~veokit.store.memory.MemoryJobStore`, whose state it shares."""

    _lock: asyncio.Lock
    _jobs: dict[str, Job]
    _events: dict[str, builtins.list[JobEvent]]
    _ledger: dict[str, builtins.list[_LedgerRow]]

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}  # by id
        self._owned: dict[str, _Owned] = {}  # by job id

    async def add_key(self, key: ApiKey) -> ApiKey:
        async with self._lock:
            if any(k.name == key.name for k in self._keys.values()):
                raise KeyNameError(f"name: a key named {key.name!r} already exists", field="name")
            if any(k.key_hash == key.key_hash for k in self._keys.values()) or key.id in self._keys:
                raise KeyNameError("name: a key with this secret already exists", field="name")
            self._keys[key.id] = ApiKey.model_validate_json(key.model_dump_json())
            return self._keys[key.id]

    async def list_keys(self) -> builtins.list[ApiKey]:
        async with self._lock:
            return sorted(self._keys.values(), key=lambda k: (k.created_at, k.name))

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        async with self._lock:
            return next((k for k in self._keys.values() if k.key_hash == key_hash and k.active), None)

    async def revoke_key(self, name: str, *, now: dt.datetime | None = None) -> ApiKey:
        async with self._lock:
            key = next((k for k in self._keys.values() if k.name == name), None)
            if key is None:
                raise KeyNameError(f"name: there is no key named {name!r}", field="name")
            if key.active:
                key = self._keys[key.id] = key.model_copy(update={"revoked_at": lease_rules.current_time(now)})
            return key

    async def create_owned(
        self,
        job: Job,
        owner: Ownership,
        *,
        limits: KeyLimits | None = None,
        message: str = "created",
        now: dt.datetime | None = None,
    ) -> tuple[Job, bool]:
        job = normalise_job(job)
        day = budget.budget_day(lease_rules.current_time(now))
        async with self._lock:
            if owner.idempotency_key is not None:
                found = next(
                    (
                        (job_id, o)
                        for job_id, o in self._owned.items()
                        if o.key_id == owner.key_id and o.idempotency_key == owner.idempotency_key
                    ),
                    None,
                )
                if found is not None:
                    tenancy.check_replay(found[1].request_hash, owner, found[0])
                    return clone(self._jobs[found[0]]), False
            if limits is not None and limits.any:
                tenancy.admit(owner.key_name, limits, self._usage(owner.key_id, day), job.estimate_usd)
            if job.id in self._jobs:
                raise JobStateError(f"job {job.id} already exists")
            self._jobs[job.id] = job
            self._events[job.id] = [
                JobEvent(job_id=job.id, at=job.created_at, from_state=None, to_state=job.state, message=message)
            ]
            self._owned[job.id] = _Owned(
                owner.key_id,
                job.created_at,
                owner.idempotency_key,
                owner.request_hash,
                webhook_status=WebhookStatus.PENDING if owner.notify else WebhookStatus.NONE,
            )
            return clone(job), True

    def _usage(self, key_id: str, day: str) -> KeyUsage:
        mine = [job_id for job_id, o in self._owned.items() if o.key_id == key_id]
        committed = sum(r.amount_usd for job_id in mine for r in self._ledger.get(job_id, ()) if r.day == day)
        queued = sum(self._jobs[j].estimate_usd for j in mine if self._jobs[j].state.value == "queued")
        flying = sum(self._jobs[j].state in tenancy.IN_FLIGHT for j in mine)
        return KeyUsage(day, round(committed, 4), round(queued, 4), flying)

    def _visible(self, key_id: str, job_id: str) -> Job | None:
        owned = self._owned.get(job_id)
        if owned is None or owned.key_id != key_id or owned.deleted_at is not None:
            return None
        return self._jobs[job_id]

    async def get_owned(self, key_id: str, job_id: str) -> Job:
        async with self._lock:
            job = self._visible(key_id, job_id)
            if job is None:
                raise JobNotFound(f"job {job_id} not found")
            return clone(job)

    async def list_owned(
        self, key_id: str, *, after: str | None = None, limit: int = 20, ascending: bool = False
    ) -> builtins.list[Job]:
        rules.check_limit(limit)
        async with self._lock:
            mine = sorted(
                ((o.created_at, job_id) for job_id, o in self._owned.items() if self._visible(key_id, job_id)),
                reverse=not ascending,
            )
            mark = self._owned.get(after) if after is not None else None
            if after is not None and mark is not None and mark.key_id == key_id:
                bound = (mark.created_at, after)
                mine = [p for p in mine if (p > bound if ascending else p < bound)]
            return [clone(self._jobs[job_id]) for _, job_id in mine[:limit]]

    async def delete_owned(self, key_id: str, job_id: str, *, now: dt.datetime | None = None) -> Job:
        async with self._lock:
            job = self._visible(key_id, job_id)
            if job is None:
                raise JobNotFound(f"job {job_id} not found")
            self._owned[job_id] = replace(self._owned[job_id], deleted_at=lease_rules.current_time(now))
            return clone(job)

    async def key_usage(self, key_id: str, *, now: dt.datetime | None = None) -> KeyUsage:
        async with self._lock:
            return self._usage(key_id, budget.budget_day(lease_rules.current_time(now)))

    async def due_webhooks(
        self, *, lease_s: float, limit: int = 50, now: dt.datetime | None = None
    ) -> builtins.list[WebhookDue]:
        lease_rules.check_seconds("lease_s", lease_s)
        at = lease_rules.current_time(now)
        async with self._lock:
            due = sorted(
                (
                    (self._jobs[job_id].finished_at or at, job_id)
                    for job_id, o in self._owned.items()
                    if o.webhook_status is WebhookStatus.PENDING
                    and self._jobs[job_id].state in TERMINAL
                    and (o.webhook_next_at is None or o.webhook_next_at <= at)
                )
            )[:limit]
            out = []
            for _, job_id in due:
                o = self._owned[job_id] = replace(
                    self._owned[job_id],
                    webhook_attempts=self._owned[job_id].webhook_attempts + 1,
                    webhook_next_at=lease_rules.until(at, lease_s),
                )
                out.append(WebhookDue(clone(self._jobs[job_id]), self._keys[o.key_id], o.webhook_attempts))
            return out

    async def webhook_result(
        self, job_id: str, *, delivered: bool, error: str | None = None, retry_at: dt.datetime | None = None
    ) -> None:
        async with self._lock:
            o = self._owned.get(job_id)
            if o is None or o.webhook_status is not WebhookStatus.PENDING:
                return
            if delivered:
                o = replace(o, webhook_status=WebhookStatus.DELIVERED, webhook_next_at=None, webhook_error=None)
            elif retry_at is None:
                o = replace(
                    o, webhook_status=WebhookStatus.FAILED, webhook_next_at=None, webhook_error=(error or "")[:500]
                )
            else:
                o = replace(o, webhook_next_at=retry_at, webhook_error=(error or "")[:500])
            self._owned[job_id] = o
