"""Rate slots: one provider quota shared by every worker of the store.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

One row per provider: the next free request slot, in seconds on the store's clock (see veokit.store.rate_slots).
Nothing to carry over: pacing state before this revision lived in each process. Column types are written
literally, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_slots",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("next_free_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_slots")
