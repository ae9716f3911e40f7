"""One contract for every JobStore backend: memory, SQLite, and PostgreSQL when VEOKIT_TEST_PG_URL is set.

VEOKIT_TEST_PG_URL must name a disposable database: each PostgreSQL test deletes every job in it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import sys
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from veokit.errors import ConfigError, JobNotFound, JobStateError, LeaseLost
from veokit.models.job import TERMINAL, Job, JobState, SubmitBegun, VideoResult, new_job_id, utcnow
from veokit.store import MemoryJobStore, SqlJobStore, codec, create_store, open_store, resolve_url, sql_leases
from veokit.store.base import JobStore
from veokit.store.blobs import CHUNK_BYTES, BlobCorrupt, BlobNotFound, file_chunks
from veokit.store.migrate import HEAD, VERSION_TABLE, alembic_config
from veokit.store.schema import (
    api_keys,
    api_videos,
    blob_chunks,
    blobs,
    budget_ledger,
    job_events,
    jobs,
    metadata,
    submissions,
)

S = JobState
PG_URL = os.environ.get("VEOKIT_TEST_PG_URL")
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BACKENDS = ["memory", *SQL_BACKENDS]

Opener = Callable[[], Awaitable[JobStore]]


@pytest.fixture(params=BACKENDS)
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens store instances over one storage: separate instances (as separate processes would have) for
    SQL backends, the one shared instance for memory. All are closed at teardown."""
    backend: str = request.param
    opened: list[JobStore] = []
    memory = MemoryJobStore()

    async def open_one() -> JobStore:
        if backend == "memory":
            store: JobStore = memory
        elif backend == "sqlite":
            store = SqlJobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
        else:
            if not PG_URL:
                pytest.skip("set VEOKIT_TEST_PG_URL to a disposable PostgreSQL database to run these")
            store = await open_store(PG_URL)
        await store.open()
        opened.append(store)
        return store

    if backend == "postgres":
        first = await open_one()
        assert isinstance(first, SqlJobStore)
        async with first.engine.begin() as conn:
            await conn.execute(sa.delete(api_videos))
            await conn.execute(sa.delete(api_keys))
            await conn.execute(sa.delete(budget_ledger))
            await conn.execute(sa.delete(submissions))
            await conn.execute(sa.delete(job_events))
            await conn.execute(sa.delete(jobs))
            await conn.execute(sa.delete(blobs))  # and their chunks (cascade)
    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(opener: Opener) -> JobStore:
    return await opener()


def make_job(**overrides: Any) -> Job:
    now = utcnow()
    fields: dict[str, Any] = {
        "id": new_job_id(),
        "state": S.QUEUED,
        "provider": "gemini",
        "model": "veo-3.0-fast-generate-001",
        "request": {"prompt": "a red fox in snow", "duration_s": 8, "nested": {"seed": 7, "tags": ["a", "b"]}},
        "fingerprint": "fp-" + uuid.uuid4().hex,
        "out_dir": "/tmp/veokit-out",
        "estimate_usd": 3.2,
        "created_at": now,
        "updated_at": now,
    }
    return Job(**(fields | overrides))


def video(index: int = 0) -> VideoResult:
    return VideoResult(
        index=index,
        path=f"/tmp/out/{index}.mp4",
        sha256="ab" * 32,
        size_bytes=1_234_567,
        width=1280,
        height=720,
        duration_s=8.0,
        fps=24.0,
        video_codec="h264",
        audio_codec=None,
        remote_uri="https://example.invalid/files/abc",
    )


async def advance(store: JobStore, job: Job, *path: JobState) -> Job:
    for to in path:
        job = await store.transition(job.id, expect=job.state, to=to)
    return job


# --- create / get / list -------------------------------------------------------------------------------


def every_field_set(at: dt.datetime, **overrides: Any) -> Job:
    """A job with every optional column filled in, its times from ``at``."""
    fields: dict[str, Any] = {
        "client_key": "ck-" + uuid.uuid4().hex,
        "cost_usd": 0.5,
        "operation_name": "models/x/operations/1",
        "attempts": 2,
        "error": {"type": "ServerError", "status_code": 503},
        "results": [video(0), video(1)],
        "submitted_at": at,
        "lease_owner": "worker-1",
        "lease_token": 4,
        "lease_expires_at": at + dt.timedelta(minutes=5),
    }
    return make_job(**(fields | overrides))


async def test_create_then_get_round_trips_every_field(store: JobStore) -> None:
    job = every_field_set(utcnow())
    created = await store.create(job)
    assert created == job
    assert await store.get(job.id) == job
    [event] = await store.events(job.id)
    assert (event.job_id, event.from_state, event.to_state, event.message) == (job.id, None, S.QUEUED, "created")


async def test_create_many_round_trips_every_field_like_create(store: JobStore) -> None:
    # create_many binds rows on the driver itself: every column must come back as create stores it (JSON, a
    # cleared error as NULL, non-UTC datetimes, booleans).
    later = dt.datetime.now(dt.timezone(dt.timedelta(hours=-5)))
    full = every_field_set(later, fresh=True)
    bare = make_job()
    [(a, a_new), (b, b_new)] = await store.create_many([full, bare])
    assert a_new and b_new
    for job, stored in ((full, a), (bare, b)):
        assert stored == await store.get(job.id) == codec.normalise_job(job)
    assert (await store.get(bare.id)).error is None


async def test_get_unknown_job_raises_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound, match="job_nope"):
        await store.get("job_nope")


async def test_list_is_newest_first_filters_by_state_and_limits(store: JobStore) -> None:
    base = utcnow()
    made = [make_job(created_at=base + dt.timedelta(seconds=i), updated_at=base) for i in range(5)]
    for job in made:
        await store.create(job)
    await store.transition(made[1].id, expect=S.QUEUED, to=S.SUBMITTING)
    await store.transition(made[3].id, expect=S.QUEUED, to=S.FAILED)

    assert [j.id for j in await store.list()] == [j.id for j in reversed(made)]
    assert [j.id for j in await store.list(limit=2)] == [made[4].id, made[3].id]
    assert [j.id for j in await store.list(states=[S.QUEUED])] == [made[4].id, made[2].id, made[0].id]
    assert [j.id for j in await store.list(states={S.SUBMITTING, S.FAILED})] == [made[3].id, made[1].id]
    assert await store.list(states=[]) == []
    assert await store.list(limit=0) == []


async def test_returned_jobs_are_copies(store: JobStore) -> None:
    job = await store.create(make_job())
    job.request["prompt"] = "mutated by the caller"
    (await store.get(job.id)).request["nested"]["seed"] = 0
    assert (await store.get(job.id)).request == make_job().request


# --- idempotent enqueue --------------------------------------------------------------------------------


async def test_create_or_get_returns_the_existing_job_for_a_client_key(store: JobStore) -> None:
    key = "ck-" + uuid.uuid4().hex
    first, created = await store.create_or_get(make_job(client_key=key))
    assert created
    again, created_again = await store.create_or_get(make_job(client_key=key, request={"prompt": "other"}))
    assert not created_again
    assert again == first
    assert await store.create(make_job(client_key=key)) == first
    assert len(await store.list()) == 1
    assert len(await store.events(first.id)) == 1
    assert await store.find_by_client_key(key) == first
    assert await store.find_by_client_key("ck-unknown") is None


async def test_jobs_without_client_key_are_always_created(store: JobStore) -> None:
    a, created_a = await store.create_or_get(make_job())
    b, created_b = await store.create_or_get(make_job())
    assert created_a and created_b and a.id != b.id


async def test_duplicate_id_is_refused(store: JobStore) -> None:
    job = await store.create(make_job())
    with pytest.raises(JobStateError, match="already exists"):
        await store.create(make_job(id=job.id))
    assert await store.get(job.id) == job


async def test_concurrent_create_or_get_creates_once(opener: Opener) -> None:
    stores = [await opener(), await opener()]
    key = "ck-" + uuid.uuid4().hex
    outcomes = await asyncio.gather(*(stores[i % 2].create_or_get(make_job(client_key=key)) for i in range(10)))
    assert sum(created for _, created in outcomes) == 1
    assert len({job.id for job, _ in outcomes}) == 1


async def test_create_many_records_whole_jobs_in_order_and_answers_known_keys(store: JobStore) -> None:
    earlier = await store.create(make_job(client_key="ck-earlier-" + uuid.uuid4().hex))
    key = "ck-" + uuid.uuid4().hex
    batch = [make_job(client_key=f"{key}-{i}") for i in range(5)]
    batch.insert(2, make_job(client_key=earlier.client_key))  # recorded before: answered, not written
    batch.append(make_job(client_key=f"{key}-0"))  # twice in one call: the first one wins
    batch.append(make_job())  # no key: always new
    outcomes = await store.create_many(batch, messages=[f"queued {i}" for i in range(len(batch))])

    assert [created for _, created in outcomes] == [True, True, False, True, True, True, False, True]
    assert outcomes[2][0] == earlier
    assert outcomes[6][0] == outcomes[0][0]
    for i, (job, created) in enumerate(outcomes):
        assert await store.get(job.id) == job
        if created:
            assert job.id == batch[i].id
            assert [(e.from_state, e.to_state, e.message) for e in await store.events(job.id)] == [
                (None, S.QUEUED, f"queued {i}")
            ]


