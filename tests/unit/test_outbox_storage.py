"""Outbox storage contract tests, run on every backend.

A SQLite file in ``tmp_path`` always; PostgreSQL too when
``QUNBOT_TEST_PG_URL`` names a server (``postgresql+asyncpg://…``), each test
in a schema of its own, dropped afterwards (as in ``test_storage``).
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import (
    alembic_config,
    current_revision,
    head_revision,
    session_factory,
    upgrade,
)
from storage.models import Base, Outbox
from storage.repo import Repository
from storage.types import NewOutboxItem, OutboxItem
from tests.unit.conftest import Store

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))
ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"


def at(minutes: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes)


def naive() -> datetime:
    return datetime(2026, 1, 5, 9, 0)  # noqa: DTZ001 - the point of the test


def item(
    key: str,
    minutes: float = 0,
    *,
    action: str = "say",
    kind: str = "message",
    room_id: str | None = ROOM,
    priority: int = 0,
    not_after: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> NewOutboxItem:
    return NewOutboxItem(
        key=key,
        action=action,
        payload={"room_id": room_id, "text": f"text of {key}"} if payload is None else payload,
        kind=kind,
        room_id=room_id,
        priority=priority,
        created_at=at(minutes),
        not_after=not_after,
    )


async def get(store: Store, key: str) -> OutboxItem:
    got = await store.repo.outbox_get(key)
    assert got is not None, key
    return got


# -- migration --------------------------------------------------------------


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _check_constraints(conn: Connection) -> set[tuple[str, str]]:
    inspector = inspect(conn)
    return {
        (table, str(ck["name"]))
        for table in inspector.get_table_names()
        for ck in inspector.get_check_constraints(table)
    }


def _unique_constraints(conn: Connection) -> set[tuple[str, str]]:
    inspector = inspect(conn)
    return {
        (table, str(uq["name"]))
        for table in inspector.get_table_names()
        for uq in inspector.get_unique_constraints(table)
    }


def _downgrade(conn: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.downgrade(config, revision)


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migrations_keep_data_from_0001_and_end_equal_to_the_models(
    engine: AsyncEngine,
) -> None:
    await upgrade(engine, "0001")
    assert await current_revision(engine) == "0001"
    async with engine.begin() as conn:  # a group stored before accounts and the outbox
        await conn.execute(
            text(
                "INSERT INTO groups (room_id, topic, tier, bot_role, joined_at, updated_at) "
                "VALUES (:r, '群', 'member', 'unknown', :t, :t)"
            ),
            {"r": ROOM, "t": at()},
        )
        assert "outbox" not in await conn.run_sync(_tables)

    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
        checks = await conn.run_sync(_check_constraints)
        uniques = await conn.run_sync(_unique_constraints)
    assert checks == {
        (table.name, str(c.name))
        for table in Base.metadata.sorted_tables
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }
    assert ("outbox", "uq_outbox_account_id_key") in uniques
    repo = Repository(session_factory(engine))  # the default account: rows from before
    assert await repo.get_group(ROOM) is not None
    assert await repo.outbox_add([item("k1")]) == ["k1"]

    # Down and up again.
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, "0001")
    assert await current_revision(engine) == "0001"
    async with engine.connect() as conn:
        assert "outbox" not in await conn.run_sync(_tables)
    await upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
    assert await repo.get_group(ROOM) is not None
    assert await repo.outbox_get("k1") is None


async def test_the_database_refuses_a_bad_status_and_a_duplicate_key(store: Store) -> None:
    await store.repo.outbox_add([item("k1")])
    row = {
        "account_id": store.repo.account_id,
        "key": "k2",
        "action": "say",
        "payload": "{}",
        "kind": "message",
        "priority": 0,
        "status": "sent",
        "created_at": at(),
        "updated_at": at(),
    }
    for values in (row, {**row, "key": "k1", "status": "pending"}):
        async with store.sessions() as session:
            with pytest.raises(IntegrityError):
                await session.execute(insert(Outbox).values(**values))
    # attempts has a server default.
    async with store.sessions.begin() as session:
        await session.execute(insert(Outbox).values(**{**row, "status": "pending"}))
    assert (await get(store, "k2")).attempts == 0


# -- add --------------------------------------------------------------------


async def test_add_is_idempotent_by_key(store: Store) -> None:
    repo = store.repo
    deadline = at(60)
    assert await repo.outbox_add([item("a", 1, not_after=deadline), item("b", 2)]) == ["a", "b"]
    # Known keys are ignored (even with other contents); a repeat in a batch too.
    again = [item("b", 9, action="remove_member"), item("c", 3), item("c", 4), item("a", 5)]
    assert await repo.outbox_add(again) == ["c"]
    assert await repo.outbox_add([]) == []
    assert await repo.outbox_add([item("a"), item("b")]) == []

    a = await get(store, "a")
    assert (a.key, a.action, a.kind, a.room_id, a.priority) == ("a", "say", "message", ROOM, 0)
    assert (a.status, a.attempts, a.created_at, a.updated_at, a.not_after) == (
        "pending",
        0,
        at(1),
        at(1),
        deadline,
    )
    assert (a.executed_at, a.result, a.error) == (None, None, None)
    assert a.payload == {"room_id": ROOM, "text": "text of a"}
    b = await get(store, "b")
    assert (b.action, b.created_at, b.not_after) == ("say", at(2), None)
    c = await get(store, "c")
    assert c.created_at == at(3)  # the first of the batch's repeats won
    assert await repo.outbox_get("nope") is None
    assert await repo.outbox_counts() == {"message": {"pending": 3}}


async def test_concurrent_adds_of_one_key_add_it_once(store: Store) -> None:
    results = await asyncio.gather(*(store.repo.outbox_add([item("k", i)]) for i in range(6)))
    assert sorted(map(len, results)) == [0, 0, 0, 0, 0, 1]
    assert await store.repo.outbox_counts() == {"message": {"pending": 1}}


async def test_new_items_are_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        NewOutboxItem(
            key="k",
            action="say",
            payload={},
            kind="message",
            room_id=None,
            priority=0,
            created_at=naive(),
        )
    with pytest.raises(ValueError, match="naive"):
        item("k", not_after=naive())
    with pytest.raises(ValueError, match="key"):
        item("")
    with pytest.raises(ValueError, match="key"):
        item("k" * 201)
    with pytest.raises(ValueError, match="action"):
        item("k", action="")
    with pytest.raises(ValueError, match="kind"):
        item("k", kind="x" * 65)
    with pytest.raises(TypeError, match="priority"):
        item("k", priority=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="payload"):
        item("k", payload=["not", "a", "dict"])  # type: ignore[arg-type]
    long_key = "键" * 200  # 200 characters is the limit, whatever the bytes
    assert await store.repo.outbox_add([item(long_key)]) == [long_key]
    assert (await get(store, long_key)).key == long_key


async def test_naive_datetimes_are_refused(store: Store) -> None:
    repo = store.repo
    await repo.outbox_add([item("a")])
    with pytest.raises(ValueError, match="naive"):
        await repo.outbox_claim("a", naive())
    with pytest.raises(ValueError, match="naive"):
        await repo.outbox_finish("a", "done", naive())
    with pytest.raises(ValueError, match="naive"):
        await repo.outbox_pending(naive())
    with pytest.raises(ValueError, match="naive"):
        await repo.outbox_expire(naive())
    with pytest.raises(ValueError, match="naive"):
        await repo.outbox_mark_in_doubt(naive())
    a = await get(store, "a")
    assert (a.status, a.attempts, a.updated_at) == ("pending", 0, at())


# -- payload ----------------------------------------------------------------


async def _raw_payload(store: Store, key: str) -> str:
    async with store.sessions() as session:
        stmt = select(Outbox.payload).where(Outbox.key == key)
        return str((await session.execute(stmt)).scalar_one())


async def test_payload_round_trips_unicode_and_json_values(store: Store) -> None:
    family = "👨\u200d👩\u200d👧"
    payload: dict[str, Any] = {
        "text": "欢迎 @小王 加入读书会！😀",
        "family": family,
        "rtl": "\u202eمرحبا שלום\u200f",
        "nul": "before\x00after",
        "quote": 'say "hi" \\ back\nnext line',
        "mentions": ["wxid_a", "wxid_b"],
        "nested": {"n": 1, "big": 2**62, "x": 0.1, "ok": True, "none": None, "empty": []},
        "键": "value under a Chinese key",
    }
    await store.repo.outbox_add([item("u", payload=payload)])
    assert (await get(store, "u")).payload == payload
    raw = await _raw_payload(store, "u")
    assert "欢迎 @小王" in raw and "\x00" not in raw  # readable, and NUL-free for PostgreSQL

    # A lone surrogate (half an emoji) cannot be encoded: stored escaped, read back as given.
    odd = {"text": "half an emoji \ud83d here"}
    await store.repo.outbox_add([item("s", payload=odd)])
    assert (await get(store, "s")).payload == odd
    assert "\\ud83d" in await _raw_payload(store, "s")


async def test_payload_must_be_plain_json(store: Store) -> None:
    with pytest.raises(ValueError, match="JSON"):
        await store.repo.outbox_add([item("ok"), item("d", payload={"when": at()})])
    with pytest.raises(ValueError, match="JSON"):
        await store.repo.outbox_add([item("n", payload={"x": math.nan})])
    assert await store.repo.outbox_counts() == {}  # nothing of either batch was written


# -- claim and finish -------------------------------------------------------


async def test_claim_is_exclusive(store: Store) -> None:
    repo = store.repo
    await repo.outbox_add([item("a"), item("b")])
    assert await repo.outbox_claim("a", at(1))
    assert not await repo.outbox_claim("a", at(2))
    assert not await repo.outbox_claim("nope", at(2))
    a = await get(store, "a")
    assert (a.status, a.attempts, a.updated_at, a.executed_at) == ("sending", 1, at(1), None)

    claims = await asyncio.gather(*(repo.outbox_claim("b", at(3)) for _ in range(8)))
    assert sorted(claims) == [False] * 7 + [True]
    b = await get(store, "b")
    assert (b.status, b.attempts) == ("sending", 1)


async def test_finish(store: Store) -> None:
    repo = store.repo
    keys = ["done", "failed", "dry", "refused", "skipped", "doubt", "late"]
    await repo.outbox_add([item(k, i) for i, k in enumerate(keys)])
    for k in ("done", "failed", "dry", "doubt"):
        assert await repo.outbox_claim(k, at(10))

    assert await repo.outbox_finish("done", "done", at(11), result="msg-123")
    done = await get(store, "done")
    assert (done.status, done.executed_at, done.updated_at, done.result, done.error) == (
        "done",
        at(11),
        at(11),
        "msg-123",
        None,
    )
    assert done.attempts == 1
    # Finished is final: no second finish, no claim, nothing overwritten.
    assert not await repo.outbox_finish("done", "failed", at(12), error="late")
    assert not await repo.outbox_claim("done", at(12))
    assert await get(store, "done") == done

    assert await repo.outbox_finish("failed", "failed", at(12), error="Timeout\x00: no answer")
    failed = await get(store, "failed")
    assert (failed.status, failed.executed_at, failed.error) == (
        "failed",
        at(12),
        "Timeout: no answer",
    )
    assert await repo.outbox_finish("dry", "dry_run", at(13), result="would say it")
    assert (await get(store, "dry")).executed_at == at(13)
    # The outcome of a call can be unknown (e.g. a timeout): in doubt, never resent.
    assert await repo.outbox_finish("doubt", "in_doubt", at(13), error="timeout")
    assert ((await get(store, "doubt")).status, (await get(store, "doubt")).executed_at) == (
        "in_doubt",
        None,
    )

    # Straight from pending (never claimed): refused or skipped, never executed.
    assert await repo.outbox_finish("refused", "refused", at(14), error="rate limited")
    assert await repo.outbox_finish("skipped", "skipped", at(14))
    for k, status in (("refused", "refused"), ("skipped", "skipped")):
        got = await get(store, k)
        assert (got.status, got.attempts, got.executed_at, got.updated_at) == (
            status,
            0,
            None,
            at(14),
        )
    assert not await repo.outbox_claim("refused", at(15))

    for bad in ("pending", "sending", "sent"):
        with pytest.raises(ValueError, match="status"):
            await repo.outbox_finish("late", bad, at(15))
    assert not await repo.outbox_finish("nope", "done", at(15))
    assert (await get(store, "late")).status == "pending"
    assert [i.key for i in await repo.outbox_pending()] == ["late"]


# -- crash recovery and deadlines -------------------------------------------


async def test_sending_rows_become_in_doubt(store: Store) -> None:
    repo = store.repo
    await repo.outbox_add([item("c", 3), item("a", 1), item("b", 2), item("d", 4)])
    for k in ("b", "a", "d"):
        assert await repo.outbox_claim(k, at(10))
    assert await repo.outbox_finish("d", "done", at(11))
    # The bot dies here; at start-up:
    doubtful = await repo.outbox_mark_in_doubt(at(20))
    assert [(i.key, i.status, i.attempts, i.updated_at) for i in doubtful] == [
        ("a", "in_doubt", 1, at(20)),
        ("b", "in_doubt", 1, at(20)),
    ]
    assert doubtful[0] == await get(store, "a")
    assert await repo.outbox_mark_in_doubt(at(21)) == []
    # Never resent, never finished over.
    assert not await repo.outbox_claim("a", at(22))
    assert not await repo.outbox_finish("a", "done", at(22))
    assert [i.key for i in await repo.outbox_pending()] == ["c"]
    assert (await get(store, "d")).status == "done"

    # Without a time, updated_at stays the claim's.
    assert await repo.outbox_claim("c", at(30))
    [c] = await repo.outbox_mark_in_doubt()
    assert (c.key, c.status, c.updated_at) == ("c", "in_doubt", at(30))


async def test_expiry(store: Store) -> None:
    repo = store.repo
    await repo.outbox_add(
        [
            item("soon", 1, not_after=at(10)),
            item("later", 2, not_after=at(20)),
            item("forever", 3),
            item("sending", 4, not_after=at(5)),
            item("refused", 5, not_after=at(5)),
        ]
    )
    assert await repo.outbox_claim("sending", at(4))
    assert await repo.outbox_finish("refused", "refused", at(4))

    assert await repo.outbox_expire(at(10)) == []  # exactly at the deadline: still valid
    assert [i.key for i in await repo.outbox_pending(at(10))] == ["soon", "later", "forever"]
    # Past it, pending() with a time leaves it out even before expire() ran.
    assert [i.key for i in await repo.outbox_pending(at(15))] == ["later", "forever"]
    assert [i.key for i in await repo.outbox_pending()] == ["soon", "later", "forever"]

    # The same instant written at +08:00.
    now = datetime(2026, 1, 5, 9, 15, tzinfo=CST)
    expired = await repo.outbox_expire(now)
    assert [(i.key, i.status, i.updated_at, i.executed_at) for i in expired] == [
        ("soon", "expired", at(15), None)
    ]
    assert await repo.outbox_expire(now) == []
    assert not await repo.outbox_claim("soon", at(16))
    assert not await repo.outbox_finish("soon", "done", at(16))

    expired = await repo.outbox_expire(at(24 * 60))
    assert [i.key for i in expired] == ["later"]  # not the one in flight, nor the finished one
    assert (await get(store, "sending")).status == "sending"
    assert (await get(store, "refused")).status == "refused"
    assert [i.key for i in await repo.outbox_pending(at(24 * 60))] == ["forever"]


async def test_pending_is_oldest_first(store: Store) -> None:
    repo = store.repo
    await repo.outbox_add([item("t5", 5), item("t1", 1), item("t3a", 3, priority=9)])
    await repo.outbox_add([item("t3b", 3), item("t0", 0), item("t9", 9)])
    assert await repo.outbox_claim("t9", at(10))
    assert await repo.outbox_finish("t0", "skipped", at(10))
    pending = await repo.outbox_pending()
    # By creation time; ties in the order they were added.
    assert [i.key for i in pending] == ["t1", "t3a", "t3b", "t5"]
    assert all(i.status == "pending" for i in pending)
    assert pending[1].priority == 9


# -- counts and the status report -------------------------------------------


async def test_counts_and_status_report(store: Store) -> None:
    repo = store.repo
    assert await repo.outbox_counts() == {}
    empty = await repo.status_report()
    assert (empty["outbox"], empty["outbox_pending"], empty["outbox_in_doubt"]) == ({}, 0, 0)
    assert empty["recent_connections"] == [] and empty["last_connection"] is None

    await repo.outbox_add(
        [
            item("m1", 1),
            item("m2", 2),
            item("m3", 3),
            item("r1", 4, action="remove_member", kind="remove", room_id=ROOM2),
            item("r2", 5, action="remove_member", kind="remove"),
            item("x1", 6, action="accept_invitation", kind="rich", room_id=None),
        ]
    )
    assert await repo.outbox_claim("m1", at(10))
    assert await repo.outbox_finish("m1", "done", at(11))
    assert await repo.outbox_claim("m2", at(10))
    await repo.outbox_mark_in_doubt(at(12))
    assert await repo.outbox_finish("r1", "refused", at(12))
    counts = {
        "message": {"done": 1, "in_doubt": 1, "pending": 1},
        "remove": {"pending": 1, "refused": 1},
        "rich": {"pending": 1},
    }
    assert await repo.outbox_counts() == counts

    for i in range(12):
        event = "disconnect" if i % 2 else "reconnect"
        await repo.log_connection(event, "wxid_bot", at(20 + i), f"#{i}")
    report = await repo.status_report()
    assert report["outbox"] == counts
    assert (report["outbox_pending"], report["outbox_in_doubt"]) == (3, 1)
    recent = report["recent_connections"]
    assert [c["detail"] for c in recent] == [f"#{i}" for i in range(11, 1, -1)]
    assert recent[0] == report["last_connection"]
    assert recent[0] == {
        "event": "disconnect",
        "account_id": repo.account_id,
        "wechat_id": "wxid_bot",
        "at": at(31).isoformat(),
        "detail": "#11",
    }
    short = await repo.status_report(recent=0)
    assert short["recent_connections"] == [] and short["last_connection"]["detail"] == "#11"
