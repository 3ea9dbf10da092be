"""Member lists are the truth: reconciliation and the bot's own role."""

from __future__ import annotations

import pytest

from tests.flow.harness import OWNER, ROOM, ROOM2, Harness

CACHE = 6 * 3600  # member_lists.cache_hours: a list is not read again sooner


@pytest.mark.calendar_off  # the test runs the job by hand
async def test_a_member_who_leaves_without_an_event_is_found_by_reconciliation(
    bot: Harness,
) -> None:
    bot.puppet.leave_silently(ROOM, "wxid_a")
    await bot.settle()
    assert "wxid_a" in await bot.repo.current_members(ROOM)  # nothing told us yet
    assert await bot.app.presence.reconcile() == 0  # the lists read at login are still fresh

    await bot.advance(CACHE)
    assert await bot.app.presence.reconcile() == 2  # both managed groups read once
    await bot.settle()
    assert "wxid_a" not in await bot.repo.current_members(ROOM)
    membership = await bot.repo.get_membership(ROOM, "wxid_a")
    assert membership is not None and membership.left_at == bot.clock.now()


async def test_reconciliation_reads_a_limited_number_of_groups_per_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    harness = Harness(tmp_path, "bot: {reconcile_rooms_per_run: 1}\n", calendar=False)
    await harness.start()
    before = len(harness.puppet.calls_to("room_members"))
    await harness.advance(CACHE)
    assert await harness.app.presence.reconcile() == 1
    assert await harness.app.presence.reconcile() == 1
    reads = [c.args["room_id"] for c in harness.puppet.calls_to("room_members")[before:]]
    assert sorted(reads) == [ROOM, ROOM2]  # round-robin, one per run
    await harness.stop()


async def test_owners_are_told_once_where_the_bot_cannot_remove_members(bot: Harness) -> None:
    assert [c for c in bot.sent() if c.args["conversation_id"] == OWNER] == []  # admin everywhere
    group = await bot.repo.get_group(ROOM2)
    assert group is not None and group.bot_role == "admin"

    bot.puppet.set_admins(ROOM2, [])  # somebody took the bot's admin rights away
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()
    await bot.settle()
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()
    await bot.settle()
    notices = [c for c in bot.sent() if c.args["conversation_id"] == OWNER]
    assert len(notices) == 1 and "测试二群" in notices[0].args["message"]
    group = await bot.repo.get_group(ROOM2)
    assert group is not None and group.bot_role == "member"


async def test_groups_where_the_bot_lost_its_rights_make_one_notice_per_owner(bot: Harness) -> None:
    bot.puppet.set_admins(ROOM, [])
    bot.puppet.set_admins(ROOM2, [])  # the bot is a plain member in both groups now
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()
    await bot.settle()
    await bot.advance(180)  # the fold is told once no other group joined it for 2 minutes
    await bot.settle()
    notices = [c.args["message"] for c in bot.sent() if c.args["conversation_id"] == OWNER]
    assert len(notices) == 1
    assert "测试一群" in notices[0] and "测试二群" in notices[0]
    assert "无法移出成员" in notices[0]
