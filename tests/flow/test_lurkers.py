"""Lurkers through the whole app: #潜水 and its exemptions, 冒泡提醒 → grace →
#确认清理 → paced removal, a member who speaks after the warning spared,
#恢复, a non-admin refused, report mode removing nobody, the capacity alert.

The tick and sweeps run by hand (``calendar=False``); the clock is moved
across the silent days and the grace.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.vocab.actions import AddMember, RemoveMember, Say
from handlers import lurkers
from handlers.features import FEATURES
from storage.lurkers import LurkerStore
from tests.flow.expect import Has, Like
from tests.flow.harness import ACCOUNT, ADMIN, OWNER, ROOM, Harness

MINE = [lurkers.feature] if lurkers.feature not in FEATURES else []
TICK = "lurkers.tick"
DAY = 24 * 3600.0

REPORT = """
commands: {reply_valid_seconds: 3600, max_per_member: 100, repeat_window_seconds: 0}
profiles:
  super:
    welcome: {enabled: false}
    lurkers: {silent_days: 30, newcomer_grace_days: 14}
"""
WARN = """
commands: {reply_valid_seconds: 3600, max_per_member: 100, repeat_window_seconds: 0}
profiles:
  super:
    welcome: {enabled: false}
    lurkers: {mode: warn_then_remove, silent_days: 30, grace_hours: 48}
