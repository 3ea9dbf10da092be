"""The repository: every read and write the bot makes, one transaction each.

Methods take and return plain values (:mod:`storage.types`), never ORM objects.
Enumerated strings (roles, statuses) are checked at run time: a value
outside the ``Literal`` types of :mod:`storage.types` raises ValueError.
SQL stays portable between SQLite and PostgreSQL; upserts go through the
dialect's ``INSERT … ON CONFLICT``.  Times must be aware (they are stored as
UTC); a naive one is refused with ValueError before anything is written.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    ActivityEvent,
    AuditLog,
    ConnectionLog,
    Contact,
    Group,
    Membership,
    MemberStats,
    MemberStay,
    Outbox,
)
from storage.types import (
    AUDIT_STATUSES,
    BOT_ROLES,
    CONNECTION_EVENTS,
    MEMBER_ROLES,
    OUTBOX_EXECUTED_STATUSES,
    OUTBOX_FINAL_STATUSES,
    ActivityKind,
    ActivityRecord,
    ActivityRow,
    AuditEntry,
    AuditStatus,
    BotRole,
    GroupState,
    MemberRole,
    MembershipState,
    MemberStatsState,
    NewOutboxItem,
    OutboxItem,
    OutboxStatus,
    UTCDateTime,
    clean_text,
    require_aware,
)

DEFAULT_ACCOUNT = "default"  # rows from before accounts were recorded belong here
DEFAULT_MAX_TEXT_LENGTH = 2000
NAME_MAX_LENGTH = 256  # contact names and group topics
REASON_MAX_LENGTH = 2000
DETAIL_MAX_LENGTH = 20000

_EVENTS = cast(Table, ActivityEvent.__table__)
_STATS = cast(Table, MemberStats.__table__)
_CONTACTS = cast(Table, Contact.__table__)
_GROUPS = cast(Table, Group.__table__)
_MEMBERSHIPS = cast(Table, Membership.__table__)
_OUTBOX = cast(Table, Outbox.__table__)
_STAYS = cast(Table, MemberStay.__table__)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {allowed}")


def _insert(session: AsyncSession, table: Table) -> sqlite.Insert | postgresql.Insert:
    """``INSERT`` with ``ON CONFLICT`` support for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"no upsert for database dialect {name!r}")


def _later(new: Any, old: Any) -> Any:
    """SQL for the later of two nullable times (portable: no GREATEST / max())."""
    return case((old.is_(None), new), (new > old, new), else_=old)


def _earlier(new: Any, old: Any) -> Any:
    return case((old.is_(None), new), (new < old, new), else_=old)


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


def _group_state(row: Group) -> GroupState:
    return GroupState(
        room_id=row.room_id,
        topic=row.topic,
        profile=row.profile,
        bot_role=cast(BotRole, row.bot_role),
        joined_at=row.joined_at,
        left_at=row.left_at,
        updated_at=row.updated_at,
    )


def _membership_state(row: Membership, *, changed: bool = True) -> MembershipState:
    return MembershipState(
        room_id=row.room_id,
        contact_id=row.contact_id,
        joined_at=row.joined_at,
        inviter_id=row.inviter_id,
        left_at=row.left_at,
        remover_id=row.remover_id,
        role=cast(MemberRole, row.role),
        welcomed_at=row.welcomed_at,
        reminded_at=row.reminded_at,
        join_count=row.join_count,
        changed=changed,
    )


def _stay_of(row: Membership) -> tuple[Any, ...]:
    """WHERE clauses for the ``member_stays`` row of a membership's current stay."""
    s = _STAYS.c
    return (s.room_id == row.room_id, s.contact_id == row.contact_id, s.stay == row.join_count)


async def _start_stay(session: AsyncSession, row: Membership) -> None:
    """Record the membership's current stay (idempotent: a stay is written once)."""
    stmt = (
        _insert(session, _STAYS)
        .values(
            room_id=row.room_id,
            contact_id=row.contact_id,
            stay=row.join_count,
            joined_at=row.joined_at,
            inviter_id=row.inviter_id,
            left_at=None,
            remover_id=None,
            welcomed_at=None,
        )
        .on_conflict_do_nothing(index_elements=["room_id", "contact_id", "stay"])
    )
    await session.execute(stmt)


