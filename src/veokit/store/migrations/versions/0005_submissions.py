"""Submissions: one row per paid call begun, with the operation the provider accepted.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A worker that loses its lease while its submit is in flight can no longer write the job (its writes are
fenced), but it must not drop what the provider accepted: it records the operation here, without the fence,
and the next holder of the job continues from it. Column types are written literally, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation_name", sa.Text(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_submissions_job_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_submissions_job_seq", "submissions", ["job_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_submissions_job_seq", table_name="submissions")
    op.drop_table("submissions")
