"""The lurkers' store on SQLite and PostgreSQL alike: one group's rows from the
rollups, warnings and batches claimed once, per account."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage.lurkers import LurkerStore
from storage.types import ActivityRow
from tests.unit.conftest import Store

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # noon in Shanghai
ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"
JOINED = NOW - timedelta(days=100)


def _store(store: Store, account: str = "default") -> LurkerStore:
    return LurkerStore(store.sessions, account_id=account)


async def _members(store: Store, room: str, *members: str) -> None:
    for m in members:
        await store.repo.record_join(room, m, JOINED)


def _msg(room: str, member: str, at: datetime, n: int) -> ActivityRow:
    return ActivityRow(room, member, "message", at, "text", f"{room}-{member}-{n}", "hi")


async def _rows(lurk: LurkerStore, room: str = ROOM) -> dict:
    rows = await lurk.member_rows(
        room, day_7="2026-02-23", day_30="2026-01-31", since=NOW - timedelta(days=30)
    )
    return {r.member_id: r for r in rows}


async def test_member_rows_come_from_the_rollups_of_one_group(store: Store) -> None:
    await _members(store, ROOM, "a", "b", "c", "gone")
    await _members(store, ROOM2, "a")
    await store.repo.record_leave(ROOM, "gone", NOW - timedelta(days=1))
    await store.repo.record_activity(
        [
            _msg(ROOM, "a", NOW - timedelta(days=1), 1),
            _msg(ROOM, "a", NOW - timedelta(days=10), 2),
            _msg(ROOM, "a", NOW - timedelta(days=60), 3),
            _msg(ROOM2, "a", NOW - timedelta(days=1), 4),
            _msg(ROOM, "b", NOW - timedelta(days=45), 5),
        ],
        names={"a": "阿甲"},
    )
    from storage.points import PointsStore

    points = PointsStore(store.sessions, account_id="default")
    await points.check_in(
        f"room:{ROOM}", ROOM, "c", date(2026, 2, 28), NOW - timedelta(days=1), rule=(1, 0, 0)
    )
    rows = await _rows(_store(store))
    assert set(rows) == {"a", "b", "c"}
    a = rows["a"]
    assert (a.name, a.message_count, a.messages_7d, a.messages_30d) == ("阿甲", 3, 1, 2)
    assert a.last_spoke_at == NOW - timedelta(days=1)
    assert rows["b"].messages_30d == 0 and rows["b"].last_spoke_at == NOW - timedelta(days=45)
    assert rows["c"].checkins_30d == 1 and rows["c"].last_checkin_at == NOW - timedelta(days=1)
    assert rows["c"].last_spoke_at is None and rows["c"].role == "member"
    elsewhere = await _store(store).last_spoke_elsewhere([ROOM2], ["a", "b"])
    assert elsewhere == {"a": NOW - timedelta(days=1)}


async def test_a_warning_is_open_once_and_a_batch_claims_it_once(store: Store) -> None:
    lurk = _store(store)
    due = NOW + timedelta(hours=48)
    written = await lurk.add_warnings(ROOM, {"a": "group", "b": "private"}, NOW, due)
    assert [(w.member_id, w.via) for w in written] == [("a", "group"), ("b", "private")]
    assert await lurk.add_warnings(ROOM, {"a": "group"}, NOW, due) == []
    assert await lurk.due_warnings(NOW) == []
    assert len(await lurk.due_warnings(due)) == 2
    batch = await lurk.create_batch(ROOM, [w.id for w in written], automatic=False, now=due)
    assert batch is not None and batch.members == ("a", "b") and batch.status == "pending"
    again = await lurk.create_batch(ROOM, [w.id for w in written], automatic=False, now=due)
    assert again is None
    assert await lurk.confirm_batch(batch.id, ROOM2, "admin", due) is None  # another group
    assert await lurk.confirm_batch(batch.id, ROOM, "admin", due) == ("a", "b")
    assert await lurk.confirm_batch(batch.id, ROOM, "admin", due) is None
    assert await lurk.restore(ROOM, "a", due) == 1
    assert set(await lurk.open_warnings(ROOM)) == set()


async def test_another_account_sees_none_of_it(store: Store) -> None:
    mine, theirs = _store(store), _store(store, "other")
    [w] = await mine.add_warnings(ROOM, {"a": "group"}, NOW, NOW)
    assert await theirs.open_warnings(ROOM) == {}
    assert await theirs.due_warnings(NOW) == []
    assert await theirs.create_batch(ROOM, [w.id], automatic=True, now=NOW) is None
    batch = await mine.create_batch(ROOM, [w.id], automatic=True, now=NOW)
    assert batch is not None and batch.status == "confirmed"
    assert await theirs.batch(batch.id) is None


async def test_the_capacity_alert_is_claimed_once_per_crossing(store: Store) -> None:
    lurk = _store(store)
    assert await lurk.mark_capacity(ROOM, 450, NOW)
    assert not await lurk.mark_capacity(ROOM, 451, NOW)
    assert await lurk.capacity_alerted(ROOM)
    assert await lurk.clear_capacity(ROOM)
    assert await lurk.mark_capacity(ROOM, 450, NOW)


async def test_friends_are_known_per_account(store: Store) -> None:
    await _store(store).add_friend("a", NOW)
    await _store(store).add_friend("a", NOW)
    assert await _store(store).friends(["a", "b"]) == {"a"}
    assert await _store(store, "other").friends(["a"]) == set()