def _json_object(text: str | None) -> dict[str, Any]:
    """A stored JSON object; anything else comes back wrapped, never as an error."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def _audit_entry(row: AuditLog) -> AuditEntry:
    detail = _json_object(row.detail)
    return AuditEntry(
        id=row.id,
        at=row.at,
        action=row.action,
        kind=row.kind,
        room_id=row.room_id,
        target_id=row.target_id,
        key=row.key,
        status=cast(AuditStatus, row.status),
        reason=row.reason,
        detail=detail,
        error=row.error,
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


log = logging.getLogger(__name__)


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


def _clean_id(value: str) -> str:
    """Ids come from the puppet's JSON: make them storable, like texts."""
    return clean_text(value)


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


class Repository:
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

    def _mine(self, table: Any) -> Any:
        """The WHERE clause that keeps a query to this account's rows."""
        columns = table.c if isinstance(table, Table) else table.__table__.c
        return columns.account_id == self.account_id

    # -- activity (the hot path) -------------------------------------------

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

    # -- contacts and groups -------------------------------------------------

    async def upsert_contacts(self, pairs: Iterable[tuple[str, str]], at: datetime) -> int:
        """Insert or rename contacts; returns how many distinct ids were given."""
        at = require_aware(at, "at")
        names = {cid: clean_text(name, NAME_MAX_LENGTH) for cid, name in pairs}
        if not names:
            return 0
        rows = [{"contact_id": c, "name": n, "updated_at": at} for c, n in names.items()]
        async with self._sessions.begin() as session:
            ins = _insert(session, _CONTACTS)
            stmt = ins.on_conflict_do_update(
                index_elements=[_CONTACTS.c.contact_id],
                set_={"name": ins.excluded.name, "updated_at": ins.excluded.updated_at},
                where=_CONTACTS.c.name != ins.excluded.name,
            )
            await session.execute(stmt, rows)
        return len(rows)

    async def contact_name(self, contact_id: str) -> str | None:
        async with self._sessions() as session:
            row = await session.get(Contact, contact_id)
            return None if row is None else row.name

    async def upsert_group(
        self, room_id: str, topic: str | None, profile: str, at: datetime
    ) -> None:
        """Record that the bot is in ``room_id``; a group it had left is rejoined.

        ``topic=None`` means unknown: a known topic is kept, a new group gets "".
        """
        at = require_aware(at, "at")
        if not profile or len(profile) > 64:
            raise ValueError(f"group profile {profile!r}: expected a name of 1 to 64 characters")
        clean_topic = "" if topic is None else clean_text(topic, NAME_MAX_LENGTH)
        async with self._sessions.begin() as session:
            ins = _insert(session, _GROUPS).values(
                account_id=self.account_id,
                room_id=room_id,
                topic=clean_topic,
                profile=profile,
                bot_role="unknown",
                joined_at=at,
                left_at=None,
                updated_at=at,
            )
            old = _GROUPS.c
            stmt = ins.on_conflict_do_update(
                index_elements=[old.account_id, old.room_id],
                set_={
                    "topic": old.topic if topic is None else ins.excluded.topic,
                    "profile": ins.excluded.profile,
                    "joined_at": case(
                        (old.left_at.is_not(None), ins.excluded.joined_at), else_=old.joined_at
                    ),
                    "left_at": None,
                    "updated_at": ins.excluded.updated_at,
                },
            )
            await session.execute(stmt)

    async def set_bot_role(self, room_id: str, role: str, at: datetime | None = None) -> bool:
        """Set the bot's own role in a group; False if the group is unknown."""
        _check(role, BOT_ROLES, "bot role")
        values: dict[str, Any] = {"bot_role": role}
        if at is not None:
            values["updated_at"] = require_aware(at, "at")
        stmt = update(Group).where(self._mine(Group), Group.room_id == room_id).values(**values)
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def mark_group_left(self, room_id: str, at: datetime) -> bool:
        """The bot left or was removed; False if it was not in the group."""
        at = require_aware(at, "at")
        stmt = (
            update(Group)
            .where(self._mine(Group), Group.room_id == room_id, Group.left_at.is_(None))
            .values(left_at=at, updated_at=at)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def get_group(self, room_id: str) -> GroupState | None:
        async with self._sessions() as session:
            row = await session.get(Group, (self.account_id, room_id))
            return None if row is None else _group_state(row)

    async def active_groups(self) -> list[GroupState]:
        """Groups the bot is in, by room id."""
        stmt = (
            select(Group).where(self._mine(Group), Group.left_at.is_(None)).order_by(Group.room_id)
        )
        async with self._sessions() as session:
            return [_group_state(g) for g in (await session.scalars(stmt)).all()]

    # -- memberships ---------------------------------------------------------

    async def record_join(
        self, room_id: str, contact_id: str, at: datetime, inviter_id: str | None = None
    ) -> MembershipState:
        """A member joined.  Returns the membership after the join.

        A first join creates the row (``join_count`` 1).  A rejoin after a
        leave starts a new stay: ``joined_at`` and ``inviter_id`` are replaced,
        leave / welcome / reminder marks cleared, ``join_count`` incremented.
        A join for a member already present (duplicate event, or an event and a
        member-list reconcile both seeing it) changes nothing except filling in
        a missing inviter, and comes back with ``changed=False``; so does a
        join older than the member's last leave (a replay).  Every new
        stay is also a row of ``member_stays`` (number ``join_count``), so the
        earlier stays are kept, not overwritten.
        """
        at = require_aware(at, "at")
        async with self._sessions.begin() as session:
            # Write first: on SQLite this takes the write lock up front, so a
            # concurrent writer cannot make the later UPDATE fail with BUSY.
            ins = (
                _insert(session, _MEMBERSHIPS)
                .values(
                    room_id=room_id,
                    contact_id=contact_id,
                    joined_at=at,
                    inviter_id=inviter_id,
                    left_at=None,
                    remover_id=None,
                    role="member",
                    welcomed_at=None,
                    reminded_at=None,
                    join_count=1,
                )
                .on_conflict_do_nothing(index_elements=["room_id", "contact_id"])
            )
            inserted = bool(getattr(await session.execute(ins), "rowcount", 0))
            stmt = select(Membership).where(
                Membership.room_id == room_id, Membership.contact_id == contact_id
            )
            row = (await session.scalars(stmt.with_for_update())).one()
            if inserted:
                await _start_stay(session, row)
                return _membership_state(row)
            if row.left_at is None:
                if row.inviter_id is None and inviter_id is not None:
                    row.inviter_id = inviter_id
                    await session.execute(
                        update(_STAYS)
                        .where(*_stay_of(row), _STAYS.c.inviter_id.is_(None))
                        .values(inviter_id=inviter_id)
                    )
                    await session.flush()
                return _membership_state(row, changed=False)
            if at < row.left_at:
                # A join from before the member's last leave: a replayed event,
                # not a new stay.
                return _membership_state(row, changed=False)
            row.joined_at = at
            row.inviter_id = inviter_id
            row.left_at = None
            row.remover_id = None
            row.welcomed_at = None
            row.reminded_at = None
            row.join_count += 1
            await session.flush()
            await _start_stay(session, row)
            return _membership_state(row)

    async def record_leave(
        self, room_id: str, contact_id: str, at: datetime, remover_id: str | None = None
    ) -> bool:
        """A member left (or was removed).  False if they were not known present,
        or if the leave is older than their current stay's join (it ended an
        earlier stay, or a member list read before they joined missed them)."""
        at = require_aware(at, "at")
        stmt = (
            update(Membership)
            .where(
                Membership.room_id == room_id,
                Membership.contact_id == contact_id,
                Membership.left_at.is_(None),
                Membership.joined_at <= at,
            )
            .values(left_at=at, remover_id=remover_id)
            .returning(Membership.join_count)
        )
        async with self._sessions.begin() as session:
            stay = (await session.execute(stmt)).scalar_one_or_none()
            if stay is None:
                return False
            s = _STAYS.c
            await session.execute(
                update(_STAYS)
                .where(
                    s.room_id == room_id,
                    s.contact_id == contact_id,
                    s.stay == stay,
                    s.left_at.is_(None),
                )
                .values(left_at=at, remover_id=remover_id)
            )
            return True

    async def set_member_role(self, room_id: str, contact_id: str, role: str) -> bool:
        _check(role, MEMBER_ROLES, "member role")
        stmt = (
            update(Membership)
            .where(Membership.room_id == room_id, Membership.contact_id == contact_id)
            .values(role=role)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def current_members(self, room_id: str) -> set[str]:
        stmt = select(Membership.contact_id).where(
            Membership.room_id == room_id, Membership.left_at.is_(None)
        )
        async with self._sessions() as session:
            return set((await session.scalars(stmt)).all())

    async def get_membership(self, room_id: str, contact_id: str) -> MembershipState | None:
        async with self._sessions() as session:
            row = await session.get(Membership, (room_id, contact_id))
            return None if row is None else _membership_state(row)

    # -- welcome ritual ------------------------------------------------------

    async def mark_welcomed(self, room_id: str, contact_ids: Iterable[str], at: datetime) -> int:
        """Mark present members as welcomed in their current stay (first welcome wins);
        returns rows changed.  The welcome ritual records it from the send's
        outcome (``storage.welcome``), not when the welcome is queued."""
        at = require_aware(at, "at")
        ids = sorted(set(contact_ids))
        if not ids:
            return 0
        stmt = (
            update(Membership)
            .where(
                Membership.room_id == room_id,
                Membership.contact_id.in_(ids),
                Membership.left_at.is_(None),
                Membership.welcomed_at.is_(None),
            )
            .values(welcomed_at=at)
            .returning(Membership.contact_id, Membership.join_count)
        )
        async with self._sessions.begin() as session:
            marked = (await session.execute(stmt)).all()
            s = _STAYS.c
            for contact_id, stay in marked:
                await session.execute(
                    update(_STAYS)
                    .where(s.room_id == room_id, s.contact_id == contact_id, s.stay == stay)
                    .values(welcomed_at=at)
                )
            return len(marked)

    async def due_for_reminder(self, now: datetime, after: timedelta) -> list[tuple[str, str]]:
        """(room, member) pairs to remind once to introduce themselves.

        Present members of groups this account is in (its own ``groups`` row),
        welcomed, not yet reminded, who joined at least ``after`` ago and have
        not spoken since joining.  Reads memberships, member_stats and groups.
        """
        cutoff = require_aware(now, "now") - after
        m, s = Membership, MemberStats
        stmt = (
            select(m.room_id, m.contact_id)
            .outerjoin(s, and_(s.room_id == m.room_id, s.contact_id == m.contact_id))
            # The account's own row of the group: one row per member however
            # many accounts share the group, none where this account is not.
            .join(Group, and_(self._mine(Group), Group.room_id == m.room_id))
            .where(
                m.reminded_at.is_(None),
                m.joined_at <= cutoff,
                m.left_at.is_(None),
                m.welcomed_at.is_not(None),
                Group.left_at.is_(None),
                or_(s.last_spoke_at.is_(None), s.last_spoke_at < m.joined_at),
            )
            .order_by(m.joined_at, m.room_id, m.contact_id)
        )
        async with self._sessions() as session:
            return [(r, c) for r, c in (await session.execute(stmt)).all()]

    async def mark_reminded(self, room_id: str, contact_id: str, at: datetime) -> bool:
        """False if already reminded, gone, or unknown (so a reminder goes out once)."""
        at = require_aware(at, "at")
        stmt = (
            update(Membership)
            .where(
                Membership.room_id == room_id,
                Membership.contact_id == contact_id,
                Membership.left_at.is_(None),
                Membership.reminded_at.is_(None),
            )
            .values(reminded_at=at)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    # -- lurkers -------------------------------------------------------------

    async def lurkers(
        self, room_id: str, silent_since: datetime, *, include_admins: bool = False
    ) -> list[str]:
        """Present members who have not spoken since ``silent_since``.

        Members who joined at or after ``silent_since`` are newcomers, still in
        their grace period, and never listed; nor are admins / the owner unless
        ``include_admins``.  Longest silent first (never spoke before anyone).
        Reads memberships and member_stats only.
        """
        since = require_aware(silent_since, "silent_since")
        m, s = Membership, MemberStats
        stmt = (
            select(m.contact_id)
            .outerjoin(s, and_(s.room_id == m.room_id, s.contact_id == m.contact_id))
            .where(
                m.room_id == room_id,
                m.left_at.is_(None),
                m.joined_at < since,
                or_(s.last_spoke_at.is_(None), s.last_spoke_at < since),
            )
            .order_by(case((s.last_spoke_at.is_(None), 0), else_=1), s.last_spoke_at, m.contact_id)
        )
        if not include_admins:
            stmt = stmt.where(m.role == "member")
        async with self._sessions() as session:
            return list((await session.scalars(stmt)).all())

    # -- audit and connection logs -------------------------------------------

    async def write_audit(
        self,
        *,
        at: datetime,
        action: str,
        kind: str,
        status: str,
        room_id: str | None = None,
        target_id: str | None = None,
        key: str | None = None,
        reason: str = "",
        detail: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> int:
        """Append an audit row; returns its id."""
        _check(status, AUDIT_STATUSES, "audit status")
        row = AuditLog(
            account_id=self.account_id,
            at=require_aware(at, "at"),
            action=action,
            kind=kind,
            room_id=room_id,
            target_id=target_id,
            key=key or None,
            status=status,
            reason=clean_text(reason, REASON_MAX_LENGTH),
            detail=clean_text(
                json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, default=str),
                DETAIL_MAX_LENGTH,
            ),
            error=None if error is None else clean_text(error, REASON_MAX_LENGTH),
        )
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            return row.id

    async def recent_audit(
        self, limit: int = 50, *, room_id: str | None = None, key: str | None = None
    ) -> list[AuditEntry]:
        """Newest first; optionally only one room's or one idempotency key's rows."""
        stmt = (
            select(AuditLog).where(self._mine(AuditLog)).order_by(AuditLog.id.desc()).limit(limit)
        )
        if room_id is not None:
            stmt = stmt.where(AuditLog.room_id == room_id)
        if key is not None:
            stmt = stmt.where(AuditLog.key == key)
        async with self._sessions() as session:
            return [_audit_entry(r) for r in (await session.scalars(stmt)).all()]

    async def log_connection(
        self, event: str, wechat_id: str, at: datetime, detail: str = ""
    ) -> None:
        """One row of the account's connection log; ``wechat_id``: who was logged in."""
        _check(event, CONNECTION_EVENTS, "connection event")
        row = ConnectionLog(
            at=require_aware(at, "at"),
            event=event,
            account_id=self.account_id,
            wechat_id=wechat_id,
            detail=clean_text(detail, REASON_MAX_LENGTH),
        )
        async with self._sessions.begin() as session:
            session.add(row)

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

    # -- reporting -----------------------------------------------------------

    async def status_report(self, recent: int = 10) -> dict[str, Any]:
        """A JSON-ready summary of what the bot has stored (for ``qunbot status``)."""
        m = Membership
        present = select(m.room_id, func.count()).where(m.left_at.is_(None)).group_by(m.room_id)
        async with self._sessions() as session:
            groups = (
                await session.scalars(
                    select(Group).where(self._mine(Group)).order_by(Group.room_id)
                )
            ).all()
            members = {r: int(n) for r, n in (await session.execute(present)).all()}
            events = int(
                (await session.execute(select(func.count()).select_from(_EVENTS))).scalar_one()
            )
            messages = (await session.execute(select(func.sum(MemberStats.message_count)))).scalar()
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
