"""The outbox: every action on WeChat, from queued to how it ended.

:class:`OutboxMixin` gives :class:`storage.repo.Repository` the outbox rows
of the account: added 'pending', claimed, finished, expired, refused or found
in doubt with conditional single ``UPDATE`` s, and counted per kind and status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.sql import _OUTBOX, REASON_MAX_LENGTH, RepositoryBase, _check, _insert, _json_object
from storage.types import (
    OUTBOX_EXECUTED_STATUSES,
    OUTBOX_FINAL_STATUSES,
    NewOutboxItem,
    OutboxItem,
    OutboxStatus,
    clean_text,
    require_aware,
)


def _payload_json(payload: Mapping[str, Any]) -> str:
    """The payload as JSON text, storable on every backend.

    JSON values (dicts with str keys, lists, str, int, float, bool, None) read
    back equal.  Strict: anything else JSON cannot represent (a datetime, NaN,
    …) raises ValueError rather than coming back as something else when the
    action is executed.  Text is
    kept readable (not ``\\u``-escaped) unless it holds a lone surrogate, which
    no driver can encode; JSON escapes NULs itself.
    """
    try:
        text = json.dumps(dict(payload), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"outbox payload is not JSON-serializable: {exc}") from exc
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(dict(payload), ensure_ascii=True, sort_keys=True, allow_nan=False)
    return text


def _outbox_item(row: Any) -> OutboxItem:
    payload = _json_object(row.payload)
    return OutboxItem(
        id=row.id,
        key=row.key,
        action=row.action,
        payload=payload,
        kind=row.kind,
        room_id=row.room_id,
        priority=row.priority,
        status=cast(OutboxStatus, row.status),
        created_at=row.created_at,
        not_after=row.not_after,
        attempts=row.attempts,
        updated_at=row.updated_at,
        executed_at=row.executed_at,
        result=row.result,
        error=row.error,
    )


def _outbox_items(rows: Iterable[Any]) -> list[OutboxItem]:
    """Oldest first (RETURNING gives rows in no particular order)."""
    return sorted((_outbox_item(r) for r in rows), key=lambda i: (i.created_at, i.id))


class OutboxMixin(RepositoryBase):
    """Outbox methods of :class:`storage.repo.Repository`."""

    # -- outbox --------------------------------------------------------------
    #
    # Every action on WeChat: added 'pending' before it is executed, claimed
    # ('sending', attempts + 1) right before the call, finished right after.
    # The status changes are conditional single UPDATEs, so two executors (or
    # a retry racing a reconnect) can never both claim or both finish a key.

    async def outbox_add(self, items: Sequence[NewOutboxItem]) -> list[str]:
        """Record actions as 'pending'; returns the keys actually added, in order.

        A key already stored (or repeated within ``items``: the first wins) is
        left alone: ``INSERT … ON CONFLICT (key) DO NOTHING``.
        """
        rows: dict[str, dict[str, Any]] = {}
        for item in items:  # NewOutboxItem checked key, names and times already
            if item.key in rows:
                continue
            rows[item.key] = {
                "account_id": self.account_id,
                "key": item.key,
                "action": item.action,
                "payload": _payload_json(item.payload),
                "kind": item.kind,
                "room_id": item.room_id,
                "priority": item.priority,
                "status": "pending",
                "created_at": item.created_at,
                "not_after": item.not_after,
                "attempts": 0,
                "updated_at": item.created_at,
                "executed_at": None,
                "result": None,
                "error": None,
            }
        if not rows:
            return []
        async with self._sessions.begin() as session:
            stmt = (
                _insert(session, _OUTBOX)
                .on_conflict_do_nothing(index_elements=[_OUTBOX.c.account_id, _OUTBOX.c.key])
                .returning(_OUTBOX.c.key)
            )
            added = set((await session.scalars(stmt, list(rows.values()))).all())
        return [key for key in rows if key in added]

    async def outbox_claim(self, key: str, at: datetime) -> bool:
        """'pending' → 'sending', attempts + 1.  False unless it was pending.

        Only one caller ever gets True for a key: claim right before executing.
        """
        at = require_aware(at, "at")
        stmt = (
            update(_OUTBOX)
            .where(self._mine(_OUTBOX), _OUTBOX.c.key == key, _OUTBOX.c.status == "pending")
            .values(status="sending", attempts=_OUTBOX.c.attempts + 1, updated_at=at)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def outbox_finish(
        self,
        key: str,
        status: str,
        at: datetime,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record how an action ended: 'pending' or 'sending' → ``status``.

        ``status`` is any but 'pending' / 'sending' (e.g. 'done', 'failed',
        'refused', 'skipped', or 'in_doubt' when the call's outcome is
        unknown).  ``executed_at`` is set for 'done', 'failed' and 'dry_run'.
        False if the key is unknown or already finished (nothing is changed).
        """
        _check(status, OUTBOX_FINAL_STATUSES, "outbox final status")
        at = require_aware(at, "at")
        values: dict[str, Any] = {
            "status": status,
            "updated_at": at,
            "result": None if result is None else clean_text(result, REASON_MAX_LENGTH),
            "error": None if error is None else clean_text(error, REASON_MAX_LENGTH),
        }
        if status in OUTBOX_EXECUTED_STATUSES:
            values["executed_at"] = at
        stmt = (
            update(_OUTBOX)
            .where(
                self._mine(_OUTBOX),
                _OUTBOX.c.key == key,
                _OUTBOX.c.status.in_(("pending", "sending")),
            )
            .values(**values)
        )
        async with self._sessions.begin() as session:
            res = await session.execute(stmt)
            return bool(getattr(res, "rowcount", 0))

    async def outbox_pending(self, now: datetime | None = None) -> list[OutboxItem]:
        """Pending actions, oldest first (by ``created_at``, then insertion).

        With ``now``, actions whose ``not_after`` is before ``now`` are left
        out (they are still 'pending' until ``outbox_expire``).
        """
        o = _OUTBOX.c
        stmt = (
            select(_OUTBOX)
            .where(self._mine(_OUTBOX), o.status == "pending")
            .order_by(o.created_at, o.id)
        )
        if now is not None:
            now = require_aware(now, "now")
            stmt = stmt.where(or_(o.not_after.is_(None), o.not_after >= now))
        async with self._sessions() as session:
            return [_outbox_item(r) for r in (await session.execute(stmt)).all()]

    async def outbox_mark_in_doubt(self, at: datetime | None = None) -> list[OutboxItem]:
        """Every 'sending' row becomes 'in_doubt'; returns them, oldest first.

        A row still 'sending' means the bot died between claiming an action
        and recording its outcome: it may or may not have reached WeChat, so it
        must be audited, never resent.  Call once at start-up, before anything
        claims.  ``at`` (when given) becomes their ``updated_at``.
        """
        values: dict[str, Any] = {"status": "in_doubt"}
        if at is not None:
            values["updated_at"] = require_aware(at, "at")
        stmt = (
            update(_OUTBOX)
            .where(self._mine(_OUTBOX), _OUTBOX.c.status == "sending")
            .values(**values)
            .returning(*_OUTBOX.c)
        )
        async with self._sessions.begin() as session:
            return _outbox_items((await session.execute(stmt)).all())

    async def outbox_expire(self, now: datetime) -> list[OutboxItem]:
        """Pending rows whose ``not_after`` is before ``now`` become 'expired'.

        Returns them, oldest first.  A row exactly at its deadline is still valid.
        """
        now = require_aware(now, "now")
        o = _OUTBOX.c
        stmt = (
            update(_OUTBOX)
            .where(
                self._mine(_OUTBOX),
                o.status == "pending",
                o.not_after.is_not(None),
                o.not_after < now,
            )
            .values(status="expired", updated_at=now)
            .returning(*_OUTBOX.c)
        )
        async with self._sessions.begin() as session:
            return _outbox_items((await session.execute(stmt)).all())

    async def outbox_refuse_room(self, room_id: str, at: datetime, reason: str) -> list[OutboxItem]:
        """The account's pending actions for ``room_id`` become 'refused'; returns
        them, oldest first.

        Call when this account is no longer in the group: the executor claims
        only pending rows, so nothing queued for that room is sent.  Other
        accounts' actions in the same group are theirs and are left alone.
        """
        at = require_aware(at, "at")
        o = _OUTBOX.c
        stmt = (
            update(_OUTBOX)
            .where(self._mine(_OUTBOX), o.room_id == room_id, o.status == "pending")
            .values(status="refused", updated_at=at, error=clean_text(reason, REASON_MAX_LENGTH))
            .returning(*_OUTBOX.c)
        )
        async with self._sessions.begin() as session:
            return _outbox_items((await session.execute(stmt)).all())

    async def outbox_quit_requested(self, room_id: str) -> bool:
        """Whether this account asked to leave ``room_id`` (a ``quit_room`` action
        queued, under way or done): its leaving is then no removal."""
        o = _OUTBOX.c
        stmt = (
            select(o.id)
            .where(
                self._mine(_OUTBOX),
                o.room_id == room_id,
                o.action == "quit_room",
                o.status.in_(("pending", "sending", "done")),
            )
            .limit(1)
        )
        async with self._sessions() as session:
            return (await session.execute(stmt)).first() is not None

    async def outbox_executed_since(
        self, since: datetime
    ) -> list[tuple[str, str | None, datetime]]:
        """(kind, room_id, executed_at) of what reached WeChat since ``since``, oldest
        first: the governor replays it at start so a restart does not reset its limits."""
        since = require_aware(since, "since")
        stmt = (
            select(_OUTBOX.c.kind, _OUTBOX.c.room_id, _OUTBOX.c.executed_at)
            .where(
                self._mine(_OUTBOX),
                _OUTBOX.c.executed_at >= since,
                _OUTBOX.c.status.in_(("done", "failed")),
            )
            .order_by(_OUTBOX.c.executed_at)
        )
        async with self._sessions() as session:
            return [(k, r, at) for k, r, at in (await session.execute(stmt)).all()]

    async def action_counters(self, delayed_after: float = 1.0) -> dict[str, dict[str, int]]:
        """Per kind of action: sent, delayed (waited over ``delayed_after`` s for
        its turn), refused, failed, expired, in doubt, pending, dry run (counted
        apart: nothing was sent) — from the outbox."""
        o = _OUTBOX.c
        stmt = select(o.kind, o.status, o.created_at, o.executed_at).where(self._mine(_OUTBOX))
        counters: dict[str, dict[str, int]] = {}
        names = {"done": "sent"}
        async with self._sessions() as session:
            for kind, status, created, executed in (await session.execute(stmt)).all():
                c = counters.setdefault(
                    kind,
                    dict.fromkeys(
                        (
                            "sent",
                            "delayed",
                            "refused",
                            "failed",
                            "expired",
                            "in_doubt",
                            "pending",
                            "dry_run",
                        ),
                        0,
                    ),
                )
                name = names.get(status, status)
                if name in c:
                    c[name] += 1
                if executed is not None and (executed - created).total_seconds() > delayed_after:
                    c["delayed"] += 1
        return counters

    async def outbox_get(self, key: str) -> OutboxItem | None:
        stmt = select(_OUTBOX).where(self._mine(_OUTBOX), _OUTBOX.c.key == key)
        async with self._sessions() as session:
            row = (await session.execute(stmt)).first()
            return None if row is None else _outbox_item(row)

    async def outbox_counts(self) -> dict[str, dict[str, int]]:
        """kind → status → number of rows (statuses with no rows are absent)."""
        async with self._sessions() as session:
            return await _outbox_counts(session, self.account_id)


async def _outbox_counts(session: AsyncSession, account_id: str) -> dict[str, dict[str, int]]:
    o = _OUTBOX.c
    stmt = (
        select(o.kind, o.status, func.count())
        .where(o.account_id == account_id)
        .group_by(o.kind, o.status)
        .order_by(o.kind, o.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, status, n in (await session.execute(stmt)).all():
        counts.setdefault(kind, {})[status] = int(n)
    return counts
