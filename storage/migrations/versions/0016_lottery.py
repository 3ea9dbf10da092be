"""Lottery: provably fair draws (seed, its hash, winners) and their entrants.

Revision ID: 0016_lottery
Revises: 0015_member_days
Create Date: 2026-12-09

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_lottery"
down_revision: str | Sequence[str] | None = "0015_member_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
SCOPE = sa.String(160)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DRAW_STATUSES = ("open", "drawing", "drawn", "announced")
ENTRANT_STATUSES = ("entered", "ineligible")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "lottery_draws",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("run_key", sa.String(255), nullable=False),
        sa.Column("entry_id", sa.String(48), nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("scope", SCOPE, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("algorithm", sa.String(40), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("seed_hash", sa.String(64), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("prize", sa.Text(), nullable=True),
        sa.Column("entrant_count", sa.Integer(), nullable=False),
        sa.Column("entrants_hash", sa.String(64), nullable=True),
        _ts("opened_at"),
        _ts("draws_at"),
        _ts("claimed_at", nullable=True),
        _ts("drawn_at", nullable=True),
        _ts("announced_at", nullable=True),
        sa.CheckConstraint(_in("status", DRAW_STATUSES), name=op.f("ck_lottery_draws_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_draws")),
        sa.UniqueConstraint(
            "account_id", "run_key", name=op.f("uq_lottery_draws_account_id_run_key")
        ),
    )
    op.create_index(
        "ix_lottery_draws_account_id_status_draws_at",
        "lottery_draws",
        ["account_id", "status", "draws_at"],
    )
    op.create_index(
        "ix_lottery_draws_account_id_room_id_draws_at",
        "lottery_draws",
        ["account_id", "room_id", "draws_at"],
    )
    op.create_table(
        "lottery_entrants",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("draw_id", BIG_ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("message_id", ID, nullable=True),
        _ts("entered_at"),
        sa.Column("confirm_key", sa.String(200), nullable=True),
        _ts("confirmed_at", nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("coupon_id", BIG_ID, nullable=True),
        sa.CheckConstraint(
            _in("status", ENTRANT_STATUSES), name=op.f("ck_lottery_entrants_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_entrants")),
        sa.UniqueConstraint(
            "draw_id", "member_id", name=op.f("uq_lottery_entrants_draw_id_member_id")
        ),
    )
    op.create_index(
        "ix_lottery_entrants_account_id_draw_id", "lottery_entrants", ["account_id", "draw_id"]
    )
    op.create_index(
        "ix_lottery_entrants_account_id_member_id",
        "lottery_entrants",
        ["account_id", "member_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_lottery_entrants_account_id_member_id", table_name="lottery_entrants")
    op.drop_index("ix_lottery_entrants_account_id_draw_id", table_name="lottery_entrants")
    op.drop_table("lottery_entrants")
    op.drop_index("ix_lottery_draws_account_id_room_id_draws_at", table_name="lottery_draws")
    op.drop_index("ix_lottery_draws_account_id_status_draws_at", table_name="lottery_draws")
    op.drop_table("lottery_draws")
