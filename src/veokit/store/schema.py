"""The SQL schema as SQLAlchemy Core metadata. Migrations must produce exactly this (a test compares them).

``state`` is a plain string, not an enum type: adding a state must not need a PostgreSQL ``ALTER TYPE`` or
an SQLite table rebuild, and the store already validates every state it writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from veokit.store.codec import from_db_time, to_db_time


class UtcDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in and out on every backend (SQLite would otherwise return naive datetimes)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else to_db_time(value, naive=dialect.name == "sqlite")

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else from_db_time(value)


# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere events deserve 64 bits.
EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("request", sa.JSON(), nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("client_key", sa.Text(), nullable=True),
    sa.Column("out_dir", sa.Text(), nullable=False),
    sa.Column("estimate_usd", sa.Float(), nullable=False),
    sa.Column("cost_usd", sa.Float(), nullable=True),
    sa.Column("operation_name", sa.Text(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    # none_as_null: a cleared error must be SQL NULL, not the JSON text 'null'.
    sa.Column("error", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("results", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("submitted_at", UtcDateTime(), nullable=True),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    # Leases (veokit.store.leases): who works on the job, the fencing token of every write, and until when
    # (also "not before" for a released job's back-off).
    sa.Column("lease_owner", sa.Text(), nullable=True),
    sa.Column("lease_token", sa.BigInteger(), nullable=False),
    sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
    # Twins (veokit.store.twins; 0006): recorded with --fresh (never waits, never waited for), and the identical
    # seeded job this one waits for or got its video from.
    sa.Column("fresh", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("twin_of", sa.String(64), nullable=True),
    sa.Index("ux_jobs_client_key", "client_key", unique=True),
    sa.Index("ix_jobs_fingerprint", "fingerprint"),
    sa.Index("ix_jobs_state", "state"),
    sa.Index("ix_jobs_created_at", "created_at"),
    # Claims scan active states for free leases (0002).
    sa.Index("ix_jobs_claim", "state", "lease_expires_at"),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", EventId, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.String(64),
        sa.ForeignKey("jobs.id", name="fk_job_events_job_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("from_state", sa.String(32), nullable=True),
    sa.Column("to_state", sa.String(32), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Index("ix_job_events_job_id", "job_id"),
)

# Paid calls begun, one row each (models.job.Submission): inserted with `queued → submitting`, its operation
# set once when the provider accepts, without the lease fence (0005).
submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("id", EventId, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.String(64),
        sa.ForeignKey("jobs.id", name="fk_submissions_job_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("owner", sa.Text(), nullable=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("operation_name", sa.Text(), nullable=True),
    sa.Column("accepted_at", UtcDateTime(), nullable=True),
    sa.Index("ux_submissions_job_seq", "job_id", "seq", unique=True),
)

# The next free request slot per provider, shared by every worker of the store (veokit.store.rate_slots; 0007).
# Seconds on the store's clock (epoch seconds for the database's and the wall clock): a float keeps SQLite and
# PostgreSQL arithmetic the same, and a double resolves well under a microsecond at today's epoch.
rate_slots = sa.Table(
    "rate_slots",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("next_free_s", sa.Float(), nullable=False),
    # How many slots of the key were taken: the next take's number, which a late departure's report counts from.
    sa.Column("taken", sa.BigInteger(), nullable=False, server_default="0"),  # 0008
)

# Holds on rate slots not yet taken (veokit.store.rate_slots; 0008): take `seq` of `key` comes no earlier than
# `not_before_s` (a departure `count` takes before it, plus the window). Deleted once the take is past.
rate_holds = sa.Table(
    "rate_holds",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("seq", sa.BigInteger(), primary_key=True),
    sa.Column("not_before_s", sa.Float(), nullable=False),
)

# The cost ledger (veokit.store.budget): one row per reservation, settled as its job's state changes.
budget_ledger = sa.Table(
    "budget_ledger",
    metadata,
    sa.Column("id", EventId, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.String(64),
        sa.ForeignKey("jobs.id", name="fk_budget_ledger_job_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer(), nullable=False),  # the job's n-th reservation
    sa.Column("day", sa.String(10), nullable=False),  # UTC YYYY-MM-DD of the reservation
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("estimate_usd", sa.Float(), nullable=False),
    sa.Column("amount_usd", sa.Float(), nullable=False),  # what counts against caps now
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ux_budget_ledger_job_seq", "job_id", "seq", unique=True),
    sa.Index("ix_budget_ledger_day_provider", "day", "provider"),
)

# Input images and videos, once per content (veokit.store.blobs). A row per put, named by its SHA-256 once the
# whole content is written (NULL until then: an interrupted put is never read, and is swept later).
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("size", sa.BigInteger(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ux_blobs_sha256", "sha256", unique=True),
)

blob_chunks = sa.Table(
    "blob_chunks",
    metadata,
    sa.Column(
        "blob_id",
        sa.String(32),
        sa.ForeignKey("blobs.id", name="fk_blob_chunks_blob_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
)

# The HTTP service's keys and the videos they own (veokit.store.tenancy; 0004).
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),  # SHA-256 of the secret; the secret is never stored
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("budget_daily_usd", sa.Float(), nullable=True),
    sa.Column("max_in_flight", sa.Integer(), nullable=True),
    sa.Column("webhook_url", sa.Text(), nullable=True),
    sa.Index("ux_api_keys_name", "name", unique=True),
    sa.Index("ux_api_keys_key_hash", "key_hash", unique=True),
)

api_videos = sa.Table(
    "api_videos",
    metadata,
    sa.Column(
        "job_id",
        sa.String(64),
        sa.ForeignKey("jobs.id", name="fk_api_videos_job_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "key_id",
        sa.String(32),
        sa.ForeignKey("api_keys.id", name="fk_api_videos_key_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", UtcDateTime(), nullable=False),  # the job's, for listing a key's videos in order
    sa.Column("idempotency_key", sa.Text(), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Column("deleted_at", UtcDateTime(), nullable=True),
    sa.Column("webhook_status", sa.String(16), nullable=False),
    sa.Column("webhook_attempts", sa.Integer(), nullable=False),
    sa.Column("webhook_next_at", UtcDateTime(), nullable=True),
    sa.Column("webhook_error", sa.Text(), nullable=True),
    sa.Index("ix_api_videos_key_created", "key_id", "created_at", "job_id"),
    sa.Index("ux_api_videos_key_idempotency", "key_id", "idempotency_key", unique=True),
    sa.Index("ix_api_videos_webhook", "webhook_status", "webhook_next_at"),
)