async def test_create_many_again_adds_only_what_is_missing(store: JobStore) -> None:
    key = "ck-" + uuid.uuid4().hex

    def batch() -> list[Job]:
        return [make_job(client_key=f"{key}-{i}") for i in range(12)]

    first = await store.create_many(batch()[:5])  # as if the first run stopped after five jobs
    again = await store.create_many(batch())
    assert [created for _, created in again] == [False] * 5 + [True] * 7
    assert [job for job, _ in again[:5]] == [job for job, _ in first]
    for job, _ in again:
        assert len(await store.events(job.id)) == 1
    assert len(await store.list(limit=100)) == 12


async def test_create_many_never_leaves_half_a_job(store: JobStore) -> None:
    taken = await store.create(make_job())
    good = make_job(client_key="ck-" + uuid.uuid4().hex)
    with pytest.raises(JobStateError, match="already exists"):
        await store.create_many([good, make_job(id=taken.id)])  # the second collides with a recorded id
    assert await store.get(taken.id) == taken
    recorded = await store.find_by_client_key(str(good.client_key))
    if recorded is not None:  # recorded whole (row and first event), or not at all
        assert len(await store.events(recorded.id)) == 1
    assert len(await store.events(taken.id)) == 1


async def test_concurrent_create_many_creates_each_key_once(opener: Opener) -> None:
    stores = [await opener(), await opener()]
    key = "ck-" + uuid.uuid4().hex
    outcomes = await asyncio.gather(
        *(stores[i % 2].create_many([make_job(client_key=f"{key}-{k}") for k in range(20)]) for i in range(4))
    )
    for k in range(20):
        column = [outcome[k] for outcome in outcomes]
        assert sum(created for _, created in column) == 1
        assert len({job.id for job, _ in column}) == 1


# --- transitions ---------------------------------------------------------------------------------------


async def test_transition_sets_state_fields_and_records_event(store: JobStore) -> None:
    job = await store.create(make_job())
    submitted = utcnow()
    moved = await store.transition(
        job.id, expect=S.QUEUED, to=S.SUBMITTING, message="submitting", attempts=1, submitted_at=submitted
    )
    assert (moved.state, moved.attempts, moved.submitted_at) == (S.SUBMITTING, 1, submitted)
    assert moved.updated_at >= job.updated_at
    assert moved.finished_at is None
    assert await store.get(job.id) == moved
    last = (await store.events(job.id))[-1]
    assert (last.from_state, last.to_state, last.message, last.at) == (
        S.QUEUED,
        S.SUBMITTING,
        "submitting",
        moved.updated_at,
    )


async def test_wrong_expected_state_raises_and_changes_nothing(store: JobStore) -> None:
    job = await advance(store, await store.create(make_job()), S.SUBMITTING, S.RUNNING)
    before = await store.events(job.id)
    with pytest.raises(JobStateError, match="is running, expected queued") as info:
        await store.transition(job.id, expect=S.QUEUED, to=S.SUBMITTING, attempts=9)
    assert not isinstance(info.value, LeaseLost)
    assert await store.get(job.id) == job
    assert await store.events(job.id) == before


async def test_disallowed_transition_raises_before_writing(store: JobStore) -> None:
    job = await store.create(make_job())
    with pytest.raises(JobStateError, match="not an allowed transition"):
        await store.transition(job.id, expect=S.QUEUED, to=S.DOWNLOADING)
    with pytest.raises(JobStateError, match="not an allowed transition"):
        # allowed from QUEUED but not from SUBMITTING: every expected state must allow it
        await store.transition(job.id, expect=[S.QUEUED, S.SUBMITTING], to=S.ABANDONED)
    assert await store.get(job.id) == job


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
async def test_terminal_jobs_never_change(store: JobStore, terminal: JobState) -> None:
    job = await store.create(make_job(state=terminal))
    for to in JobState:
        with pytest.raises(JobStateError):
            await store.transition(job.id, expect=terminal, to=to, message="nope")
    assert await store.get(job.id) == job
    assert len(await store.events(job.id)) == 1


async def test_transition_of_unknown_job_raises_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await store.transition("job_missing", expect=S.QUEUED, to=S.SUBMITTING)
    with pytest.raises(JobNotFound):
        await store.transition("job_missing", expect=[S.SUBMITTING, S.RUNNING], to=S.RUNNING)


async def test_fence_mismatch_raises_lease_lost_and_changes_nothing(store: JobStore) -> None:
    job = await store.create(make_job())
    job = await store.transition(job.id, expect=S.QUEUED, to=S.SUBMITTING, lease_owner="w1", lease_token=7)
    before = await store.events(job.id)
    with pytest.raises(LeaseLost, match="lease token is 7, expected 6"):
        await store.transition(job.id, expect=S.SUBMITTING, to=S.RUNNING, fence=6, operation_name="op")
    # The lease is checked first: a worker that lost it must stop even if the state moved on too.
    with pytest.raises(LeaseLost):
        await store.transition(job.id, expect=S.RUNNING, to=S.DOWNLOADING, fence=6)
    assert await store.get(job.id) == job
    assert await store.events(job.id) == before
    moved = await store.transition(job.id, expect=S.SUBMITTING, to=S.RUNNING, fence=7, operation_name="op")
    assert (moved.state, moved.operation_name, moved.lease_token) == (S.RUNNING, "op", 7)


async def test_same_state_update_adds_an_event_only_with_a_message(store: JobStore) -> None:
    job = await advance(store, await store.create(make_job()), S.SUBMITTING, S.RUNNING)
    count = len(await store.events(job.id))
    updated = await store.transition(job.id, expect=S.RUNNING, to=S.RUNNING, cost_usd=1.5)
    assert updated.cost_usd == 1.5
    assert len(await store.events(job.id)) == count
    await store.transition(job.id, expect=S.RUNNING, to=S.RUNNING, message="still rendering")
    last = (await store.events(job.id))[-1]
    assert (last.from_state, last.to_state, last.message) == (S.RUNNING, S.RUNNING, "still rendering")


async def test_several_expected_states_record_the_actual_one(store: JobStore) -> None:
    job = await advance(store, await store.create(make_job()), S.SUBMITTING, S.RUNNING, S.DOWNLOADING)
    moved = await store.transition(job.id, expect=[S.RUNNING, S.DOWNLOADING], to=S.FAILED, message="gave up")
    assert moved.state is S.FAILED
    last = (await store.events(job.id))[-1]
    assert (last.from_state, last.to_state) == (S.DOWNLOADING, S.FAILED)
    with pytest.raises(JobStateError, match="is failed, expected"):
        await store.transition(job.id, expect=[S.RUNNING, S.DOWNLOADING], to=S.RUNNING)


async def test_unknown_or_store_managed_fields_raise_type_error(store: JobStore) -> None:
    job = await store.create(make_job())
    for field in ("colour", "state", "updated_at", "finished_at", "request", "id"):
        with pytest.raises(TypeError, match=field):
            await store.transition(job.id, expect=S.QUEUED, to=S.SUBMITTING, **{field: "x"})
    assert await store.get(job.id) == job


async def test_finished_at_is_set_when_a_job_ends(store: JobStore) -> None:
    job = await advance(store, await store.create(make_job()), S.SUBMITTING, S.RUNNING)
    assert job.finished_at is None
    done = await store.transition(job.id, expect=S.RUNNING, to=S.FILTERED, error={"reasons": ["x"]}, cost_usd=0)
    assert done.finished_at == done.updated_at
    assert done.finished_at is not None and done.finished_at >= job.updated_at


async def test_results_and_error_round_trip(store: JobStore) -> None:
    job = await advance(store, await store.create(make_job()), S.SUBMITTING, S.RUNNING)
    error = {"type": "ServerError", "status_code": 503, "retryable": True, "detail": {"reasons": ["a", "b"]}}
    job = await store.transition(job.id, expect=S.RUNNING, to=S.RUNNING, error=error)
    assert (await store.get(job.id)).error == error
    job = await store.transition(job.id, expect=S.RUNNING, to=S.DOWNLOADING, error=None)
    assert (await store.get(job.id)).error is None
    results = [video(0), video(1)]
    done = await store.transition(job.id, expect=S.DOWNLOADING, to=S.SUCCEEDED, results=results, cost_usd=6.4)
    assert done.results == results
    again = await store.get(job.id)
    assert again.results == results and all(isinstance(r, VideoResult) for r in again.results)
    assert again.cost_usd == 6.4


async def test_datetimes_come_back_timezone_aware_utc(store: JobStore) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    local = dt.datetime(2025, 3, 30, 12, 0, 0, 123456, tzinfo=plus_two)
    job = await store.create(make_job(created_at=local, updated_at=local))
    got = await store.get(job.id)
    assert got.created_at == local
    assert got.created_at.utcoffset() == dt.timedelta(0)
    assert got.created_at.hour == 10 and got.created_at.microsecond == 123456
    expires = dt.datetime(2030, 1, 1, 8, 30, tzinfo=plus_two)
    job = await advance(store, job, S.SUBMITTING, S.RUNNING)
    leased = await store.transition(job.id, expect=S.RUNNING, to=S.RUNNING, lease_expires_at=expires)
    for value in (leased.lease_expires_at, leased.updated_at, (await store.events(job.id))[-1].at):
        assert value is not None and value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)
    assert leased.lease_expires_at == expires


