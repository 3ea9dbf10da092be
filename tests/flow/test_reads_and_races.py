"""Member lists read while events flow, welcomes sent while members leave, room
lists on the budget, idle rooms forgotten (issue 6, items 3, 8, 9, 12: review fixes).

The whole app over the real SDK on the in-process puppet, time on a ManualClock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.transport.sandbox_puppet import SandboxMember
from tests.flow.harness import ADMIN, OWNER, ROOM, ROOM2, Harness

# These tests run the reconciliation by hand, at the moments they choose.
pytestmark = pytest.mark.calendar_off

NEW = "wxid_new"
CACHE = 6 * 3600  # member_lists.cache_hours


def mentions(bot: Harness, room: str = ROOM) -> list[list[str]]:
    return [list(c.args["mention_ids"]) for c in bot.sent(room)]


def count_room_lists(bot: Harness) -> list[int]:
    """Counts the puppet's room-list reads from now on (the sandbox does not record them)."""
    calls: list[int] = []
    room_list = bot.puppet.room_list

    async def counted() -> Any:
        calls.append(1)
        return await room_list()

    bot.puppet.room_list = counted
    return calls


async def handled(bot: Harness) -> None:
    """What the puppet emitted so far is converted and handled (not sent)."""
    await bot.transport.drain()
    await bot.app.dispatcher.join()


# ------------------------------------------ a join while the list is read (1)


async def test_a_member_who_joins_while_the_list_is_read_stays_and_is_welcomed(
    bot: Harness,
) -> None:
    await bot.advance(CACHE)  # the list is due for a reconcile
    bot.puppet.add_contact(NEW, "新人")
    read_members = bot.puppet.room_members

    async def join_during_the_read(room_id: str) -> Any:
        members = await read_members(room_id)  # the list as it was when the read began
        if room_id == ROOM:
            await bot.clock.advance(1)
            await bot.puppet.join(ROOM, [NEW], ADMIN)
            await handled(bot)  # the join is stored before the list comes back
        return members

    bot.puppet.room_members = join_during_the_read
    await bot.app.presence.reconcile()
    await bot.advance(11)

    membership = await bot.repo.get_membership(ROOM, NEW)
    assert membership is not None and membership.left_at is None
    assert NEW in await bot.repo.current_members(ROOM)
    assert mentions(bot) == [[NEW]]


# ------------------------------------------------ the welcome's send (2)


async def test_a_member_who_leaves_as_the_batch_is_sent_is_not_mentioned(bot: Harness) -> None:
    await bot.puppet.join(ROOM, [NEW, "wxid_b"], ADMIN)
    await bot.settle()
    store = bot.app.welcome_store
    due = store.due

    async def leave_after_the_batch_is_read(*args: Any, **kwargs: Any) -> Any:
        rows = await due(*args, **kwargs)
        if rows and NEW in bot.puppet.room_state(ROOM).members:
            await bot.puppet.leave(ROOM, [NEW])
            await handled(bot)
        return rows

    store.due = leave_after_the_batch_is_read  # type: ignore[method-assign]
    await bot.advance(11)
    assert mentions(bot) == [["wxid_b"]]


async def test_a_welcome_whose_submit_failed_is_sent_without_a_restart(bot: Harness) -> None:
    await bot.puppet.join(ROOM, [NEW], ADMIN)
    await bot.settle()
    submit = bot.app.executor.submit
    failures: list[int] = []

    async def fail_once(actions: Any) -> None:
        if not failures:
            failures.append(len(actions))
            raise OSError("database is locked")
        await submit(actions)

    bot.app.executor.submit = fail_once  # type: ignore[method-assign]
    await bot.advance(11)  # due: the submit fails after the rows were marked
    assert failures == [1] and mentions(bot) == []
    await bot.advance(5)  # the next round
    await bot.advance(5)
    assert mentions(bot) == [[NEW]]
    membership = await bot.repo.get_membership(ROOM, NEW)
    assert membership is not None and membership.welcomed_at is not None


# ------------------------------------------------ room lists on the budget (3)


async def test_reconcile_runs_within_the_cache_period_read_the_room_list_once(
    bot: Harness,
) -> None:
    calls = count_room_lists(bot)
    for _ in range(4):
        await bot.advance(600)
        await bot.app.presence.reconcile()
    assert len(calls) == 1


async def test_failed_reads_of_a_round_confirm_with_one_room_list_read(bot: Harness) -> None:
    await bot.advance(CACHE)
    calls = count_room_lists(bot)
    bot.puppet.fail_next("room_members", times=2, message="ECONNRESET")
    assert await bot.app.presence.reconcile() == 0  # both reads failed
    assert len(calls) == 1
    for room in (ROOM, ROOM2):
        group = await bot.repo.get_group(room)
        assert group is not None and group.left_at is None  # still listed: not removed


async def test_a_bot_join_counts_its_room_read_on_the_budget(tmp_path: Path) -> None:
    bot = Harness(tmp_path, "member_lists: {reads_per_minute: 2}\n", calendar=False)
    await bot.start()
    await bot.advance(61)  # the login's reads are out of the window
    await bot.puppet.invite_bot(OWNER, "r3@chatroom", "新群", ["wxid_c"])
    await bot.settle()
    assert bot.sent("r3@chatroom")  # joined and introduced itself
    # The room payload read at the join and the member list: the budget of 2 is used.
    assert bot.app.members.budget.delay() > 0
    await bot.stop()


# ------------------------------------------------------- idle rooms (4)


async def test_a_room_silent_for_a_day_is_forgotten_without_a_reread(bot: Harness) -> None:
    bot.puppet.room_state(ROOM2).members["wxid_c"] = SandboxMember()
    bot.puppet.set_admins(ROOM2, ["wxid_c"])
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()  # reads both lists: the reader and the sync keep state
    await bot.settle()
    sync = next(h for h in bot.app.handler_groups[0] if h.name == "membership")
    assert ROOM in bot.app.members._cache and ROOM2 in sync._special
    reads = len(bot.puppet.calls_to("room_members"))

    await bot.clock.advance(24 * 3600 + 1)
    await bot.puppet.member_says(ROOM, OWNER, "还在")  # only ROOM speaks
    await bot.settle()
    assert ROOM2 not in bot.app.dispatcher.rooms
    assert ROOM2 not in bot.app.members._cache and ROOM2 not in bot.app.members._locks
    assert ROOM2 not in sync._special and ROOM2 not in sync._listed
    assert len(bot.puppet.calls_to("room_members")) == reads  # forgetting read nothing
