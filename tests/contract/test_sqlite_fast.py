"""SQLite's hot path (veokit.store.sqlite_fast) writes and reads exactly what the general SQLAlchemy path does,
and keeps group commit's guarantees."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite_dialect

from veokit.errors import JobStateError, LeaseLost
from veokit.models.job import Job, JobState
from veokit.store import SqlJobStore, sqlite_fast
from veokit.store.schema import UtcDateTime

from .test_store_contract import group_store, make_job, video

S = JobState
AT = dt.datetime(2026, 12, 4, 16, 21, 3, 120_000, tzinfo=dt.UTC)
TABLES = ("jobs", "job_events", "submissions", "budget_ledger")


@pytest.mark.parametrize(
    "value",
    [
        AT,
        AT.replace(microsecond=0),
        AT.astimezone(dt.timezone(dt.timedelta(hours=-7, minutes=-30))),
        dt.datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
        dt.datetime(2400, 2, 29, 0, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    ],
)
def test_datetimes_are_written_and_read_as_sqlalchemy_does(value: dt.datetime) -> None:
    dialect = sqlite_dialect.dialect()
    kind = UtcDateTime()
    bind = kind.dialect_impl(dialect).bind_processor(dialect)
    result = kind.dialect_impl(dialect).result_processor(dialect, None)
    assert bind is not None and result is not None
    assert sqlite_fast.bind_time(value) == bind(value)
    text = sqlite_fast.bind_time(value)
    assert sqlite_fast.result_time(text) == result(text) == value
    assert sqlite_fast.result_time(text).tzinfo is dt.UTC  # type: ignore[union-attr]
    assert sqlite_fast.bind_time(None) is None and sqlite_fast.result_time(None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        sqlite_fast.bind_time(value.replace(tzinfo=None))


async def _worker_sequence(store: SqlJobStore, jobs: list[Job]) -> list[Any]:
    """The worker's store calls for each job, its errors included, and what each call answered."""
    answers: list[Any] = []
    claimed = await store.claim("w1", lease_s=60.0, limit=len(jobs) - 1, now=AT)  # the last one stays queued
    for job in claimed:
        token = job.lease_token
        answers.append(await store.get(job.id))
        if job.id == jobs[2].id:  # a stale fence: refused, nothing written
            with pytest.raises(LeaseLost):
                await store.begin_submit(job.id, fence=token - 1, attempts=1, message="submitting", now=AT)
        begun = await store.begin_submit(job.id, fence=token, attempts=1, message="submitting to gemini", now=AT)
        answers.append(begun)
        answers.append(await store.record_accepted(job.id, begun.seq, f"operations/{job.id}"))
        answers.append(await store.record_accepted(job.id, begun.seq, f"operations/{job.id}"))  # again: no-op
        with pytest.raises(JobStateError, match="already recorded"):
            await store.record_accepted(job.id, begun.seq, "operations/other")
        with pytest.raises(JobStateError):
            await store.transition(job.id, expect=S.QUEUED, to=S.SUBMITTING, fence=token)
        answers.append(
            await store.transition(
                job.id,
                expect=S.SUBMITTING,
                to=S.RUNNING,
                fence=token,
                operation_name=f"operations/{job.id}",
                submitted_at=AT,
                error=None,
                message="operation",
            )
        )
        if job.id == jobs[1].id:  # failed, the reservation released
            answers.append(
                await store.transition(
                    job.id, expect=[S.RUNNING, S.DOWNLOADING], to=S.FAILED, cost_usd=0.0, error={"code": "x"}
                )
            )
            continue
        answers.append(await store.transition(job.id, expect=S.RUNNING, to=S.RUNNING, message="poll failed"))
        answers.append(await store.transition(job.id, expect=S.RUNNING, to=S.DOWNLOADING, message="1 video(s) ready"))
        answers.append(
            await store.transition(
                job.id,
                expect=S.DOWNLOADING,
                to=S.SUCCEEDED,
                fence=token,
                results=[video(0), video(1)],
                cost_usd=1.25,
                error={"partial": True, "nested": {"n": [1, 2.5, None]}},
                message="saved 2 video(s)",
            )
        )
    answers.append(await store.lease_token(jobs[0].id))
    # Claims of the job left queued: free, then an expired lease taken over, then a named owner's taken over.
    answers.append(await store.claim("w2", lease_s=60.0, limit=5, now=AT))
    answers.append(await store.claim("w3", lease_s=60.0, limit=5, now=AT + dt.timedelta(seconds=61)))
    answers.append(await store.claim("w4", lease_s=60.0, limit=5, now=AT, take_over="w3"))
    answers.append(await store.claim("w5", lease_s=60.0, limit=5, now=AT))  # held: nothing
    answers.append(await store.claim("w5", lease_s=60.0, limit=0, now=AT))
    return answers


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES}
    finally:
        conn.close()


async def test_the_fast_path_writes_and_answers_exactly_what_sqlalchemy_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One clock for both stores: every stamp the two paths write is then the same value.
    for module in ("veokit.store.sql", "veokit.store.sqlite_fast", "veokit.store.sql_leases"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: AT)
    jobs = [
        make_job(id=f"job-{i}", created_at=AT, updated_at=AT, request={"prompt": "p", "seed": None}) for i in range(4)
    ]
    answers: dict[str, list[Any]] = {}
    for side in ("fast", "general"):
        store = SqlJobStore(f"sqlite+aiosqlite:///{tmp_path / side}.db")
        await store.open()
        try:
            assert store._fast is not None and store._reader is not None
            if side == "general":
                store._fast, store._reader = None, None
            await store.create_many(jobs)
            answers[side] = await _worker_sequence(store, jobs)
        finally:
            await store.close()
    assert answers["fast"] == answers["general"]
    fast, general = _dump(tmp_path / "fast.db"), _dump(tmp_path / "general.db")
    assert all(fast[t] for t in TABLES)
    assert fast == general


