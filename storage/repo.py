"""The repository: every read and write the bot makes, one transaction each.

Methods take and return plain values (:mod:`storage.types`), never ORM objects.
Enumerated strings (roles, statuses) are checked at run time: a value
outside the ``Literal`` types of :mod:`storage.types` raises ValueError.
SQL stays portable between SQLite and PostgreSQL; upserts go through the
dialect's ``INSERT … ON CONFLICT``.  Times must be aware (they are stored as
UTC); a naive one is refused with ValueError before anything is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# The parts of the repository, one module per aggregate; every name that was
# defined here before the split is still importable from here.
from storage.activity_store import _ROW_ERRORS as _ROW_ERRORS
from storage.activity_store import ActivityMixin
from storage.activity_store import ActivityNotStored as ActivityNotStored
from storage.activity_store import _first_line as _first_line
from storage.activity_store import _Rollup as _Rollup
from storage.activity_store import _rollup as _rollup
from storage.activity_store import _unreachable as _unreachable
from storage.activity_store import log as log
from storage.audit_store import AuditMixin
from storage.audit_store import _audit_entry as _audit_entry
from storage.contacts_store import ContactsMixin
from storage.contacts_store import _group_state as _group_state
from storage.members_store import MembersMixin
from storage.members_store import _membership_state as _membership_state
from storage.members_store import _start_stay as _start_stay
from storage.members_store import _stay_of as _stay_of
from storage.outbox_store import OutboxMixin
from storage.outbox_store import _outbox_counts as _outbox_counts
from storage.outbox_store import _outbox_item as _outbox_item
from storage.outbox_store import _outbox_items as _outbox_items
from storage.outbox_store import _payload_json as _payload_json
from storage.report import ReportMixin
from storage.sql import _CONTACTS as _CONTACTS
from storage.sql import _EVENTS as _EVENTS
from storage.sql import _GROUPS as _GROUPS
from storage.sql import _MEMBERSHIPS as _MEMBERSHIPS
from storage.sql import _OUTBOX as _OUTBOX
from storage.sql import _STATS as _STATS
from storage.sql import _STAYS as _STAYS
from storage.sql import DEFAULT_ACCOUNT as DEFAULT_ACCOUNT
from storage.sql import DEFAULT_MAX_TEXT_LENGTH as DEFAULT_MAX_TEXT_LENGTH
from storage.sql import DETAIL_MAX_LENGTH as DETAIL_MAX_LENGTH
from storage.sql import NAME_MAX_LENGTH as NAME_MAX_LENGTH
from storage.sql import REASON_MAX_LENGTH as REASON_MAX_LENGTH
from storage.sql import RepositoryBase
from storage.sql import _check as _check
from storage.sql import _clean_id as _clean_id
from storage.sql import _earlier as _earlier
from storage.sql import _insert as _insert
from storage.sql import _json_object as _json_object
from storage.sql import _later as _later
from storage.types import ActivityRow as ActivityRow
from storage.types import UTCDateTime, clean_text

# The activity write path stays here: it looks up ``_insert`` and ``_rollup``
# in this module, where tests replace them to make a write fail.


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


_EVENT_COLUMNS = ("room_id", "contact_id", "kind", "message_kind", "message_id", "text", "at")
_STATS_COLUMNS = (
    "room_id",
    "contact_id",
    "first_seen_at",
    "last_spoke_at",
    "message_count",
    "last_active_at",
)


class _SQLiteActivitySQL:
    """The activity statements compiled for SQLite, with positional parameters
    in the order of ``_EVENT_COLUMNS`` and ``_STATS_COLUMNS``."""

    def __init__(self, session: AsyncSession) -> None:
        dialect = session.get_bind().dialect
        events = _insert(session, _EVENTS).on_conflict_do_nothing(
            index_elements=[_EVENTS.c.room_id, _EVENTS.c.message_id]
        )
        self.events = self._compile(events, _EVENT_COLUMNS, dialect)
        self.stats = self._compile(_stats_upsert(session), _STATS_COLUMNS, dialect)
        at_type = cast(UTCDateTime, _EVENTS.c.at.type)
        self.time = partial(_bind_time, at_type, dialect)

    @staticmethod
    def _compile(stmt: Any, columns: tuple[str, ...], dialect: Any) -> str:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
        if tuple(compiled.positiontup or ()) != columns:  # pragma: no cover - guard
            raise RuntimeError(f"unexpected parameter order {compiled.positiontup!r}")
        return str(compiled)


def _bind_time(column_type: UTCDateTime, dialect: Any, value: datetime) -> Any:
    return column_type.process_bind_param(value, dialect)


class Repository(
    ActivityMixin, ContactsMixin, MembersMixin, ReportMixin, AuditMixin, OutboxMixin, RepositoryBase
):
    """Async data access for one bot account; safe to share (one session per call).

    What belongs to the account (outbox, audit, its presence and role per
    group) is written with ``account_id`` and every query of it filters on
    it; per-group facts (activity, memberships, contacts) are the group's,
    shared by every account in that group.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        account_id: str = DEFAULT_ACCOUNT,
        max_text_length: int = DEFAULT_MAX_TEXT_LENGTH,
    ) -> None:
        if max_text_length < 1:
            raise ValueError("max_text_length must be positive")
        if not account_id:
            raise ValueError("account_id must not be empty")
        self._sessions = session_factory
        self.account_id = account_id
        self.max_text_length = max_text_length
        self._sqlite_sql: _SQLiteActivitySQL | None = None

    async def _write_activity(self, rows: Sequence[ActivityRow]) -> int:
        limit = self.max_text_length
        events: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for r in rows:
            at = r.at  # ActivityRow refused naive times already
            text = None if r.text is None else clean_text(r.text, limit)
            room_id, contact_id = _clean_id(r.room_id), _clean_id(r.contact_id)
            message_id = r.message_id and clean_text(r.message_id, 128)
            if message_id:
                if (room_id, message_id) in seen:
                    continue  # the same message twice in one batch
                seen.add((room_id, message_id))
            events.append(
                {
                    "room_id": room_id,
                    "contact_id": contact_id,
                    "kind": r.kind,
                    # Informational: cut rather than fail a batch on PostgreSQL.
                    "message_kind": r.message_kind and clean_text(r.message_kind, 32),
                    "message_id": message_id or None,
                    "text": text,
                    "at": at,
                }
            )
        async with self._sessions.begin() as session:
            conn = await session.connection()
            driver = (await conn.get_raw_connection()).driver_connection
            if conn.dialect.name == "sqlite" and hasattr(driver, "_execute"):
                return await self._write_activity_sqlite(session, driver, events)
            stmt = (
                _insert(session, _EVENTS)
                .on_conflict_do_nothing(index_elements=[_EVENTS.c.room_id, _EVENTS.c.message_id])
                .returning(_EVENTS.c.room_id, _EVENTS.c.message_id)
            )
            stored = {(r, m) for r, m in (await session.execute(stmt, events)).all()}
            written = [e for e in events if (e["room_id"], e["message_id"]) in stored]
            stats = _rollup(written)
            if stats:
                await session.execute(_stats_upsert(session), stats)
        return len(written)

    async def _write_activity_sqlite(
        self, session: AsyncSession, driver: Any, events: list[dict[str, Any]]
    ) -> int:
        """The batch in one trip to aiosqlite's worker thread: each row inserted
        with ``ON CONFLICT (room_id, message_id) DO NOTHING`` (its row count says
        whether it was written), the rollup of the written rows upserted with
        ``executemany``.  The statements are SQLAlchemy's own, compiled once;
        the transaction is the session's (committed or rolled back by it).
        Driver errors are raised as SQLAlchemy's (``OperationalError`` for a
        locked or missing database), like the general path raises them."""
        sql = self._sqlite_sql
        if sql is None:
            sql = self._sqlite_sql = _SQLiteActivitySQL(session)
        bind = sql.time
        params = [
            (
                e["room_id"],
                e["contact_id"],
                e["kind"],
                e["message_kind"],
                e["message_id"],
                e["text"],
                bind(e["at"]),
            )
            for e in events
        ]

        def write(db: sqlite3.Connection) -> int:  # runs in aiosqlite's thread
            cursor = db.cursor()
            try:
                written = []
                for event, row in zip(events, params, strict=True):
                    cursor.execute(sql.events, row)
                    if cursor.rowcount == 1:
                        written.append(event)
                stats = _rollup(written)
                if stats:
                    cursor.executemany(
                        sql.stats,
                        [
                            (
                                s["room_id"],
                                s["contact_id"],
                                bind(s["first_seen_at"]),
                                None if s["last_spoke_at"] is None else bind(s["last_spoke_at"]),
                                s["message_count"],
                                bind(s["last_active_at"]),
                            )
                            for s in stats
                        ],
                    )
                return len(written)
            finally:
                cursor.close()

        try:
            return cast(int, await driver._execute(write, driver._conn))
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(
                sql.events, None, exc, sqlite3.Error, ismulti=True
            ) from exc
