"""Storage contract tests, run on every backend.

A SQLite file in ``tmp_path`` always; PostgreSQL too when
``QUNBOT_TEST_PG_URL`` names a server (``postgresql+asyncpg://…``).  Each
PostgreSQL test works in a schema of its own, dropped afterwards, so the
database named there is never otherwise touched.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, DateTime, insert, inspect, select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import storage.activity_store
import storage.repo
from storage import (
    ActivityRow,
    Repository,
    UTCDateTime,
    clean_text,
    create_engine,
    current_revision,
    head_revision,
    session_factory,
    upgrade,
)
from storage.models import ActivityEvent, Base, ConnectionLog, Contact
from tests.unit.conftest import Store

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))
ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"


def at(minutes: float = 0, *, days: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, days=days)


def naive() -> datetime:
    return datetime(2026, 1, 5, 9, 0)  # noqa: DTZ001 - the point of the test


def msg(
    contact: str, minutes: float, room: str = ROOM, text: str | None = "hi", **kw: Any
) -> ActivityRow:
    return ActivityRow(room, contact, "message", at(minutes), "text", text=text, **kw)


# -- engine, schema, migrations ---------------------------------------------


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _check_constraints(conn: Connection) -> set[tuple[str, str]]:
    # compare_metadata does not look at CHECK constraints; compare their names.
    inspector = inspect(conn)
    return {
        (table, str(ck["name"]))
        for table in inspector.get_table_names()
        for ck in inspector.get_check_constraints(table)
    }


def _model_check_constraints() -> set[tuple[str, str]]:
    return {
        (table.name, str(c.name))
        for table in Base.metadata.sorted_tables
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }


async def test_migrations_produce_exactly_the_models(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None
    await upgrade(engine)
    assert await current_revision(engine) == head_revision() is not None
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
        checks = await conn.run_sync(_check_constraints)
    assert checks == _model_check_constraints()
    assert ("groups", "ck_groups_tier") not in checks  # any profile name (0008)
    await upgrade(engine)  # already at head: a no-op
    assert await current_revision(engine) == head_revision()


def test_every_time_column_is_utc_datetime() -> None:
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, DateTime):
                pytest.fail(f"{table.name}.{column.name} is a plain DateTime")
            if column.name.endswith("_at") or column.name == "at":
                assert isinstance(column.type, UTCDateTime), f"{table.name}.{column.name}"


async def test_sqlite_file_pragmas(store: Store, tmp_path: Path) -> None:
    if store.backend != "sqlite":
        pytest.skip("SQLite only")
    assert (tmp_path / "data" / "qunbot.db").is_file()
    async with store.engine.connect() as conn:
        pragmas = {
            name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,
        "busy_timeout": 5000,
    }


async def test_in_memory_sqlite_is_one_shared_database() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        await upgrade(engine)
        repo = Repository(session_factory(engine))
        await repo.upsert_group(ROOM, "群", "member", at())
        await repo.record_activity([msg("a", 1)])
        assert (await repo.get_group(ROOM)) is not None
        assert await repo.count_activity() == 1
    finally:
        await engine.dispose()


def test_create_engine_refuses_other_databases() -> None:
    with pytest.raises(ValueError, match="aiosqlite"):
        create_engine("sqlite:///x.db")
    with pytest.raises(ValueError, match="unsupported"):
        create_engine("mysql+aiomysql://u@h/db")


def test_storage_never_imports_wechaty() -> None:
    # Every module of the package, found by walking it: a new one cannot be missed.
    code = (
        "import importlib, pkgutil, sys, storage\n"
        "names = [m.name for m in pkgutil.walk_packages(storage.__path__, 'storage.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "assert {'storage.repo', 'storage.outbox_retry', 'storage.welcome'} <= set(names), names\n"
        "bad = [m for m in sys.modules if m.startswith(('wechaty', 'bot.transport'))]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# -- times ------------------------------------------------------------------


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.repo.upsert_group(ROOM, "群", "member", naive())
    with pytest.raises(ValueError, match="naive"):
        ActivityRow(ROOM, "a", "message", naive())
    with pytest.raises(ValueError, match="naive"):
        await store.repo.record_join(ROOM, "a", naive(), None)
    with pytest.raises(ValueError, match="naive"):
        await store.repo.due_for_reminder(naive(), timedelta(hours=1))
    # The column type itself refuses, below the repository too.
    stmt = insert(Contact).values(contact_id="a", name="A", updated_at=naive())
    async with store.sessions.begin() as session:
        with pytest.raises(StatementError, match="naive") as caught:
            await session.execute(stmt)
    assert isinstance(caught.value.orig, ValueError)
    assert await store.repo.get_group(ROOM) is None


async def test_aware_times_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    local = datetime(2026, 1, 5, 9, 30, 15, 123456, tzinfo=CST)
    await store.repo.upsert_group(ROOM, "群", "member", local)
    group = await store.repo.get_group(ROOM)
    assert group is not None
    assert group.joined_at == local
    assert group.joined_at.utcoffset() == timedelta(0)
    assert group.joined_at.tzinfo is UTC or group.joined_at.tzname() == "UTC"
    assert group.joined_at.hour == 1 and group.joined_at.microsecond == 123456

    await store.repo.record_activity([ActivityRow(ROOM, "a", "message", local)])
    stats = await store.repo.member_stats(ROOM, "a")
    assert stats is not None and stats.last_spoke_at == local
    assert stats.last_spoke_at.utcoffset() == timedelta(0)


async def test_time_comparisons_ignore_the_input_offset(store: Store) -> None:
    # 09:00+08:00 is 01:00Z: a member who joined then is due an hour later,
    # whichever offset the query time is written in.
    await store.repo.upsert_group(ROOM, "群", "member", at(0))
    await store.repo.record_join(ROOM, "a", datetime(2026, 1, 5, 9, 0, tzinfo=CST), None)
    await store.repo.mark_welcomed(ROOM, ["a"], at(1))
    now_cst = datetime(2026, 1, 5, 10, 0, tzinfo=CST)
    assert await store.repo.due_for_reminder(now_cst, timedelta(hours=1)) == [(ROOM, "a")]
    assert await store.repo.due_for_reminder(now_cst, timedelta(hours=1, seconds=1)) == []


# -- activity ---------------------------------------------------------------


async def test_activity_batch_updates_the_rollup(store: Store) -> None:
    repo = store.repo
    batch = [
        ActivityRow(ROOM, "a", "join", at(0)),
        msg("a", 5),
        msg("a", 3),  # out of order within the batch
        msg("b", 4, message_id="m-b1"),
        ActivityRow(ROOM, "c", "join", at(6)),  # joined, never spoke
        msg("a", 7, room=ROOM2),
        ActivityRow(ROOM, "d", "leave", at(8)),
    ]
    assert await repo.record_activity(batch) == len(batch)
    assert await repo.count_activity() == 7
    assert await repo.count_activity(ROOM) == 6
    assert await repo.count_activity(ROOM2) == 1

    a = await repo.member_stats(ROOM, "a")
    assert a is not None
    assert (a.message_count, a.first_seen_at, a.last_spoke_at, a.last_active_at) == (
        2,
        at(0),
        at(5),
        at(5),
    )
    c = await repo.member_stats(ROOM, "c")
    assert c is not None
    assert (c.message_count, c.last_spoke_at, c.first_seen_at, c.last_active_at) == (
        0,
        None,
        at(6),
        at(6),
    )
    a2 = await repo.member_stats(ROOM2, "a")
    assert a2 is not None and a2.message_count == 1

    # A later batch adds up; an older message does not move last_spoke back,
    # and a join does not count as speaking.
    await repo.record_activity([msg("a", 1), msg("c", 10), ActivityRow(ROOM, "a", "join", at(20))])
    a = await repo.member_stats(ROOM, "a")
    assert a is not None
    assert (a.message_count, a.first_seen_at, a.last_spoke_at, a.last_active_at) == (
        3,
        at(0),
        at(5),
        at(20),
    )
    c = await repo.member_stats(ROOM, "c")
    assert c is not None and (c.message_count, c.last_spoke_at) == (1, at(10))
    assert await repo.record_activity([]) == 0

    newest = await repo.recent_activity(ROOM, limit=2)
    assert [(r.contact_id, r.kind, r.at) for r in newest] == [
        ("a", "join", at(20)),
        ("c", "message", at(10)),
    ]
    assert newest[1].text == "hi" and newest[1].message_kind == "text"
    assert [r.message_id for r in await repo.recent_activity(limit=20) if r.message_id] == ["m-b1"]
    assert len(await repo.recent_activity(limit=100)) == 10


async def test_activity_batch_is_all_or_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = storage.activity_store._insert

    def failing_insert(session: AsyncSession, table: Any) -> Any:
        if table is storage.repo._STATS:
            raise RuntimeError("boom after the events were inserted")
        return real_insert(session, table)

    monkeypatch.setattr(storage.activity_store, "_insert", failing_insert)
    with pytest.raises(RuntimeError, match="boom"):
        await store.repo.record_activity([msg("a", 1), msg("b", 2)])
    assert await store.repo.count_activity() == 0


async def test_concurrent_batches_all_land(store: Store) -> None:
    batches = [[msg(f"u{i}", j, text=f"{i}/{j}") for j in range(50)] for i in range(8)]
    await asyncio.gather(*(store.repo.record_activity(b) for b in batches))
    assert await store.repo.count_activity(ROOM) == 400
    stats = await store.repo.member_stats(ROOM, "u3")
    assert stats is not None and stats.message_count == 50


async def _texts(store: Store) -> list[str | None]:
    async with store.sessions() as session:
        rows = await session.scalars(select(ActivityEvent.text).order_by(ActivityEvent.id))
        return list(rows.all())


async def test_huge_and_odd_text_is_stored_bounded(store: Store) -> None:
    family = "👨\u200d👩\u200d👧"  # one grapheme, five code points
    rtl = "\u202eمرحبا بالعالم שלום\u200f"
    odd = [
        "字" * 100_000,
        family * 10,
        rtl,
        "before\x00after",
        "half an emoji \ud83d here",
        "a pair \ud83d\ude00 written as surrogates",
        "",
        None,
    ]
    rows = [msg("a", i, text=t) for i, t in enumerate(odd)]
    rows.append(ActivityRow(ROOM, "a", "message", at(9), "k" * 100, "m" * 500, "long ids"))
    await store.repo.record_activity(rows)
    texts = await _texts(store)
    assert texts[0] == "字" * 2000
    assert texts[1] == family * 10
    assert texts[2] == rtl
    assert texts[3] == "beforeafter"
    assert texts[4] == "half an emoji \ufffd here"
    assert texts[5] == "a pair 😀 written as surrogates"
    assert texts[6:] == ["", None, "long ids"]
    newest = (await store.repo.recent_activity(limit=1))[0]
    assert (newest.message_id, newest.message_kind) == ("m" * 128, "k" * 32)

    short = Repository(store.sessions, max_text_length=5)
    await short.record_activity([msg("b", 1, text=family * 3), msg("b", 2, text="x" * 10)])
    assert (await _texts(store))[-2:] == [family[:5], "xxxxx"]
    with pytest.raises(ValueError):
        Repository(store.sessions, max_text_length=0)


def test_clean_text() -> None:
    assert clean_text("abc") == "abc"
    assert clean_text("abcdef", 3) == "abc"
    assert clean_text("\x00" * 10 + "abc", 3) == "abc"
    assert clean_text("\udc00x") == "\ufffdx"
    assert clean_text("😀" * 4, 2) == "😀😀"


# -- groups and contacts ----------------------------------------------------


async def test_groups(store: Store) -> None:
    repo = store.repo
    await repo.upsert_group(ROOM, "读书会", "super", at(0))
    g = await repo.get_group(ROOM)
    assert g is not None
    assert (g.topic, g.profile, g.bot_role, g.joined_at, g.left_at) == (
        "读书会",
        "super",
        "unknown",
        at(0),
        None,
    )
    assert await repo.set_bot_role(ROOM, "admin")
    assert not await repo.set_bot_role("nope@chatroom", "admin")
    await repo.upsert_group(ROOM, "读书会 2群", "member", at(5))
    g = await repo.get_group(ROOM)
    assert g is not None
    assert (g.topic, g.profile, g.bot_role, g.joined_at, g.updated_at) == (
        "读书会 2群",
        "member",
        "admin",
        at(0),
        at(5),
    )
    await repo.upsert_group(ROOM, None, "member", at(6))  # topic unknown: kept
    g = await repo.get_group(ROOM)
    assert g is not None and g.topic == "读书会 2群"
    await repo.upsert_group(ROOM2, None, "flash", at(6))
    g2 = await repo.get_group(ROOM2)
    assert g2 is not None and g2.topic == ""
    assert await repo.mark_group_left(ROOM2, at(7))
    assert await repo.mark_group_left(ROOM, at(10))
    assert not await repo.mark_group_left(ROOM, at(11))
    g = await repo.get_group(ROOM)
    assert g is not None and g.left_at == at(10)
    assert await repo.active_groups() == []
    await repo.upsert_group(ROOM, "读书会", "member", at(20))  # the bot is back
    g = await repo.get_group(ROOM)
    assert g is not None and (g.joined_at, g.left_at) == (at(20), None)
    assert [x.room_id for x in await repo.active_groups()] == [ROOM]
    await repo.upsert_group(ROOM2, "x", "vip", at())  # an operator's profile is stored as is
    g2 = await repo.get_group(ROOM2)
    assert g2 is not None and g2.profile == "vip"
    with pytest.raises(ValueError, match="profile"):
        await repo.upsert_group(ROOM2, "x", "", at())
    with pytest.raises(ValueError, match="role"):
        await repo.set_bot_role(ROOM, "king")


async def test_contacts(store: Store) -> None:
    repo = store.repo
    assert await repo.upsert_contacts([("a", "Ann"), ("b", "Bo"), ("a", "Anna")], at(0)) == 2
    assert await repo.contact_name("a") == "Anna"
    await repo.upsert_contacts([("a", "Anna"), ("b", "Bob 🐟")], at(5))
    assert await repo.contact_name("b") == "Bob 🐟"
    async with store.sessions() as session:
        stamps = dict((await session.execute(select(Contact.contact_id, Contact.updated_at))).all())
    assert stamps == {"a": at(0), "b": at(5)}  # an unchanged name is not rewritten
    assert await repo.upsert_contacts([], at(6)) == 0


# -- memberships ------------------------------------------------------------


async def test_join_leave_rejoin(store: Store) -> None:
    repo = store.repo
    first = await repo.record_join(ROOM, "a", at(0), None)
    assert (first.join_count, first.changed, first.present, first.is_rejoin) == (
        1,
        True,
        True,
        False,
    )
    assert first.role == "member" and first.inviter_id is None

    dup = await repo.record_join(ROOM, "a", at(1), "inv1")  # reconcile saw it too
    assert (dup.changed, dup.join_count, dup.joined_at, dup.inviter_id) == (False, 1, at(0), "inv1")
    assert await repo.mark_welcomed(ROOM, ["a"], at(2)) == 1
    assert await repo.mark_welcomed(ROOM, ["a"], at(3)) == 0  # first welcome wins
    assert await repo.mark_reminded(ROOM, "a", at(4))
    assert await repo.current_members(ROOM) == {"a"}

    assert await repo.record_leave(ROOM, "a", at(10), "admin1")
    assert not await repo.record_leave(ROOM, "a", at(11), None)  # already gone
    assert not await repo.record_leave(ROOM, "ghost", at(11), None)
    gone = await repo.get_membership(ROOM, "a")
    assert gone is not None
    assert (gone.left_at, gone.remover_id, gone.present) == (at(10), "admin1", False)
    assert await repo.current_members(ROOM) == set()
    assert await repo.mark_welcomed(ROOM, ["a"], at(12)) == 0  # not present

    back = await repo.record_join(ROOM, "a", at(30), "inv2")
    assert back.changed and back.is_rejoin
    assert (back.joined_at, back.inviter_id, back.join_count) == (at(30), "inv2", 2)
    assert (back.left_at, back.remover_id, back.welcomed_at, back.reminded_at) == (
        None,
        None,
        None,
        None,
    )
    assert await repo.get_membership(ROOM, "a") == back
    assert await repo.current_members(ROOM) == {"a"}
    assert await repo.current_members(ROOM2) == set()
    assert await repo.get_membership(ROOM2, "a") is None


async def test_concurrent_duplicate_joins_make_one_row(store: Store) -> None:
    results = await asyncio.gather(
        *(store.repo.record_join(ROOM, "a", at(i), None) for i in range(4))
    )
    assert sorted(r.changed for r in results) == [False, False, False, True]
    assert {r.join_count for r in results} == {1}


async def _scenario(store: Store) -> datetime:
    """Members in every state the reminder and lurker queries must tell apart."""
    repo = store.repo
    now = at(days=30)
    old, recent = now - timedelta(days=20), now - timedelta(days=2)
    await repo.upsert_group(ROOM, "群", "member", at(0))
    await repo.upsert_group(ROOM2, "群2", "member", at(0))
    joins = {
        "silent": old,  # never spoke
        "spoke_long_ago": old,  # spoke 15 days ago
        "spoke_lately": old,  # spoke yesterday
        "spoke_before_join": old,  # spoke only before (re)joining
        "newcomer": recent,  # joined 2 days ago, silent
        "left": old,  # silent, then left
        "admin": old,  # silent admin
        "unwelcomed": old,  # never welcomed (e.g. the welcome failed)
        "reminded": old,  # already reminded
    }
    for who, when in joins.items():
        await repo.record_join(ROOM, who, when, None)
    await repo.record_join(ROOM2, "elsewhere", old, None)  # a room the bot leaves
    await repo.mark_welcomed(ROOM, [w for w in joins if w != "unwelcomed"], old + timedelta(1))
    await repo.mark_welcomed(ROOM2, ["elsewhere"], old)
    await repo.mark_reminded(ROOM, "reminded", old + timedelta(days=1))
    await repo.record_leave(ROOM, "left", now - timedelta(days=1), None)
    await repo.set_member_role(ROOM, "admin", "admin")
    await repo.mark_group_left(ROOM2, now - timedelta(days=1))
    await repo.record_activity(
        [
            ActivityRow(ROOM, "spoke_long_ago", "message", now - timedelta(days=15)),
            ActivityRow(ROOM, "spoke_lately", "message", now - timedelta(days=1)),
            ActivityRow(ROOM, "spoke_before_join", "message", old - timedelta(days=1)),
            ActivityRow(ROOM, "silent", "join", old),  # joins are not speaking
            ActivityRow(ROOM2, "silent", "message", now),  # another room
        ]
    )
    return now


async def test_due_for_reminder(store: Store) -> None:
    repo = store.repo
    now = await _scenario(store)
    due = await repo.due_for_reminder(now, timedelta(days=3))
    assert due == [(ROOM, "admin"), (ROOM, "silent"), (ROOM, "spoke_before_join")]
    # The newcomer becomes due once enough time has passed.
    assert (ROOM, "newcomer") in await repo.due_for_reminder(now, timedelta(days=2))
    assert (ROOM, "newcomer") not in await repo.due_for_reminder(now, timedelta(days=2, seconds=1))

    assert await repo.mark_reminded(ROOM, "silent", now)
    assert not await repo.mark_reminded(ROOM, "silent", now)  # once only
    assert not await repo.mark_reminded(ROOM, "left", now)
    assert (ROOM, "silent") not in await repo.due_for_reminder(now, timedelta(days=3))

    # Speaking after joining takes a member off the list.
    await repo.record_activity([ActivityRow(ROOM, "spoke_before_join", "message", now)])
    assert await repo.due_for_reminder(now, timedelta(days=3)) == [(ROOM, "admin")]


async def test_lurkers(store: Store) -> None:
    repo = store.repo
    now = await _scenario(store)
    since = now - timedelta(days=7)
    lurkers = await repo.lurkers(ROOM, since)
    # Never spoke first (by id), then longest silent.
    assert lurkers == [
        "reminded",
        "silent",
        "unwelcomed",
        "spoke_before_join",
        "spoke_long_ago",
    ]
    assert "admin" in await repo.lurkers(ROOM, since, include_admins=True)
    assert await repo.lurkers(ROOM2, since) == ["elsewhere"]
    assert await repo.lurkers("nope@chatroom", since) == []
    # With a 16-day window, the member who spoke 15 days ago is no lurker.
    assert "spoke_long_ago" not in await repo.lurkers(ROOM, now - timedelta(days=16))


# -- audit and connection logs ----------------------------------------------


async def test_audit_rows(store: Store) -> None:
    repo = store.repo
    first = await repo.write_audit(
        at=at(0),
        action="say",
        kind="message",
        status="done",
        room_id=ROOM,
        key="k1",
        reason="欢迎新人",
        detail={"text": "欢迎 @小王 😀", "when": at(0), "n": 1},
    )
    second = await repo.write_audit(
        at=at(1),
        action="remove_member",
        kind="remove",
        status="failed",
        room_id=ROOM,
        target_id="spammer",
        key="k2",
        reason="ad",
        error="Timeout\x00: puppet did not answer",
    )
    await repo.write_audit(at=at(2), action="say", kind="message", status="dry_run", room_id=ROOM2)
    assert second > first

    entries = await repo.recent_audit(10)
    assert [e.status for e in entries] == ["dry_run", "failed", "done"]
    newest, failed, done = entries
    assert (newest.room_id, newest.key, newest.reason, newest.detail) == (ROOM2, None, "", {})
    assert (failed.target_id, failed.error, failed.at) == (
        "spammer",
        "Timeout: puppet did not answer",
        at(1),
    )
    assert done.detail == {"text": "欢迎 @小王 😀", "when": str(at(0)), "n": 1}
    assert [e.id for e in await repo.recent_audit(1)] == [newest.id]
    assert [e.key for e in await repo.recent_audit(key="k1")] == ["k1"]
    assert len(await repo.recent_audit(room_id=ROOM)) == 2
    with pytest.raises(ValueError, match="status"):
        await repo.write_audit(at=at(3), action="say", kind="message", status="ok")


async def test_connection_log(store: Store) -> None:
    await store.repo.log_connection("login", "wxid_bot", at(0), "padlocal")
    await store.repo.log_connection("disconnect", "wxid_bot", at(5))
    async with store.sessions() as session:
        rows = (await session.execute(select(ConnectionLog).order_by(ConnectionLog.id))).scalars()
        got = [(r.event, r.wechat_id, r.at, r.detail) for r in rows]
    assert got == [("login", "wxid_bot", at(0), "padlocal"), ("disconnect", "wxid_bot", at(5), "")]
    with pytest.raises(ValueError, match="event"):
        await store.repo.log_connection("crash", "wxid_bot", at(6))


async def test_group_rows_are_not_needed_for_activity(store: Store) -> None:
    # No foreign keys: a message from a room or sender not yet recorded lands.
    await store.repo.record_activity([msg("stranger", 1, room="unknown@chatroom")])
    assert await store.repo.get_group("unknown@chatroom") is None
    assert await store.repo.count_activity("unknown@chatroom") == 1


async def test_status_report(store: Store) -> None:
    repo = store.repo
    empty = await repo.status_report()
    assert empty["groups"] == [] and empty["last_connection"] is None
    assert empty["totals"] == {
        "groups_active": 0,
        "members_present": 0,
        "activity_events": 0,
        "messages": 0,
    }
    await repo.upsert_group(ROOM, "群", "member", at(0))
    await repo.upsert_group(ROOM2, "群2", "flash", at(0))
    await repo.mark_group_left(ROOM2, at(1))
    for who in ("a", "b", "c"):
        await repo.record_join(ROOM, who, at(1), None)
    await repo.record_leave(ROOM, "c", at(2), None)
    await repo.record_activity([msg("a", 3), msg("a", 4), ActivityRow(ROOM, "b", "join", at(1))])
    await repo.write_audit(at=at(5), action="say", kind="message", status="done", room_id=ROOM)
    await repo.log_connection("login", "wxid_bot", at(0))
    report = await repo.status_report()
    assert report["totals"] == {
        "groups_active": 1,
        "members_present": 2,
        "activity_events": 3,
        "messages": 2,
    }
    assert [(g["room_id"], g["members"], g["present"]) for g in report["groups"]] == [
        (ROOM, 2, True),
        (ROOM2, 0, False),
    ]
    assert report["audit_by_status"] == {"done": 1}
    assert report["recent_audit"][0]["action"] == "say"

    # another account sharing the database counts only its own group
    other = Repository(store.sessions, account_id="wxid_other_bot")
    await other.upsert_group("other@chatroom", "别的群", "member", at(0))
    await other.record_join("other@chatroom", "z", at(1), None)
    await other.record_activity([msg("z", 2, room="other@chatroom")])
    theirs = await other.status_report()
    assert theirs["totals"] == {
        "groups_active": 1,
        "members_present": 1,
        "activity_events": 1,
        "messages": 1,
    }
    assert (await repo.status_report())["totals"] == report["totals"]
    assert report["last_connection"]["event"] == "login"
    json.dumps(report, ensure_ascii=False)  # JSON-ready as it is
