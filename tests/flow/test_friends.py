"""Friend requests: a member's is accepted (so they can write to the bot, e.g.
to appeal), a stranger's or a blocklisted account's is left unanswered."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.vocab.actions import AcceptFriendship
from storage.moderation import ModerationStore
from tests.flow.expect import Like
from tests.flow.harness import ACCOUNT, ADMIN, ROOM, Harness

DAY = 24 * 3600.0
pytestmark = pytest.mark.calendar_off  # no job is involved: days pass in one step


async def _audited(bot: Harness, friendship_id: str) -> str:
    [row] = await bot.repo.recent_audit(key=f"friendship:{friendship_id}")
    return row.status


async def test_a_members_friend_request_is_accepted(bot: Harness) -> None:
    fid = await bot.puppet.friend_request("wxid_a", "我是群里的阿甲")
    await bot.settle()
    bot.actions.expect(Like(AcceptFriendship, friendship_id=fid, contact_id="wxid_a"))


async def test_a_strangers_friend_request_is_left_unanswered_and_audited(bot: Harness) -> None:
    fid = await bot.puppet.friend_request("wxid_stranger", "加个好友")
    await bot.settle()
    bot.actions.nothing()
    assert await _audited(bot, fid) == "refused"


async def test_a_member_removed_days_ago_can_still_befriend_the_bot_to_appeal(
    bot: Harness,
) -> None:
    await bot.puppet.leave(ROOM, ["wxid_a"], remover_id=ADMIN)
    await bot.settle()
    await bot.advance(3 * DAY)
    bot.actions.new()
    fid = await bot.puppet.friend_request("wxid_a", "我想申诉")
    await bot.settle()
    bot.actions.expect(Like(AcceptFriendship, friendship_id=fid, contact_id="wxid_a"))


async def test_a_member_gone_longer_than_recent_days_is_not_accepted(tmp_path: Path) -> None:
    bot = Harness(tmp_path, "profiles:\n  super:\n    friends: {recent_days: 2}\n", calendar=False)
    await bot.start()
    try:
        await bot.puppet.leave(ROOM, ["wxid_a"], remover_id=ADMIN)
        await bot.settle()
        await bot.advance(3 * DAY)
        bot.actions.new()
        fid = await bot.puppet.friend_request("wxid_a", "我想申诉")
        await bot.settle()
        bot.actions.nothing()
        assert await _audited(bot, fid) == "refused"
    finally:
        await bot.stop()


async def test_a_blocklisted_members_friend_request_is_left_unanswered(bot: Harness) -> None:
    store = ModerationStore(bot.app.services.sessions, account_id=ACCOUNT)
    await store.block("wxid_a", by=ADMIN, at=bot.clock.now(), reason="ads")
    fid = await bot.puppet.friend_request("wxid_a", "hi")
    await bot.settle()
    bot.actions.nothing()
    assert await _audited(bot, fid) == "refused"