async def test_a_seeded_job_takes_the_general_path_and_waits_for_its_twin(tmp_path: Path) -> None:
    from veokit.errors import TwinInFlight

    store = SqlJobStore(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    await store.open()
    try:
        request = {"prompt": "p", "seed": 7}
        first, second = (
            make_job(request=request, fingerprint="fp-same"),
            make_job(request=request, fingerprint="fp-same"),
        )
        await store.create(first)
        await store.create(second)
        await store.begin_submit(first.id, attempts=1)
        with pytest.raises(TwinInFlight):
            await store.begin_submit(second.id, attempts=1)
        assert (await store.get(second.id)).twin_of == first.id
        assert (await store.get(second.id)).state is S.QUEUED
    finally:
        await store.close()


async def test_fast_writers_run_in_batches_each_undone_alone(tmp_path: Path) -> None:
    """Raw writers (``run_raw``) queued while SQLite's thread is busy run together in the group: one that fails
    after writing loses its own changes only; one cancelled before its batch is taken writes nothing; a general
    (SQLAlchemy) writer joins the same group; all commit together, and each answers only then."""
    url, store, made, commits = await group_store(tmp_path, 6)
    committer = store._committer
    assert committer is not None
    entered, gate = threading.Event(), threading.Event()

    def writer(i: int, *, fails: bool = False, held: bool = False) -> Any:
        def op(conn: sqlite3.Connection) -> int:
            conn.execute("UPDATE jobs SET attempts = ? WHERE id = ?", (i + 1, made[i].id))
            if held:  # keeps SQLite's thread busy: the writers after it queue up
                entered.set()
                assert gate.wait(10)
            if fails:
                raise RuntimeError(f"writer {i} failed")
            return i

        return op

    async def general(conn: Any) -> None:
        await conn.execute(sa.text("UPDATE jobs SET attempts = 5 WHERE id = :id"), {"id": made[5].id})

    first = asyncio.ensure_future(committer.run_raw(writer(0, held=True)))
    assert await asyncio.to_thread(entered.wait, 10)
    rest = [
        asyncio.ensure_future(committer.run_raw(writer(1, fails=True))),
        asyncio.ensure_future(committer.run_raw(writer(2))),
        asyncio.ensure_future(store.transition(made[3].id, expect=S.QUEUED, to=S.FAILED, message="w3")),
        asyncio.ensure_future(committer.run_raw(writer(4))),
        asyncio.ensure_future(store._write_op(general)),
    ]
    await asyncio.sleep(0)
    rest[3].cancel()  # before its batch is taken: never runs
    gate.set()
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert outcomes[0] == 0
    assert str(outcomes[1]) == "writer 1 failed"
    assert outcomes[2] == 2 and isinstance(outcomes[3], Job)
    assert isinstance(outcomes[4], asyncio.CancelledError)
    assert outcomes[5] is None
    assert commits.n == 1  # one group: the batches and the general writer
    await store.close()
    reopened = SqlJobStore(url)
    await reopened.open()
    try:
        got = await reopened.get_many([j.id for j in made])
        assert [j.attempts for j in got] == [1, 0, 3, 0, 0, 5]
        assert got[3].state is S.FAILED
        assert [e.message for e in await reopened.events(made[3].id)] == ["created", "w3"]
    finally:
        await reopened.close()


async def test_a_raw_writer_answers_only_after_its_group_commits(tmp_path: Path) -> None:
    """No raw writer returns before the commit that makes its change durable; if that commit fails, each
    writer of the group gets the error."""
    _url, store, made, commits = await group_store(tmp_path, 2)
    committer = store._committer
    assert committer is not None
    seen: list[int] = []

    def op(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE jobs SET attempts = 7 WHERE id = ?", (made[0].id,))

    async def watch() -> None:
        await committer.run_raw(op)
        seen.append(commits.n)

    await watch()
    assert seen == [1]
    real_finish = committer._finish

    async def failing_commit(group: Any) -> None:
        group.broken = True  # as if a savepoint statement had failed: the group rolls back
        await real_finish(group)

    committer._finish = failing_commit  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="rolled back"):
        await committer.run_raw(lambda conn: conn.execute("UPDATE jobs SET attempts = 8 WHERE id = ?", (made[1].id,)))
    committer._finish = real_finish  # type: ignore[method-assign]
    assert [j.attempts for j in await store.get_many([j.id for j in made])] == [7, 0]
    await store.close()


async def test_reads_by_id_see_only_what_was_committed(tmp_path: Path) -> None:
    """The reader connection reads the last commit: a writer's change inside a group still open is not seen."""
    _url, store, made, _ = await group_store(tmp_path, 1)
    committer = store._committer
    assert committer is not None
    try:
        async with committer.write() as conn:
            await conn.execute(sa.text("UPDATE jobs SET attempts = 9 WHERE id = :id"), {"id": made[0].id})
            assert (await store.get(made[0].id)).attempts == 0
        assert (await store.get(made[0].id)).attempts == 9
    finally:
        await store.close()


def test_in_memory_databases_read_on_the_engine() -> None:
    assert not sqlite_fast.reads_alone(":memory:", {})
    assert not sqlite_fast.reads_alone("file:x?mode=memory&cache=shared", {"uri": "true"})
    assert not sqlite_fast.reads_alone(None, {})
    assert sqlite_fast.reads_alone("/tmp/jobs.db", {})
