"""Invites' records on SQLite and PostgreSQL alike, scoped by account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.invites import InviteStore, JoinRow
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
