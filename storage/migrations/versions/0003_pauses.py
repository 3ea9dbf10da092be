"""Risk-control pauses that survive restarts; a not-before time for send retries.

Revision ID: 0003_pauses
Revises: 0002
Create Date: 2026-01-19

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_pauses"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "pauses",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        _ts("opened_at"),
        _ts("until"),
        sa.Column("error", sa.Text(), nullable=False),
        _ts("closed_at", nullable=True),
        sa.Column("closed_by", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pauses")),
    )
    op.create_index("ix_pauses_account_id_kind", "pauses", ["account_id", "kind"])
    op.add_column("outbox", _ts("not_before", nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("not_before")
    op.drop_index("ix_pauses_account_id_kind", table_name="pauses")
    op.drop_table("pauses")
