"""Calendar runs: at most once per run key, across restarts and processes.

A run key is (account, job, group — ``""`` for an app-wide job — scheduled
time).  :meth:`CalendarRuns.claim` inserts the key as ``started`` with
``INSERT … ON CONFLICT DO NOTHING RETURNING``: exactly one caller gets the row,
whoever else tries (a second process, a restart) is told no, atomically, on
SQLite and PostgreSQL alike.  Every query is scoped by ``account_id``.  Takes
the same session factory as :class:`storage.repo.Repository`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CALENDAR_RUN_STATUSES, CalendarRun
from storage.types import clean_text, require_aware

ERROR_MAX_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class RunKey:
    job_id: str
    room_id: str  # "" for an app-wide job
    scheduled_at: datetime


@dataclass(frozen=True, slots=True)
class RunRecord:
    key: RunKey
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class CalendarRuns:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, account_id: str) -> None:
        self._sessions = sessions
        self.account_id = account_id

    async def _insert(self, key: RunKey, status: str, at: datetime, error: str | None) -> bool:
        values = {
            "account_id": self.account_id,
            "job_id": key.job_id,
            "room_id": key.room_id,
            "scheduled_at": require_aware(key.scheduled_at, "scheduled_at"),
            "status": status,
            "started_at": at if status == "started" else None,
            "finished_at": None if status == "started" else at,
            "error": None if error is None else clean_text(error, ERROR_MAX_LENGTH),
        }
        async with self._sessions.begin() as session:
            name = session.get_bind().dialect.name
            dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(name)
            if dialect is None:
                raise NotImplementedError(f"no upsert for database dialect {name!r}")
            stmt = (
                dialect.insert(CalendarRun.__table__)
                .values(**values)
                .on_conflict_do_nothing(
                    index_elements=["account_id", "job_id", "room_id", "scheduled_at"]
                )
                .returning(CalendarRun.__table__.c.id)
            )
            return (await session.execute(stmt)).scalar_one_or_none() is not None

    async def claim(self, key: RunKey, now: datetime) -> bool:
        """Record the run as started; False if it was already claimed (run it only on True)."""
        return await self._insert(key, "started", require_aware(now, "now"), None)

    async def record_missed(self, key: RunKey, now: datetime, reason: str) -> bool:
        """Record the run as missed; False if the key was already recorded (ran or missed)."""
        return await self._insert(key, "missed", require_aware(now, "now"), reason)

    async def finish(self, key: RunKey, now: datetime, *, error: str | None = None) -> None:
        """Mark a claimed run ``done`` (or ``failed`` with its error)."""
        status = "done" if error is None else "failed"
        assert status in CALENDAR_RUN_STATUSES
        async with self._sessions.begin() as session:
            await session.execute(
                update(CalendarRun)
                .where(
                    CalendarRun.account_id == self.account_id,
                    CalendarRun.job_id == key.job_id,
                    CalendarRun.room_id == key.room_id,
                    CalendarRun.scheduled_at == require_aware(key.scheduled_at, "scheduled_at"),
                    CalendarRun.status == "started",
                )
                .values(
                    status=status,
                    finished_at=require_aware(now, "now"),
                    error=None if error is None else clean_text(error, ERROR_MAX_LENGTH),
                )
            )

    async def last_scheduled(self, job_id: str, room_id: str = "") -> datetime | None:
        """The newest scheduled time recorded for the job (run, running, failed or missed)."""
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(func.max(CalendarRun.scheduled_at)).where(
                        CalendarRun.account_id == self.account_id,
                        CalendarRun.job_id == job_id,
                        CalendarRun.room_id == room_id,
                    )
                )
            ).scalar_one_or_none()

    async def status(self, key: RunKey) -> str | None:
        """The run's status (started, done, failed, missed), None if not recorded."""
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(CalendarRun.status).where(
                        CalendarRun.account_id == self.account_id,
                        CalendarRun.job_id == key.job_id,
                        CalendarRun.room_id == key.room_id,
                        CalendarRun.scheduled_at == require_aware(key.scheduled_at, "scheduled_at"),
                    )
                )
            ).scalar_one_or_none()

    async def count(self, job_id: str, room_id: str = "") -> int:
        """How many runs of the job were started (done, failed or under way)."""
        async with self._sessions() as session:
            return int(
                (
                    await session.execute(
                        select(func.count()).where(
                            CalendarRun.account_id == self.account_id,
                            CalendarRun.job_id == job_id,
                            CalendarRun.room_id == room_id,
                            CalendarRun.status != "missed",
                        )
                    )
                ).scalar_one()
            )

    async def runs(self, job_id: str, room_id: str = "") -> list[RunRecord]:
        """The job's recorded runs, oldest first (for status reports and tests)."""
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(CalendarRun)
                    .where(
                        CalendarRun.account_id == self.account_id,
                        CalendarRun.job_id == job_id,
                        CalendarRun.room_id == room_id,
                    )
                    .order_by(CalendarRun.scheduled_at)
                )
            ).all()
        return [
            RunRecord(
                key=RunKey(r.job_id, r.room_id, r.scheduled_at),
                status=r.status,
                started_at=r.started_at,
                finished_at=r.finished_at,
                error=r.error,
            )
            for r in rows
        ]
