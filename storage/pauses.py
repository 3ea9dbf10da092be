"""Risk-control pauses, kept so a restart does not forget them.

A pause belongs to one bot account and one kind of action (``message``,
``remove``, …).  It is open while it is not closed and its ``until`` is still
ahead.  Every query is scoped by ``account_id``; listing every account's
pauses (``account_id=None``) is for the operator's status report only.
Takes the same session factory as :class:`storage.repo.Repository`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Pause
from storage.types import clean_text, require_aware

ERROR_MAX_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class PauseState:
    id: int
    account_id: str
    kind: str
    opened_at: datetime
    until: datetime
    error: str
    closed_at: datetime | None
    closed_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "kind": self.kind,
            "opened_at": self.opened_at.isoformat(),
            "until": self.until.isoformat(),
            "error": self.error,
        }


def _state(row: Pause) -> PauseState:
    return PauseState(
        id=row.id,
        account_id=row.account_id,
        kind=row.kind,
        opened_at=row.opened_at,
        until=row.until,
        error=row.error,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
    )


class PauseStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def open(
        self, account_id: str, kind: str, opened_at: datetime, until: datetime, error: str
    ) -> PauseState:
        """Record a pause; one already open for that kind is extended (its
        ``until`` only ever grows) and takes the newer error."""
        opened_at = require_aware(opened_at, "opened_at")
        until = require_aware(until, "until")
        error = clean_text(error, ERROR_MAX_LENGTH)
        async with self._sessions.begin() as session:
            row = await self._open_row(session, account_id, kind, opened_at)
            if row is None:
                row = Pause(
                    account_id=account_id,
                    kind=kind,
                    opened_at=opened_at,
                    until=until,
                    error=error,
                    closed_at=None,
                    closed_by=None,
                )
                session.add(row)
            else:
                row.until = max(row.until, until)
                row.error = error
            await session.flush()
            return _state(row)

    async def open_pauses(self, account_id: str | None, now: datetime) -> list[PauseState]:
        """Pauses open at ``now``, oldest first (``account_id=None``: every account)."""
        now = require_aware(now, "now")
        stmt = (
            select(Pause)
            .where(Pause.closed_at.is_(None), Pause.until > now)
            .order_by(Pause.opened_at, Pause.id)
        )
        if account_id is not None:
            stmt = stmt.where(Pause.account_id == account_id)
        async with self._sessions() as session:
            return [_state(r) for r in (await session.scalars(stmt)).all()]

    async def close(
        self, account_id: str, kind: str, at: datetime, closed_by: str
    ) -> list[PauseState]:
        """Close the account's open pauses of ``kind`` early; returns those closed."""
        at = require_aware(at, "at")
        p = Pause.__table__.c
        stmt = (
            update(Pause)
            .where(
                p.account_id == account_id,
                p.kind == kind,
                p.closed_at.is_(None),
                p.until > at,
            )
            .values(closed_at=at, closed_by=closed_by)
            .returning(Pause)
        )
        async with self._sessions.begin() as session:
            rows = (await session.scalars(stmt)).all()
            return [_state(r) for r in rows]

    async def history(self, account_id: str, limit: int = 50) -> list[PauseState]:
        """The account's pauses, newest first (open, ended and closed)."""
        stmt = (
            select(Pause)
            .where(Pause.account_id == account_id)
            .order_by(Pause.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            return [_state(r) for r in (await session.scalars(stmt)).all()]

    @staticmethod
    async def _open_row(
        session: AsyncSession, account_id: str, kind: str, now: datetime
    ) -> Pause | None:
        stmt = (
            select(Pause)
            .where(
                Pause.account_id == account_id,
                Pause.kind == kind,
                Pause.closed_at.is_(None),
                Pause.until > now,
            )
            .order_by(Pause.id.desc())
            .limit(1)
        )
        return (await session.scalars(stmt)).first()
