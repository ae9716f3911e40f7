"""One contract for every JobStore backend: memory, SQLite, and PostgreSQL when VEOKIT_TEST_PG_URL is set.

VEOKIT_TEST_PG_URL must name a disposable database: each PostgreSQL test deletes every job in it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from veokit.errors import ConfigError, JobNotFound, JobStateError, LeaseLost
from veokit.models.job import TERMINAL, Job, JobState, VideoResult, new_job_id, utcnow
from veokit.store import MemoryJobStore, SqlJobStore, create_store, open_store, resolve_url
from veokit.store.base import JobStore
from veokit.store.migrate import HEAD, VERSION_TABLE, alembic_config
from veokit.store.schema import job_events, jobs, metadata

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
            await conn.execute(sa.delete(job_events))
            await conn.execute(sa.delete(jobs))
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
        "idempotency_key": uuid.uuid4().hex,
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


async def test_create_then_get_round_trips_every_field(store: JobStore) -> None:
    job = make_job(
        client_key="ck-" + uuid.uuid4().hex,
        cost_usd=0.5,
        operation_name="models/x/operations/1",
        attempts=2,
        error={"type": "ServerError", "status_code": 503},
        results=[video(0), video(1)],
        submitted_at=utcnow(),
        lease_owner="worker-1",
        lease_token=4,
        lease_expires_at=utcnow() + dt.timedelta(minutes=5),
    )
    created = await store.create(job)
    assert created == job
    assert await store.get(job.id) == job
    [event] = await store.events(job.id)
    assert (event.job_id, event.from_state, event.to_state, event.message) == (job.id, None, S.QUEUED, "created")


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
        await store.transition(job.id, expect=S.QUEUED, to=S.SUCCEEDED)
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
              idempotency_key="k", client_key="ck-race", out_dir="/o", estimate_usd=1.0, created_at=now, updated_at=now)
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
