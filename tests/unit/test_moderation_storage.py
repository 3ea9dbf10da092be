"""Moderation's records on SQLite and PostgreSQL alike, scoped by account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.moderation import ModerationStore, NewCase
from tests.unit.conftest import Store

AT = datetime(2026, 1, 5, 1, 10, tzinfo=UTC)
ROOM = "r1@chatroom"


def _store(store: Store, account: str = "default") -> ModerationStore:
    return ModerationStore(store.sessions, account_id=account)


def _case(message_id: str | None = "m1", member: str = "wxid_spam") -> NewCase:
    return NewCase(
        room_id=ROOM,
        member_id=member,
        message_id=message_id,
        rule="ads",
        decision="ad",
        score=0.93,
        reasons=[{"name": "wechat_id", "hit": True, "reason": "含微信号"}],
        text="加微信 abc123 领福利",
        action="warn",
        mode="enforce",
        at=AT,
    )


async def test_a_message_gets_one_case_even_when_replayed(store: Store) -> None:
    mod = _store(store)
    first = await mod.open_case(_case())
    assert first is not None
    assert await mod.open_case(_case()) is None
    case = await mod.case(first)
    assert case is not None and case.reasons[0]["reason"] == "含微信号"
    assert case.status == "open" and case.text == "加微信 abc123 领福利"


async def test_another_account_sees_none_of_the_cases(store: Store) -> None:
    first = await _store(store).open_case(_case())
    assert first is not None
    other = _store(store, "other")
    assert await other.case(first) is None
    assert await other.set_status(first, "undone", AT) is None
    assert await other.cases() == []


async def test_only_the_member_of_a_case_may_appeal_it_once(store: Store) -> None:
    mod = _store(store)
    case_id = await mod.open_case(_case())
    assert case_id is not None
    assert not await mod.appeal(case_id, "wxid_someone_else", "不是我", AT)
    assert await mod.appeal(case_id, "wxid_spam", "我是来分享的", AT)
    assert not await mod.appeal(case_id, "wxid_spam", "再来一次", AT)
    [case] = await mod.cases(statuses=["appealed"])
    assert case.appeal_text == "我是来分享的"


async def test_strikes_count_within_the_window_until_cleared(store: Store) -> None:
    mod = _store(store)
    await mod.add_strike(ROOM, "wxid_spam", 1, AT - timedelta(days=2))
    await mod.add_strike(ROOM, "wxid_spam", 2, AT)
    assert await mod.strikes(ROOM, "wxid_spam", AT - timedelta(hours=24)) == 1
    assert await mod.strikes(ROOM, "wxid_spam", AT - timedelta(days=3)) == 2
    assert await mod.clear_strikes(ROOM, "wxid_spam", AT, case_id=2) == 1
    assert await mod.strikes(ROOM, "wxid_spam", AT - timedelta(days=3)) == 1


async def test_the_blocklist_is_shared_by_a_scope(store: Store) -> None:
    one = ModerationStore(store.sessions, account_id="a1", scope="brand")
    two = ModerationStore(store.sessions, account_id="a2", scope="brand")
    alone = ModerationStore(store.sessions, account_id="a3")
    assert await one.block("wxid_spam", "wxid_admin", "广告", AT)
    assert not await one.block("wxid_spam", "wxid_admin", "again", AT)
    assert await two.is_blocked("wxid_spam") and not await alone.is_blocked("wxid_spam")
    assert await two.unblock("wxid_spam") and not await one.is_blocked("wxid_spam")


async def test_modes_allowlist_and_verdicts_round_trip(store: Store) -> None:
    mod = _store(store)
    await mod.set_mode(ROOM, "shadow", "wxid_owner", AT)
    await mod.set_mode(ROOM, "enforce", "wxid_owner", AT + timedelta(hours=1))
    assert await mod.modes() == {ROOM: "enforce"}
    assert await mod.allow(ROOM, "wxid_a", "wxid_admin", AT)
    assert await mod.is_allowed(ROOM, "wxid_a") and not await mod.is_allowed(ROOM, "wxid_b")
    await mod.add_verdict("加我领券", True, "wxid_admin", AT)
    await mod.add_verdict("今天天气真好", False, "wxid_admin", AT)
    assert await mod.verdicts() == [("加我领券", True), ("今天天气真好", False)]
