"""Storage guards against races with events that flow while lists are read and
batches are sent: a leave older than the stay, a submit after a leave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.welcome import WelcomeStore
from tests.unit.conftest import Store

ROOM = "r1@chatroom"
BOT = "wxid_bot"
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def at(seconds: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_a_leave_older_than_the_members_current_stay_is_refused(store: Store) -> None:
    await store.repo.record_join(ROOM, "new", at(10), None)
    assert not await store.repo.record_leave(ROOM, "new", at(5))  # read before they joined
    membership = await store.repo.get_membership(ROOM, "new")
    assert membership is not None and membership.left_at is None
    assert await store.repo.record_leave(ROOM, "new", at(10))  # at the join itself: a leave


async def test_mark_submitted_returns_only_the_rows_of_members_still_there(store: Store) -> None:
    welcomes = WelcomeStore(store.sessions)
    for member in ("a", "b", "c"):
        await store.repo.record_join(ROOM, member, at(0), None)
        await welcomes.queue(
            BOT,
            ROOM,
            member,
            stay=1,
            joined_at=at(0),
            now=at(0),
            window=timedelta(seconds=10),
            expires_at=at(3600),
        )
    rows = {r.contact_id: r.id for r in await welcomes.due(BOT, at(10))}
    await welcomes.drop_member(BOT, ROOM, "a", at(5), "left before the welcome")  # dropped
    await store.repo.record_leave(ROOM, "b", at(6))  # left; its row not dropped (yet)

    marked = await welcomes.mark_submitted(BOT, list(rows.values()), "welcome:1", at(10))
    assert marked == {rows["c"]}
    assert await welcomes.mark_submitted(BOT, list(rows.values()), "welcome:1", at(10)) == set()
