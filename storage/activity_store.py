"""The activity log, the bot's hot path: recording batches and reading them back.

:class:`ActivityMixin` gives :class:`storage.repo.Repository` ``record_activity``
(a batch, with the senders' names, in one transaction; row by row when the
batch fails; :class:`ActivityNotStored` when the database cannot be reached)
and the activity reads; the ``member_stats`` rollup of written rows is
``_rollup``.  Tests replace ``_insert`` and ``_rollup`` here to make a write fail.

On SQLite a batch goes through the driver (aiosqlite's public
``execute_fetchall`` / ``executemany``) with SQLAlchemy's own statements,
compiled once: the names in one ``executemany``, the events in one multi-row
``INSERT … ON CONFLICT DO NOTHING RETURNING`` per 1,000 rows (what comes back
is exactly what was written), the rollup of those in one ``executemany``.
That is a handful of trips to aiosqlite's thread per batch, with no Python
looping per row in that thread (where it would hold the GIL against the event
loop); SQLAlchemy's executemany with RETURNING costs four trips per statement
and its bind processing per parameter.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActivityEvent, MemberStats
from storage.sql import (
    _CONTACTS,
    _DAYS,
    _EVENTS,
    _STATS,
    NAME_MAX_LENGTH,
    RepositoryBase,
    _earlier,
    _insert,
    _later,
)
from storage.types import (
    ActivityKind,
    ActivityRecord,
    ActivityRow,
    MemberStatsState,
    UTCDateTime,
    clean_text,
)

#: An event as the write path holds it: the values of ``_EVENT_COLUMNS`` in
#: that order (``at`` a datetime, or on SQLite the text it is stored as, which
#: sorts the same way).
_Event = tuple[str, str, str, str | None, str | None, str | None, Any]


def _rollup(events: Sequence[_Event]) -> list[dict[str, Any]]:
    """member_stats increments for the activity rows just written (exact: every
    written row counted once, first / last times by comparison)."""
    # [first_seen_at, last_active_at, last_spoke_at, message_count] per member:
    # plain lists, no per-row objects or min()/max() calls (this runs per row).
    rollups: dict[tuple[str, str], list[Any]] = {}
    for room_id, contact_id, kind, _, _, _, at in events:
        key = (room_id, contact_id)
        roll = rollups.get(key)
        if kind == "message":
            if roll is None:
                rollups[key] = [at, at, at, 1]
                continue
            roll[3] += 1
            if roll[2] is None or at > roll[2]:
                roll[2] = at
        elif roll is None:
            rollups[key] = [at, at, None, 0]
            continue
        if at < roll[0]:
            roll[0] = at
        if at > roll[1]:
            roll[1] = at
    return [
        {
            "room_id": room_id,
            "contact_id": contact_id,
            "first_seen_at": first,
            "last_spoke_at": spoke,
            "message_count": count,
            "last_active_at": last,
        }
        for (room_id, contact_id), (first, last, spoke, count) in rollups.items()
    ]


def _day_rollup(
    rows: Sequence[ActivityRow], written: set[tuple[str, str]] | None, tz: tzinfo
) -> list[tuple[str, str, str, int]]:
    """member_days increments: messages per (room, member, local day) among the
    rows written (``written``: the (room, message id) pairs stored; None: all)."""
    days: dict[tuple[str, str, str], int] = {}
    seen: set[tuple[str, str]] = set()
    for r in rows:
        if r.kind != "message":
            continue
        room_id = _storable(r.room_id)
        if r.message_id:
            key = (room_id, _storable(r.message_id, 128))
            if key in seen or (written is not None and key not in written):
                continue
            seen.add(key)
        day = (room_id, _storable(r.contact_id), r.at.astimezone(tz).date().isoformat())
        days[day] = days.get(day, 0) + 1
    return [(room, contact, day, n) for (room, contact, day), n in days.items()]


def _days_upsert(session: AsyncSession) -> Any:
    """``INSERT … ON CONFLICT`` adding a batch's messages to member_days."""
    ins = _insert(session, _DAYS)
    return ins.on_conflict_do_update(
        index_elements=[_DAYS.c.room_id, _DAYS.c.contact_id, _DAYS.c.day],
        set_={"messages": _DAYS.c.messages + ins.excluded.messages},
    )


