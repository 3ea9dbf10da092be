"""A group's check-ins on one local day, for the calendar's round summaries
and posts (``{checkins_yesterday}``): read-only, by the (room, day) index."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Checkin, Contact


@dataclass(frozen=True, slots=True)
class DayLeader:
    member_id: str
    name: str
    streak: int


class CheckinDays:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def count(self, room_id: str, local_date: str) -> int:
        stmt = select(func.count()).where(
            Checkin.room_id == room_id, Checkin.local_date == local_date
        )
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def leaders(self, room_id: str, local_date: str, limit: int) -> list[DayLeader]:
        """The longest streaks among the day's check-ins (earliest first on a tie)."""
        stmt = (
            select(Checkin.member_id, Contact.name, Checkin.streak)
            .outerjoin(Contact, Contact.contact_id == Checkin.member_id)
            .where(Checkin.room_id == room_id, Checkin.local_date == local_date)
            .order_by(Checkin.streak.desc(), Checkin.at, Checkin.member_id)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
        return [DayLeader(m, n or m, s) for m, n, s in rows]
