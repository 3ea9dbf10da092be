"""Groups store their policy profile's name, any name an operator gives.

Tiers became named profiles (``profiles:`` in bot.yaml): ``super``, ``member``
and ``flash`` ship as defaults, operators add their own (``vip``).  The
``groups.tier`` column (CHECK: the three tiers) becomes ``groups.profile``
without the CHECK; bot.yaml's validation owns the set of names.

Revision ID: 0008_profiles
Revises: 0007_calendar_runs
Create Date: 2026-12-08

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_profiles"
down_revision: str | Sequence[str] | None = "0007_calendar_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("groups", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_groups_tier"), type_="check")
        batch.alter_column(
            "tier",
            new_column_name="profile",
            existing_type=sa.String(16),
            type_=sa.String(64),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Operator profiles have no tier: their groups go back to 'member'.
    op.execute(
        "UPDATE groups SET profile = 'member' WHERE profile NOT IN ('super', 'member', 'flash')"
    )
    with op.batch_alter_table("groups", recreate="always") as batch:
        batch.alter_column(
            "profile",
            new_column_name="tier",
            existing_type=sa.String(64),
            type_=sa.String(16),
            existing_nullable=False,
        )
        batch.create_check_constraint("tier", "tier IN ('super', 'member', 'flash')")
