"""Leases: one process per account.

Revision ID: 0004_lease
Revises: 0003_pauses
Create Date: 2026-01-20

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_lease"
down_revision: str | Sequence[str] | None = "0003_pauses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        _ts("acquired_at"),
        _ts("renewed_at"),
        _ts("expires_at"),
        sa.Column("wechat_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
