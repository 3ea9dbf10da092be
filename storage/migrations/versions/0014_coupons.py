"""Coupons: drops, coupons as assets with one owner each, and every transition.

Revision ID: 0014_coupons
Revises: 0013_points
Create Date: 2026-12-02

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_coupons"
down_revision: str | Sequence[str] | None = "0013_points"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
SCOPE = sa.String(160)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = ("issued", "claimed", "pending_transfer", "redeemed", "expired")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "coupon_drops",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("scope", SCOPE, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("type_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("value", sa.String(40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=False),
        sa.Column("valid_days", sa.Float(), nullable=False),
        sa.Column("opened_by", ID, nullable=False),
        _ts("opened_at"),
        _ts("closes_at"),
        _ts("announced_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_drops")),
    )
    op.create_index(
        "ix_coupon_drops_account_id_room_id_closes_at",
        "coupon_drops",
        ["account_id", "room_id", "closes_at"],
    )
    op.create_table(
        "coupons",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("scope", SCOPE, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("drop_id", BIG_ID, nullable=True),
        sa.Column("type_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("value", sa.String(40), nullable=False),
        sa.Column("transferable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("issued_by", ID, nullable=False),
        _ts("issued_at"),
        _ts("expires_at"),
        sa.Column("claimed_by", ID, nullable=True),
        sa.Column("claim_slot", sa.Integer(), nullable=True),
        _ts("claimed_at", nullable=True),
        sa.Column("pending_to", ID, nullable=True),
        _ts("pending_until", nullable=True),
        sa.Column("pending_note", sa.Text(), nullable=True),
        sa.Column("pending_room", ID, nullable=True),
        _ts("redeemed_at", nullable=True),
        sa.Column("redeemed_by", ID, nullable=True),
        sa.Column("redeemed_room", ID, nullable=True),
        _ts("reminded_at", nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_coupons_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_coupons_code")),
        sa.UniqueConstraint(
            "drop_id",
            "claimed_by",
            "claim_slot",
            name=op.f("uq_coupons_drop_id_claimed_by_claim_slot"),
        ),
    )
    op.create_index(
        "ix_coupons_account_id_scope_owner_id", "coupons", ["account_id", "scope", "owner_id"]
    )
    op.create_index(
        "ix_coupons_account_id_status_expires_at",
        "coupons",
        ["account_id", "status", "expires_at"],
    )
    op.create_index("ix_coupons_drop_id_status", "coupons", ["drop_id", "status"])
    op.create_table(
        "coupon_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("coupon_id", BIG_ID, nullable=False),
        _ts("at"),
        sa.Column("actor", ID, nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("from_owner", ID, nullable=True),
        sa.Column("to_owner", ID, nullable=False),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_events")),
    )
    op.create_index(
        "ix_coupon_events_account_id_coupon_id", "coupon_events", ["account_id", "coupon_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_coupon_events_account_id_coupon_id", table_name="coupon_events")
    op.drop_table("coupon_events")
    op.drop_index("ix_coupons_drop_id_status", table_name="coupons")
    op.drop_index("ix_coupons_account_id_status_expires_at", table_name="coupons")
    op.drop_index("ix_coupons_account_id_scope_owner_id", table_name="coupons")
    op.drop_table("coupons")
    op.drop_index("ix_coupon_drops_account_id_room_id_closes_at", table_name="coupon_drops")
    op.drop_table("coupon_drops")
