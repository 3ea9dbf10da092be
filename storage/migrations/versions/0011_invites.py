"""Invites and joins: members' requests to invite, the joins decided on, raid locks.

Revision ID: 0011_invites
Revises: 0010_moderation
Create Date: 2026-12-02

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_invites"
down_revision: str | Sequence[str] | None = "0010_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INVITE_STATUSES = ("pending", "approved", "declined", "used")
JOIN_VERDICTS = ("allow", "review", "remove")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "invite_requests",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("requester_id", ID, nullable=False),
        sa.Column("invitee_id", ID, nullable=True),
        sa.Column("invitee_name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        sa.Column("decided_by", ID, nullable=True),
        _ts("decided_at", nullable=True),
        _ts("approved_until", nullable=True),
        sa.Column("used_by", ID, nullable=True),
        _ts("used_at", nullable=True),
        sa.CheckConstraint(_in("status", INVITE_STATUSES), name=op.f("ck_invite_requests_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_requests")),
    )
    op.create_index(
        "ix_invite_requests_account_id_room_id_status",
        "invite_requests",
        ["account_id", "room_id", "status"],
    )
    op.create_table(
        "invite_joins",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        _ts("at"),
        sa.Column("inviter_id", ID, nullable=True),
        sa.Column("paced", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(24), nullable=False),
        sa.CheckConstraint(_in("verdict", JOIN_VERDICTS), name=op.f("ck_invite_joins_verdict")),
        sa.PrimaryKeyConstraint(
            "account_id", "room_id", "member_id", "at", name=op.f("pk_invite_joins")
        ),
    )
    op.create_index(
        "ix_invite_joins_account_id_room_id_at", "invite_joins", ["account_id", "room_id", "at"]
    )
    op.create_table(
        "join_locks",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        _ts("locked_at"),
        _ts("until"),
        sa.PrimaryKeyConstraint("account_id", "room_id", name=op.f("pk_join_locks")),
    )


def downgrade() -> None:
    op.drop_table("join_locks")
    op.drop_index("ix_invite_joins_account_id_room_id_at", table_name="invite_joins")
    op.drop_table("invite_joins")
    op.drop_index("ix_invite_requests_account_id_room_id_status", table_name="invite_requests")
    op.drop_table("invite_requests")
