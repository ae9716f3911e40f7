"""The HTTP service's keys and the videos they own.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Column types are written literally, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("budget_daily_usd", sa.Float(), nullable=True),
        sa.Column("max_in_flight", sa.Integer(), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_api_keys_name", "api_keys", ["name"], unique=True)
    op.create_index("ux_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_table(
        "api_videos",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_status", sa.String(16), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_api_videos_job_id", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name="fk_api_videos_key_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )
    op.create_index("ix_api_videos_key_created", "api_videos", ["key_id", "created_at", "job_id"])
    op.create_index("ux_api_videos_key_idempotency", "api_videos", ["key_id", "idempotency_key"], unique=True)
    op.create_index("ix_api_videos_webhook", "api_videos", ["webhook_status", "webhook_next_at"])


def downgrade() -> None:
    op.drop_index("ix_api_videos_webhook", table_name="api_videos")
    op.drop_index("ux_api_videos_key_idempotency", table_name="api_videos")
    op.drop_index("ix_api_videos_key_created", table_name="api_videos")
    op.drop_table("api_videos")
    op.drop_index("ux_api_keys_key_hash", table_name="api_keys")
    op.drop_index("ux_api_keys_name", table_name="api_keys")
    op.drop_table("api_keys")
