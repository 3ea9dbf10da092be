"""The member-list reader's room list: counted on the budget, cached, re-read at
most once a round to confirm a doubtful read; rooms forgotten without a re-read."""

from __future__ import annotations

import asyncio

import pytest

from bot.member_lists import BotNotInRoom, MaybeNotInRoom, MemberList, MemberListReader
from bot.vocab.clock import ManualClock


class Puppet:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.rooms = {"r1", "r2", "r3"}
        self.doubtful: set[str] = set()  # reads that fail
        self.member_reads: list[str] = []
        self.room_list_reads = 0

    async def read(self, room_id: str) -> MemberList:
        self.member_reads.append(room_id)
        await asyncio.sleep(0)
        if room_id in self.doubtful:
            raise MaybeNotInRoom(room_id, "ECONNRESET")
        return MemberList(room_id, ("bot", "m"), self.clock.now())

    async def list_rooms(self) -> set[str]:
        self.room_list_reads += 1
        return set(self.rooms)


def reader(clock: ManualClock, puppet: Puppet, per_minute: int = 10) -> MemberListReader:
    return MemberListReader(
        puppet.read, clock, reads_per_minute=per_minute, list_rooms=puppet.list_rooms
    )


async def test_the_room_list_is_cached_and_counted_on_the_budget() -> None:
    clock = ManualClock()
    puppet = Puppet(clock)
    r = reader(clock, puppet, per_minute=2)
    for _ in range(3):
        r.new_round()
        assert await r.room_list() == {"r1", "r2", "r3"}
    assert puppet.room_list_reads == 1
    await r.get("r1")
    assert r.budget.delay() > 0  # the room list and one member list: the budget of 2 is used
    await clock.advance(6 * 3600)
    assert await r.room_list() == {"r1", "r2", "r3"}
    assert puppet.room_list_reads == 2  # stale after the cache period: read again


async def test_doubtful_reads_confirm_with_one_room_list_read_per_round() -> None:
    clock = ManualClock()
    puppet = Puppet(clock)
    r = reader(clock, puppet)
    puppet.doubtful = {"r1", "r2", "r3"}
    puppet.rooms = {"r2", "r3"}  # removed from r1
    r.new_round()
    with pytest.raises(BotNotInRoom):
        await r.get("r1")
    for room in ("r2", "r3"):
        with pytest.raises(MaybeNotInRoom):  # still listed: a failed read, not a removal
            await r.get(room)
    assert puppet.room_list_reads == 1
    assert r.is_gone("r1") and not r.is_gone("r2")

    r.new_round()
    with pytest.raises(MaybeNotInRoom):
        await r.get("r2")
    assert puppet.room_list_reads == 2


async def test_a_list_that_leaves_the_bot_out_of_a_listed_room_is_still_the_answer() -> None:
    clock = ManualClock()
    puppet = Puppet(clock)
    listed = MemberList("r1", ("m",), clock.now())

    async def read(room_id: str) -> MemberList:
        raise MaybeNotInRoom(room_id, "the member list leaves the bot out", listed)

    r = MemberListReader(read, clock, list_rooms=puppet.list_rooms)
    assert await r.get("r1") is listed
    assert not r.is_gone("r1")


async def test_a_forgotten_room_drops_its_lock_and_list_but_is_not_read_again_sooner() -> None:
    clock = ManualClock()
    puppet = Puppet(clock)
    r = reader(clock, puppet)
    await r.get("r1")
    r.forget("r1")
    assert "r1" not in r._locks and "r1" not in r._cache
    assert r.stale(["r1", "r2"]) == ["r2"]  # a reconcile round still skips it
    await clock.advance(6 * 3600)
    assert r.stale(["r1", "r2"]) == ["r1", "r2"]
    assert puppet.member_reads == ["r1"]
