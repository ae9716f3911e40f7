"""Rate slots count their takes, and a late departure holds the take a window of requests after it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

``rate_slots.taken`` is the number of slots of the key handed out so far, so each take has a number;
``rate_holds`` keeps, per key and take number not yet taken, the earliest that take may come (a departure a window
of requests before it, plus the window: see veokit.store.rate_slots). Rows of 0007 start counting at 0: a number
only has to agree with the takes after it. Column types are written literally, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rate_slots", sa.Column("taken", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "rate_holds",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("not_before_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", "seq"),
    )


def downgrade() -> None:
    op.drop_table("rate_holds")
    with op.batch_alter_table("rate_slots") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("taken")
