"""Calendar entries paused per group (``#暂停 <entry>`` / ``#恢复 <entry>``).

One row per (account, group, entry) while paused; every query is scoped by
``account_id``.  Portable upsert: insert, and a conflict means it was paused
already (the first pause's author and time stand).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CalendarPause
from storage.types import require_aware


class CalendarPauses:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, account_id: str) -> None:
        self._sessions = sessions
        self.account_id = account_id

    async def pause(self, room_id: str, entry_id: str, by: str, at: datetime) -> bool:
        """Pause; False if it was paused already."""
        try:
            async with self._sessions.begin() as session:
                session.add(
                    CalendarPause(
                        account_id=self.account_id,
                        room_id=room_id,
                        entry_id=entry_id,
                        paused_by=by,
                        paused_at=require_aware(at, "at"),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def resume(self, room_id: str, entry_id: str) -> bool:
        """Resume; False if it was not paused."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(CalendarPause).where(
                    CalendarPause.account_id == self.account_id,
                    CalendarPause.room_id == room_id,
                    CalendarPause.entry_id == entry_id,
                )
            )
        return bool(getattr(result, "rowcount", 0))

    async def paused(self, room_id: str) -> set[str]:
        """The entries paused in ``room_id``."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CalendarPause.entry_id).where(
                    CalendarPause.account_id == self.account_id,
                    CalendarPause.room_id == room_id,
                )
            )
            return set(rows.all())

    async def is_paused(self, room_id: str, entry_id: str) -> bool:
        async with self._sessions() as session:
            row = await session.get(CalendarPause, (self.account_id, room_id, entry_id))
            return row is not None
