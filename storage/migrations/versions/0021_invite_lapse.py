"""Invite requests that lapse or expire are closed, and their requester told.

Two statuses: ``lapsed`` (pending, nobody answered before ``expires_at``) and
``expired`` (approved, nobody joined on it before ``approved_until``), and
``closed_at``: when the invites' lapse job closed it.  Rows already past their
time stay ``pending`` / ``approved``: the job closes them (and tells their
requester) on its first run.  Downgrading turns them back into what they were
(still past their time, so read as lapsed by the code before).

Revision ID: 0021_invite_lapse
Revises: 0020_calendar_pauses
Create Date: 2026-12-03

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_invite_lapse"
down_revision: str | Sequence[str] | None = "0020_calendar_pauses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("pending", "approved", "declined", "used")
AFTER = (*BEFORE, "lapsed", "expired")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    # SQLite cannot alter a CHECK: the batch copies the table (indexes included).
    with op.batch_alter_table("invite_requests", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_invite_requests_status"), type_="check")
        batch.create_check_constraint(op.f("ck_invite_requests_status"), _in("status", AFTER))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE invite_requests SET status = 'pending' WHERE status = 'lapsed'")
    op.execute("UPDATE invite_requests SET status = 'approved' WHERE status = 'expired'")
    with op.batch_alter_table("invite_requests", recreate="always") as batch:
        batch.drop_column("closed_at")
        batch.drop_constraint(op.f("ck_invite_requests_status"), type_="check")
        batch.create_check_constraint(op.f("ck_invite_requests_status"), _in("status", BEFORE))
