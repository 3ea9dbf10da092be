"""Two bot accounts on one database: each sees only what belongs to it.

Outbox (with idempotency keys namespaced by account), audit log and the
bot's presence and role per group are the account's; a group's messages are
the group's, stored once whichever account saw them.  Contract tests on
every backend (``tests.unit.conftest``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.executor import Executor
from bot.transport.base import Transport
from bot.vocab.clock import ManualClock
from storage.db import create_engine, session_factory, upgrade
from storage.outbox_retry import OutboxRetries
from storage.repo import Repository
from storage.types import ActivityRow, NewOutboxItem

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
ROOM = "r1@chatroom"


def item(key: str) -> NewOutboxItem:
    return NewOutboxItem(
        key=key,
        action="say",
        payload={"room": ROOM, "text": key},
        kind="message",
        room_id=ROOM,
        priority=2,
        created_at=T0,
    )


async def accounts(engine: AsyncEngine) -> tuple[Repository, Repository]:
    await upgrade(engine)
    sessions = session_factory(engine)
    return Repository(sessions, account_id="wxid_bot_a"), Repository(
        sessions, account_id="wxid_bot_b"
    )


async def test_the_same_idempotency_key_is_one_action_per_account(engine: AsyncEngine) -> None:
    a, b = await accounts(engine)
    assert await a.outbox_add([item("welcome:r1:m1")]) == ["welcome:r1:m1"]
    assert await b.outbox_add([item("welcome:r1:m1")]) == ["welcome:r1:m1"]
    assert await a.outbox_add([item("welcome:r1:m1")]) == []
    assert [i.key for i in await a.outbox_pending()] == ["welcome:r1:m1"]
    assert await a.outbox_claim("welcome:r1:m1", T0)
    assert [i.status for i in await b.outbox_pending()] == ["pending"]


async def test_a_restart_marks_in_doubt_only_its_own_account_sends(engine: AsyncEngine) -> None:
    a, b = await accounts(engine)
    for repo in (a, b):
        await repo.outbox_add([item("k")])
        assert await repo.outbox_claim("k", T0)
    assert [i.key for i in await b.outbox_mark_in_doubt(T0)] == ["k"]
    still = await a.outbox_get("k")
    assert still is not None and still.status == "sending"


async def test_audit_and_status_show_only_the_accounts_own_rows(engine: AsyncEngine) -> None:
    a, b = await accounts(engine)
    await a.write_audit(at=T0, action="say", kind="message", status="done", key="a1")
    await b.write_audit(at=T0, action="remove_member", kind="remove", status="failed", key="b1")
    assert [e.key for e in await a.recent_audit()] == ["a1"]
    report = await b.status_report()
    assert report["audit_by_status"] == {"failed": 1}


async def test_each_account_has_its_own_presence_and_role_in_a_group(engine: AsyncEngine) -> None:
    a, b = await accounts(engine)
    await a.upsert_group(ROOM, "群", "member", T0)
    await b.upsert_group(ROOM, "群", "member", T0)
    await a.set_bot_role(ROOM, "admin")
    await b.mark_group_left(ROOM, T0)
    ga, gb = await a.get_group(ROOM), await b.get_group(ROOM)
    assert ga is not None and ga.bot_role == "admin" and ga.left_at is None
    assert gb is not None and gb.bot_role == "unknown" and gb.left_at is not None
    assert [g.room_id for g in await a.active_groups()] == [ROOM]
    assert await b.active_groups() == []


async def test_a_message_seen_by_two_accounts_in_one_group_counts_once(engine: AsyncEngine) -> None:
    a, b = await accounts(engine)

    def said(message_id: str, minute: int) -> ActivityRow:
        return ActivityRow(
            room_id=ROOM,
            contact_id="wxid_m",
            kind="message",
            at=T0 + timedelta(minutes=minute),
            message_kind="text",
            message_id=message_id,
            text="大家好",
        )

    assert await a.record_activity([said("m1", 0), said("m2", 1)]) == 2
    assert await b.record_activity([said("m1", 0), said("m2", 1), said("m3", 2)]) == 1
    assert await a.record_activity([said("m3", 2), said("m3", 2)]) == 0  # a replay
    assert await a.count_activity(ROOM) == 3
    stats = await b.member_stats(ROOM, "wxid_m")
    assert stats is not None and stats.message_count == 3


async def test_leaving_a_group_refuses_only_the_accounts_own_queued_actions(
    engine: AsyncEngine,
) -> None:
    a, b = await accounts(engine)
    await a.outbox_add([item("a:say")])
    await b.outbox_add([item("b:say")])
    refused = await a.outbox_refuse_room(ROOM, T0, "the bot is no longer in this group")
    assert [i.key for i in refused] == ["a:say"]
    assert [i.key for i in await b.outbox_pending()] == ["b:say"]
    assert await b.outbox_claim("b:say", T0)  # B still sends it


async def test_a_retry_puts_back_only_the_accounts_own_send(engine: AsyncEngine) -> None:
    a, b = await accounts(engine)
    sessions = session_factory(engine)
    retries_a = OutboxRetries(sessions, account_id=a.account_id)
    retries_b = OutboxRetries(sessions, account_id=b.account_id)
    key = "reply:r1:m1:1"  # the same key for both accounts
    for repo in (a, b):
        await repo.outbox_add([item(key)])
        assert await repo.outbox_claim(key, T0)
    assert await retries_a.retry_later(key, T0, T0 + timedelta(minutes=1), "ECONNRESET")
    still = await b.outbox_get(key)
    assert still is not None and still.status == "sending"
    assert [i.key for i in await b.outbox_mark_in_doubt(T0)] == [key]  # B's crash: in doubt
    assert await retries_a.not_before() == {key: T0 + timedelta(minutes=1)}
    assert await retries_b.not_before() == {}


async def test_a_member_of_a_group_two_accounts_share_is_due_one_reminder(
    engine: AsyncEngine,
) -> None:
    a, b = await accounts(engine)
    for repo in (a, b):
        await repo.upsert_group(ROOM, "群", "member", T0)
    await a.record_join(ROOM, "wxid_new", T0, None)
    await a.mark_welcomed(ROOM, ["wxid_new"], T0)
    later = T0 + timedelta(days=2)
    assert await a.due_for_reminder(later, timedelta(days=1)) == [(ROOM, "wxid_new")]
    assert await b.due_for_reminder(later, timedelta(days=1)) == [(ROOM, "wxid_new")]


async def test_no_reminder_is_due_in_a_group_the_account_is_not_in(engine: AsyncEngine) -> None:
    a, b = await accounts(engine)
    await a.upsert_group(ROOM, "群", "member", T0)
    await b.upsert_group(ROOM, "群", "member", T0)
    await b.mark_group_left(ROOM, T0)
    await a.record_join(ROOM, "wxid_new", T0, None)
    await a.mark_welcomed(ROOM, ["wxid_new"], T0)
    later = T0 + timedelta(days=2)
    assert await b.due_for_reminder(later, timedelta(days=1)) == []
    assert await a.due_for_reminder(later, timedelta(days=1)) == [(ROOM, "wxid_new")]


def test_an_executor_refuses_retries_kept_for_another_account(tmp_path: Path) -> None:
    # Nothing is read or sent: the executor checks its stores when it is made.
    sessions = session_factory(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"))
    repo = Repository(sessions, account_id="wxid_bot_a")
    with pytest.raises(ValueError, match="account"):
        Executor(
            cast(Transport, None),
            repo,
            ManualClock(T0),
            retries=OutboxRetries(sessions, account_id="wxid_bot_b"),
        )
