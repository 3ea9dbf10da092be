"""Invites' records on SQLite and PostgreSQL alike, scoped by account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import alembic_config, current_revision, session_factory, upgrade
from storage.invites import InviteStore, JoinRow
from storage.models import InviteRequest
from tests.unit.conftest import Store

AT = datetime(2026, 1, 5, 1, 10, tzinfo=UTC)
DAY = timedelta(hours=24)
ROOM = "r1@chatroom"


def _store(store: Store, account: str = "default") -> InviteStore:
    return InviteStore(store.sessions, account_id=account)


def _join(member: str, minutes: float, paced: bool = True) -> JoinRow:
    return JoinRow(ROOM, member, AT + timedelta(minutes=minutes), "wxid_a", paced, "allow", "ok")


async def test_an_approved_request_matches_the_invitee_by_id_or_by_name(store: Store) -> None:
    inv = _store(store)
    by_name = await inv.request(ROOM, "wxid_a", None, "Ada Lee", AT, AT + DAY)
    by_id = await inv.request(ROOM, "wxid_a", "wxid_d", "阿丁", AT, AT + DAY)
    for n in (by_name, by_id):
        assert await inv.decide(n, True, "wxid_admin", AT, approved_until=AT + DAY)
    found = await inv.find_approval(ROOM, "wxid_x", "ada  LEE", AT)
    assert found is not None and found.id == by_name
    found = await inv.find_approval(ROOM, "wxid_d", "someone else", AT)
    assert found is not None and found.id == by_id
    assert await inv.find_approval(ROOM, "wxid_y", "阿丁", AT) is None  # named an id
    assert await inv.find_approval("r2@chatroom", "wxid_d", "阿丁", AT) is None


async def test_ids_win_over_names(store: Store) -> None:
    inv = _store(store)
    name = await inv.request(ROOM, "wxid_a", None, "阿丁", AT, AT + DAY)
    ident = await inv.request(ROOM, "wxid_b", "wxid_d", "阿丁", AT, AT + DAY)
    for n in (name, ident):
        await inv.decide(n, True, "wxid_admin", AT, approved_until=AT + DAY)
    found = await inv.find_approval(ROOM, "wxid_d", "阿丁", AT)
    assert found is not None and found.id == ident


async def test_an_approval_is_used_once_and_lapses(store: Store) -> None:
    inv = _store(store)
    n = await inv.request(ROOM, "wxid_a", None, "阿丁", AT, AT + DAY)
    await inv.decide(n, True, "wxid_admin", AT, approved_until=AT + timedelta(hours=2))
    assert await inv.find_approval(ROOM, "wxid_d", "阿丁", AT + timedelta(hours=3)) is None
    assert await inv.use(n, "wxid_d", AT)
    assert not await inv.use(n, "wxid_e", AT)
    state = await inv.get(n)
    assert state is not None and state.status == "used" and state.used_by == "wxid_d"


async def test_a_lapsed_or_answered_request_cannot_be_decided(store: Store) -> None:
    inv = _store(store)
    n = await inv.request(ROOM, "wxid_a", None, "阿丁", AT, AT + DAY)
    assert await inv.decide(n, False, "wxid_admin", AT + DAY) is None  # lapsed
    state = await inv.get(n)
    assert state is not None and state.lapsed(AT + DAY)
    declined = await inv.decide(n, False, "wxid_admin", AT)
    assert declined is not None and declined.status == "declined"
    assert await inv.decide(n, True, "wxid_admin", AT, approved_until=AT + DAY) is None


async def test_another_account_sees_none_of_the_requests(store: Store) -> None:
    n = await _store(store).request(ROOM, "wxid_a", None, "阿丁", AT, AT + DAY)
    other = _store(store, "other")
    assert await other.get(n) is None
    assert await other.decide(n, True, "x", AT, approved_until=AT + DAY) is None
    await _store(store).decide(n, True, "wxid_admin", AT, approved_until=AT + DAY)
    assert await other.find_approval(ROOM, "wxid_d", "阿丁", AT) is None


async def test_the_pace_counts_paced_joins_once_within_the_window(store: Store) -> None:
    inv = _store(store)
    rows = [_join("m1", 0), _join("m2", 10), _join("m3", 20, paced=False), _join("m4", 70)]
    assert await inv.record_joins(rows) == 4
    assert await inv.record_joins(rows[:2]) == 0  # a replay
    since = AT + timedelta(minutes=5)
    assert await inv.paced_joins(ROOM, since) == 2  # m2, m4
    later = rows[3].at
    assert await inv.paced_joins(ROOM, since, besides=["m4"], at=later) == 1
    assert await _store(store, "other").paced_joins(ROOM, AT) == 0
    assert await inv.prune_joins(since) == 1
    assert await inv.paced_joins(ROOM, AT) == 2


async def test_a_lock_is_new_once_until_it_ends(store: Store) -> None:
    inv = _store(store)
    hour = timedelta(hours=1)
    assert await inv.locked_until(ROOM, AT) is None
    assert await inv.lock(ROOM, AT, AT + hour)
    assert not await inv.lock(ROOM, AT + hour / 2, AT + hour)
    assert await inv.locked_until(ROOM, AT + hour / 2) == AT + hour
    assert await inv.locked_until(ROOM, AT + hour) is None
    assert await _store(store, "other").locked_until(ROOM, AT) is None
    assert await inv.lock(ROOM, AT + 2 * hour, AT + 3 * hour)  # a new raid
    assert await inv.unlock(ROOM, AT + 2 * hour)
    assert await inv.locked_until(ROOM, AT + 2 * hour) is None
    assert await inv.lock_ended(ROOM, AT + 2 * hour) == AT + 2 * hour  # the pace counts from here
    assert not await inv.unlock(ROOM, AT + 2 * hour)  # nothing left to end


# -- lapses -------------------------------------------------------------------

HOUR = timedelta(hours=1)


async def test_requests_past_their_time_are_due_and_closed_once(store: Store) -> None:
    inv = _store(store)
    waiting = await inv.request(ROOM, "wxid_a", None, "阿丁", AT, AT + DAY)
    approved = await inv.request(ROOM, "wxid_b", None, "阿戊", AT, AT + DAY)
    await inv.decide(approved, True, "wxid_admin", AT, approved_until=AT + 2 * HOUR)
    assert await inv.due(AT + HOUR) == []
    assert [r.id for r in await inv.due(AT + 2 * HOUR)] == [approved]
    assert [r.id for r in await inv.due(AT + DAY)] == [waiting, approved]
    assert await _store(store, "other").due(AT + DAY) == []
    assert not await _store(store, "other").close(waiting, "pending", AT + DAY)

    assert not await inv.close(waiting, "pending", AT + HOUR)  # not yet past its time
    assert not await inv.close(waiting, "approved", AT + DAY)  # not what it is
    assert await inv.close(waiting, "pending", AT + DAY)
    assert not await inv.close(waiting, "pending", AT + DAY)  # a second run closes nothing
    assert await inv.close(approved, "approved", AT + DAY)
    lapsed, expired = await inv.get(waiting), await inv.get(approved)
    assert lapsed is not None and (lapsed.status, lapsed.closed_at) == ("lapsed", AT + DAY)
    assert expired is not None and expired.status == "expired"
    assert lapsed.lapse_status(AT) == "lapsed" and expired.lapse_status(AT) == "expired"
    assert await inv.due(AT + 2 * DAY) == []
    assert [r.id for r in await inv.closed_since(AT + DAY)] == [waiting, approved]
    assert await inv.closed_since(AT + DAY + HOUR) == []
    assert await _store(store, "other").closed_since(AT) == []
    assert not await inv.use(approved, "wxid_d", AT + DAY)  # an expired approval lets nobody in
    assert await inv.decide(waiting, False, "wxid_admin", AT) is None  # closed: not pending


async def test_answered_and_used_requests_never_lapse(store: Store) -> None:
    inv = _store(store)
    declined = await inv.request(ROOM, "wxid_a", None, "阿丁", AT, AT + HOUR)
    used = await inv.request(ROOM, "wxid_a", None, "阿戊", AT, AT + HOUR)
    await inv.decide(declined, False, "wxid_admin", AT)
    await inv.decide(used, True, "wxid_admin", AT, approved_until=AT + HOUR)
    assert await inv.use(used, "wxid_e", AT)
    assert await inv.due(AT + DAY) == []
    for n in (declined, used):
        for was in ("pending", "approved"):
            assert not await inv.close(n, was, AT + DAY)
        state = await inv.get(n)
        assert state is not None and state.lapse_status(AT + DAY) is None
    with pytest.raises(ValueError, match="lapses"):
        await inv.close(declined, "declined", AT + DAY)


async def test_the_pending_list_holds_only_requests_still_waiting(store: Store) -> None:
    inv = _store(store)
    short = await inv.request(ROOM, "wxid_a", None, "阿丁", AT, AT + HOUR)
    long = await inv.request(ROOM, "wxid_a", None, "阿戊", AT, AT + DAY)
    answered = await inv.request(ROOM, "wxid_a", None, "阿己", AT, AT + DAY)
    await inv.decide(answered, False, "wxid_admin", AT)
    assert [r.id for r in await inv.pending(ROOM, AT)] == [short, long]
    assert [r.id for r in await inv.pending(ROOM, AT + HOUR)] == [long]  # lapsed, not yet closed
    await inv.close(short, "pending", AT + HOUR)
    assert [r.id for r in await inv.pending(ROOM, AT)] == [long]
    assert await inv.pending("r2@chatroom", AT) == []
    assert await _store(store, "other").pending(ROOM, AT) == []


# -- migration 0021 -----------------------------------------------------------

LAPSE_REVISION = "0021_invite_lapse"


def _revision_before(revision: str) -> str:
    down = ScriptDirectory.from_config(alembic_config()).get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


def _downgrade(conn: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.downgrade(config, revision)


def _row(n: int, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": n,
        "account_id": "default",
        "room_id": ROOM,
        "requester_id": "wxid_a",
        "invitee_name": f"阿{n}",
        "status": status,
        "created_at": AT,
        "expires_at": AT + HOUR,
        **extra,
    }


def _columns(conn: Connection) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("invite_requests")}


async def _statuses(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, status FROM invite_requests ORDER BY id"))
        return {int(n): str(status) for n, status in rows}


async def test_migration_0021_keeps_requests_past_their_time_for_the_job_and_goes_back(
    engine: AsyncEngine,
) -> None:
    before = _revision_before(LAPSE_REVISION)
    await upgrade(engine, before)
    table = InviteRequest.__table__
    rows = [
        _row(1, "pending"),  # past its time: the job's
        _row(2, "approved", decided_by="wxid_admin", decided_at=AT, approved_until=AT + HOUR),
        _row(3, "declined", decided_by="wxid_admin", decided_at=AT),
        _row(4, "pending", expires_at=AT + 10 * DAY),  # still waiting
    ]
    async with engine.begin() as conn:  # the columns of before: no closed_at yet
        await conn.execute(insert(table), rows)

    await upgrade(engine, LAPSE_REVISION)
    assert await current_revision(engine) == LAPSE_REVISION
    assert await _statuses(engine) == {1: "pending", 2: "approved", 3: "declined", 4: "pending"}
    inv = InviteStore(session_factory(engine), account_id="default")
    now = AT + DAY
    assert [r.id for r in await inv.due(now)] == [1, 2]
    assert await inv.close(1, "pending", now) and await inv.close(2, "approved", now)
    assert await _statuses(engine) == {1: "lapsed", 2: "expired", 3: "declined", 4: "pending"}
    async with engine.begin() as conn:  # the new CHECK still refuses a made-up status
        with pytest.raises(IntegrityError):
            async with conn.begin_nested():
                await conn.execute(insert(table).values(**_row(9, "forgotten")))

    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, before)
        assert "closed_at" not in await conn.run_sync(_columns)
    assert await current_revision(engine) == before
    # Back to what they were: past their time, as the code before read them.
    assert await _statuses(engine) == {1: "pending", 2: "approved", 3: "declined", 4: "pending"}
    async with engine.begin() as conn:  # the old CHECK again
        with pytest.raises(IntegrityError):
            async with conn.begin_nested():
                await conn.execute(insert(table).values(**_row(9, "lapsed")))

    await upgrade(engine)
    async with engine.connect() as conn:
        assert "closed_at" in await conn.run_sync(_columns)
        ids = (await conn.execute(select(table.c.id).order_by(table.c.id))).scalars().all()
    assert list(ids) == [1, 2, 3, 4]
    assert [r.id for r in await inv.due(now)] == [1, 2]  # the job tells them again, once
