"""Check-in and points through the whole app (issue 9): streaks day by day,
one payment per day however often it is asked or replayed, admins' #加分 /
#扣分, and folded confirmations that lose nobody, not even across a crash.

The harness's clock starts on Monday 2026-01-05 at 09:00 in Shanghai (the
groups' time zone).
"""

from __future__ import annotations

from pathlib import Path

from wechaty_puppet import EventMessagePayload

from bot.transport.sandbox_world_types import SandboxMember
from bot.vocab.actions import Say
from handlers.engagement.points import store_of
from tests.flow.expect import Has, Like
from tests.flow.harness import ADMIN, ROOM, ROOM2, Harness

DAY = 24 * 3600
IMMEDIATE = """
profiles:
  super:
    engagement: {checkin: {fold_seconds: 0}}
"""
FOLDING = """
profiles:
  super:
    engagement: {checkin: {fold_seconds: 120, fold_max_mentions: 20}}
    welcome: {enabled: false}
"""


async def _started(tmp_path: Path, extra: str = IMMEDIATE, *, calendar: bool = False) -> Harness:
    """Without folding the calendar is not needed: days pass quickly."""
    bot = Harness(tmp_path, extra, calendar=calendar)
    await bot.start()
    bot.actions.new()
    return bot


def _says(bot: Harness) -> list[Say]:
    """The messages the bot posted since the last look."""
    return [a for a, status in bot.actions.new() if isinstance(a, Say) and status == "done"]


async def _balance(bot: Harness, member: str, room: str = ROOM) -> int:
    store = store_of(bot.app.context_for_job())
    return await store.balance(f"room:{room}", member)


async def test_a_member_sees_the_streak_grow_day_by_day_and_start_again_after_a_missed_day(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    said = []
    for days_later in (0, 1, 2, 4):  # the fourth day is skipped
        if days_later:
            await bot.advance(DAY if days_later < 4 else 2 * DAY)
        await bot.puppet.member_says(ROOM, "wxid_a", "#签到")
        await bot.settle()
        said += [a.text for a in _says(bot)]
    assert said == [
        "签到成功！已连续签到 1 天，获得 10 积分（共 10 分），今天第 1 个签到。",
        "签到成功！已连续签到 2 天，获得 12 积分（共 22 分），今天第 1 个签到。",
        "签到成功！已连续签到 3 天，获得 14 积分（共 36 分），今天第 1 个签到。",
        "签到成功！已连续签到 1 天，获得 10 积分（共 46 分），今天第 1 个签到。",
    ]
    await bot.stop()


async def test_a_second_checkin_the_same_day_pays_nothing_and_gives_the_rank(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, ADMIN, "#签到")
    await bot.puppet.member_says(ROOM, "wxid_a", "#qd")
    await bot.settle()
    await bot.advance(60)
    await bot.puppet.member_says(ROOM, "wxid_a", "#签到")
    await bot.settle()
    bot.actions.expect(
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("今天第 1 个签到")),
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("今天第 2 个签到")),
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("已经签到过了", "第 2 个")),
    )
    assert await _balance(bot, "wxid_a") == 10
    await bot.stop()


async def test_a_replayed_checkin_message_pays_once_and_is_confirmed_once(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    message_id = await bot.puppet.member_says(ROOM, "wxid_a", "#签到")
    await bot.settle()
    bot.puppet.emit_raw("message", EventMessagePayload(message_id=message_id))
    await bot.advance(5)
    confirmations = _says(bot)
    assert [a.text for a in confirmations] == [
        "签到成功！已连续签到 1 天，获得 10 积分（共 10 分），今天第 1 个签到。"
    ]
    assert await _balance(bot, "wxid_a") == 10
    await bot.stop()


async def test_the_day_turns_at_the_groups_midnight_not_at_utc_midnight(tmp_path: Path) -> None:
    bot = await _started(tmp_path)  # 09:00 Shanghai = 01:00 UTC
    await bot.advance(14 * 3600 + 59 * 60)  # 23:59 Shanghai, 15:59 UTC
    await bot.puppet.member_says(ROOM, "wxid_a", "#签到")
    await bot.settle()
    await bot.advance(2 * 60)  # 00:01 Shanghai: a new day (UTC is still on the old one)
    await bot.puppet.member_says(ROOM, "wxid_a", "#签到")
    await bot.settle()
    texts = [a.text for a in _says(bot)]
    assert [t[:14] for t in texts] == ["签到成功！已连续签到 1 天", "签到成功！已连续签到 2 天"]
    await bot.stop()


async def test_a_member_who_is_not_an_admin_cannot_add_points(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, "wxid_a", "#加分 @阿甲 100 自己加", mention_ids=["wxid_a"])
    await bot.settle()
    bot.actions.expect(Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("只有群管可以使用")))
    assert await _balance(bot, "wxid_a") == 0
    await bot.stop()


async def test_an_admin_adds_and_takes_points_but_not_beyond_the_balance(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, ADMIN, "#加分 @阿甲 30 活动奖励", mention_ids=["wxid_a"])
    await bot.settle()
    await bot.puppet.member_says(ROOM, ADMIN, "#扣分 @阿甲 50 刷屏", mention_ids=["wxid_a"])
    await bot.settle()
    await bot.puppet.member_says(ROOM, ADMIN, "#扣分 @阿甲 20 刷屏", mention_ids=["wxid_a"])
    await bot.settle()
    bot.actions.expect(
        Like(
            Say, room=ROOM, mention_ids=(ADMIN,), text=Has("阿甲 加 30 积分（活动奖励）", "30 分")
        ),
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("只有 30 积分，不能扣 50 分")),
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("阿甲 扣 20 积分（刷屏）", "10 分")),
    )
    assert await _balance(bot, "wxid_a") == 10
    audit = [a for a in await bot.repo.recent_audit(50) if a.action.startswith("points_")]
    assert sorted((a.action, a.target_id) for a in audit) == [
        ("points_add", "wxid_a"),
        ("points_take", "wxid_a"),
    ]
    await bot.stop()


