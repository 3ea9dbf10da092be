"""Engagement: the points ledger, balances, check-ins and folded confirmations.

Revision ID: 0013_points
Revises: 0012_links
Create Date: 2026-12-03

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_points"
down_revision: str | Sequence[str] | None = "0012_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
SCOPE = sa.String(200)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
POINTS_KINDS = ("checkin", "activity", "admin", "lottery", "other")
CONFIRMATION_STATUSES = ("pending", "submitted", "sent")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "points_ledger",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("scope", SCOPE, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("by", ID, nullable=True),
        _ts("at"),
        sa.CheckConstraint(_in("kind", POINTS_KINDS), name=op.f("ck_points_ledger_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_ledger")),
        sa.UniqueConstraint("key", name=op.f("uq_points_ledger_key")),
    )
    op.create_index("ix_points_ledger_scope_member_id", "points_ledger", ["scope", "member_id"])
    op.create_index("ix_points_ledger_scope_at", "points_ledger", ["scope", "at"])
    op.create_table(
        "points_balances",
        sa.Column("scope", SCOPE, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("scope", "member_id", name=op.f("pk_points_balances")),
    )
    op.create_index("ix_points_balances_scope_balance", "points_balances", ["scope", "balance"])
    op.create_table(
        "checkins",
        sa.Column("scope", SCOPE, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("local_date", sa.String(10), nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("scope", "member_id", "local_date", name=op.f("pk_checkins")),
    )
    op.create_index("ix_checkins_room_id_local_date", "checkins", ["room_id", "local_date"])
    op.create_table(
        "checkin_folds",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("member_name", sa.String(128), nullable=False),
        sa.Column("local_date", sa.String(10), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("due_at"),
        sa.Column("action_key", sa.String(200), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            _in("status", CONFIRMATION_STATUSES), name=op.f("ck_checkin_folds_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_folds")),
        sa.UniqueConstraint(
            "account_id",
            "room_id",
            "member_id",
            "local_date",
            name=op.f("uq_checkin_folds_account_id_room_id_member_id_local_date"),
        ),
    )
    op.create_index(
        "ix_checkin_folds_account_id_status_due_at",
        "checkin_folds",
        ["account_id", "status", "due_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_checkin_folds_account_id_status_due_at", table_name="checkin_folds")
    op.drop_table("checkin_folds")
    op.drop_index("ix_checkins_room_id_local_date", table_name="checkins")
    op.drop_table("checkins")
    op.drop_index("ix_points_balances_scope_balance", table_name="points_balances")
    op.drop_table("points_balances")
    op.drop_index("ix_points_ledger_scope_at", table_name="points_ledger")
    op.drop_index("ix_points_ledger_scope_member_id", table_name="points_ledger")
    op.drop_table("points_ledger")
