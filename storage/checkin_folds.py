"""Folded check-in confirmations (``checkin_folds``): pending → submitted (with
the key of the Say that carries them) → sent.  Rows are queued by
:meth:`storage.points.PointsStore.check_in`, in the check-in's own transaction;
this mixin of :class:`~storage.points.PointsStore` moves them on.  Every query
is scoped by ``account_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CheckinConfirmation
from storage.types import require_aware

_FOLDS = cast(Table, CheckinConfirmation.__table__)


@dataclass(frozen=True, slots=True)
class Fold:
    """A folded confirmation (a row of ``checkin_folds``)."""

    id: int
    room_id: str
    member_id: str
    member_name: str
    local_date: str
    streak: int
    points: int
    rank: int
    status: str
    due_at: datetime
    action_key: str | None


def _fold(r: Any) -> Fold:
    return Fold(
        id=r.id,
        room_id=r.room_id,
        member_id=r.member_id,
        member_name=r.member_name,
        local_date=r.local_date,
        streak=r.streak,
        points=r.points,
        rank=r.rank,
        status=r.status,
        due_at=r.due_at,
        action_key=r.action_key,
    )


class CheckinFolds:
    """The confirmations' half of the points store (needs ``_sessions`` and ``account_id``)."""

    _sessions: async_sessionmaker[AsyncSession]
    account_id: str

    async def due_folds(self, now: datetime, *, everything: bool = False) -> list[Fold]:
        """The pending confirmations of every group whose batch is due, by id."""
        f = _FOLDS.c
        mine = and_(f.account_id == self.account_id, f.status == "pending")
        stmt = select(_FOLDS).where(mine).order_by(f.id)
        if not everything:
            due_rooms = select(f.room_id).where(mine, f.due_at <= require_aware(now, "now"))
            stmt = stmt.where(f.room_id.in_(due_rooms.distinct()))
        async with self._sessions() as session:
            return [_fold(r) for r in (await session.execute(stmt)).all()]

    async def mark_submitted(self, ids: Sequence[int], key: str, at: datetime) -> set[int]:
        """pending → submitted with the key of the Say that carries them."""
        f = _FOLDS.c
        stmt = (
            update(_FOLDS)
            .where(f.account_id == self.account_id, f.id.in_(list(ids)), f.status == "pending")
            .values(status="submitted", action_key=key, updated_at=require_aware(at, "at"))
            .returning(f.id)
        )
        async with self._sessions.begin() as session:
            return set((await session.execute(stmt)).scalars().all())

    async def submitted_folds(self) -> dict[str, list[Fold]]:
        """Confirmations whose Say may not be in the outbox yet, by its key."""
        f = _FOLDS.c
        stmt = (
            select(_FOLDS)
            .where(f.account_id == self.account_id, f.status == "submitted")
            .order_by(f.id)
        )
        out: dict[str, list[Fold]] = {}
        async with self._sessions() as session:
            for r in (await session.execute(stmt)).all():
                out.setdefault(r.action_key or "", []).append(_fold(r))
        return out

    async def mark_sent(self, keys: Sequence[str], at: datetime) -> int:
        f = _FOLDS.c
        stmt = (
            update(_FOLDS)
            .where(
                f.account_id == self.account_id,
                f.status == "submitted",
                f.action_key.in_(list(keys)),
            )
            .values(status="sent", updated_at=require_aware(at, "at"))
        )
        async with self._sessions.begin() as session:
            return int(getattr(await session.execute(stmt), "rowcount", 0))

    async def folds(self, room_id: str | None = None) -> list[Fold]:
        """Every confirmation row of the account (of a group), by id."""
        f = _FOLDS.c
        stmt = select(_FOLDS).where(f.account_id == self.account_id).order_by(f.id)
        if room_id is not None:
            stmt = stmt.where(f.room_id == room_id)
        async with self._sessions() as session:
            return [_fold(r) for r in (await session.execute(stmt)).all()]
