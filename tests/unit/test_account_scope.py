"""Two bot accounts on one database: each sees only what belongs to it.

Outbox (with idempotency keys namespaced by account), audit log and the
bot's presence and role per group are the account's; a group's messages are
the group's, stored once whichever account saw them.  Contract tests on
every backend (``tests.unit.conftest``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import session_factory, upgrade
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