async def test_naive_datetimes_are_refused(store: JobStore) -> None:
    naive = dt.datetime(2025, 1, 1, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.create(make_job(created_at=naive, updated_at=naive))
    job = await store.create(make_job())
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.transition(job.id, expect=S.QUEUED, to=S.SUBMITTING, submitted_at=naive)
    assert await store.get(job.id) == job


async def test_events_are_recorded_in_order_with_timestamps(store: JobStore) -> None:
    job = await store.create(make_job(), message="enqueued by test")
    path = [S.SUBMITTING, S.RUNNING, S.DOWNLOADING, S.RUNNING, S.DOWNLOADING, S.SUCCEEDED]
    for to in path:
        job = await store.transition(job.id, expect=job.state, to=to, message=f"to {to}")
    events = await store.events(job.id)
    assert [(e.from_state, e.to_state) for e in events] == list(
        zip([None, S.QUEUED, *path[:-1]], [S.QUEUED, *path], strict=True)
    )
    assert [e.message for e in events] == ["enqueued by test", *(f"to {to}" for to in path)]
    times = [e.at for e in events]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert events[-1].at == job.finished_at
    assert await store.events("job_unknown") == []


async def test_find_succeeded_by_fingerprint_returns_the_newest_success(store: JobStore) -> None:
    fingerprint = "fp-" + uuid.uuid4().hex
    assert await store.find_succeeded_by_fingerprint(fingerprint) is None
    older = await advance(
        store, await store.create(make_job(fingerprint=fingerprint)), S.SUBMITTING, S.RUNNING, S.DOWNLOADING
    )
    await store.create(make_job(fingerprint=fingerprint))  # queued: not a success
    failed = await store.create(make_job(fingerprint=fingerprint))
    await store.transition(failed.id, expect=S.QUEUED, to=S.FAILED)
    await store.create(make_job(state=S.SUCCEEDED))  # another fingerprint
    newer = await advance(
        store, await store.create(make_job(fingerprint=fingerprint)), S.SUBMITTING, S.RUNNING, S.DOWNLOADING
    )
    older = await store.transition(older.id, expect=S.DOWNLOADING, to=S.SUCCEEDED)
    assert await store.find_succeeded_by_fingerprint(fingerprint) == older
    newer = await store.transition(newer.id, expect=S.DOWNLOADING, to=S.SUCCEEDED)
    assert await store.find_succeeded_by_fingerprint(fingerprint) == newer


# --- concurrency and durability ------------------------------------------------------------------------


async def test_concurrent_transitions_have_exactly_one_winner(opener: Opener) -> None:
    # For SQL backends these are two engines on one database: the compare-and-set must hold across processes.
    stores = [await opener(), await opener()]
    job = await stores[0].create(make_job())
    outcomes = await asyncio.gather(
        *(
            stores[i % 2].transition(job.id, expect=S.QUEUED, to=S.SUBMITTING, message=f"w{i}", lease_owner=f"w{i}")
            for i in range(20)
        ),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if isinstance(o, Job)]
    losers = [o for o in outcomes if not isinstance(o, Job)]
    assert len(winners) == 1
    assert all(type(o) is JobStateError for o in losers), losers
    final = await stores[1].get(job.id)
    assert final == winners[0] and final.state is S.SUBMITTING
    events = await stores[0].events(job.id)
    assert [(e.to_state, e.message) for e in events] == [(S.QUEUED, "created"), (S.SUBMITTING, final.lease_owner)]


@pytest.mark.parametrize("opener", SQL_BACKENDS, indirect=True)
async def test_data_persists_across_close_and_reopen(opener: Opener) -> None:
    first = await opener()
    job = await first.create(make_job())
    job = await first.transition(job.id, expect=S.QUEUED, to=S.SUBMITTING, message="m", results=[video()])
    await first.close()
    second = await opener()
    assert await second.get(job.id) == job
    assert [e.to_state for e in await second.events(job.id)] == [S.QUEUED, S.SUBMITTING]


# --- SQL specifics -------------------------------------------------------------------------------------


@pytest.mark.parametrize("opener", SQL_BACKENDS, indirect=True)
async def test_migrations_produce_exactly_the_metadata(opener: Opener) -> None:
    store = await opener()  # a fresh database, created by `alembic upgrade head` inside open()
    assert isinstance(store, SqlJobStore)

    def differences(conn: sa.Connection) -> tuple[list[Any], str | None]:
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata), context.get_current_revision()

    async with store.engine.connect() as conn:
        assert await conn.run_sync(differences) == ([], HEAD)


async def test_open_is_idempotent_and_reopens_a_migrated_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    store = SqlJobStore(url)
    await store.open()
    await store.open()
    job = await store.create(make_job())
    await store.close()
    await store.close()
    await store.open()  # the same instance can be reopened after close
    assert await store.get(job.id) == job
    await store.close()
    with pytest.raises(RuntimeError, match="not open"):
        await store.get(job.id)


