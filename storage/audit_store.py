"""The account's audit and connection logs.

:class:`AuditMixin` gives :class:`storage.repo.Repository` the audit rows
(one per decision or action, with its status and detail) and the connection
log (logins, logouts, reconnects), both written with the account's id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select

from storage.models import AuditLog, ConnectionLog
from storage.sql import (
    DETAIL_MAX_LENGTH,
    REASON_MAX_LENGTH,
    RepositoryBase,
    _check,
    _json_object,
)
from storage.types import (
    AUDIT_STATUSES,
    CONNECTION_EVENTS,
    AuditEntry,
    AuditStatus,
    clean_text,
    require_aware,
)


def _audit_entry(row: AuditLog) -> AuditEntry:
    detail = _json_object(row.detail)
    return AuditEntry(
        id=row.id,
        at=row.at,
        action=row.action,
        kind=row.kind,
        room_id=row.room_id,
        target_id=row.target_id,
        key=row.key,
        status=cast(AuditStatus, row.status),
        reason=row.reason,
        detail=detail,
        error=row.error,
    )


class AuditMixin(RepositoryBase):
    """Audit and connection-log methods of :class:`storage.repo.Repository`."""

    # -- audit and connection logs -------------------------------------------

    async def write_audit(
        self,
        *,
        at: datetime,
        action: str,
        kind: str,
        status: str,
        room_id: str | None = None,
        target_id: str | None = None,
        key: str | None = None,
        reason: str = "",
        detail: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> int:
        """Append an audit row; returns its id."""
        _check(status, AUDIT_STATUSES, "audit status")
        row = AuditLog(
            account_id=self.account_id,
            at=require_aware(at, "at"),
            action=action,
            kind=kind,
            room_id=room_id,
            target_id=target_id,
            key=key or None,
            status=status,
            reason=clean_text(reason, REASON_MAX_LENGTH),
            detail=clean_text(
                json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, default=str),
                DETAIL_MAX_LENGTH,
            ),
            error=None if error is None else clean_text(error, REASON_MAX_LENGTH),
        )
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            return row.id

    async def recent_audit(
        self, limit: int = 50, *, room_id: str | None = None, key: str | None = None
    ) -> list[AuditEntry]:
        """Newest first; optionally only one room's or one idempotency key's rows."""
        stmt = (
            select(AuditLog).where(self._mine(AuditLog)).order_by(AuditLog.id.desc()).limit(limit)
        )
        if room_id is not None:
            stmt = stmt.where(AuditLog.room_id == room_id)
        if key is not None:
            stmt = stmt.where(AuditLog.key == key)
        async with self._sessions() as session:
            return [_audit_entry(r) for r in (await session.scalars(stmt)).all()]

    async def log_connection(
        self, event: str, wechat_id: str, at: datetime, detail: str = ""
    ) -> None:
        """One row of the account's connection log; ``wechat_id``: who was logged in."""
        _check(event, CONNECTION_EVENTS, "connection event")
        row = ConnectionLog(
            at=require_aware(at, "at"),
            event=event,
            account_id=self.account_id,
            wechat_id=wechat_id,
            detail=clean_text(detail, REASON_MAX_LENGTH),
        )
        async with self._sessions.begin() as session:
            session.add(row)
