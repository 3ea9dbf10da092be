"""Link approvals (#报备): a member asks, an admin approves a link or its domain.

Revision ID: 0012_links
Revises: 0011_invites
Create Date: 2026-12-02

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_links"
down_revision: str | Sequence[str] | None = "0011_invites"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = ("pending", "approved", "declined")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "link_approvals",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_key", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("whole_domain", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("decided_at", nullable=True),
        sa.Column("decided_by", ID, nullable=True),
        _ts("expires_at", nullable=True),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_link_approvals_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_approvals")),
    )
    op.create_index(
        "ix_link_approvals_account_id_room_id_status",
        "link_approvals",
        ["account_id", "room_id", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_link_approvals_account_id_room_id_status", table_name="link_approvals")
    op.drop_table("link_approvals")
