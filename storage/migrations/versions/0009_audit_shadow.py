"""Audit rows for what a feature decided but did not do: ``shadow`` and ``recorded``.

``shadow``: an action a feature in shadow mode would have done (moderation's
first days in a group); ``recorded``: a decision kept for the record (a
verdict on a clean message, a strike) that is not an action at all.

Revision ID: 0009_audit_shadow
Revises: 0008_profiles
Create Date: 2026-12-01

Hand-written to match ``storage.models``; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_audit_shadow"
down_revision: str | Sequence[str] | None = "0008_profiles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("done", "failed", "dry_run", "refused", "expired", "in_doubt", "skipped", "missed")
AFTER = (*BEFORE, "shadow", "recorded")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _audit_statuses(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("audit_log", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_audit_log_status"), type_="check")
        batch.create_check_constraint(op.f("ck_audit_log_status"), _in("status", values))


def upgrade() -> None:
    _audit_statuses(AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM audit_log WHERE status IN ('shadow', 'recorded')")
    _audit_statuses(BEFORE)
