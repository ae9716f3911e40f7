"""In-process job store for tests and `memory://`: the SQL store's semantics without persistence."""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import hashlib
import time
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from veokit.errors import JobNotFound, JobStateError, TwinInFlight
from veokit.models.inputs import BlobRef
from veokit.models.job import Job, JobEvent, JobState, Submission, SubmitBegun, utcnow
from veokit.store import blobs, budget, rate_slots, rules, twins
from veokit.store import leases as lease_rules
from veokit.store.budget import BudgetCaps, LedgerStatus, SpendSummary
from veokit.store.codec import clone, normalise_job
from veokit.store.memory_tenancy import MemoryTenancy
from veokit.store.rate_slots import RateSlot

S = JobState


@dataclass(frozen=True)
class _LedgerRow:
    seq: int
    day: str
    provider: str
    model: str
    estimate_usd: float
    amount_usd: float
    status: LedgerStatus


class MemoryJobStore(MemoryTenancy):
    """Stored jobs are JSON round-tripped on the way in and copied on the way out, so callers never share
    mutable state with the store and see the same values a database would return. One lock makes every
    operation atomic, which is what the SQL stores get from transactions."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, builtins.list[JobEvent]] = {}
        self._ledger: dict[str, builtins.list[_LedgerRow]] = {}
        self._blobs: dict[str, bytes] = {}
        MemoryTenancy.__init__(self)
        self._submissions: dict[str, builtins.list[Submission]] = {}
        self._next_free: dict[str, float] = {}  # rate slots, on the wall clock unless callers pass ``now``
        self._taken: dict[str, int] = {}  # rate slots taken per key: the next take's number
        self._holds: dict[str, dict[int, float]] = {}  # per key: take number → not before (rate_slots.hold)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def take_rate_slot(self, key: str, *, gap_s: float, now: float | None = None) -> RateSlot:
        rate_slots.check(key, gap_s, now)
        at = time.time() if now is None else now
        async with self._lock:
            seq = self._taken.get(key, 0)
            held = self._holds.setdefault(key, {}).pop(seq, None)
            slot, self._next_free[key] = rate_slots.take(self._next_free.get(key), held, at, gap_s)
            self._taken[key] = seq + 1
        return RateSlot(slot - at, seq)

    async def rate_slot_sent(
        self, key: str, *, seq: int, ago_s: float, count: int, window_s: float, now: float | None = None
    ) -> None:
        rate_slots.check(key, 1.0, now)
        rate_slots.check_sent(seq, ago_s, count, window_s, now)
        index, not_before = rate_slots.hold(seq, (time.time() if now is None else now) - ago_s, count, window_s)
        async with self._lock:
            if key not in self._next_free:
                return  # nothing taken, nothing to hold
            if index < self._taken[key]:  # reported after that take was handed out: hold the next one instead
                self._next_free[key] = max(self._next_free[key], not_before)
            else:
                holds = self._holds[key]
                holds[index] = max(holds.get(index, not_before), not_before)

    async def create(self, job: Job, *, message: str = "created") -> Job:
        stored, _ = await self.create_or_get(job, message=message)
        return stored

    async def create_or_get(self, job: Job, *, message: str = "created") -> tuple[Job, bool]:
        job = normalise_job(job)
        async with self._lock:
            if job.client_key is not None:
                existing = self._by_client_key(job.client_key)
                if existing is not None:
                    return clone(existing), False
            if job.id in self._jobs:
                raise JobStateError(f"job {job.id} already exists")
            self._jobs[job.id] = job
            self._events[job.id] = [
                JobEvent(job_id=job.id, at=job.created_at, from_state=None, to_state=job.state, message=message)
            ]
            return clone(job), True

    async def create_many(
        self, jobs: builtins.list[Job], *, messages: builtins.list[str] | None = None
    ) -> builtins.list[tuple[Job, bool]]:
        texts = rules.create_messages(jobs, messages)
        return [await self.create_or_get(job, message=text) for job, text in zip(jobs, texts, strict=True)]

    async def get(self, job_id: str) -> Job:
        async with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(f"job {job_id} not found")
            return clone(job)

    async def get_many(self, job_ids: Iterable[str]) -> builtins.list[Job]:
        async with self._lock:
            return [clone(self._jobs[i]) for i in dict.fromkeys(job_ids) if i in self._jobs]

    async def list(self, *, states: Iterable[JobState] | None = None, limit: int = 100) -> builtins.list[Job]:
        rules.check_limit(limit)
        wanted = None if states is None else {JobState(s) for s in states}
        async with self._lock:
            jobs = [j for j in self._jobs.values() if wanted is None or j.state in wanted]
        jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
        return [clone(j) for j in jobs[:limit]]

    # -- state changes --------------------------------------------------------------------------------------
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
        expected = rules.expected_states(expect)
        to = JobState(to)
        rules.check_allowed(job_id, expected, to)
        values = rules.validate_fields(fields)
        async with self._lock:
            self._check(job_id, expected, fence)
            return self._apply(job_id, to, values, message, budget.budget_day(utcnow()))

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
        rules.check_allowed(job_id, (S.QUEUED,), S.SUBMITTING)
        values = rules.validate_fields(fields)
        at = lease_rules.current_time(now)
        day = budget.budget_day(at)
        async with self._lock:
            job = self._check(job_id, (S.QUEUED,), fence)
            twin = twins.blocking(job, self._jobs.values(), now=at, passed=passed)
            if twin is not None:
                if job.twin_of != twin.id:
                    self._apply(job_id, S.QUEUED, {"twin_of": twin.id}, twins.waiting_message(twin), day)
                raise TwinInFlight(twins.held_back(job_id, twin), twin_id=twin.id)
            values["twin_of"] = None  # it pays for its own video: it waits for no twin now
            if caps is not None:
                caps.check_job(job.id, job.estimate_usd, job.provider)
                if caps.needs_ledger:
                    caps.check_day(
                        job,
                        day=day,
                        committed_usd=self._committed(day, exclude=caps.emulated),
                        committed_provider_usd=self._committed(day, job.provider),
                    )
            job = self._apply(job_id, S.SUBMITTING, values, message, day)
            begun = self._submissions.setdefault(job_id, [])
            begun.append(
                Submission(
                    job_id=job_id,
                    seq=len(begun) + 1,
                    owner=job.lease_owner,
                    provider=job.provider,
                    started_at=job.updated_at,
                )
            )
            return SubmitBegun(job, len(begun))

    async def record_accepted(self, job_id: str, seq: int, operation_name: str) -> Submission:
        async with self._lock:
            begun = self._submissions.get(job_id, [])
            if not 1 <= seq <= len(begun):
                raise JobNotFound(f"job {job_id} has no submit #{seq}")
            found = begun[seq - 1]
            if found.operation_name is None:
                found = found.model_copy(update={"operation_name": operation_name, "accepted_at": utcnow()})
                begun[seq - 1] = found
            if found.operation_name != operation_name:
                raise JobStateError(
                    f"job {job_id}: submit #{seq} already recorded operation {found.operation_name}, "
                    f"not {operation_name}"
                )
            return found

    async def submissions(self, job_id: str) -> builtins.list[Submission]:
        async with self._lock:
            return builtins.list(self._submissions.get(job_id, []))

    async def lease_token(self, job_id: str) -> int:
        async with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(f"job {job_id} not found")
            return job.lease_token

    def _check(self, job_id: str, expected: tuple[JobState, ...], fence: int | None) -> Job:
        current = self._jobs.get(job_id)
        if current is None or current.state not in expected or (fence is not None and current.lease_token != fence):
            raise rules.mismatch_error(job_id, current, expected, fence)
        return current

    def _apply(self, job_id: str, to: JobState, values: dict[str, Any], message: str, day: str) -> Job:
        current = self._jobs[job_id]
        now = utcnow()
        updated = clone(current.model_copy(update=rules.changes(to, values, now)))
        self._jobs[job_id] = updated
        if rules.records_event(current.state, to, message):
            self._events[job_id].append(
                JobEvent(job_id=job_id, at=now, from_state=current.state, to_state=to, message=message)
            )
        self._follow_ledger(current.state, updated, day)
        return clone(updated)

    # -- the cost ledger ------------------------------------------------------------------------------------
    def _follow_ledger(self, src: JobState, job: Job, day: str) -> None:
        change = budget.ledger_change(src, job.state)
        rows = self._ledger.setdefault(job.id, [])
        if change is None:
            return
        if change == budget.RESERVE:
            rows.append(
                _LedgerRow(
                    len(rows) + 1,
                    day,
                    job.provider,
                    job.model,
                    job.estimate_usd,
                    job.estimate_usd,
                    LedgerStatus.RESERVED,
                )
            )
            return
        assert isinstance(change, budget.Settle)
        for i, row in enumerate(rows):
            if (change.all_rows or i == len(rows) - 1) and row.status in change.when:
                amount = budget.settled_amount(change, job, row.amount_usd)
                rows[i] = replace(row, status=change.to, amount_usd=amount)

    def _committed(self, day: str, provider: str | None = None, *, exclude: Collection[str] = ()) -> float:
        return sum(
            r.amount_usd
            for rows in self._ledger.values()
            for r in rows
            if r.day == day and provider in (None, r.provider) and r.provider not in exclude
        )

    async def spend(self, *, since: str | None = None) -> SpendSummary:
        async with self._lock:
            groups: dict[tuple[str, str, str, str], list[float]] = {}
            for rows in self._ledger.values():
                for r in rows:
                    if since is None or r.day >= since:
                        slot = groups.setdefault((r.day, r.provider, r.model, r.status.value), [0, 0.0, 0.0])
                        slot[0] += 1
                        slot[1] += r.amount_usd
                        slot[2] += r.estimate_usd
            queued = [j for j in self._jobs.values() if j.state is S.QUEUED]
        folded = budget.fold_spend([(*k, int(v[0]), v[1], v[2]) for k, v in groups.items()])
        return SpendSummary(folded, len(queued), round(sum(j.estimate_usd for j in queued), 4))

    # -- leases ---------------------------------------------------------------------------------------------
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
        lease_rules.check_claim(owner, lease_s, limit)
        at = lease_rules.current_time(now)
        only = None if job_ids is None else set(job_ids)
        async with self._lock:
            free = sorted(
                (
                    j
                    for j in self._jobs.values()
                    if j.state in lease_rules.CLAIMABLE
                    and (only is None or j.id in only)
                    and (
                        j.lease_expires_at is None
                        or j.lease_expires_at <= at
                        or (take_over is not None and j.lease_owner == take_over)
                    )
                ),
                key=lambda j: (j.created_at, j.id),
            )[:limit]
            stamp = utcnow()
            claimed = []
            for job in free:
                taken = clone(
                    job.model_copy(
                        update={
                            "lease_owner": owner,
                            "lease_token": job.lease_token + 1,
                            "lease_expires_at": lease_rules.until(at, lease_s),
                            "updated_at": stamp,
                        }
                    )
                )
                self._jobs[job.id] = taken
                if job.lease_owner is not None:
                    self._events[job.id].append(
                        JobEvent(
                            job_id=job.id,
                            at=stamp,
                            from_state=job.state,
                            to_state=job.state,
                            message=lease_rules.takeover_message(job.lease_owner, owner),
                        )
                    )
                claimed.append(clone(taken))
            return claimed

    async def renew(
        self, owner: str, leases: Mapping[str, int], *, lease_s: float, now: dt.datetime | None = None
    ) -> set[str]:
        lease_rules.check_owner(owner)
        lease_rules.check_seconds("lease_s", lease_s)
        expires = lease_rules.until(lease_rules.current_time(now), lease_s)
        lost = set()
        async with self._lock:
            for job_id, token in leases.items():
                job = self._jobs.get(job_id)
                if job is None or job.lease_owner != owner or job.lease_token != token:
                    lost.add(job_id)
                    continue
                self._jobs[job_id] = job.model_copy(update={"lease_expires_at": expires})
        return lost

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
        lease_rules.check_seconds("delay_s", delay_s, allow_zero=True)
        at = lease_rules.current_time(now)
        extra = {} if error is None else rules.validate_fields({"error": error})
        async with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.lease_token != fence:
                raise rules.mismatch_error(job_id, job, lease_rules.CLAIMABLE if job is None else (job.state,), fence)
            if job.state.terminal:
                return clone(job)
            stamp = utcnow()
            released = clone(
                job.model_copy(
                    update={
                        "lease_owner": None,
                        "lease_token": job.lease_token + 1,
                        "lease_expires_at": lease_rules.until(at, delay_s) if delay_s > 0 else None,
                        "updated_at": stamp,
                        **extra,
                    }
                )
            )
            self._jobs[job_id] = released
            if message:
                self._events[job_id].append(
                    JobEvent(job_id=job_id, at=stamp, from_state=job.state, to_state=job.state, message=message)
                )
            return clone(released)

    async def release_many(
        self, leases: Mapping[str, int], *, message: str = "", now: dt.datetime | None = None
    ) -> set[str]:
        lease_rules.current_time(now)  # checked as release() checks it; no delay, so the time is not used
        lost: set[str] = set()
        async with self._lock:
            stamp = utcnow()
            for job_id, fence in leases.items():
                job = self._jobs.get(job_id)
                if job is None or job.lease_token != fence:
                    lost.add(job_id)
                    continue
                if job.state.terminal:
                    continue
                update = {"lease_owner": None, "lease_token": fence + 1, "lease_expires_at": None, "updated_at": stamp}
                self._jobs[job_id] = clone(job.model_copy(update=update))
                if message:
                    self._events[job_id].append(
                        JobEvent(job_id=job_id, at=stamp, from_state=job.state, to_state=job.state, message=message)
                    )
        return lost

    # -- look-ups -------------------------------------------------------------------------------------------
    async def events(self, job_id: str) -> builtins.list[JobEvent]:
        async with self._lock:
            return list(self._events.get(job_id, ()))  # JobEvent is frozen and holds no mutable values

    async def counts(self) -> dict[tuple[JobState, str], int]:
        async with self._lock:
            found: dict[tuple[JobState, str], int] = {}
            for j in self._jobs.values():
                found[(j.state, j.provider)] = found.get((j.state, j.provider), 0) + 1
            return found

    async def find_by_client_key(self, key: str) -> Job | None:
        async with self._lock:
            job = self._by_client_key(key)
            return None if job is None else clone(job)

    async def find_succeeded_by_fingerprint(self, fingerprint: str) -> Job | None:
        async with self._lock:
            matches = [j for j in self._jobs.values() if j.fingerprint == fingerprint and j.state is JobState.SUCCEEDED]
        if not matches:
            return None
        return clone(max(matches, key=lambda j: (j.finished_at or j.created_at, j.id)))

    def _by_client_key(self, key: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.client_key == key), None)

    # -- blobs ----------------------------------------------------------------------------------------------
    async def put_blob(self, content: blobs.BlobSource, *, sha256: str | None = None) -> BlobRef:
        if sha256 is not None and blobs.check_sha256(sha256) in self._blobs:
            return BlobRef(sha256=sha256, size=len(self._blobs[sha256]))
        data = bytes(content) if isinstance(content, bytes | bytearray) else b"".join([c async for c in content])
        digest = hashlib.sha256(data).hexdigest()
        if sha256 is not None and digest != sha256:
            raise blobs.mismatch(sha256, digest)
        self._blobs.setdefault(digest, data)
        return BlobRef(sha256=digest, size=len(data))

    async def has_blob(self, sha256: str) -> bool:
        return blobs.check_sha256(sha256) in self._blobs

    async def get_blob(self, sha256: str) -> bytes:
        data = self._blobs.get(blobs.check_sha256(sha256))
        if data is None:
            raise blobs.BlobNotFound(f"no blob {sha256}")
        return data  # bytes are immutable: sharing them is safe

    async def read_blob(self, sha256: str) -> AsyncIterator[bytes]:
        data = await self.get_blob(sha256)
        async for chunk in blobs.chunks_of(data):
            yield chunk
