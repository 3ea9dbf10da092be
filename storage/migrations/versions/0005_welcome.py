"""Welcome ritual: the stays of each member, and the pending welcome that survives a crash.

Revision ID: 0005_welcome
Revises: 0004_lease
Create Date: 2026-01-20

Hand-written to match ``storage.models``; a test compares the two.  Each
existing membership becomes its current stay (earlier stays were overwritten
before this revision and cannot be recovered).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_welcome"
down_revision: str | Sequence[str] | None = "0004_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "member_stays",
        sa.Column("room_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("stay", sa.Integer(), nullable=False),
        _ts("joined_at"),
        sa.Column("inviter_id", ID, nullable=True),
        _ts("left_at", nullable=True),
        sa.Column("remover_id", ID, nullable=True),
        _ts("welcomed_at", nullable=True),
        sa.PrimaryKeyConstraint("room_id", "contact_id", "stay", name=op.f("pk_member_stays")),
    )
    op.execute(
        "INSERT INTO member_stays (room_id, contact_id, stay, joined_at, inviter_id, left_at,"
        " remover_id, welcomed_at) SELECT room_id, contact_id, join_count, joined_at,"
        " inviter_id, left_at, remover_id, welcomed_at FROM memberships"
    )
    op.create_table(
        "pending_welcomes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("stay", sa.Integer(), nullable=False),
        _ts("joined_at"),
        _ts("due_at"),
        _ts("expires_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("action_key", sa.String(200), nullable=True),
        _ts("updated_at"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_welcomes")),
        sa.UniqueConstraint(
            "account_id",
            "room_id",
            "contact_id",
            "stay",
            name=op.f("uq_pending_welcomes_account_id_room_id_contact_id_stay"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'submitted', 'welcomed', 'failed', 'dropped', 'expired')",
            name=op.f("ck_pending_welcomes_status"),
        ),
    )
    op.create_index(
        "ix_pending_welcomes_account_id_status_due_at",
        "pending_welcomes",
        ["account_id", "status", "due_at"],
    )
    op.create_index(
        "ix_pending_welcomes_account_id_action_key",
        "pending_welcomes",
        ["account_id", "action_key"],
    )


def downgrade() -> None:
    op.drop_index("ix_pending_welcomes_account_id_action_key", table_name="pending_welcomes")
    op.drop_index("ix_pending_welcomes_account_id_status_due_at", table_name="pending_welcomes")
    op.drop_table("pending_welcomes")
    op.drop_table("member_stays")
