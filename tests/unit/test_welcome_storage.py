"""Contract tests of storage.welcome and the stay history, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.welcome import WelcomeStore
from tests.unit.conftest import Store

ROOM = "r1@chatroom"
BOT, OTHER_BOT = "wxid_bot", "wxid_bot2"
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=10)


def at(seconds: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def queue(welcomes: WelcomeStore, member: str, now: datetime, account: str = BOT) -> bool:
    return await welcomes.queue(
        account,
        ROOM,
        member,
        stay=1,
        joined_at=now,
        now=now,
        window=WINDOW,
        expires_at=now + timedelta(hours=1),
    )


async def test_a_batch_is_due_a_window_after_its_first_newcomer_and_queued_once(
    store: Store,
) -> None:
    welcomes = WelcomeStore(store.sessions)
    for member, when in (("a", at(0)), ("b", at(4))):
        await store.repo.record_join(ROOM, member, when, None)
        assert await queue(welcomes, member, when)
    assert not await queue(welcomes, "a", at(5))  # the same stay again: a replayed join
    assert await welcomes.next_due(BOT) == at(10)
    assert await welcomes.due(BOT, at(9)) == []
    due = await welcomes.due(BOT, at(10))
    assert [(r.contact_id, r.current) for r in due] == [("a", True), ("b", True)]


async def test_welcome_rows_are_scoped_by_account(store: Store) -> None:
    welcomes = WelcomeStore(store.sessions)
    await store.repo.record_join(ROOM, "a", at(0), None)
    assert await queue(welcomes, "a", at(0), account=OTHER_BOT)
    assert await welcomes.next_due(BOT) is None
    assert await welcomes.due(BOT, at(60), everything=True) == []
    assert len(await welcomes.due(OTHER_BOT, at(60))) == 1


async def test_welcomed_is_recorded_from_the_outcome_once_and_for_that_stay(store: Store) -> None:
    welcomes = WelcomeStore(store.sessions)
    await store.repo.record_join(ROOM, "a", at(0), None)
    await store.repo.record_join(ROOM, "b", at(0), None)
    for member in ("a", "b"):
        await queue(welcomes, member, at(0))
    ids = [r.id for r in await welcomes.due(BOT, at(10))]
    await welcomes.mark_submitted(BOT, ids, "welcome:1", at(10))
    assert (await store.repo.get_membership(ROOM, "a")).welcomed_at is None  # type: ignore[union-attr]

    assert await welcomes.record_outcome(BOT, "welcome:1", "done", at(11)) == ["a", "b"]
    assert await welcomes.record_outcome(BOT, "welcome:1", "done", at(12)) == []
    assert (await store.repo.get_membership(ROOM, "a")).welcomed_at == at(11)  # type: ignore[union-attr]
    assert [s.welcomed_at for s in await welcomes.stays(ROOM, "a")] == [at(11)]


async def test_a_failed_welcome_marks_nobody(store: Store) -> None:
    welcomes = WelcomeStore(store.sessions)
    await store.repo.record_join(ROOM, "a", at(0), None)
    await queue(welcomes, "a", at(0))
    ids = [r.id for r in await welcomes.due(BOT, at(10))]
    await welcomes.mark_submitted(BOT, ids, "welcome:9", at(10))
    assert await welcomes.record_outcome(BOT, "welcome:9", "failed", at(11)) == []
    assert (await store.repo.get_membership(ROOM, "a")).welcomed_at is None  # type: ignore[union-attr]
    assert [r.status for r in await welcomes.welcomes_of(BOT, ROOM, "a")] == ["failed"]


async def test_a_rejoin_adds_a_stay_and_keeps_the_earlier_one(store: Store) -> None:
    repo, welcomes = store.repo, WelcomeStore(store.sessions)
    await repo.record_join(ROOM, "a", at(0), "inv1")
    await repo.mark_welcomed(ROOM, ["a"], at(1))
    await repo.record_leave(ROOM, "a", at(10), "admin")
    assert not (await repo.record_join(ROOM, "a", at(5), "inv1")).changed  # older than the leave
    back = await repo.record_join(ROOM, "a", at(30), "inv2")
    assert back.changed and back.join_count == 2
    stays = await welcomes.stays(ROOM, "a")
    assert [(s.stay, s.joined_at, s.inviter_id, s.left_at, s.remover_id) for s in stays] == [
        (1, at(0), "inv1", at(10), "admin"),
        (2, at(30), "inv2", None, None),
    ]
    assert [s.welcomed_at for s in stays] == [at(1), None]
    assert await welcomes.leave_count(ROOM, "a") == 1


async def test_a_leaver_is_dropped_from_the_pending_batch(store: Store) -> None:
    welcomes = WelcomeStore(store.sessions)
    await store.repo.record_join(ROOM, "a", at(0), None)
    await queue(welcomes, "a", at(0))
    assert await welcomes.drop_member(BOT, ROOM, "a", at(3), "left") == 1
    assert await welcomes.next_due(BOT) is None
    assert [r.status for r in await welcomes.welcomes_of(BOT, ROOM, "a")] == ["dropped"]
