"""Calendar runs: each scheduled run of a job recorded once, and "missed" audits.

Revision ID: 0007_calendar_runs
Revises: 0006
Create Date: 2026-12-01

Hand-written to match ``storage.models``; a test compares the two.  A run is
claimed by inserting its key (account, job, group, scheduled time) before it
runs, so it runs at most once across restarts and processes.  The audit log
accepts the status ``missed`` (a run the bot was down for, past its grace).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_calendar_runs"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AUDIT_BEFORE = ("done", "failed", "dry_run", "refused", "expired", "in_doubt", "skipped")
AUDIT_AFTER = (*AUDIT_BEFORE, "missed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _audit_statuses(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("audit_log", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_audit_log_status"), type_="check")
        batch.create_check_constraint(op.f("ck_audit_log_status"), _in("status", values))


def upgrade() -> None:
    op.create_table(
        "calendar_runs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("room_id", ID, nullable=False),
        _ts("scheduled_at"),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_runs")),
        sa.UniqueConstraint(
            "account_id",
            "job_id",
            "room_id",
            "scheduled_at",
            name=op.f("uq_calendar_runs_account_id_job_id_room_id_scheduled_at"),
        ),
        sa.CheckConstraint(
            "status IN ('started', 'done', 'failed', 'missed')",
            name=op.f("ck_calendar_runs_status"),
        ),
    )
    _audit_statuses(AUDIT_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM audit_log WHERE status = 'missed'")
    _audit_statuses(AUDIT_BEFORE)
    op.drop_table("calendar_runs")
