"""Flash groups: one campaign per calendar run, a state machine.

Revision ID: 0017_flash_groups
Revises: 0016_lottery
Create Date: 2026-12-10

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_flash_groups"
down_revision: str | Sequence[str] | None = "0016_lottery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = ("planned", "creating", "open", "ended", "dissolving", "quitting", "done", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "flash_campaigns",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("entry_id", sa.String(48), nullable=False),
        sa.Column("run_key", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("posts_done", sa.Integer(), nullable=False),
        sa.Column("remove_round", sa.Integer(), nullable=False),
        _ts("create_at"),
        _ts("event_start"),
        _ts("event_end"),
        _ts("dissolve_at"),
        _ts("step_at"),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_flash_campaigns_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_campaigns")),
        sa.UniqueConstraint(
            "account_id", "run_key", name=op.f("uq_flash_campaigns_account_id_run_key")
        ),
    )
    op.create_index(
        "ix_flash_campaigns_account_id_status", "flash_campaigns", ["account_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_flash_campaigns_account_id_status", table_name="flash_campaigns")
    op.drop_table("flash_campaigns")