"""


async def started(tmp_path: Path, yaml: str) -> Harness:
    harness = Harness(tmp_path, yaml, calendar=False, features=[*FEATURES, *MINE])
    await harness.start()
    await harness.puppet.join(ROOM, ["wxid_b", "wxid_c"], ADMIN)
    await harness.settle()
    harness.actions.new()
    return harness


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await started(tmp_path, WARN)
    yield harness
    await harness.stop()


@pytest.fixture
async def reporting(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await started(tmp_path, REPORT)
    yield harness
    await harness.stop()


async def speak(bot: Harness, member: str, text: str, *mentions: str) -> list:
    """Everything the bot did in answer."""
    await bot.puppet.member_says(ROOM, member, text, mention_ids=list(mentions))
    await bot.settle()
    return bot.actions.new()


def in_group(done: list) -> list[str]:
    """What the bot said in the group (``@id`` mentions, then the text)."""
    return [
        "".join(f"@{m} " for m in a.mention_ids) + a.text
        for a, status in done
        if isinstance(a, Say) and a.room == ROOM and status == "done"
    ]


async def says(bot: Harness, member: str, text: str, *mentions: str) -> list[str]:
    return in_group(await speak(bot, member, text, *mentions))


def private(done: list, who: str) -> list[str]:
    return [a.text for a, s in done if isinstance(a, Say) and a.to_contact == who and s == "done"]


async def tick(bot: Harness) -> list:
    await bot.app.calendar.run_job(TICK)
    await bot.settle()
    return bot.actions.new()


async def test_lurker_list_leaves_out_owner_admin_newcomer_checker_and_allowlisted(
    reporting: Harness,
) -> None:
    bot = reporting
    await bot.clock.advance(25 * DAY)
    await bot.puppet.join(ROOM, ["wxid_stranger"], ADMIN)  # a newcomer, in grace
    await bot.settle()
    assert await says(bot, ADMIN, "#白名单 @阿乙", "wxid_b") == [
        f"@{ADMIN} 好的，已加入本群白名单，今后不再检查其消息。"
    ]
    await bot.clock.advance(6 * DAY)
    [checked] = await says(bot, "wxid_c", "#签到")  # a daily checker: a check-in counts
    assert "签到成功" in checked
    [listed] = await says(bot, ADMIN, "#潜水")
    assert listed.startswith(f"@{ADMIN} 【测试一群】潜水成员 1 人（超过 30 天未发言，显示前 1 位）")
    assert "1. 阿甲（wxid_a）从未发言" in listed
    for exempt in (OWNER, ADMIN, "wxid_b", "wxid_c", "wxid_stranger"):
        assert exempt not in listed.replace(f"@{ADMIN} ", "")


async def test_report_mode_tells_the_admins_and_removes_nobody(reporting: Harness) -> None:
    bot = reporting
    await bot.clock.advance(31 * DAY)
    done = await speak(bot, ADMIN, "#潜水检查")
    [reply] = in_group(done)
    assert "3 人超过期限未发言，本次提醒 0 人" in reply
    [report] = private(done, ADMIN)
    assert report.startswith("【测试一群】潜水成员报告：3 人超过 30 天未发言（仅报告，不做处理）")
    assert private(done, OWNER) == [report]
    await bot.clock.advance(3 * DAY)
    done = await tick(bot)
    assert not any(isinstance(a, RemoveMember | Say) and a.room == ROOM for a, _ in done)
    assert await LurkerStore(bot.app.services.sessions, account_id=ACCOUNT).warnings_of(ROOM) == []
    assert set(await bot.puppet.room_members(ROOM)) >= {"wxid_a", "wxid_b", "wxid_c"}


async def warn_all(bot: Harness) -> None:
    await bot.clock.advance(31 * DAY)
    await bot.puppet.member_says(ROOM, ADMIN, "#潜水检查")
    await bot.settle()
    bot.actions.expect(
        Like(
            Say,
            room=ROOM,
            mention_ids=("wxid_a", "wxid_b", "wxid_c"),
            text=Has("【冒泡提醒】", "48 小时内"),
        ),
        Like(Say, room=ROOM, text=Has("本次提醒 3 人")),
        in_order=False,
    )


async def test_warning_grace_confirmation_and_paced_removal(bot: Harness) -> None:
    await warn_all(bot)
    await bot.clock.advance(47 * 3600)
    assert [a for a in await tick(bot) if isinstance(a[0], RemoveMember | Say)] == []
    await bot.clock.advance(2 * 3600)
    done = await tick(bot)
    [notice] = private(done, ADMIN)
    assert notice.startswith("【测试一群】潜水清理名单 #1（3 人，提醒后仍未发言）")
    assert "「#确认清理 1」" in notice
    assert not any(isinstance(a, RemoveMember) for a, _ in done)

    done = await speak(bot, ADMIN, "#确认清理 1")
    assert in_group(done)[0] == f"@{ADMIN} 已确认清理 #1：3 人将分批移出。"
    removed = [a.member_id for a, s in done if isinstance(a, RemoveMember) and s == "done"]
    assert sorted(removed) == ["wxid_a", "wxid_b", "wxid_c"]
    goodbye = in_group(done)[1]
    assert goodbye.startswith("@wxid_a @wxid_b @wxid_c 以上 3 位成员长期未发言")
    assert "「#恢复 @你」" in goodbye
    assert not ({"wxid_a", "wxid_b", "wxid_c"} & set(await bot.puppet.room_members(ROOM)))
    times = sorted(a.at for a in await bot.repo.recent_audit(50) if a.action == "remove_member")
    assert len(times) == 3
    assert all(b - a >= timedelta(seconds=10) for a, b in itertools.pairwise(times))
    # a second confirmation does nothing
    [again] = await says(bot, ADMIN, "#确认清理 1")
    assert "没有待确认的清理名单 #1" in again


async def test_a_member_who_speaks_after_the_warning_is_spared(bot: Harness) -> None:
    await warn_all(bot)
    await bot.clock.advance(3600)
    await says(bot, "wxid_b", "我在呢")
    await bot.clock.advance(48 * 3600)
    [notice] = private(await tick(bot), ADMIN)
    assert "（2 人，" in notice and "wxid_b" not in notice
    done = await speak(bot, ADMIN, "#确认清理 1")
    removed = [a.member_id for a, s in done if isinstance(a, RemoveMember)]
    assert sorted(removed) == ["wxid_a", "wxid_c"]
    assert "wxid_b" in await bot.puppet.room_members(ROOM)


async def test_restore_re_invites_and_clears_the_lurker_state(bot: Harness) -> None:
    await warn_all(bot)
    await bot.clock.advance(49 * 3600)
    await tick(bot)
    await says(bot, ADMIN, "#确认清理 1")
    await bot.settle()
    bot.actions.new()
    done = await speak(bot, ADMIN, "#恢复 @阿甲", "wxid_a")
    assert in_group(done) == [f"@{ADMIN} 好的，正在重新邀请 阿甲 入群，并清除其潜水记录。"]
    assert [a.member_id for a, s in done if isinstance(a, AddMember) and s == "done"] == ["wxid_a"]
    assert "wxid_a" in await bot.puppet.room_members(ROOM)
    store = LurkerStore(bot.app.services.sessions, account_id=ACCOUNT)
    assert "wxid_a" not in await store.open_warnings(ROOM)
    statuses = {w.member_id: w.status for w in await store.warnings_of(ROOM)}
    assert statuses == {"wxid_a": "restored", "wxid_b": "removed", "wxid_c": "removed"}


async def test_a_non_admin_cannot_confirm_a_removal(bot: Harness) -> None:
    await warn_all(bot)
    await bot.clock.advance(49 * 3600)
    await tick(bot)
    done = await speak(bot, "wxid_a", "#确认清理 1")
    assert in_group(done) == ["@wxid_a 抱歉，这个指令只有群管可以使用哦～"]
    assert not any(isinstance(a, RemoveMember) for a, _ in done)
    [batch] = [b for b in [await lurker_batch(bot, 1)] if b is not None]
    assert batch.status == "pending"


async def lurker_batch(bot: Harness, n: int):  # type: ignore[no-untyped-def]
    return await LurkerStore(bot.app.services.sessions, account_id=ACCOUNT).batch(n)


async def test_an_automatic_group_removes_without_confirmation(tmp_path: Path) -> None:
    bot = await started(
        tmp_path, WARN.replace("grace_hours: 48", "grace_hours: 48, automatic: true")
    )
    try:
        await warn_all(bot)
        await bot.clock.advance(49 * 3600)
        done = await tick(bot)
        await bot.settle()
        done += bot.actions.new()
        assert "将自动分批移出" in private(done, ADMIN)[0]
        removed = sorted(a.member_id for a, s in done if isinstance(a, RemoveMember))
        assert removed == ["wxid_a", "wxid_b", "wxid_c"]
    finally:
        await bot.stop()


async def test_capacity_alert_goes_to_the_admins_once_per_crossing(tmp_path: Path) -> None:
    yaml = WARN.replace(
        "grace_hours: 48}", "grace_hours: 48, capacity: {size_cap: 6, alert_at: 6}}"
    )
    bot = await started(tmp_path, yaml)  # 5 present: owner, admin, a, b, c
    try:
        await bot.clock.advance(31 * DAY)
        await bot.puppet.join(ROOM, ["wxid_stranger"], ADMIN)
        await bot.settle()
        [alert] = private(bot.actions.new(), ADMIN)
        assert alert.startswith("【测试一群】群人数已到 6/6，快满了。可腾出位置的潜水成员 3 人")
        assert "阿甲（wxid_a）从未发言" in alert
        await bot.puppet.leave(ROOM, ["wxid_stranger"])
        await bot.settle()
        await bot.puppet.join(ROOM, ["wxid_stranger"], ADMIN)
        await bot.settle()
        assert len(private(bot.actions.new(), ADMIN)) == 1  # crossed again: alerted again
        await says(bot, "wxid_a", "hi")
        assert private(bot.actions.new(), ADMIN) == []
    finally:
        await bot.stop()


PRIVATE = WARN.replace("grace_hours: 48}", "grace_hours: 48, warn_via: private}")


async def test_a_friend_is_warned_privately_and_the_others_in_the_group(tmp_path: Path) -> None:
    bot = await started(tmp_path, PRIVATE)
    await bot.puppet.friend_request("wxid_b", "", confirm=True)  # the friendship is made
    await bot.settle()
    await bot.clock.advance(31 * DAY)
    await bot.puppet.member_says(ROOM, ADMIN, "#潜水检查")
    await bot.settle()
    done = bot.actions.new()
    assert any("【冒泡提醒】" in t for t in private(done, "wxid_b"))
    warned = [a for a, _ in done if isinstance(a, Say) and a.room == ROOM and "冒泡提醒" in a.text]
    assert [a.mention_ids for a in warned] == [("wxid_a", "wxid_c")]
    await bot.stop()
