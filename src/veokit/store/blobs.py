"""Blob storage rules shared by every backend: input images and videos kept once, by SHA-256, in the store.

Why in the store and not in files beside it: with PostgreSQL, workers on many machines share the database and
nothing else, and a job must be runnable by any of them. Why chunked: a 500 MB video to extend then streams
in and out in :data:`CHUNK_BYTES` pieces with flat memory, instead of one value the size of the video.

A put is written under a fresh upload id and becomes visible, under its hash, only once all of it is written
and hashed: an interrupted put leaves nothing readable (its chunks are swept later), and concurrent puts of the
same content both succeed, one of them keeping its copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

CHUNK_BYTES = 1 << 20
# Chunks written per transaction: few commits for a large blob, and SQLite's single write lock is never held
# for long (other writers, the engine's state changes included, queue behind it).
WRITE_BATCH_BYTES = 8 << 20
READ_BATCH_CHUNKS = 4
# An upload that has not finished after this long was interrupted: its chunks are deleted by a later put.
STALE_UPLOAD_S = 24 * 3600

BlobSource = bytes | AsyncIterable[bytes]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFound(LookupError):
    """No blob with this hash. A job referencing one means the store lost data: its request cannot be sent."""


class BlobCorrupt(ValueError):
    """A stored blob no longer hashes to its name."""


def check_sha256(value: str) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValueError(f"not a SHA-256 hex digest (64 lowercase hex characters): {value!r}")
    return value


def mismatch(expected: str, actual: str) -> ValueError:
    return ValueError(f"content hashes to {actual}, not the expected {expected}: nothing was stored")


async def chunks_of(source: BlobSource, size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """``source`` re-cut into pieces of exactly ``size`` bytes (the last may be shorter, and is never empty)."""
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    pending = bytearray()
    async for piece in source:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


class Digest:
    """SHA-256 and length of a stream, as it goes by."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def check_complete(sha256: str, size: int, digest: Digest) -> None:
    if digest.size != size or digest.hexdigest() != sha256:
        raise BlobCorrupt(
            f"blob {sha256} is damaged: read {digest.size} bytes hashing to {digest.hexdigest()}, expected {size}"
        )


async def file_chunks(path: Path, size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """A file's content as a blob source, read off the event loop (e.g. a shot's output used as an input)."""
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, size):
            yield chunk