def _storable(value: str, limit: int | None = None) -> str:
    """:func:`clean_text`, with its common case (ASCII without NUL) done without
    encoding a copy: this runs for several values of every row."""
    if value.isascii() and "\x00" not in value:
        return value if limit is None or len(value) <= limit else value[:limit]
    return clean_text(value, limit)


def _stats_upsert(session: AsyncSession) -> Any:
    """``INSERT … ON CONFLICT`` adding a batch's rollup to member_stats."""
    ins = _insert(session, _STATS)
    new, old = ins.excluded, _STATS.c
    return ins.on_conflict_do_update(
        index_elements=[old.room_id, old.contact_id],
        set_={
            "first_seen_at": _earlier(new.first_seen_at, old.first_seen_at),
            "last_spoke_at": _later(new.last_spoke_at, old.last_spoke_at),
            "message_count": old.message_count + new.message_count,
            "last_active_at": _later(new.last_active_at, old.last_active_at),
        },
    )


def _names_upsert(session: AsyncSession) -> Any:
    """``INSERT … ON CONFLICT`` of contact names (a row changes only when the name did)."""
    ins = _insert(session, _CONTACTS)
    return ins.on_conflict_do_update(
        index_elements=[_CONTACTS.c.contact_id],
        set_={"name": ins.excluded.name, "updated_at": ins.excluded.updated_at},
        where=_CONTACTS.c.name != ins.excluded.name,
    )


_EVENT_COLUMNS = ("room_id", "contact_id", "kind", "message_kind", "message_id", "text", "at")
_STATS_COLUMNS = (
    "room_id",
    "contact_id",
    "first_seen_at",
    "last_spoke_at",
    "message_count",
    "last_active_at",
)
_NAME_COLUMNS = ("contact_id", "name", "updated_at")
_DAY_COLUMNS = ("room_id", "contact_id", "day", "messages")
#: Events per multi-row INSERT on SQLite: 7,000 parameters, far below its 32,766.
_SQLITE_ROWS_PER_INSERT = 1000


class _SQLiteActivitySQL:
    """The activity statements compiled for SQLite by SQLAlchemy, with
    positional parameters in the order of the ``_*_COLUMNS`` tuples.  The
    events' single-row ``VALUES (?, …)`` group is repeated for a multi-row
    insert (:meth:`events`)."""

    def __init__(self, session: AsyncSession) -> None:
        dialect = session.get_bind().dialect
        events = (
            _insert(session, _EVENTS)
            .on_conflict_do_nothing(index_elements=[_EVENTS.c.room_id, _EVENTS.c.message_id])
            .returning(_EVENTS.c.room_id, _EVENTS.c.message_id)
        )
        one = self._compile(events, _EVENT_COLUMNS, dialect)
        group = "(" + ", ".join("?" * len(_EVENT_COLUMNS)) + ")"
        if one.count(group) != 1:  # pragma: no cover - guard against a new SQL shape
            raise RuntimeError(f"unexpected INSERT shape {one!r}")
        self._head, self._tail = one.split(group)
        self._group = group
        self._events: dict[int, str] = {}
        self.stats = self._compile(_stats_upsert(session), _STATS_COLUMNS, dialect)
        self.names = self._compile(_names_upsert(session), _NAME_COLUMNS, dialect)
        self.days = self._compile(_days_upsert(session), _DAY_COLUMNS, dialect)
        at_type = cast(UTCDateTime, _EVENTS.c.at.type)
        self._bind = at_type.process_bind_param
        self._dialect = dialect
        # What UTCDateTime stores on SQLite, for a time already in UTC (the
        # usual case; any other goes through the type itself).
        probe = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
        if self._bind(probe, dialect) != probe.isoformat(" ", "microseconds")[:26]:
            raise RuntimeError("UTCDateTime's SQLite format changed")  # pragma: no cover

    def time(self, value: datetime) -> Any:
        """A time as stored (UTCDateTime's text)."""
        if value.tzinfo is UTC:
            return value.isoformat(" ", "microseconds")[:26]
        return self._bind(value, self._dialect)

    def events(self, rows: int) -> str:
        """The events INSERT for ``rows`` rows (kept for the sizes seen)."""
        sql = self._events.get(rows)
        if sql is None:
            if len(self._events) >= 64:
                self._events.clear()
            sql = self._events[rows] = self._head + ", ".join([self._group] * rows) + self._tail
        return sql

    @staticmethod
    def _compile(stmt: Any, columns: tuple[str, ...], dialect: Any) -> str:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
        if tuple(compiled.positiontup or ()) != columns:  # pragma: no cover - guard
            raise RuntimeError(f"unexpected parameter order {compiled.positiontup!r}")
        return str(compiled)


