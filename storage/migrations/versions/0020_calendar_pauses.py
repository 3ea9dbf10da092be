"""calendar_pauses: an entry of the SOP calendar paused in one group (#暂停 / #恢复).

Revision ID: 0020_calendar_pauses
Revises: 0019_reports
Create Date: 2026-12-01

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_calendar_pauses"
down_revision: str | Sequence[str] | None = "0019_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "calendar_pauses",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("paused_by", ID, nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "room_id", "entry_id", name=op.f("pk_calendar_pauses")
        ),
    )


def downgrade() -> None:
    op.drop_table("calendar_pauses")