async def test_balance_and_leaderboard_show_this_week_and_all_time(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, ADMIN, "#加分 @阿甲 100 上周活动", mention_ids=["wxid_a"])
    await bot.settle()
    _says(bot)
    await bot.advance(7 * DAY)  # next Monday: a new week
    await bot.puppet.member_says(ROOM, ADMIN, "#签到")
    await bot.puppet.member_says(ROOM, "wxid_a", "#积分")
    await bot.settle()
    await bot.puppet.member_says(ROOM, "wxid_a", "#排行")
    await bot.settle()
    said = [a.text for a in _says(bot)]
    assert said[1] == "你现在有 100 积分，本周获得 0 分。发送「#排行」看排行榜。"
    assert (
        said[2]
        == "【测试一群】积分排行\n本周：\n1. 管理员 10 分\n总榜：\n1. 阿甲 100 分\n2. 管理员 10 分"
    )
    await bot.stop()


async def test_points_are_the_groups_own_unless_a_tag_shares_them(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, ADMIN, "#加分 @阿乙 5 好", mention_ids=["wxid_b"])
    await bot.settle()
    assert await _balance(bot, "wxid_b", ROOM) == 5
    assert await _balance(bot, "wxid_b", ROOM2) == 0
    await bot.stop()


# ------------------------------------------------------------------ folding


async def _crowd(bot: Harness, n: int) -> list[str]:
    members = [f"wxid_m{i:02d}" for i in range(n)]
    for member in members:
        bot.puppet.add_contact(member, f"成员{member[-2:]}")
    await bot.puppet.join(ROOM, members, ADMIN)
    await bot.settle()
    bot.actions.new()
    return members


async def test_a_busy_group_gets_one_folded_message_for_many_checkins(tmp_path: Path) -> None:
    bot = await _started(tmp_path, FOLDING, calendar=True)
    members = await _crowd(bot, 12)
    for member in members:
        await bot.puppet.member_says(ROOM, member, "#签到")
    await bot.settle()
    first = _says(bot)
    assert [a.mention_ids for a in first] == [(members[0],)]  # the first is answered at once
    await bot.advance(180)
    folded = _says(bot)
    assert len(folded) == 1
    assert folded[0].mention_ids == tuple(members[1:])
    assert folded[0].text.startswith("以上 11 位签到成功：\n成员01：连续 1 天，+10 分，第 2 个\n")
    for member in members:
        assert await _balance(bot, member) == 10
    await bot.stop()


async def test_more_than_twenty_folded_checkins_take_one_message_per_twenty(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path, FOLDING, calendar=True)
    members = await _crowd(bot, 46)
    for member in members:
        await bot.puppet.member_says(ROOM, member, "#签到")
    await bot.settle()
    await bot.advance(180)
    says = _says(bot)
    assert [len(a.mention_ids) for a in says] == [1, 20, 20, 5]
    assert sorted(m for a in says for m in a.mention_ids) == sorted(members)
    await bot.stop()


async def test_folded_confirmations_survive_a_crash_and_none_is_lost(tmp_path: Path) -> None:
    bot = await _started(tmp_path, FOLDING, calendar=True)
    members = await _crowd(bot, 8)
    for member in members:
        await bot.puppet.member_says(ROOM, member, "#签到")
    await bot.settle()
    assert [a.mention_ids for a in _says(bot)] == [(members[0],)]
    await bot.crash()  # before the batch is due: the 7 pending confirmations are in the database

    again = Harness(tmp_path, FOLDING, clock=bot.clock)
    for member in members:  # WeChat kept them in the group
        again.puppet.add_contact(member, member)
        again.puppet.room_state(ROOM).members[member] = SandboxMember(inviter_id=ADMIN)
    await again.start()  # the lease's ttl has passed: the batch is due now
    await again.advance(180)
    folded = _says(again)
    assert [a.mention_ids for a in folded] == [tuple(members[1:])]
    await again.advance(600)
    again.actions.nothing()  # sent once
    await again.stop()


async def test_when_the_account_confirms_too_much_at_once_other_groups_fold_too(
    tmp_path: Path,
) -> None:
    one_a_minute = """
    profiles:
      super:
        engagement: {checkin: {fold_seconds: 120, immediate_per_minute: 1}}
      member:
        engagement: {checkin: {fold_seconds: 120, immediate_per_minute: 1}}
    """
    bot = await _started(tmp_path, one_a_minute, calendar=True)
    await bot.puppet.member_says(ROOM, "wxid_a", "#签到")
    await bot.settle()
    await bot.puppet.member_says(ROOM2, "wxid_b", "#签到")  # a quiet group, a busy account
    await bot.settle()
    assert [(a.room, a.mention_ids) for a in _says(bot)] == [(ROOM, ("wxid_a",))]
    await bot.advance(180)
    folded = _says(bot)
    assert [(a.room, a.mention_ids) for a in folded] == [(ROOM2, ("wxid_b",))]
    await bot.stop()
