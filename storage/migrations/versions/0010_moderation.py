"""Moderation: cases, strikes, the blocklist, exemptions, modes, admins' verdicts.

Revision ID: 0010_moderation
Revises: 0009_audit_shadow
Create Date: 2026-12-01

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_moderation"
down_revision: str | Sequence[str] | None = "0009_audit_shadow"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CASE_STATUSES = ("open", "confirmed", "undone", "appealed", "rejected")
MODES = ("enforce", "shadow")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "moderation_cases",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("appeal_text", sa.Text(), nullable=True),
        _ts("appealed_at", nullable=True),
        sa.CheckConstraint(_in("status", CASE_STATUSES), name=op.f("ck_moderation_cases_status")),
        sa.CheckConstraint(_in("mode", MODES), name=op.f("ck_moderation_cases_mode")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_cases")),
        sa.UniqueConstraint(
            "account_id",
            "room_id",
            "message_id",
            name=op.f("uq_moderation_cases_account_id_room_id_message_id"),
        ),
    )
    op.create_index(
        "ix_moderation_cases_account_id_room_id_member_id",
        "moderation_cases",
        ["account_id", "room_id", "member_id"],
    )
    op.create_table(
        "moderation_strikes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=True),
        _ts("at"),
        _ts("cleared_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_strikes")),
    )
    op.create_index(
        "ix_moderation_strikes_account_id_room_id_member_id",
        "moderation_strikes",
        ["account_id", "room_id", "member_id"],
    )
    op.create_table(
        "blocklist",
        sa.Column("scope", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        _ts("at"),
        sa.Column("by", ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("case_id", BIG_ID, nullable=True),
        sa.PrimaryKeyConstraint("scope", "member_id", name=op.f("pk_blocklist")),
    )
    op.create_table(
        "moderation_allowlist",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        _ts("at"),
        sa.Column("by", ID, nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "room_id", "member_id", name=op.f("pk_moderation_allowlist")
        ),
    )
    op.create_table(
        "moderation_modes",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        _ts("since"),
        sa.Column("by", ID, nullable=False),
        sa.CheckConstraint(_in("mode", MODES), name=op.f("ck_moderation_modes_mode")),
        sa.PrimaryKeyConstraint("account_id", "room_id", name=op.f("pk_moderation_modes")),
    )
    op.create_table(
        "ad_verdicts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("is_ad", sa.Boolean(), nullable=False),
        sa.Column("case_id", BIG_ID, nullable=True),
        sa.Column("by", ID, nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_verdicts")),
    )
    op.create_index("ix_ad_verdicts_account_id_at", "ad_verdicts", ["account_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_ad_verdicts_account_id_at", table_name="ad_verdicts")
    op.drop_table("ad_verdicts")
    op.drop_table("moderation_modes")
    op.drop_table("moderation_allowlist")
    op.drop_table("blocklist")
    op.drop_index(
        "ix_moderation_strikes_account_id_room_id_member_id", table_name="moderation_strikes"
    )
    op.drop_table("moderation_strikes")
    op.drop_index("ix_moderation_cases_account_id_room_id_member_id", table_name="moderation_cases")
    op.drop_table("moderation_cases")