async def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    stores = [SqlJobStore(f"sqlite+aiosqlite:///{tmp_path / 'race.db'}") for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        job = await stores[0].create(make_job())
        assert await stores[-1].get(job.id) == job
    finally:
        for s in stores:
            await s.close()


_RACER = """
import asyncio, json, sys
from veokit.models.job import Job, JobState, new_job_id, utcnow
from veokit.store import open_store

async def main(url):
    now = utcnow()
    job = Job(id=new_job_id(), state=JobState.QUEUED, provider="p", model="m", request={}, fingerprint="f",
              client_key="ck-race", out_dir="/o", estimate_usd=1.0, created_at=now, updated_at=now)
    print("ready", flush=True)
    sys.stdin.readline()  # the parent says go once every process has finished importing
    store = await open_store(url)  # every process migrates the same brand-new file at once
    try:
        job, created = await store.create_or_get(job)
        try:
            await store.transition(job.id, expect=JobState.QUEUED, to=JobState.SUBMITTING)
            won = True
        except Exception as exc:
            won = type(exc).__name__
    finally:
        await store.close()
    print(json.dumps({"id": job.id, "created": created, "won": won}), flush=True)

asyncio.run(main(sys.argv[1]))
"""


async def test_processes_racing_on_a_new_sqlite_file(tmp_path: Path) -> None:
    """Real processes (own file locks, own engines): first open, enqueue and claim race; each has one winner."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _RACER,
            url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"ready\n"
    outputs = await asyncio.gather(*(p.communicate(b"go\n") for p in procs))
    assert all(p.returncode == 0 for p in procs), [err.decode()[-2000:] for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert len({r["id"] for r in results}) == 1
    assert sum(r["created"] for r in results) == 1
    assert [r["won"] for r in results].count(True) == 1
    assert sorted(r["won"] for r in results if r["won"] is not True) == ["JobStateError"] * 2


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD]


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    store = SqlJobStore(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await store.open()
    try:
        async with store.engine.connect() as conn:
            pragma = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
    finally:
        await store.close()
    assert pragma == {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1}


# --- open_store and URLs -------------------------------------------------------------------------------


def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    assert resolve_url(None, data_dir=data_dir) == f"sqlite+aiosqlite:///{data_dir.resolve()}/veokit.db"
    assert data_dir.is_dir()
    assert resolve_url("  ", data_dir=data_dir) == resolve_url(None, data_dir=data_dir)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///rel/jobs.db", "sqlite+aiosqlite:///rel/jobs.db"),
        ("sqlite:////abs/jobs.db", "sqlite+aiosqlite:////abs/jobs.db"),
        ("sqlite+aiosqlite:////abs/jobs.db", "sqlite+aiosqlite:////abs/jobs.db"),
        ("postgresql://u:p@db:5432/veokit", "postgresql+asyncpg://u:p@db:5432/veokit"),
        ("postgres://u:p@db/veokit?ssl=require", "postgresql+asyncpg://u:p@db/veokit?ssl=require"),
        ("postgresql+asyncpg://db/veokit", "postgresql+asyncpg://db/veokit"),
        ("memory://", "memory://"),
    ],
)
def test_urls_are_normalised(url: str, expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # relative SQLite paths get their folder created
    if expected.startswith("sqlite+aiosqlite:////abs"):
        url = url.replace("/abs/", f"{tmp_path}/abs/")
        expected = expected.replace("/abs/", f"{tmp_path}/abs/")
    assert resolve_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "mysql://admin:hunter2secret@db/veokit",
        "postgresql:/admin:hunter2secret@db",
        "hunter2secret",
        "sqlite://",
        "sqlite:///:memory:",
    ],
)
def test_bad_urls_raise_config_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_url(url)
    message = str(info.value)
    assert "VEOKIT_DATABASE_URL" in message
    assert "memory://" in message and "postgresql://" in message
    if "admin" in url:
        assert "hunter2secret" not in message


def test_a_password_containing_at_signs_is_still_hidden() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_url("oracle://admin:p@ss@w0rd@db/veokit")
    assert "p@ss" not in str(info.value) and "w0rd" not in str(info.value)
    assert "db/veokit" in str(info.value)


def test_sql_store_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(create_store("postgresql://u:s3cret@db/veokit"))


async def test_open_store_returns_opened_stores(tmp_path: Path) -> None:
    memory = await open_store("memory://")
    assert isinstance(memory, MemoryJobStore) and isinstance(memory, JobStore)
    sqlite = await open_store(None, data_dir=tmp_path)
    try:
        assert isinstance(sqlite, SqlJobStore)
        job = await sqlite.create(make_job())
        assert await sqlite.get(job.id) == job
        assert (tmp_path / "veokit.db").is_file()
    finally:
        await sqlite.close()


# --- leases: claim, renew, release ---------------------------------------------------------------------
# Lease times come from an explicit `now`, so expiry is tested without waiting.

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def seed_jobs(store: JobStore, n: int, **overrides: Any) -> list[Job]:
    base = utcnow()
    return [
        await store.create(make_job(created_at=base + dt.timedelta(milliseconds=i), updated_at=base, **overrides))
        for i in range(n)
    ]


async def test_claim_takes_free_active_jobs_oldest_first_and_bumps_the_token(store: JobStore) -> None:
    made = await seed_jobs(store, 4)
    await store.create(make_job(state=S.NEEDS_ATTENTION))
    await store.create(make_job(state=S.SUCCEEDED))
    claimed = await store.claim("w1", lease_s=30, limit=3, now=at(0))
    assert [j.id for j in claimed] == [j.id for j in made[:3]]
    for job in claimed:
        assert (job.lease_owner, job.lease_token, job.lease_expires_at) == ("w1", 1, at(30))
        assert await store.get(job.id) == job
    assert [j.id for j in await store.claim("w2", lease_s=30, limit=10, now=at(1))] == [made[3].id]
    assert await store.claim("w3", lease_s=30, limit=10, now=at(2)) == []  # the rest are held or not active


async def test_claim_can_target_jobs_and_limit_zero_claims_nothing(store: JobStore) -> None:
    made = await seed_jobs(store, 3)
    assert await store.claim("w1", lease_s=5, limit=0, now=at(0)) == []
    [job] = await store.claim("w1", lease_s=5, limit=5, job_ids=[made[2].id, "job_unknown"], now=at(0))
    assert job.id == made[2].id
    assert await store.claim("w2", lease_s=5, job_ids=[made[2].id], now=at(1)) == []


async def test_claim_takes_over_an_expired_lease_and_records_it(store: JobStore) -> None:
    [job] = await seed_jobs(store, 1)
    [mine] = await store.claim("w1", lease_s=10, now=at(0))
    assert await store.claim("w2", lease_s=10, now=at(9.999)) == []  # still held
    [theirs] = await store.claim("w2", lease_s=10, now=at(10))  # expiry is inclusive: recovery inside the claim
    assert (theirs.lease_owner, theirs.lease_token) == ("w2", mine.lease_token + 1)
    last = (await store.events(job.id))[-1]
    assert (last.from_state, last.to_state, last.message) == (S.QUEUED, S.QUEUED, "lease of w1 expired; claimed by w2")


async def test_claimed_mid_submit_job_comes_back_as_submitting(store: JobStore) -> None:
    """A worker died between `submitting` and `running`: the next claim hands the job over as it is, and the
    engine (not the store) decides it needs attention."""
    [job] = await seed_jobs(store, 1)
    [mine] = await store.claim("w1", lease_s=10, now=at(0))
    await store.begin_submit(job.id, fence=mine.lease_token, attempts=1)
    [again] = await store.claim("w2", lease_s=10, now=at(11))
    assert again.state is S.SUBMITTING and again.lease_owner == "w2"


async def test_a_submit_accepted_after_the_lease_was_lost_is_recorded_for_the_next_holder(store: JobStore) -> None:
    """The paid call's outcome outlives the lease: w1 cannot write the job any more, but what the provider
    accepted is recorded (unfenced, set once) and w2 finds it."""
    [job] = await seed_jobs(store, 1)
    [w1] = await store.claim("w1", lease_s=10, now=at(0))
    begun = await store.begin_submit(job.id, fence=w1.lease_token, attempts=1)
    [first] = await store.submissions(job.id)
    assert (first.seq, first.owner, first.provider, first.operation_name) == (1, "w1", job.provider, None)
    assert first.started_at == begun.job.updated_at and begun.seq == first.seq
    assert begun.job == await store.get(job.id)  # the row as written
    await store.claim("w2", lease_s=10, now=at(11))  # w1's lease expired while its submit was in flight
    with pytest.raises(LeaseLost):
        await store.transition(job.id, expect=S.SUBMITTING, to=S.RUNNING, fence=w1.lease_token, operation_name="op")
    recorded = await store.record_accepted(job.id, 1, "op-1")
    assert (recorded.operation_name, recorded.accepted_at is not None) == ("op-1", True)
    assert await store.record_accepted(job.id, 1, "op-1") == recorded  # idempotent
    with pytest.raises(JobStateError):
        await store.record_accepted(job.id, 1, "op-2")  # set once
    with pytest.raises(JobNotFound):
        await store.record_accepted(job.id, 2, "op-1")
    assert await store.submissions(job.id) == [recorded]
    assert (await store.get(job.id)).state is S.SUBMITTING  # the job row is the next holder's to change


async def test_each_submit_begun_is_a_new_submission(store: JobStore) -> None:
    [job, other] = await seed_jobs(store, 2)
    assert (await store.begin_submit(other.id, attempts=1)).seq == 1  # numbered per job
    assert (await store.begin_submit(job.id, attempts=1)).seq == 1
    await store.transition(job.id, expect=S.SUBMITTING, to=S.QUEUED)  # e.g. failover, or a retried job
    second = await store.begin_submit(job.id, attempts=2)
    assert [(s.seq, s.owner) for s in await store.submissions(job.id)] == [(1, None), (2, None)]
    assert second.seq == 2 and second.job.attempts == 2
    assert await store.submissions("job_unknown") == []


async def test_lease_token_is_the_rows_token(store: JobStore) -> None:
    """The worker's check before a paid call reads the token alone: it follows claims and releases."""
    [job] = await seed_jobs(store, 1)
    assert await store.lease_token(job.id) == job.lease_token
    [w1] = await store.claim("w1", lease_s=10, now=at(0))
    assert await store.lease_token(job.id) == w1.lease_token == (await store.get(job.id)).lease_token
    released = await store.release(job.id, fence=w1.lease_token, now=at(1))
    assert await store.lease_token(job.id) == released.lease_token != w1.lease_token
    with pytest.raises(JobNotFound):
        await store.lease_token("job_unknown")


async def test_a_late_write_from_a_lost_lease_changes_nothing(store: JobStore) -> None:
    [job] = await seed_jobs(store, 1)
    [w1] = await store.claim("w1", lease_s=10, now=at(0))
    job = (await store.begin_submit(job.id, fence=w1.lease_token, attempts=1)).job
    job = await store.transition(job.id, expect=S.SUBMITTING, to=S.RUNNING, fence=w1.lease_token, operation_name="op")
    [w2] = await store.claim("w2", lease_s=10, now=at(15))  # w1 stalled past its lease
    before = (await store.get(job.id), await store.events(job.id))
    with pytest.raises(LeaseLost):
        await store.transition(job.id, expect=S.RUNNING, to=S.DOWNLOADING, fence=w1.lease_token)
    with pytest.raises(LeaseLost):
        await store.release(job.id, fence=w1.lease_token, message="w1 giving up")
    assert await store.renew("w1", {job.id: w1.lease_token}, lease_s=10, now=at(16)) == {job.id}
    assert (await store.get(job.id), await store.events(job.id)) == before
    moved = await store.transition(job.id, expect=S.RUNNING, to=S.DOWNLOADING, fence=w2.lease_token)
    assert moved.state is S.DOWNLOADING


async def test_renew_extends_only_leases_still_held(store: JobStore) -> None:
    made = await seed_jobs(store, 3)
    claimed = await store.claim("w1", lease_s=10, limit=3, now=at(0))
    tokens = {j.id: j.lease_token for j in claimed}
    await store.release(made[1].id, fence=tokens[made[1].id])
    lost = await store.renew("w1", {**tokens, "job_unknown": 1}, lease_s=10, now=at(8))
    assert lost == {made[1].id, "job_unknown"}
    assert (await store.get(made[0].id)).lease_expires_at == at(18)
    assert await store.claim("w2", lease_s=10, limit=3, job_ids=[made[0].id, made[2].id], now=at(17)) == []
    assert await store.renew("w2", {made[0].id: tokens[made[0].id]}, lease_s=10, now=at(9)) == {made[0].id}
    assert await store.renew("w1", {}, lease_s=10) == set()


async def test_renew_checks_each_token_across_statement_chunks(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker renews every lease it holds in one call, split into statements of ``_RENEW_CHUNK`` pairs; a
    stale token (this owner's earlier lease on a job it has since claimed again) is lost in every chunk."""
    monkeypatch.setattr(sql_leases, "_RENEW_CHUNK", 2)
    made = await seed_jobs(store, 5)
    claimed = await store.claim("w1", lease_s=10, limit=5, now=at(0))
    tokens = {j.id: j.lease_token for j in claimed}
    stale = {made[1].id: tokens[made[1].id] - 1, made[4].id: tokens[made[4].id] + 1}
    lost = await store.renew("w1", tokens | stale, lease_s=10, now=at(5))
    assert lost == set(stale)
    for job in made:
        expected = at(10) if job.id in stale else at(15)
        assert (await store.get(job.id)).lease_expires_at == expected


async def test_release_frees_the_job_with_an_optional_back_off(store: JobStore) -> None:
    [job] = await seed_jobs(store, 1)
    [held] = await store.claim("w1", lease_s=10, now=at(0))
    error = {"type": "NetworkError", "message": "connection refused"}
    released = await store.release(
        job.id, fence=held.lease_token, delay_s=30, message="not sent; retry in 30 s", error=error, now=at(1)
    )
    assert (released.lease_owner, released.lease_token, released.lease_expires_at) == (None, 2, at(31))
    assert released.error == error and released.state is S.QUEUED
    last = (await store.events(job.id))[-1]
    assert (last.from_state, last.to_state, last.message) == (S.QUEUED, S.QUEUED, "not sent; retry in 30 s")
    assert await store.claim("w2", lease_s=10, now=at(30)) == []  # backing off
    [again] = await store.claim("w2", lease_s=10, now=at(31))
    assert again.lease_token == 3 and len(await store.events(job.id)) == 2  # a released lease is no takeover
    free = await store.release(job.id, fence=3)
    assert free.lease_expires_at is None and free.lease_owner is None
    assert [j.id for j in await store.claim("w3", lease_s=10, now=at(0))] == [job.id]


async def test_release_of_a_finished_job_changes_nothing(store: JobStore) -> None:
    [job] = await seed_jobs(store, 1)
    [held] = await store.claim("w1", lease_s=10, now=at(0))
    done = await store.transition(job.id, expect=S.QUEUED, to=S.FAILED, fence=held.lease_token)
    assert await store.release(job.id, fence=held.lease_token, message="done") == done
    with pytest.raises(JobNotFound):
        await store.release("job_unknown", fence=1)


async def test_release_many_gives_back_every_lease_still_held_in_chunks(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stopping worker hands back all its leases in one call (statements of ``_RENEW_CHUNK`` pairs): each
    as ``release`` would, a stale token or unknown job reported lost and left unchanged, a finished job kept
    as it is."""
    monkeypatch.setattr(sql_leases, "_RENEW_CHUNK", 2)
    made = await seed_jobs(store, 5)
    claimed = await store.claim("w1", lease_s=10, limit=5, now=at(0))
    tokens = {j.id: j.lease_token for j in claimed}
    done = await store.transition(made[3].id, expect=S.QUEUED, to=S.FAILED, fence=tokens[made[3].id])
    [retaken] = await store.claim("w2", lease_s=10, job_ids=[made[1].id], now=at(11))
    before = {j.id: j for j in await store.get_many(tokens)}
    lost = await store.release_many({**tokens, "job_unknown": 7}, message="worker w1 stopped", now=at(12))
    assert lost == {made[1].id, "job_unknown"}
    after = {j.id: j for j in await store.get_many(tokens)}
    for job in (made[0], made[2], made[4]):
        got = after[job.id]
        assert (got.lease_owner, got.lease_token, got.lease_expires_at) == (None, tokens[job.id] + 1, None)
        assert got.state is S.QUEUED and got.updated_at >= before[job.id].updated_at
        last = (await store.events(job.id))[-1]
        assert (last.from_state, last.to_state, last.message) == (S.QUEUED, S.QUEUED, "worker w1 stopped")
    assert after[made[1].id] == retaken  # someone else's now: untouched
    assert after[made[3].id] == done  # finished: nothing to give back
    assert [e.message for e in await store.events(made[3].id)][-1] != "worker w1 stopped"
    claimable = {j.id for j in await store.claim("w3", lease_s=10, limit=5, now=at(12))}
    assert claimable == {made[0].id, made[2].id, made[4].id}
    assert await store.release_many({}) == set()


async def test_lease_arguments_are_checked(store: JobStore) -> None:
    for bad in (
        {"owner": "", "lease_s": 1},
        {"owner": "w", "lease_s": 0},
        {"owner": "w", "lease_s": float("nan")},
        {"owner": "w", "lease_s": 1, "limit": -1},
    ):
        owner = bad.pop("owner")
        with pytest.raises(ValueError):
            await store.claim(owner, **bad)
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.claim("w", lease_s=1, now=dt.datetime(2030, 1, 1))


async def test_concurrent_claimers_never_hold_the_same_job(opener: Opener) -> None:
    """Separate engines (processes, for SQL) claiming at once: every job is claimed exactly once."""
    stores = [await opener(), await opener(), await opener()]
    made = await seed_jobs(stores[0], 40)
    rounds = await asyncio.gather(
        *(stores[i % 3].claim(f"w{i}", lease_s=60, limit=3) for i in range(24)), return_exceptions=True
    )
    assert not [r for r in rounds if isinstance(r, BaseException)], rounds
    ids = [job.id for claimed in rounds if isinstance(claimed, list) for job in claimed]
    assert len(ids) == len(set(ids)) == 40
    assert set(ids) == {j.id for j in made}
    owners = {j.id: j.lease_owner for j in await stores[1].get_many(ids)}
    assert owners == {job.id: job.lease_owner for claimed in rounds if isinstance(claimed, list) for job in claimed}


async def test_get_many_keeps_order_and_skips_unknown_ids(store: JobStore) -> None:
    made = await seed_jobs(store, 3)
    got = await store.get_many([made[2].id, "job_unknown", made[0].id, made[2].id])
    assert got == [made[2], made[0]]
    assert await store.get_many([]) == []


# --- the cost ledger and budget caps -------------------------------------------------------------------


DAY = T0.date().isoformat()


async def test_begin_submit_reserves_the_estimate_and_success_spends_the_cost(store: JobStore) -> None:
    [job] = await seed_jobs(store, 1, estimate_usd=3.2, provider="vertex", model="veo-3.1-generate-001")
    job = (await store.begin_submit(job.id, message="submitting", attempts=1, now=T0)).job
    assert (job.state, job.attempts) == (S.SUBMITTING, 1)
    assert (await store.events(job.id))[-1].message == "submitting"
    spend = await store.spend()
    [row] = spend.rows
    assert (row.day, row.provider, row.model, row.submits, row.reserved_usd, row.spent_usd) == (
        DAY,
        "vertex",
        "veo-3.1-generate-001",
        1,
        3.2,
        0.0,
    )
    job = await advance(store, job, S.RUNNING, S.DOWNLOADING)
    await store.transition(job.id, expect=S.DOWNLOADING, to=S.SUCCEEDED, cost_usd=1.6)
    [row] = (await store.spend()).rows
    assert (row.reserved_usd, row.spent_usd, row.committed_usd) == (0.0, 1.6, 1.6)
    assert row.spent_estimate_usd == 3.2  # what the spent job was estimated at, beside what it cost


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ([S.RUNNING, S.FAILED], "released"),
        ([S.RUNNING, S.FILTERED], "released"),
        ([S.QUEUED], "released"),  # nothing was sent
        ([S.NEEDS_ATTENTION], "unknown"),  # the provider may have accepted it
        ([S.NEEDS_ATTENTION, S.ABANDONED], "unknown"),
        ([S.RUNNING, S.NEEDS_ATTENTION, S.ABANDONED], "unknown"),
        ([S.NEEDS_ATTENTION, S.RUNNING], "reserved"),  # reconciled: the operation exists
    ],
)
async def test_the_ledger_follows_the_job(store: JobStore, path: list[JobState], status: str) -> None:
    [job] = await seed_jobs(store, 1, estimate_usd=2.0)
    job = (await store.begin_submit(job.id, attempts=1, now=T0)).job
    job = await advance(store, job, *path)
    [row] = (await store.spend()).rows
    amounts = {"released": (0.0, 0.0, 0.0), "unknown": (0.0, 0.0, 2.0), "reserved": (2.0, 0.0, 0.0)}[status]
    assert (row.reserved_usd, row.spent_usd, row.unknown_usd) == amounts
    assert row.released == (1 if status == "released" else 0)


@pytest.mark.parametrize(
    ("path", "cost", "amounts"),
    [
        ([S.RUNNING], 0.0, (0.0, 0.0, 0.0)),  # the provider stopped it: nothing stands
        ([S.RUNNING], 2.0, (0.0, 2.0, 0.0)),  # no cancel there (Veo): the estimate stands, as spent
        ([S.NEEDS_ATTENTION], 2.0, (0.0, 2.0, 0.0)),  # an unknown outcome settled as spent
        ([], 2.0, (0.0, 2.0, 0.0)),  # from submitting, once its submitter is gone
    ],
)
async def test_a_cancelled_job_spends_the_cost_that_stands(
    store: JobStore, path: list[JobState], cost: float, amounts: tuple[float, float, float]
) -> None:
    [job] = await seed_jobs(store, 1, estimate_usd=2.0)
    job = (await store.begin_submit(job.id, attempts=1, now=T0)).job
    job = await advance(store, job, *path)
    job = await store.transition(job.id, expect=job.state, to=S.CANCELLED, cost_usd=cost)
    assert job.state.terminal and job.finished_at is not None
    [row] = (await store.spend()).rows
    assert (row.reserved_usd, row.spent_usd, row.unknown_usd) == amounts


async def test_a_queued_job_cancelled_reserves_nothing(store: JobStore) -> None:
    [job] = await seed_jobs(store, 1, estimate_usd=2.0)
    await store.transition(job.id, expect=S.QUEUED, to=S.CANCELLED, cost_usd=0.0)
    assert (await store.spend()).rows == []
    with pytest.raises(JobStateError, match="terminal"):
        await store.transition(job.id, expect=S.CANCELLED, to=S.QUEUED)


async def test_a_retried_job_gets_a_new_reservation_and_keeps_the_unknown_one(store: JobStore) -> None:
    [job] = await seed_jobs(store, 1, estimate_usd=2.0)
    job = (await store.begin_submit(job.id, attempts=1, now=T0)).job
    job = await advance(store, job, S.NEEDS_ATTENTION, S.QUEUED)  # the user chose `veokit jobs retry`
    job = (await store.begin_submit(job.id, attempts=2, now=T0)).job
    job = await advance(store, job, S.RUNNING, S.DOWNLOADING)
    await store.transition(job.id, expect=S.DOWNLOADING, to=S.SUCCEEDED, cost_usd=2.0)
    [row] = (await store.spend()).rows
    assert (row.submits, row.spent_usd, row.unknown_usd, row.committed_usd) == (2, 2.0, 2.0, 4.0)


async def test_spend_groups_by_day_provider_and_model_and_counts_queued_estimates(store: JobStore) -> None:
    a, b, _queued = await seed_jobs(store, 3, estimate_usd=1.0)
    await store.begin_submit(a.id, now=T0 - dt.timedelta(days=1))
    await store.begin_submit(b.id, now=T0)
    summary = await store.spend()
    assert [(r.day, r.submits) for r in summary.rows] == [(DAY, 1), ((T0 - dt.timedelta(days=1)).date().isoformat(), 1)]
    assert (summary.queued_jobs, summary.queued_estimate_usd) == (1, 1.0)
    assert [r.day for r in (await store.spend(since=DAY)).rows] == [DAY]
    assert summary.committed(DAY) == 1.0 and summary.committed(DAY, "gemini") == 1.0
    assert summary.committed(DAY, "vertex") == 0.0


async def test_per_job_cap_refuses_without_writing(store: JobStore) -> None:
    from veokit.store.budget import BudgetCaps, BudgetExceeded

    [job] = await seed_jobs(store, 1, estimate_usd=3.2)
    before = (await store.get(job.id), await store.events(job.id))
    with pytest.raises(BudgetExceeded, match="per-job cap") as info:
        await store.begin_submit(job.id, caps=BudgetCaps(per_job_usd=3.0), attempts=1, now=T0)
    assert (info.value.cap, info.value.limit_usd, info.value.estimate_usd) == ("per_job", 3.0, 3.2)
    assert (await store.get(job.id), await store.events(job.id)) == before
    assert (await store.spend()).rows == []
    assert (await store.begin_submit(job.id, caps=BudgetCaps(per_job_usd=3.2), now=T0)).job.state is S.SUBMITTING


async def test_daily_and_provider_caps_count_reserved_spent_and_unknown_per_utc_day(store: JobStore) -> None:
    from veokit.store.budget import BudgetCaps, BudgetExceeded

    jobs_ = await seed_jobs(store, 6, estimate_usd=1.0)
    caps = BudgetCaps(daily_usd=3.0)
    for job in jobs_[:3]:
        await store.begin_submit(job.id, caps=caps, now=T0)
    with pytest.raises(BudgetExceeded, match=r"daily cap of \$3.00.*\$3.00 is already"):
        await store.begin_submit(jobs_[3].id, caps=caps, now=T0)
    assert (await store.get(jobs_[3].id)).state is S.QUEUED
    # A failed job gives its reservation back; a new UTC day starts from zero.
    await store.transition(jobs_[0].id, expect=S.SUBMITTING, to=S.FAILED, cost_usd=0)
    await store.begin_submit(jobs_[3].id, caps=caps, now=T0)
    await store.begin_submit(jobs_[4].id, caps=caps, now=T0 + dt.timedelta(days=1))
    vertex = await seed_jobs(store, 2, estimate_usd=1.0, provider="vertex")
    per_provider = BudgetCaps(daily_usd=100, provider_daily_usd={"vertex": 1.5})
    await store.begin_submit(vertex[0].id, caps=per_provider, now=T0)
    with pytest.raises(BudgetExceeded, match="provider cap") as info:
        await store.begin_submit(vertex[1].id, caps=per_provider, now=T0)
    assert (info.value.cap, info.value.committed_usd) == ("provider", 1.0)
    # Other providers are not limited by the vertex cap.
    await store.begin_submit(jobs_[5].id, caps=per_provider, now=T0)


async def test_begin_submit_checks_the_lease_and_state_before_the_budget(store: JobStore) -> None:
    from veokit.store.budget import BudgetCaps

    [job] = await seed_jobs(store, 1, estimate_usd=5.0)
    [held] = await store.claim("w1", lease_s=10, now=at(0))
    broke = BudgetCaps(daily_usd=0)
    with pytest.raises(LeaseLost):
        await store.begin_submit(job.id, caps=broke, fence=held.lease_token - 1, now=T0)
    await store.begin_submit(job.id, fence=held.lease_token, now=T0)
    with pytest.raises(JobStateError, match="is submitting, expected queued"):
        await store.begin_submit(job.id, caps=broke, now=T0)
    with pytest.raises(JobNotFound):
        await store.begin_submit("job_unknown", caps=broke, now=T0)


async def test_concurrent_submits_never_overshoot_a_daily_cap(opener: Opener) -> None:
    """Workers on separate engines reserving at once: exactly as many as fit under the cap get through."""
    from veokit.store.budget import BudgetCaps, BudgetExceeded

    stores = [await opener(), await opener(), await opener()]
    made = await seed_jobs(stores[0], 30, estimate_usd=0.8)
    caps = BudgetCaps(daily_usd=10.0)  # 12 × $0.80 = $9.60 fits; a 13th would make $10.40
    outcomes = await asyncio.gather(
        *(stores[i % 3].begin_submit(job.id, caps=caps, now=T0) for i, job in enumerate(made)), return_exceptions=True
    )
    assert sum(isinstance(o, SubmitBegun) for o in outcomes) == 12
    assert all(isinstance(o, SubmitBegun | BudgetExceeded) for o in outcomes), outcomes
    assert (await stores[1].spend()).committed(DAY) == pytest.approx(9.6)


async def test_upgrade_from_0001_keeps_jobs_and_makes_them_claimable(tmp_path: Path) -> None:
    """A database written by the previous release (head 0001) is upgraded in place by open()."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from veokit.store import sqlite as sqlite_setup
    from veokit.store.migrate import upgrade_connection

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    LATER = {"fresh", "twin_of"}  # columns added since 0001 (0006)
    engine = create_async_engine(url)
    sqlite_setup.configure(engine)
    job = make_job()
    try:
        async with engine.execution_options(**{sqlite_setup.WRITE: True}).begin() as conn:
            await conn.run_sync(lambda c: upgrade_connection(c, "0001"))
            await conn.execute(
                sa.insert(
                    sa.table(
                        "jobs",
                        *(sa.column(c.name, c.type) for c in jobs.c if c.name not in LATER),
                        sa.column("idempotency_key"),
                    )
                ).values(
                    {
                        **job.model_dump(mode="json", exclude={"state", *LATER}),
                        "idempotency_key": f"veokit-{job.id}",  # a column until 0003
                        "state": "queued",
                        "created_at": job.created_at,
                        "updated_at": job.updated_at,
                    }
                )
            )
    finally:
        await engine.dispose()
    store = SqlJobStore(url)
    await store.open()
    try:
        assert await store.get(job.id) == job
        [claimed] = await store.claim("w1", lease_s=5)
        assert claimed.id == job.id
        async with store.engine.connect() as conn:
            assert (
                await conn.run_sync(
                    lambda c: MigrationContext.configure(
                        c, opts={"version_table": VERSION_TABLE}
                    ).get_current_revision()
                )
                == HEAD
            )
    finally:
        await store.close()


async def test_claim_can_take_over_the_leases_of_a_dead_owner(store: JobStore) -> None:
    made = await seed_jobs(store, 2)
    await store.claim("dead", lease_s=60, limit=1, now=at(0))
    await store.claim("alive", lease_s=60, limit=1, now=at(0))
    assert await store.claim("me", lease_s=60, limit=2, now=at(1)) == []
    [taken] = await store.claim("me", lease_s=60, limit=2, now=at(1), take_over="dead")
    assert (taken.id, taken.lease_owner, taken.lease_token) == (made[0].id, "me", 2)
    assert (await store.events(made[0].id))[-1].message == "lease of dead expired; claimed by me"


def test_owner_is_dead_only_for_vanished_processes_on_this_host() -> None:
    import socket
    import subprocess

    from veokit.store.leases import owner_is_dead

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = socket.gethostname()
    assert owner_is_dead(f"{host}:{proc.pid}:worker-abc")
    assert not owner_is_dead(f"{host}:{os.getpid()}:client-abc")  # ourselves
    assert not owner_is_dead(f"{host}:1:worker-abc")  # alive (init)
    assert not owner_is_dead(f"elsewhere.example:{proc.pid}:worker-abc")  # another machine: only expiry tells
    assert not owner_is_dead("w1") and not owner_is_dead(f"{host}:notapid:x")


class Commits:
    """Counts a SQLite store's commits (each one fsync): group commit is proven by how few there are."""

    def __init__(self, store: SqlJobStore) -> None:
        self.n = 0
        sa.event.listen(store.engine.sync_engine, "commit", self._count)

    def _count(self, _conn: Any) -> None:
        self.n += 1


async def group_store(tmp_path: Path, jobs: int) -> tuple[str, SqlJobStore, list[Job], Commits]:
    """A fresh SQLite store holding ``jobs`` queued jobs, its commits counted from then on."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    store = SqlJobStore(url)
    await store.open()
    made = [await store.create(make_job()) for _ in range(jobs)]
    return url, store, made, Commits(store)


async def test_sqlite_commits_concurrent_writes_together_and_a_failed_one_alone_is_undone(tmp_path: Path) -> None:
    """Group commit: many writers, few fsyncs; a writer whose compare-and-set fails changes nothing, and the
    others' changes are durable when their calls return."""
    url, store, made, commits = await group_store(tmp_path, 30)
    outcomes = await asyncio.gather(
        *(
            store.transition(job.id, expect=S.RUNNING if i % 3 == 0 else S.QUEUED, to=S.FAILED, message=f"w{i}")
            for i, job in enumerate(made)
        ),
        return_exceptions=True,
    )
    failed = [o for o in outcomes if not isinstance(o, Job)]
    assert len(failed) == 10 and all(type(o) is JobStateError for o in failed)
    assert commits.n < 20  # 20 successful writers, far fewer commits
    await store.close()
    reopened = SqlJobStore(url)
    await reopened.open()
    try:
        states = [j.state for j in await reopened.get_many([j.id for j in made])]
        assert states == [S.QUEUED if i % 3 == 0 else S.FAILED for i in range(30)]
        assert [e.message for e in await reopened.events(made[1].id)] == ["created", "w1"]
        assert len(await reopened.events(made[0].id)) == 1
    finally:
        await reopened.close()


async def test_sqlite_group_writer_that_fails_after_writing_is_undone_alone(tmp_path: Path) -> None:
    """Writers of one group share a transaction; each runs in its own savepoint (deferred to ride with its
    first statement). One that fails after writing loses its changes only; one that fails or succeeds
    without a statement of its own leaves the others' intact."""
    url, store, made, commits = await group_store(tmp_path, 4)

    async def writer(i: int, *, writes: bool, fails: bool) -> None:
        async with store._write() as conn:
            if writes:
                await conn.execute(sa.update(jobs).where(jobs.c.id == made[i].id).values(attempts=i + 1))
                event = {"job_id": made[i].id, "at": utcnow(), "from_state": "queued", "to_state": "queued"}
                await conn.execute(sa.insert(job_events).values(**event, message=f"w{i}"))
            if fails:
                raise RuntimeError(f"writer {i} failed")

    outcomes = await asyncio.gather(
        writer(0, writes=True, fails=False),
        writer(1, writes=True, fails=True),
        writer(2, writes=False, fails=True),
        writer(3, writes=False, fails=False),
        writer(3, writes=True, fails=False),
        return_exceptions=True,
    )
    assert [str(o) if o else None for o in outcomes] == [None, "writer 1 failed", "writer 2 failed", None, None]
    assert commits.n == 1  # one group
    await store.close()
    reopened = SqlJobStore(url)
    await reopened.open()
    try:
        assert [j.attempts for j in await reopened.get_many([j.id for j in made])] == [1, 0, 0, 4]
        assert [[e.message for e in await reopened.events(j.id)] for j in made] == [
            ["created", "w0"],
            ["created"],
            ["created"],
            ["created", "w3"],
        ]
    finally:
        await reopened.close()


async def test_sqlite_operations_run_in_one_hand_off_keep_each_writer_undone_alone(tmp_path: Path) -> None:
    """A store operation whose statements all run in SQLite's thread at once (``_write_op``) keeps group
    commit's guarantees: in one group, an operation whose caller is cancelled while it runs in the thread, one
    that fails after writing, and one that awaits something other than the database (refused, named) each lose
    their own changes only; the rest commit together."""
    import threading

    url, store, made, commits = await group_store(tmp_path, 5)
    entered, gate = threading.Event(), threading.Event()

    def writer(i: int, *, fails: bool = False, sleeps: bool = False, held: bool = False) -> Any:
        async def op(conn: Any) -> None:
            await conn.execute(sa.update(jobs).where(jobs.c.id == made[i].id).values(attempts=i + 1))
            if held:  # in SQLite's thread: the caller is cancelled meanwhile
                entered.set()
                assert gate.wait(10)
            event = {"job_id": made[i].id, "at": utcnow(), "from_state": "queued", "to_state": "queued"}
            await conn.execute(sa.insert(job_events).values(**event, message=f"w{i}"))
            if sleeps:
                await asyncio.sleep(0)  # not the database: refused
            if fails:
                raise RuntimeError(f"writer {i} failed")

        return op

    first = asyncio.ensure_future(store._write_op(writer(0, held=True)))
    assert await asyncio.to_thread(entered.wait, 10)
    rest = [
        asyncio.ensure_future(store._write_op(w))
        for w in (writer(1, fails=True), writer(2, sleeps=True), writer(3), writer(4))
    ]
    await asyncio.sleep(0)  # the others queue behind it: one group
    first.cancel()
    gate.set()
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert str(outcomes[1]) == "writer 1 failed"
    assert "awaited something other than the database" in str(outcomes[2])
    assert outcomes[3:] == [None, None]
    assert commits.n == 1
    await store.close()
    reopened = SqlJobStore(url)
    await reopened.open()
    try:
        assert [j.attempts for j in await reopened.get_many([j.id for j in made])] == [0, 0, 0, 4, 5]
        assert [[e.message for e in await reopened.events(j.id)] for j in made] == [
            ["created"],
            ["created"],
            ["created"],
            ["created", "w3"],
            ["created", "w4"],
        ]
    finally:
        await reopened.close()


# --- blobs: input images and videos, once per content --------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def never_read() -> AsyncIterator[bytes]:
    raise AssertionError("the content of a blob already stored must not be read")
    yield b""  # pragma: no cover - makes this an async generator


async def read_all(store: JobStore, digest: str) -> list[bytes]:
    return [chunk async for chunk in store.read_blob(digest)]


async def complete_blob_rows(store: JobStore) -> list[tuple[str, int]]:
    assert isinstance(store, SqlJobStore)
    async with store.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(sa.select(blobs.c.sha256, blobs.c.size).order_by(blobs.c.id))]


async def test_a_blob_round_trips_in_chunks(store: JobStore) -> None:
    data = os.urandom(2 * CHUNK_BYTES + 12345)
    ref = await store.put_blob(data)
    assert (ref.sha256, ref.size) == (sha(data), len(data))
    assert await store.has_blob(ref.sha256)
    assert await store.get_blob(ref.sha256) == data
    chunks = await read_all(store, ref.sha256)
    assert b"".join(chunks) == data and [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 12345]


async def test_a_streamed_blob_is_named_by_its_hash(store: JobStore) -> None:
    data = os.urandom(3 * CHUNK_BYTES // 2)
    ref = await store.put_blob(pieces(data, 300_001))  # pieces that straddle chunk boundaries
    assert (ref.sha256, ref.size) == (sha(data), len(data))
    assert await store.get_blob(sha(data)) == data


async def test_a_file_streams_into_a_blob(store: JobStore, tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_BYTES + 5)
    shot = tmp_path / "shot.mp4"  # e.g. a storyboard shot's output, used as the next shot's input
    shot.write_bytes(data)
    assert await store.put_blob(file_chunks(shot)) == await store.put_blob(data)
    assert await store.get_blob(sha(data)) == data


async def test_putting_a_blob_again_stores_nothing_and_reads_nothing(store: JobStore) -> None:
    data = os.urandom(50_000)
    first = await store.put_blob(data)
    assert await store.put_blob(data) == first
    assert await store.put_blob(never_read(), sha256=first.sha256) == first
    assert await store.put_blob(pieces(data, 7_000)) == first
    if isinstance(store, SqlJobStore):
        assert await complete_blob_rows(store) == [(first.sha256, len(data))]


async def test_the_empty_blob_is_a_blob(store: JobStore) -> None:
    ref = await store.put_blob(b"")
    assert (ref.sha256, ref.size) == (sha(b""), 0)
    assert await store.get_blob(ref.sha256) == b"" and await read_all(store, ref.sha256) == []


async def test_content_that_does_not_match_the_given_hash_is_refused(store: JobStore) -> None:
    claimed = sha(b"what the caller meant")
    with pytest.raises(ValueError, match="hashes to"):
        await store.put_blob(b"something else", sha256=claimed)
    with pytest.raises(ValueError, match="hashes to"):
        await store.put_blob(pieces(b"something else", 3), sha256=claimed)
    assert not await store.has_blob(claimed) and not await store.has_blob(sha(b"something else"))
    if isinstance(store, SqlJobStore):
        assert await complete_blob_rows(store) == []  # the refused uploads left nothing behind


async def test_unknown_blobs_and_malformed_hashes(store: JobStore) -> None:
    unknown = sha(b"never stored")
    assert not await store.has_blob(unknown)
    with pytest.raises(BlobNotFound):
        await store.get_blob(unknown)
    with pytest.raises(BlobNotFound):
        await read_all(store, unknown)
    for bad in ("abc", unknown.upper(), unknown + "0", "../" + unknown[3:]):
        with pytest.raises(ValueError, match="SHA-256"):
            await store.has_blob(bad)
        with pytest.raises(ValueError, match="SHA-256"):
            await store.put_blob(b"x", sha256=bad)


async def test_an_interrupted_put_leaves_nothing_readable(store: JobStore) -> None:
    data = os.urandom(3 * CHUNK_BYTES)

    async def broken() -> AsyncIterator[bytes]:
        yield data[: 2 * CHUNK_BYTES]
        raise OSError("the upload was cut")

    with pytest.raises(OSError, match="cut"):
        await store.put_blob(broken(), sha256=sha(data))
    assert not await store.has_blob(sha(data))
    with pytest.raises(BlobNotFound):
        await store.get_blob(sha(data))
    if isinstance(store, SqlJobStore):
        async with store.engine.connect() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(blob_chunks))).scalar_one() == 0
    assert (await store.put_blob(data)).sha256 == sha(data)  # and the next put of it is whole
    assert await store.get_blob(sha(data)) == data


async def test_concurrent_puts_of_the_same_content_keep_one_copy(opener: Opener) -> None:
    stores = [await opener(), await opener()]
    data = os.urandom(CHUNK_BYTES + 1)
    refs = await asyncio.gather(*(stores[i % 2].put_blob(pieces(data, 65_536)) for i in range(6)))
    assert {(r.sha256, r.size) for r in refs} == {(sha(data), len(data))}
    assert await stores[1].get_blob(sha(data)) == data
    if isinstance(stores[0], SqlJobStore):
        assert await complete_blob_rows(stores[0]) == [(sha(data), len(data))]
        async with stores[0].engine.connect() as conn:
            chunks = (await conn.execute(sa.select(sa.func.count()).select_from(blob_chunks))).scalar_one()
        assert chunks == 2  # the losers' copies are gone


@pytest.mark.parametrize("opener", SQL_BACKENDS, indirect=True)
async def test_blobs_persist_and_damage_is_detected(opener: Opener) -> None:
    first = await opener()
    data = os.urandom(CHUNK_BYTES + 10)
    ref = await first.put_blob(data)
    await first.close()
    second = await opener()
    assert await second.get_blob(ref.sha256) == data
    assert isinstance(second, SqlJobStore)
    async with second.engine.begin() as conn:
        await conn.execute(sa.update(blob_chunks).where(blob_chunks.c.seq == 1).values(data=b"0123456789"))
    with pytest.raises(BlobCorrupt, match="damaged"):
        await second.get_blob(ref.sha256)
    async with second.engine.begin() as conn:
        await conn.execute(sa.delete(blob_chunks).where(blob_chunks.c.seq == 0))
    with pytest.raises(BlobCorrupt, match="missing"):
        await second.get_blob(ref.sha256)


@pytest.mark.parametrize("opener", SQL_BACKENDS, indirect=True)
async def test_a_put_sweeps_uploads_interrupted_long_ago(opener: Opener) -> None:
    store = await opener()
    assert isinstance(store, SqlJobStore)
    async with store.engine.begin() as conn:  # a process died mid-put two days ago, and another an hour ago
        for upload, age in (("a" * 32, dt.timedelta(days=2)), ("b" * 32, dt.timedelta(hours=1))):
            await conn.execute(sa.insert(blobs).values(id=upload, sha256=None, size=None, created_at=utcnow() - age))
            await conn.execute(sa.insert(blob_chunks).values(blob_id=upload, seq=0, data=b"partial"))
    await store.put_blob(b"new content")
    async with store.engine.connect() as conn:
        left = set((await conn.execute(sa.select(blob_chunks.c.blob_id))).scalars())
    assert "a" * 32 not in left and "b" * 32 in left  # an upload of an hour ago may still be running


@pytest.mark.parametrize("opener", SQL_BACKENDS, indirect=True)
async def test_a_large_blob_streams_in_and_out_with_flat_memory(opener: Opener) -> None:
    """Python heap (every allocation, drivers' buffers included) while 96 MiB go in and out: a few chunks' worth.
    bench/blob_memory.py measures process RSS for a 500 MB video."""
    store = await opener()
    n = 96

    def piece(i: int) -> bytes:  # content made on the fly, so the test itself holds one chunk at a time
        return hashlib.sha256(i.to_bytes(8, "big")).digest() * (CHUNK_BYTES // 32)

    async def source() -> AsyncIterator[bytes]:
        for i in range(n):
            yield piece(i)

    expected = hashlib.sha256()
    for i in range(n):
        expected.update(piece(i))
    read = hashlib.sha256()
    tracemalloc.start()
    try:
        ref = await store.put_blob(source())
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        async for chunk in store.read_blob(ref.sha256):
            read.update(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (ref.sha256, ref.size) == (expected.hexdigest(), n * CHUNK_BYTES)
    assert read.hexdigest() == ref.sha256
    assert put_peak < 32 * CHUNK_BYTES, f"put peaked at {put_peak / CHUNK_BYTES:.1f} MiB"
    assert read_peak < 16 * CHUNK_BYTES, f"read peaked at {read_peak / CHUNK_BYTES:.1f} MiB"


# --- twins: identical seeded requests in flight pay once (veokit.store.twins) ---------------------------------


def twin_jobs(n: int, *, fingerprint: str | None = None, **overrides: Any) -> list[Job]:
    """``n`` identical seeded requests, oldest first."""
    fp = fingerprint or "fp-" + uuid.uuid4().hex
    request = {"prompt": "a lighthouse at dusk", "duration_seconds": 4, "seed": 42}
    base = utcnow()
    return [
        make_job(request=request, fingerprint=fp, created_at=base + dt.timedelta(milliseconds=i), **overrides)
        for i in range(n)
    ]


async def test_a_twin_being_paid_for_holds_back_an_identical_seeded_job(store: JobStore) -> None:
    from veokit.errors import TwinInFlight

    first, second = [await store.create(j) for j in twin_jobs(2)]
    await store.begin_submit(first.id, attempts=1, now=T0)
    for _ in range(2):  # asked again: the same answer, one event
        with pytest.raises(TwinInFlight) as held:
            await store.begin_submit(second.id, attempts=1, now=T0)
        assert held.value.twin_id == first.id and first.id in held.value.message
    waiting = await store.get(second.id)
    assert (waiting.state, waiting.twin_of, waiting.attempts) == (S.QUEUED, first.id, 0)
    assert await store.submissions(second.id) == []  # nothing begun, nothing reserved
    assert (await store.spend()).committed(DAY) == pytest.approx(first.estimate_usd)
    events = [e.message for e in await store.events(second.id)]
    assert sum(f"waiting for its twin {first.id}" in m for m in events) == 1
    # Delivered: the waiting job is held back still (its video is there), until its files are found gone.
    await advance(store, await store.get(first.id), S.RUNNING, S.DOWNLOADING, S.SUCCEEDED)
    with pytest.raises(TwinInFlight):
        await store.begin_submit(second.id, attempts=1, now=T0)
    begun = (await store.begin_submit(second.id, attempts=1, now=T0, passed={first.id})).job
    assert (begun.state, begun.twin_of) == (S.SUBMITTING, None)


async def test_fresh_and_unseeded_jobs_neither_wait_nor_are_waited_for(store: JobStore) -> None:
    fresh_first, plain = [await store.create(j) for j in twin_jobs(2)]
    fresh_first = await store.create(make_job(**(fresh_first.model_dump() | {"id": new_job_id(), "fresh": True})))
    await store.begin_submit(fresh_first.id, attempts=1, now=T0)
    assert (await store.begin_submit(plain.id, attempts=1, now=T0)).job.state is S.SUBMITTING  # fresh: holds no one
    [late] = [await store.create(j) for j in twin_jobs(1, fingerprint=plain.fingerprint, fresh=True)]
    assert (await store.begin_submit(late.id, attempts=1, now=T0)).job.state is S.SUBMITTING  # --fresh pays its own
    assert late.fresh and (await store.get(late.id)).fresh
    unseeded = [await store.create(make_job(fingerprint="fp-same-unseeded")) for _ in range(2)]
    for job in unseeded:  # no seed: every run is a different video, so identical requests are not twins
        assert (await store.begin_submit(job.id, attempts=1, now=T0)).job.state is S.SUBMITTING


async def test_the_oldest_twin_pays_unless_nobody_is_running_it(store: JobStore) -> None:
    from veokit.errors import TwinInFlight

    older, younger = [await store.create(j) for j in twin_jobs(2)]
    claimed = await store.claim("w1", lease_s=10, limit=2, now=at(0))
    assert {j.id for j in claimed} == {older.id, younger.id}
    with pytest.raises(TwinInFlight) as held:  # the older one is about to be submitted: it pays
        await store.begin_submit(younger.id, attempts=1, now=at(1))
    assert held.value.twin_id == older.id
    # Nobody renews the older one's lease: the younger no longer waits for it, pays, and the older waits instead.
    begun = (await store.begin_submit(younger.id, attempts=1, now=at(11))).job
    assert (begun.state, begun.twin_of) == (S.SUBMITTING, None)
    with pytest.raises(TwinInFlight) as held:
        await store.begin_submit(older.id, attempts=1, now=at(11))
    assert held.value.twin_id == younger.id and (await store.get(older.id)).twin_of == younger.id


async def test_a_lost_lease_is_reported_before_a_twin(store: JobStore) -> None:
    first, second = [await store.create(j) for j in twin_jobs(2)]
    await store.begin_submit(first.id, attempts=1, now=T0)
    with pytest.raises(LeaseLost):
        await store.begin_submit(second.id, attempts=1, now=T0, fence=99)
    assert (await store.get(second.id)).twin_of is None


async def test_twins_submitted_at_once_by_many_workers_pay_once(opener: Opener) -> None:
    """Workers on separate store instances (separate processes) claim every twin and submit them all at once:
    exactly one begins its paid call, every other is held back naming it."""
    from veokit.errors import TwinInFlight

    stores = [await opener(), await opener(), await opener()]
    made = [await stores[0].create(j) for j in twin_jobs(9)]
    outcomes = await asyncio.gather(
        *(stores[i % 3].begin_submit(job.id, attempts=1, now=T0) for i, job in enumerate(made)),
        return_exceptions=True,
    )
    begun = [o for o in outcomes if isinstance(o, SubmitBegun)]
    assert len(begun) == 1, outcomes
    assert all(isinstance(o, TwinInFlight) and o.twin_id == begun[0].job.id for o in outcomes if o is not begun[0])
    assert sum([len(await stores[1].submissions(j.id)) for j in made]) == 1
