"""Claiming index and the cost ledger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Column types are written literally, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Workers claim by (state, lease expiry) many times a second: keep that scan off the whole table.
    op.create_index("ix_jobs_claim", "jobs", ["state", "lease_expires_at"])
    op.create_table(
        "budget_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("estimate_usd", sa.Float(), nullable=False),
        sa.Column("amount_usd", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_budget_ledger_job_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_budget_ledger_job_seq", "budget_ledger", ["job_id", "seq"], unique=True)
    op.create_index("ix_budget_ledger_day_provider", "budget_ledger", ["day", "provider"])


def downgrade() -> None:
    op.drop_index("ix_budget_ledger_day_provider", table_name="budget_ledger")
    op.drop_index("ux_budget_ledger_job_seq", table_name="budget_ledger")
    op.drop_table("budget_ledger")
    op.drop_index("ix_jobs_claim", table_name="jobs")
