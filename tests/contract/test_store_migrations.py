"""Schema migrations that move data, on SQLite and on PostgreSQL (VEOKIT_TEST_PG_URL; each test gets a database
of its own, created and dropped here)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from veokit.engine import inputs
from veokit.models.job import Job, JobState, new_job_id, utcnow
from veokit.models.request import GenerateRequest, ImageInput, StoredRequest, VideoInput
from veokit.store import SqlJobStore, resolve_url
from veokit.store import sqlite as sqlite_setup
from veokit.store.migrate import HEAD, alembic_config, current_revisions, upgrade_connection
from veokit.store.schema import UtcDateTime

PG_URL = os.environ.get("VEOKIT_TEST_PG_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    if not PG_URL:
        pytest.skip("set VEOKIT_TEST_PG_URL to a disposable PostgreSQL server to run these")
    server = sa.make_url(resolve_url(PG_URL))
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    name = f"veokit_migration_{uuid.uuid4().hex[:12]}"
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def writer(url: str) -> AsyncEngine:
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        sqlite_setup.configure(engine)
    return engine.execution_options(**{sqlite_setup.WRITE: True})


def downgrade_connection(connection: sa.Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def migrate(url: str, step: Any) -> None:
    engine = writer(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(step)
    finally:
        await engine.dispose()


def png(seed: int, size: int = 3000) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + hashlib.sha256(str(seed).encode()).digest() * (size // 32)


JPEG = b"\xff\xd8\xff" + os.urandom(5000)
VIDEO = os.urandom(2 * (1 << 20) + 777)  # three chunks
SHARED = ImageInput(data=png(1), mime_type="image/png", name="first.png")

REQUESTS = {
    "everything": GenerateRequest(
        prompt="a fox, framed and extended",
        model="veo-3.1-generate-001",
        seed=7,
        image=SHARED,
        last_frame=ImageInput(data=JPEG, mime_type="image/jpeg"),
        reference_images=(ImageInput(data=png(2), mime_type="image/png"), SHARED),
        video=VideoInput(data=VIDEO),
    ),
    "same image, video by URI": GenerateRequest(
        prompt="the same first frame", image=SHARED, video=VideoInput(uri="gs://bucket/v.mp4", mime_type="video/mp4")
    ),
    "text only": GenerateRequest(prompt='a prompt that says "data": and "blob": in quotes'),
}
# Not a request veokit wrote, but a row the migration must leave alone rather than misread.
ODD_REQUEST = {"prompt": "x", "nested": {"data": "not base64!", "image": {"data": 1}}}


def old_row(job_id: str, request: dict[str, Any], fingerprint: str) -> dict[str, Any]:
    """A jobs row as releases before 0003 wrote it: inputs inline as base64, and an idempotency key."""
    now = utcnow()
    return {
        "id": job_id,
        "state": "queued",
        "provider": "vertex",
        "model": "veo-3.1-generate-001",
        "request": request,
        "fingerprint": fingerprint,
        "idempotency_key": f"veokit-{job_id}",
        "out_dir": "/tmp/out",
        "estimate_usd": 1.0,
        "attempts": 0,
        "results": [],
        "created_at": now,
        "updated_at": now,
        "lease_token": 0,
    }


def jobs_table(*names: str) -> sa.TableClause:
    types = {"request": sa.JSON(), "results": sa.JSON(), "created_at": UtcDateTime(), "updated_at": UtcDateTime()}
    return sa.table("jobs", *(sa.column(n, types.get(n, sa.types.NullType())) for n in names))


async def read_rows(url: str) -> dict[str, dict[str, Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            columns = [c["name"] for c in await conn.run_sync(lambda c: sa.inspect(c).get_columns("jobs"))]
            typed = (sa.column(n, sa.JSON() if n == "request" else sa.types.NullType()) for n in columns)
            table = sa.table("jobs", *typed)
            rows = (await conn.execute(sa.select(table))).mappings().all()
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return {r["id"]: {**dict(r), "_tables": tables} for r in rows}


async def test_0003_moves_inline_inputs_into_blobs_and_back(fresh_url: str) -> None:
    ids = {label: new_job_id() for label in [*REQUESTS, "odd"]}
    before = {ids[label]: r.model_dump(mode="json") for label, r in REQUESTS.items()}
    before[ids["odd"]] = ODD_REQUEST

    def at_0002_with_old_rows(conn: sa.Connection) -> None:
        upgrade_connection(conn, "0002")
        fingerprints = {ids[label]: r.fingerprint() for label, r in REQUESTS.items()} | {ids["odd"]: "f"}
        rows = [old_row(job_id, request, fingerprints[job_id]) for job_id, request in before.items()]
        conn.execute(sa.insert(jobs_table(*rows[0])), rows)

    await migrate(fresh_url, at_0002_with_old_rows)

    store = SqlJobStore(fresh_url)
    await store.open()  # upgrades to head, as a new release does on its first start
    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(current_revisions) == [HEAD]
            sizes = dict(
                (
                    await conn.execute(sa.select(sa.column("sha256"), sa.column("size")).select_from(sa.table("blobs")))
                ).all()
            )
        contents = [SHARED.data, JPEG, png(2), VIDEO]
        assert sizes == {hashlib.sha256(c).hexdigest(): len(c) for c in contents}  # each content once
        for label, original in REQUESTS.items():
            job = await store.get(ids[label])
            stored = StoredRequest.model_validate(job.request)
            assert stored.fingerprint() == original.fingerprint() == job.fingerprint
            assert len(str(job.request)) < 2000  # no bytes left in the row
            assert await inputs.load(store, job) == original  # the very bytes, back from the blobs
        assert (await store.get(ids["odd"])).request == ODD_REQUEST
        moved = {job_id: (await store.get(job_id)).request for job_id in before}
    finally:
        await store.close()
    rows = await read_rows(fresh_url)
    assert "idempotency_key" not in next(iter(rows.values()))

    await migrate(fresh_url, lambda conn: downgrade_connection(conn, "0002"))
    rows = await read_rows(fresh_url)
    assert {job_id: row["request"] for job_id, row in rows.items()} == before  # exactly what was there
    assert all(row["idempotency_key"] == f"veokit-{job_id}" for job_id, row in rows.items())
    assert not {"blobs", "blob_chunks"} & next(iter(rows.values()))["_tables"]

    await migrate(fresh_url, upgrade_connection)  # and up again: the same references
    store = SqlJobStore(fresh_url)
    await store.open()
    try:
        assert {job_id: (await store.get(job_id)).request for job_id in before} == moved
        job = await store.get(ids["everything"])
        assert isinstance(job, Job) and job.state is JobState.QUEUED
        assert await inputs.load(store, job) == REQUESTS["everything"]
    finally:
        await store.close()
