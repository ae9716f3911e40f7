"""Twins: identical seeded requests in flight together pay once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

``fresh``: the job was recorded with ``--fresh`` (it never waits for an identical job, and none waits for it);
rows recorded before this revision were not, as reuse was the default. ``twin_of``: the identical job this one
waits for, or whose video it got at $0 (see veokit.store.twins). Column types are written literally, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("fresh", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("jobs", sa.Column("twin_of", sa.String(64), nullable=True))


def downgrade() -> None:
    # SQLite drops columns only by rebuilding the table: batch mode does that.
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("twin_of")
        batch.drop_column("fresh")
