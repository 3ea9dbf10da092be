"""The status report: a JSON-ready summary of what the bot has stored.

:class:`ReportMixin` gives :class:`storage.repo.Repository` ``status_report``
(for ``qunbot status``): groups and members, activity totals, the audit by
status, recent connections and the outbox counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from storage.audit_store import AuditMixin
from storage.models import AuditLog, ConnectionLog, Group, Membership, MemberStats
from storage.outbox_store import OutboxMixin, _outbox_counts
from storage.sql import _EVENTS


class ReportMixin(AuditMixin, OutboxMixin):
    """The reporting method of :class:`storage.repo.Repository`."""

    # -- reporting -----------------------------------------------------------

    async def status_report(self, recent: int = 10) -> dict[str, Any]:
        """A JSON-ready summary of what the bot has stored (for ``qunbot status``)."""
        m = Membership
        # several accounts may share the database: count only this account's groups
        mine = select(Group.room_id).where(self._mine(Group))
        present = (
            select(m.room_id, func.count())
            .where(m.left_at.is_(None), m.room_id.in_(mine))
            .group_by(m.room_id)
        )
        async with self._sessions() as session:
            groups = (
                await session.scalars(
                    select(Group).where(self._mine(Group)).order_by(Group.room_id)
                )
            ).all()
            members = {r: int(n) for r, n in (await session.execute(present)).all()}
            events = int(
                (
                    await session.execute(
                        select(func.count()).select_from(_EVENTS).where(_EVENTS.c.room_id.in_(mine))
                    )
                ).scalar_one()
            )
            messages = (
                await session.execute(
                    select(func.sum(MemberStats.message_count)).where(MemberStats.room_id.in_(mine))
                )
            ).scalar()
            by_status = (
                await session.execute(
                    select(AuditLog.status, func.count())
                    .where(self._mine(AuditLog))
                    .group_by(AuditLog.status)
                )
            ).all()
            connections = (
                await session.scalars(
                    select(ConnectionLog)
                    .where(self._mine(ConnectionLog))
                    .order_by(ConnectionLog.id.desc())
                    .limit(max(recent, 1))
                )
            ).all()
            outbox = await _outbox_counts(session, self.account_id)
        audit = await self.recent_audit(recent)
        conns = [
            {
                "event": c.event,
                "account_id": c.account_id,
                "wechat_id": c.wechat_id,
                "at": c.at.isoformat(),
                "detail": c.detail,
            }
            for c in connections
        ]
        return {
            "groups": [
                {
                    "room_id": g.room_id,
                    "topic": g.topic,
                    "profile": g.profile,
                    "bot_role": g.bot_role,
                    "present": g.left_at is None,
                    "members": members.get(g.room_id, 0),
                    "joined_at": g.joined_at.isoformat(),
                    "left_at": None if g.left_at is None else g.left_at.isoformat(),
                }
                for g in groups
            ],
            "totals": {
                "groups_active": sum(1 for g in groups if g.left_at is None),
                "members_present": sum(members.values()),
                "activity_events": events,
                "messages": int(messages or 0),
            },
            "audit_by_status": {status: int(n) for status, n in by_status},
            "recent_audit": [
                {
                    "at": a.at.isoformat(),
                    "action": a.action,
                    "status": a.status,
                    "room_id": a.room_id,
                    "target_id": a.target_id,
                    "reason": a.reason,
                    "error": a.error,
                }
                for a in audit
            ],
            "last_connection": conns[0] if conns else None,
            "recent_connections": conns[: max(recent, 0)],
            "actions": await self.action_counters(),
            "outbox": outbox,
            "outbox_pending": sum(c.get("pending", 0) for c in outbox.values()),
            "outbox_in_doubt": sum(c.get("in_doubt", 0) for c in outbox.values()),
        }
