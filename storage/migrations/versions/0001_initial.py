"""Initial schema: groups, contacts, memberships, activity, stats, audit, connections.

Revision ID: 0001
Revises:
Create Date: 2026-01-05

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("room_id", ID, nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("bot_role", sa.String(16), nullable=False),
        _ts("joined_at"),
        _ts("left_at", nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_groups")),
        sa.CheckConstraint("tier IN ('super', 'member', 'flash')", name=op.f("ck_groups_tier")),
        sa.CheckConstraint(
            "bot_role IN ('owner', 'admin', 'member', 'unknown')", name=op.f("ck_groups_bot_role")
        ),
    )

    op.create_table(
        "contacts",
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contacts")),
    )

    op.create_table(
        "memberships",
        sa.Column("room_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        _ts("joined_at"),
        sa.Column("inviter_id", ID, nullable=True),
        _ts("left_at", nullable=True),
        sa.Column("remover_id", ID, nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        _ts("welcomed_at", nullable=True),
        _ts("reminded_at", nullable=True),
        sa.Column("join_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "contact_id", name=op.f("pk_memberships")),
        sa.CheckConstraint(
            "role IN ('member', 'admin', 'owner')", name=op.f("ck_memberships_role")
        ),
    )
    op.create_index("ix_memberships_contact_id", "memberships", ["contact_id"])
    op.create_index(
        "ix_memberships_reminded_at_joined_at", "memberships", ["reminded_at", "joined_at"]
    )

    op.create_table(
        "activity_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message_kind", sa.String(32), nullable=True),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_events")),
        sa.CheckConstraint(
            "kind IN ('message', 'join', 'leave')", name=op.f("ck_activity_events_kind")
        ),
    )
    op.create_index("ix_activity_events_room_id_at", "activity_events", ["room_id", "at"])

    op.create_table(
        "member_stats",
        sa.Column("room_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        _ts("first_seen_at"),
        _ts("last_spoke_at", nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        _ts("last_active_at"),
        sa.PrimaryKeyConstraint("room_id", "contact_id", name=op.f("pk_member_stats")),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _ts("at"),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("target_id", ID, nullable=True),
        sa.Column("key", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.CheckConstraint(
            "status IN ('done', 'failed', 'dry_run', 'refused', 'expired', 'in_doubt', 'skipped')",
            name=op.f("ck_audit_log_status"),
        ),
    )
    op.create_index("ix_audit_log_key", "audit_log", ["key"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    op.create_table(
        "connection_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _ts("at"),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_log")),
        sa.CheckConstraint(
            "event IN ('login', 'logout', 'reconnect', 'disconnect')",
            name=op.f("ck_connection_log_event"),
        ),
    )
    op.create_index("ix_connection_log_at", "connection_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_connection_log_at", table_name="connection_log")
    op.drop_table("connection_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_key", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("member_stats")
    op.drop_index("ix_activity_events_room_id_at", table_name="activity_events")
    op.drop_table("activity_events")
    op.drop_index("ix_memberships_reminded_at_joined_at", table_name="memberships")
    op.drop_index("ix_memberships_contact_id", table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("contacts")
    op.drop_table("groups")
