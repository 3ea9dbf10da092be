"""Lurkers: 冒泡提醒 warnings, removal batches, capacity alerts, known friends.

Revision ID: 0018_lurkers
Revises: 0017_flash_groups
Create Date: 2026-12-03

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_lurkers"
down_revision: str | Sequence[str] | None = "0017_flash_groups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WARNING_STATUSES = ("warned", "spared", "listed", "removed", "restored", "dropped")
BATCH_STATUSES = ("pending", "confirmed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "lurker_warnings",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("warned_at"),
        _ts("due_at"),
        sa.Column("batch_id", BIG_ID, nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint(_in("status", WARNING_STATUSES), name=op.f("ck_lurker_warnings_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lurker_warnings")),
    )
    op.create_index(
        "ix_lurker_warnings_account_id_room_id_status",
        "lurker_warnings",
        ["account_id", "room_id", "status"],
    )
    op.create_index(
        "ix_lurker_warnings_account_id_batch_id", "lurker_warnings", ["account_id", "batch_id"]
    )
    op.create_table(
        "lurker_batches",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("confirmed_at", nullable=True),
        sa.Column("confirmed_by", ID, nullable=True),
        sa.CheckConstraint(_in("status", BATCH_STATUSES), name=op.f("ck_lurker_batches_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lurker_batches")),
    )
    op.create_index(
        "ix_lurker_batches_account_id_room_id", "lurker_batches", ["account_id", "room_id"]
    )
    op.create_table(
        "lurker_capacity",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        _ts("alerted_at"),
        sa.PrimaryKeyConstraint("account_id", "room_id", name=op.f("pk_lurker_capacity")),
    )
    op.create_table(
        "lurker_friends",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        _ts("since"),
        sa.PrimaryKeyConstraint("account_id", "contact_id", name=op.f("pk_lurker_friends")),
    )


def downgrade() -> None:
    op.drop_table("lurker_friends")
    op.drop_table("lurker_capacity")
    op.drop_index("ix_lurker_batches_account_id_room_id", table_name="lurker_batches")
    op.drop_table("lurker_batches")
    op.drop_index("ix_lurker_warnings_account_id_batch_id", table_name="lurker_warnings")
    op.drop_index("ix_lurker_warnings_account_id_room_id_status", table_name="lurker_warnings")
    op.drop_table("lurker_warnings")
