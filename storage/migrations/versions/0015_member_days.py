"""member_days: messages per member, group and local day (activity tiers, reports).

Revision ID: 0015_member_days
Revises: 0014_coupons
Create Date: 2026-12-01

Hand-written to match ``storage.models``; a test compares the two.  Not
backfilled from activity_events: days before the upgrade stay empty (the
lurker rules read member_stats.last_spoke_at, which has the whole history).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_member_days"
down_revision: str | Sequence[str] | None = "0014_coupons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "member_days",
        sa.Column("room_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "contact_id", "day", name=op.f("pk_member_days")),
    )
    op.create_index("ix_member_days_room_id_day", "member_days", ["room_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_member_days_room_id_day", table_name="member_days")
    op.drop_table("member_days")