# The name it had before the split, so logging configuration keeps applying.
log = logging.getLogger("storage.repo")


def _same(value: datetime) -> datetime:
    return value


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

    _sqlite_sql: _SQLiteActivitySQL | None = None

    async def record_activity(
        self, rows: Sequence[ActivityRow], names: Mapping[str, str] | None = None
    ) -> int:
        """Append a batch of activity and roll it into member_stats; upsert
        ``names`` (contact id -> name, as of the batch's last row) with it.

        Returns the number of events written.  Texts are cut to
        ``max_text_length`` characters and made storable (see ``clean_text``);
        ids too (a lone surrogate becomes U+FFFD).  The batch and its names are
        one transaction; if it fails for anything but an unreachable database,
        the names are written on their own and the rows one by one, and a row
        that still fails is logged and skipped, so one bad row never stops the
        log.  When the database cannot be reached, :class:`ActivityNotStored`
        names the rows not written (the names were not written either).
        """
        if not rows:
            return 0
        try:
            return await self._write_activity(rows, names)
        except _ROW_ERRORS as exc:
            if _unreachable(exc):
                raise ActivityNotStored(list(rows), exc) from exc
            log.warning(
                "activity batch of %d rows failed (%s); writing it row by row",
                len(rows),
                _first_line(exc),
            )
        if names and rows:
            try:
                await self._write_activity((), names, rows[-1].at)
            except _ROW_ERRORS as exc:
                if _unreachable(exc):
                    raise ActivityNotStored(list(rows), exc) from exc
                log.error("contact names not stored: %s", _first_line(exc))
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

    async def _write_activity(
        self,
        rows: Sequence[ActivityRow],
        names: Mapping[str, str] | None = None,
        names_at: datetime | None = None,
    ) -> int:
        """One transaction: ``names`` (as of ``names_at``, by default the last
        row's time), the events (a message id stored once per room), the rollup
        of the events written.  Returns how many events were written."""
        contacts = [(_storable(c), _storable(n, NAME_MAX_LENGTH)) for c, n in (names or {}).items()]
        if names_at is None and rows:
            names_at = rows[-1].at
        async with self._sessions.begin() as session:
            conn = await session.connection()
            if conn.dialect.name == "sqlite":
                driver = (await conn.get_raw_connection()).driver_connection
                if hasattr(driver, "execute_fetchall") and hasattr(driver, "executemany"):
                    return await self._write_activity_sqlite(
                        session, driver, rows, contacts, names_at
                    )
            if contacts and names_at is not None:
                await session.execute(
                    _names_upsert(session),
                    [{"contact_id": c, "name": n, "updated_at": names_at} for c, n in contacts],
                )
            events = self._events(rows, _same)
            if not events:
                return 0
            stmt = (
                _insert(session, _EVENTS)
                .on_conflict_do_nothing(index_elements=[_EVENTS.c.room_id, _EVENTS.c.message_id])
                .returning(_EVENTS.c.room_id, _EVENTS.c.message_id)
            )
            values = [dict(zip(_EVENT_COLUMNS, e, strict=True)) for e in events]
            stored = {(r, m) for r, m in (await session.execute(stmt, values)).all()}
            written = [e for e in events if (e[0], e[4]) in stored]
            stats = _rollup(written)
            if stats:
                await session.execute(_stats_upsert(session), stats)
            days = _day_rollup(rows, stored if len(written) < len(events) else None, self.tz)
            if days:
                await session.execute(
                    _days_upsert(session), [dict(zip(_DAY_COLUMNS, d, strict=True)) for d in days]
                )
        return len(written)

    def _events(self, rows: Sequence[ActivityRow], time: Callable[[datetime], Any]) -> list[_Event]:
        """The rows as storable events: texts cut to ``max_text_length``, ids and
        texts made storable, times through ``time``; a message id once per room."""
        limit = self.max_text_length
        events: list[_Event] = []
        seen: set[tuple[str, str]] = set()
        for r in rows:
            room_id = _storable(r.room_id)
            message_id = r.message_id and _storable(r.message_id, 128)
            if message_id:
                if (room_id, message_id) in seen:
                    continue  # the same message twice in one batch
                seen.add((room_id, message_id))
            events.append(
                (
                    room_id,
                    _storable(r.contact_id),
                    r.kind,
                    # Informational: cut rather than fail a batch on PostgreSQL.
                    r.message_kind and _storable(r.message_kind, 32),
                    message_id or None,
                    None if r.text is None else _storable(r.text, limit),
                    time(r.at),  # ActivityRow refused naive times already
                )
            )
        return events

    async def _write_activity_sqlite(
        self,
        session: AsyncSession,
        driver: Any,
        rows: Sequence[ActivityRow],
        contacts: list[tuple[str, str]],
        names_at: datetime | None,
    ) -> int:
        """The batch through aiosqlite's public calls, in the session's
        transaction (committed or rolled back by it): the names in one
        ``executemany``; the events in one ``execute_fetchall`` of a multi-row
        ``INSERT … ON CONFLICT (room_id, message_id) DO NOTHING RETURNING`` per
        1,000 rows (a row comes back only if it was written; rows without a
        message id never conflict); the rollup of the written rows in one
        ``executemany``.  Times are formatted once, as stored (the rollup
        compares the stored text, which sorts like the times).  Driver errors
        are raised as SQLAlchemy's (``OperationalError`` for a locked or
        missing database), like the general path raises them."""
        sql = self._sqlite_sql
        if sql is None:
            sql = self._sqlite_sql = _SQLiteActivitySQL(session)
        events = self._events(rows, sql.time)
        statement = sql.names
        try:
            if contacts and names_at is not None:
                stamp = sql.time(names_at)
                await driver.executemany(sql.names, [(c, n, stamp) for c, n in contacts])
            stored: set[tuple[str, str | None]] = set()
            returned = 0
            for start in range(0, len(events), _SQLITE_ROWS_PER_INSERT):
                chunk = events[start : start + _SQLITE_ROWS_PER_INSERT]
                statement = sql.events(len(chunk))
                params = [value for e in chunk for value in e]
                for row in await driver.execute_fetchall(statement, params):
                    stored.add((row[0], row[1]))
                    returned += 1
            if returned == len(events):
                written = events  # nothing was stored before (the usual case)
                days = _day_rollup(rows, None, self.tz)
            else:
                written = [e for e in events if e[4] is None or (e[0], e[4]) in stored]
                days = _day_rollup(rows, cast(set[tuple[str, str]], stored), self.tz)
            if days:
                statement = sql.days
                await driver.executemany(sql.days, days)
            stats = _rollup(written)
            if stats:
                statement = sql.stats
                await driver.executemany(
                    sql.stats,
                    [
                        (
                            s["room_id"],
                            s["contact_id"],
                            s["first_seen_at"],
                            s["last_spoke_at"],
                            s["message_count"],
                            s["last_active_at"],
                        )
                        for s in stats
                    ],
                )
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(
                statement, None, exc, sqlite3.Error, ismulti=True
            ) from exc
        return len(written)

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

    async def member_days(
        self, room_id: str, first_day: str, last_day: str
    ) -> dict[tuple[str, str], int]:
        """Messages per (member, local day) in ``room_id`` from ``first_day`` to
        ``last_day`` (``YYYY-MM-DD``, both included)."""
        stmt = select(_DAYS.c.contact_id, _DAYS.c.day, _DAYS.c.messages).where(
            _DAYS.c.room_id == room_id, _DAYS.c.day >= first_day, _DAYS.c.day <= last_day
        )
        async with self._sessions() as session:
            return {(c, d): n for c, d, n in (await session.execute(stmt)).all()}

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
