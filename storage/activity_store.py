"""The activity log, the bot's hot path: recording batches and reading them back.

:class:`ActivityMixin` gives :class:`storage.repo.Repository` ``record_activity``
(a batch in one transaction, row by row when the batch fails, and
:class:`ActivityNotStored` when the database cannot be reached) and the
activity reads; the ``member_stats`` rollup of written rows is ``_rollup``.
The write itself (``_write_activity``) stays in :mod:`storage.repo`, where
tests replace ``_insert`` and ``_rollup`` to make it fail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from storage.models import ActivityEvent, MemberStats
from storage.sql import _EVENTS, RepositoryBase
from storage.types import ActivityKind, ActivityRecord, ActivityRow, MemberStatsState


@dataclass(slots=True)
class _Rollup:
    first_seen_at: datetime
    last_active_at: datetime
    last_spoke_at: datetime | None
    message_count: int


def _rollup(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """member_stats increments for the activity rows just written."""
    rollups: dict[tuple[str, str], _Rollup] = {}
    for e in events:
        at = e["at"]
        spoke = at if e["kind"] == "message" else None
        key = (e["room_id"], e["contact_id"])
        roll = rollups.get(key)
        if roll is None:
            rollups[key] = _Rollup(at, at, spoke, 1 if spoke is not None else 0)
            continue
        roll.first_seen_at = min(roll.first_seen_at, at)
        roll.last_active_at = max(roll.last_active_at, at)
        if spoke is not None:
            roll.message_count += 1
            if roll.last_spoke_at is None or spoke > roll.last_spoke_at:
                roll.last_spoke_at = spoke
    return [
        {
            "room_id": room_id,
            "contact_id": contact_id,
            "first_seen_at": roll.first_seen_at,
            "last_spoke_at": roll.last_spoke_at,
            "message_count": roll.message_count,
            "last_active_at": roll.last_active_at,
        }
        for (room_id, contact_id), roll in rollups.items()
    ]


# The name it had before the split, so logging configuration keeps applying.
log = logging.getLogger("storage.repo")


class ActivityNotStored(Exception):
    """The database could not be reached: ``rows`` were not written (any
    rows before them in the batch were)."""

    def __init__(self, rows: list[ActivityRow], cause: BaseException) -> None:
        super().__init__(f"{len(rows)} activity rows not stored: {_first_line(cause)}")
        self.rows = rows


def _unreachable(exc: BaseException) -> bool:
    """The database itself is in trouble (down, locked, out of connections),
    as opposed to one row it refuses: retrying row by row would not help."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError
        | OSError
        | TimeoutError,
    )


# What a database (or its driver) says of data it refuses, and of itself when
# it is in trouble; anything else is a bug and propagates unchanged.
_ROW_ERRORS = (sa_exc.SQLAlchemyError, ValueError, TypeError, UnicodeError, OSError, TimeoutError)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


class ActivityMixin(RepositoryBase):
    """Activity methods of :class:`storage.repo.Repository`."""

    async def _write_activity(self, rows: Sequence[ActivityRow]) -> int:
        raise NotImplementedError  # storage.repo.Repository._write_activity

    async def record_activity(self, rows: Sequence[ActivityRow]) -> int:
        """Append a batch of activity and roll it into member_stats.

        Returns the number of events written.  Texts are cut to
        ``max_text_length`` characters and made storable (see ``clean_text``);
        ids too (a lone surrogate becomes U+FFFD).  The batch is one
        transaction; if it fails for anything but an unreachable database, it
        is written again row by row, and a row that still fails is logged and
        skipped, so one bad row never stops the log.  When the database cannot
        be reached, :class:`ActivityNotStored` names the rows not written.
        """
        if not rows:
            return 0
        try:
            return await self._write_activity(rows)
        except _ROW_ERRORS as exc:
            if _unreachable(exc):
                raise ActivityNotStored(list(rows), exc) from exc
            log.warning(
                "activity batch of %d rows failed (%s); writing it row by row",
                len(rows),
                _first_line(exc),
            )
        written = 0
        for i, row in enumerate(rows):
            try:
                written += await self._write_activity([row])
            except _ROW_ERRORS as exc:
                if _unreachable(exc):
                    raise ActivityNotStored(list(rows[i:]), exc) from exc
                log.error(
                    "activity row skipped: %s of %r in %r at %s: %s",
                    row.kind,
                    row.contact_id,
                    row.room_id,
                    row.at.isoformat(),
                    _first_line(exc),
                )
        return written

    async def member_stats(self, room_id: str, contact_id: str) -> MemberStatsState | None:
        async with self._sessions() as session:
            row = await session.get(MemberStats, (room_id, contact_id))
            if row is None:
                return None
            return MemberStatsState(
                room_id=row.room_id,
                contact_id=row.contact_id,
                first_seen_at=row.first_seen_at,
                last_spoke_at=row.last_spoke_at,
                message_count=row.message_count,
                last_active_at=row.last_active_at,
            )

    async def count_activity(self, room_id: str | None = None) -> int:
        stmt = select(func.count()).select_from(_EVENTS)
        if room_id is not None:
            stmt = stmt.where(_EVENTS.c.room_id == room_id)
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def recent_activity(
        self, room_id: str | None = None, limit: int = 50
    ) -> list[ActivityRecord]:
        """The newest events first, of one room or of all."""
        e = ActivityEvent
        stmt = select(e).order_by(e.at.desc(), e.id.desc()).limit(limit)
        if room_id is not None:
            stmt = stmt.where(e.room_id == room_id)
        async with self._sessions() as session:
            return [
                ActivityRecord(
                    id=r.id,
                    room_id=r.room_id,
                    contact_id=r.contact_id,
                    kind=cast(ActivityKind, r.kind),
                    at=r.at,
                    message_kind=r.message_kind,
                    message_id=r.message_id,
                    text=r.text,
                )
                for r in (await session.scalars(stmt)).all()
            ]
