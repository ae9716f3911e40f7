"""Input images and videos move out of job rows into content-addressed blobs; jobs lose idempotency_key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Until now a job's request held its input images and video as base64 inside the row, so listing jobs read
every byte of every video being extended. Each content is now stored once, by SHA-256, in ``blobs`` (one row
per content) and ``blob_chunks`` (1 MiB pieces), and the request refers to it::

    image, last_frame, reference_images[i]:
        {"data": <base64>, "mime_type", "name"}      →  {"blob": {"sha256", "size"}, "mime_type", "name"}
    video:
        {"uri", "data": <base64> | null, "mime_type"} →  {"uri", "blob": {"sha256", "size"} | null, "mime_type"}

``idempotency_key`` was written and never read: no provider veokit speaks (Vertex, the Gemini API, Kie, fal,
Replicate) takes one on submit. Downgrading puts the bytes back into the rows and restores the column as
``veokit-<job id>``, what earlier releases wrote.

Self-contained, as 0001: table layouts and JSON shapes are spelled out as they are at this revision.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 1 << 20
_CHUNKS_PER_INSERT = 8
_IMAGES = ("image", "last_frame")

_jobs = sa.table("jobs", sa.column("id", sa.String()), sa.column("request", sa.JSON()))
_blobs = sa.table(
    "blobs",
    sa.column("id", sa.String()),
    sa.column("sha256", sa.String()),
    sa.column("size", sa.BigInteger()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_chunks = sa.table(
    "blob_chunks",
    sa.column("blob_id", sa.String()),
    sa.column("seq", sa.Integer()),
    sa.column("data", sa.LargeBinary()),
)


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_blobs_sha256", "blobs", ["sha256"], unique=True)
    op.create_table(
        "blob_chunks",
        sa.Column("blob_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"], name="fk_blob_chunks_blob_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("blob_id", "seq"),
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        # Images and videos are compressed already: keep PostgreSQL from trying again on every chunk.
        op.execute("ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    for job_id in _jobs_mentioning(conn, '"data"'):
        request = _request(conn, job_id)
        converted = _with_refs(conn, request)
        if converted != request:
            conn.execute(sa.update(_jobs).where(_jobs.c.id == job_id).values(request=converted))
    op.drop_column("jobs", "idempotency_key")


def downgrade() -> None:
    conn = op.get_bind()
    # NOT NULL needs a default to add the column to existing rows (SQLite); every row gets its value next.
    op.add_column("jobs", sa.Column("idempotency_key", sa.String(128), nullable=False, server_default=""))
    key = sa.table("jobs", sa.column("id", sa.String()), sa.column("idempotency_key", sa.String()))
    conn.execute(sa.update(key).values(idempotency_key=sa.literal("veokit-", sa.String()) + key.c.id))
    for job_id in _jobs_mentioning(conn, '"blob"'):
        request = _request(conn, job_id)
        inlined = _inlined(conn, request)
        if inlined != request:
            conn.execute(sa.update(_jobs).where(_jobs.c.id == job_id).values(request=inlined))
    op.drop_table("blob_chunks")
    op.drop_index("ux_blobs_sha256", table_name="blobs")
    op.drop_table("blobs")


# -- rows ------------------------------------------------------------------------------------------------------
def _jobs_mentioning(conn: sa.Connection, text: str) -> list[str]:
    """Ids of jobs whose request may hold ``text`` (a cheap filter; each request is then looked at properly).
    Rows are read one at a time after this: a request may carry hundreds of megabytes."""
    query = sa.select(_jobs.c.id).where(sa.cast(_jobs.c.request, sa.Text()).like(f"%{text}%"))
    return list(conn.execute(query).scalars())


def _request(conn: sa.Connection, job_id: str) -> Any:
    return conn.execute(sa.select(_jobs.c.request).where(_jobs.c.id == job_id)).scalar_one()


def _with_refs(conn: sa.Connection, request: Any) -> Any:
    if not isinstance(request, dict):
        return request
    out = dict(request)

    def image(doc: Any) -> Any:
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), str):
            return doc
        blob = _put(conn, base64.b64decode(doc["data"]))
        return {"blob": blob, "mime_type": doc.get("mime_type"), "name": doc.get("name")}

    for key in _IMAGES:
        if key in out:
            out[key] = image(out[key])
    if isinstance(out.get("reference_images"), list):
        out["reference_images"] = [image(r) for r in out["reference_images"]]
    video = out.get("video")
    if isinstance(video, dict) and "data" in video:
        data = video.get("data")
        out["video"] = {
            "uri": video.get("uri"),
            "blob": None if data is None else _put(conn, base64.b64decode(data)),
            "mime_type": video.get("mime_type", "video/mp4"),
        }
    return out


def _inlined(conn: sa.Connection, request: Any) -> Any:
    if not isinstance(request, dict):
        return request
    out = dict(request)

    def image(doc: Any) -> Any:
        if not isinstance(doc, dict) or not isinstance(doc.get("blob"), dict):
            return doc
        data = _get(conn, doc["blob"]["sha256"])
        return {
            "data": base64.b64encode(data).decode("ascii"),
            "mime_type": doc.get("mime_type"),
            "name": doc.get("name"),
        }

    for key in _IMAGES:
        if key in out:
            out[key] = image(out[key])
    if isinstance(out.get("reference_images"), list):
        out["reference_images"] = [image(r) for r in out["reference_images"]]
    video = out.get("video")
    if isinstance(video, dict) and "blob" in video:
        blob = video.get("blob")
        out["video"] = {
            "uri": video.get("uri"),
            "data": None if blob is None else base64.b64encode(_get(conn, blob["sha256"])).decode("ascii"),
            "mime_type": video.get("mime_type", "video/mp4"),
        }
    return out


# -- blobs -----------------------------------------------------------------------------------------------------
def _put(conn: sa.Connection, data: bytes) -> dict[str, Any]:
    sha256 = hashlib.sha256(data).hexdigest()
    if conn.execute(sa.select(_blobs.c.id).where(_blobs.c.sha256 == sha256)).first() is None:
        blob_id = uuid.uuid4().hex
        now = dt.datetime.now(dt.UTC)
        # SQLite has no time zone type: veokit stores naive UTC there.
        created = now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now
        conn.execute(sa.insert(_blobs).values(id=blob_id, sha256=sha256, size=len(data), created_at=created))
        rows = ({"blob_id": blob_id, "seq": seq, "data": chunk} for seq, chunk in enumerate(_pieces(data)))
        while batch := [row for _, row in zip(range(_CHUNKS_PER_INSERT), rows, strict=False)]:
            conn.execute(sa.insert(_chunks), batch)
    return {"sha256": sha256, "size": len(data)}


def _pieces(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        yield bytes(view[start : start + _CHUNK])


def _get(conn: sa.Connection, sha256: str) -> bytes:
    blob_id = conn.execute(sa.select(_blobs.c.id).where(_blobs.c.sha256 == sha256)).scalar_one_or_none()
    if blob_id is None:
        raise RuntimeError(f"cannot downgrade: a job refers to blob {sha256}, which is not in the database")
    query = sa.select(_chunks.c.data).where(_chunks.c.blob_id == blob_id).order_by(_chunks.c.seq)
    return b"".join(conn.execute(query).scalars())
