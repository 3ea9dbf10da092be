"""name_cards: members' group aliases and the name-card reminders sent (issue 11).

Revision ID: 0019_reports
Revises: 0018_lurkers
Create Date: 2026-12-01

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_reports"
down_revision: str | Sequence[str] | None = "0018_lurkers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "name_cards",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_alias", sa.String(128), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("account_id", "room_id", "member_id", name=op.f("pk_name_cards")),
    )


def downgrade() -> None:
    op.drop_table("name_cards")
