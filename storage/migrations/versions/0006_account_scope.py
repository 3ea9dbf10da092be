"""Everything that belongs to a bot account says so.

Several bot accounts will share one database: the outbox (its idempotency
keys namespaced by account), the audit log and the bot's presence and role
per group carry the account id; the connection log keeps the WeChat id that
was logged in apart from the account; a message is stored once per group.  Rows written before this revision belong to
the account ``default`` (the ``bot.account`` a config has when it sets none).

Revision ID: 0006
Revises: 0005_welcome
Create Date: 2026-12-01

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005_welcome"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
LEGACY = sa.text("'default'")


def _add_account(batch: object) -> None:
    add = batch.add_column  # type: ignore[attr-defined]
    add(sa.Column("account_id", ID, nullable=False, server_default=LEGACY))


def upgrade() -> None:
    with op.batch_alter_table("groups", recreate="always") as batch:
        _add_account(batch)
        batch.drop_constraint("pk_groups", type_="primary")
        batch.create_primary_key("pk_groups", ["account_id", "room_id"])
    with op.batch_alter_table("groups") as batch:
        batch.alter_column("account_id", server_default=None)

    with op.batch_alter_table("audit_log") as batch:
        _add_account(batch)
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("account_id", server_default=None)
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.create_index("ix_audit_log_account_id_at", "audit_log", ["account_id", "at"])

    op.drop_index("ix_outbox_status_created_at", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        _add_account(batch)
        batch.drop_constraint("uq_outbox_key", type_="unique")
        batch.create_unique_constraint("uq_outbox_account_id_key", ["account_id", "key"])
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("account_id", server_default=None)
    op.create_index(
        "ix_outbox_account_id_status_created_at", "outbox", ["account_id", "status", "created_at"]
    )

    # A message is stored once per group, whichever account saw it (and however
    # often its event was replayed): keep the first copy of any duplicate.
    op.execute(
        "DELETE FROM activity_events WHERE message_id IS NOT NULL AND id NOT IN "
        "(SELECT MIN(id) FROM activity_events WHERE message_id IS NOT NULL "
        "GROUP BY room_id, message_id)"
    )
    with op.batch_alter_table("activity_events") as batch:
        batch.create_unique_constraint(
            "uq_activity_events_room_id_message_id", ["room_id", "message_id"]
        )

    # The connection log said which WeChat id was logged in: that is its
    # wechat_id now, and the account is the configured one.
    op.drop_index("ix_connection_log_at", table_name="connection_log")
    with op.batch_alter_table("connection_log") as batch:
        batch.add_column(sa.Column("wechat_id", ID, nullable=True))
    op.execute("UPDATE connection_log SET wechat_id = account_id, account_id = 'default'")
    with op.batch_alter_table("connection_log") as batch:
        batch.alter_column("wechat_id", existing_type=ID, nullable=False)
    op.create_index("ix_connection_log_account_id_at", "connection_log", ["account_id", "at"])


def downgrade() -> None:
    with op.batch_alter_table("activity_events") as batch:
        batch.drop_constraint("uq_activity_events_room_id_message_id", type_="unique")
    op.drop_index("ix_connection_log_account_id_at", table_name="connection_log")
    op.execute("UPDATE connection_log SET account_id = wechat_id")
    with op.batch_alter_table("connection_log") as batch:
        batch.drop_column("wechat_id")
    op.create_index("ix_connection_log_at", "connection_log", ["at"])
    op.drop_index("ix_outbox_account_id_status_created_at", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_account_id_key", type_="unique")
        batch.create_unique_constraint("uq_outbox_key", ["key"])
        batch.drop_column("account_id")
    op.create_index("ix_outbox_status_created_at", "outbox", ["status", "created_at"])
    op.drop_index("ix_audit_log_account_id_at", table_name="audit_log")
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("account_id")
    with op.batch_alter_table("groups", recreate="always") as batch:
        batch.drop_constraint("pk_groups", type_="primary")
        batch.create_primary_key("pk_groups", ["room_id"])
        batch.drop_column("account_id")
