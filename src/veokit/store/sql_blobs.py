"""Blobs in SQL (rules in :mod:`veokit.store.blobs`): a ``blobs`` row per put, its content in ``blob_chunks``.

A put inserts its row with no hash, writes the chunks a few megabytes per transaction, then names the row by
the hash in a last transaction. The unique index on the hash decides between concurrent puts of the same
content: the loser deletes its copy. Reads take a few chunks per query, each on a short-lived connection, so
neither side holds a transaction (or SQLite's write lock) for the length of a large blob.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from veokit.models.inputs import BlobRef
from veokit.models.job import utcnow
from veokit.store import blobs as rules
from veokit.store.schema import blob_chunks, blobs

Writer = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


async def find(engine: AsyncEngine, sha256: str) -> BlobRef | None:
    query = sa.select(blobs.c.size).where(blobs.c.sha256 == rules.check_sha256(sha256))
    async with engine.connect() as conn:
        size = (await conn.execute(query)).scalar_one_or_none()
    return None if size is None else BlobRef(sha256=sha256, size=size)


async def put(engine: AsyncEngine, write: Writer, content: rules.BlobSource, sha256: str | None) -> BlobRef:
    if sha256 is None and isinstance(content, bytes | bytearray):
        sha256 = hashlib.sha256(content).hexdigest()  # cheap for bytes in memory, and spares writing a copy
    if sha256 is not None:
        found = await find(engine, sha256)
        if found is not None:
            return found
    upload = uuid.uuid4().hex
    now = utcnow()
    async with write() as conn:
        # Sweep puts interrupted long ago (their process died): nobody will finish them.
        stale = now - dt.timedelta(seconds=rules.STALE_UPLOAD_S)
        await conn.execute(sa.delete(blobs).where(blobs.c.sha256.is_(None), blobs.c.created_at < stale))
        await conn.execute(sa.insert(blobs).values(id=upload, sha256=None, size=None, created_at=now))
    try:
        digest = await _write_chunks(write, upload, content)
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256:
            raise rules.mismatch(sha256, actual)
        async with write() as conn:
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        sa.update(blobs).where(blobs.c.id == upload).values(sha256=actual, size=digest.size)
                    )
            except IntegrityError:  # another put of the same content finished first: its copy serves
                await conn.execute(sa.delete(blobs).where(blobs.c.id == upload))
        return BlobRef(sha256=actual, size=digest.size)
    except BaseException:
        await _discard(write, upload)
        raise


async def _write_chunks(write: Writer, upload: str, content: rules.BlobSource) -> rules.Digest:
    digest = rules.Digest()
    batch: list[dict[str, Any]] = []
    pending = seq = 0
    async for chunk in rules.chunks_of(content):
        digest.update(chunk)
        batch.append({"blob_id": upload, "seq": seq, "data": chunk})
        seq += 1
        pending += len(chunk)
        if pending >= rules.WRITE_BATCH_BYTES:
            async with write() as conn:
                await conn.execute(sa.insert(blob_chunks), batch)
            batch, pending = [], 0
    if batch:
        async with write() as conn:
            await conn.execute(sa.insert(blob_chunks), batch)
    return digest


async def _discard(write: Writer, upload: str) -> None:
    try:
        async with write() as conn:
            await conn.execute(sa.delete(blobs).where(blobs.c.id == upload))  # its chunks go with it (cascade)
    except Exception:  # noqa: S110 - best effort: the sweep in a later put removes it anyway
        pass


async def read(engine: AsyncEngine, sha256: str) -> AsyncIterator[bytes]:
    query = sa.select(blobs.c.id, blobs.c.size).where(blobs.c.sha256 == rules.check_sha256(sha256))
    async with engine.connect() as conn:
        found = (await conn.execute(query)).first()
    if found is None:
        raise rules.BlobNotFound(f"no blob {sha256}")
    upload, size = found
    digest = rules.Digest()
    seq = 0
    while True:
        query = (
            sa.select(blob_chunks.c.seq, blob_chunks.c.data)
            .where(blob_chunks.c.blob_id == upload, blob_chunks.c.seq >= seq)
            .order_by(blob_chunks.c.seq)
            .limit(rules.READ_BATCH_CHUNKS)
        )
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        for row in rows:
            if row.seq != seq:
                raise rules.BlobCorrupt(f"blob {sha256} is damaged: chunk {seq} is missing")
            digest.update(row.data)
            seq += 1
            yield row.data
        if len(rows) < rules.READ_BATCH_CHUNKS:
            break
    rules.check_complete(sha256, size, digest)
