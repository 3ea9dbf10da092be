"""The member-list reader: a budget of reads a minute, a cache per room, stale-only
background refreshes, rooms the bot is not in never read.  Time is a ManualClock."""

from __future__ import annotations

import asyncio

import pytest

from bot.member_lists import BotNotInRoom, MemberList, MemberListReader, ReadBudget
from bot.vocab.clock import ManualClock


class FakePuppet:
    def __init__(self, clock: ManualClock, gone: set[str] | None = None) -> None:
        self.clock = clock
        self.reads: list[tuple[str, float]] = []
        self.gone = gone or set()
        self.fail: set[str] = set()

    async def read(self, room_id: str) -> MemberList:
        self.reads.append((room_id, self.clock.monotonic()))
        await asyncio.sleep(0)
        if room_id in self.gone:
            raise BotNotInRoom(room_id, "not listed")
        if room_id in self.fail:
            raise RuntimeError("ECONNRESET")
        return MemberList(room_id, ("bot", f"m-{room_id}"), self.clock.now(), owner_id="o")


def reader(clock: ManualClock, puppet: FakePuppet, per_minute: int = 10, hours: float = 6):
    return MemberListReader(puppet.read, clock, reads_per_minute=per_minute, cache_hours=hours)


async def test_the_budget_allows_at_most_n_reads_in_any_minute() -> None:
    clock = ManualClock()
    budget = ReadBudget(clock, 3)
    for _ in range(3):
        assert budget.delay() == 0
        await budget.acquire()
    assert budget.delay() == 60
    await clock.advance(59)
    assert budget.delay() == 1
    await clock.advance(1)
    assert budget.delay() == 0


async def test_a_list_read_within_the_cache_period_is_not_read_again() -> None:
    clock = ManualClock()
    puppet = FakePuppet(clock)
    r = reader(clock, puppet, hours=6)
    first = await r.get("r1")
    await clock.advance(6 * 3600 - 1)
    assert await r.get("r1") is first
    assert [room for room, _ in puppet.reads] == ["r1"]
    await clock.advance(1)
    assert await r.get("r1") is not first
    assert len(puppet.reads) == 2 and r.reads == 2


async def test_two_reads_of_one_room_at_once_ask_the_puppet_once() -> None:
    clock = ManualClock()
    puppet = FakePuppet(clock)
    r = reader(clock, puppet)
    a, b = await asyncio.gather(r.get("r1"), r.get("r1"))
    assert a is b and len(puppet.reads) == 1


async def test_reads_over_budget_wait_for_their_turn() -> None:
    clock = ManualClock()
    puppet = FakePuppet(clock)
    r = reader(clock, puppet, per_minute=2)
    task = asyncio.gather(*(r.get(f"r{i}") for i in range(5)))
    await clock.advance(0)
    assert len(puppet.reads) == 2  # the rest wait for the budget
    await clock.advance(60)
    assert len(puppet.reads) == 4
    await clock.advance(60)
    await task
    times = [t for _, t in puppet.reads]
    assert times == [0, 0, 60, 60, 120]
    for t in times:  # never more than 2 in any 60 s window
        assert sum(1 for u in times if t <= u < t + 60) <= 2


async def test_a_background_refresh_reads_only_the_stale_rooms() -> None:
    clock = ManualClock()
    puppet = FakePuppet(clock)
    r = reader(clock, puppet)
    await r.get("r1")  # fresh
    got: list[str] = []

    async def gone(room: str, detail: str) -> None:
        raise AssertionError(room)

    assert r.refresh_in_background(["r1", "r2", "r3"], lambda m: got.append(m.room_id), gone) == 2
    await r.settle()
    assert got == ["r2", "r3"]
    assert [room for room, _ in puppet.reads] == ["r1", "r2", "r3"]

    # A replayed login within the cache period reads nothing at all.
    assert r.refresh_in_background(["r1", "r2", "r3"], lambda m: got.append(m.room_id), gone) == 0
    await r.settle()
    assert len(puppet.reads) == 3 and got == ["r2", "r3"]


async def test_a_background_refresh_is_paced_and_settles_while_waiting_for_budget() -> None:
    clock = ManualClock()
    puppet = FakePuppet(clock)
    r = reader(clock, puppet, per_minute=10)
    got: list[str] = []

    async def gone(room: str, detail: str) -> None:
        return None

    rooms = [f"r{i:02d}" for i in range(25)]
    r.refresh_in_background(rooms, lambda m: got.append(m.room_id), gone)
    await r.settle()  # returns while the worker waits for the budget
    assert len(got) == 10 and r.queued == 15
    # Queued again (a replayed login): not read twice.
    r.refresh_in_background(rooms, lambda m: got.append(m.room_id), gone)
    await clock.advance(60)
    await r.settle()
    assert len(got) == 20
    await clock.advance(60)
    await r.settle()
    assert got == rooms and len(puppet.reads) == 25
    await r.close()


async def test_a_room_the_bot_is_not_in_is_reported_once_and_never_read_again() -> None:
    clock = ManualClock()
    puppet = FakePuppet(clock, gone={"r2"})
    r = reader(clock, puppet)
    lost: list[tuple[str, str]] = []

    async def gone(room: str, detail: str) -> None:
        lost.append((room, detail))

    r.refresh_in_background(["r1", "r2"], lambda m: None, gone)
    await r.settle()
    assert lost == [("r2", "not listed")] and r.is_gone("r2")
    r.refresh_in_background(["r1", "r2"], lambda m: None, gone)
    await clock.advance(7 * 3600)
    r.refresh_in_background(["r1", "r2"], lambda m: None, gone)
    await r.settle()
    with pytest.raises(BotNotInRoom):
        await r.get("r2")
    assert [room for room, _ in puppet.reads] == ["r1", "r2", "r1"]

    puppet.gone.clear()
    assert r.resume("r2")  # invited back
    assert (await r.get("r2")).room_id == "r2"


async def test_a_failed_read_is_not_cached_and_does_not_stop_the_refresh() -> None:
    clock = ManualClock()
    puppet = FakePuppet(clock)
    puppet.fail.add("r1")
    r = reader(clock, puppet)
    got: list[str] = []

    async def gone(room: str, detail: str) -> None:
        raise AssertionError(room)

    r.refresh_in_background(["r1", "r2"], lambda m: got.append(m.room_id), gone)
    await r.settle()
    assert got == ["r2"] and r.is_stale("r1") and not r.is_gone("r1")
