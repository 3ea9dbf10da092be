"""Reports (issue 11): name-card reminders once per member and alias, #名片检查
for admins, and the calendar's ``report`` kind sending a chart to each admin."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PIL import Image

from bot.vocab.actions import Say, SendImage
from bot.vocab.events import RoomSnapshotEvent
from handlers.features import FEATURES
from handlers.reports.base import feature as reports
from handlers.reports.name_cards import remind_name_cards
from handlers.reports.weekly import ReportContent, run_report
from sop.kinds import Run
from tests.flow.harness import ADMIN, BOT, OWNER, ROOM, ROOM2, Harness

REMINDER = "请以上朋友把群昵称改为"


def _bot(tmp_path: Path) -> Harness:
    features = FEATURES if reports in FEATURES else (reports, *FEATURES)
    return Harness(tmp_path, features=features)


async def _list(bot: Harness, aliases: dict[str, str]) -> None:
    """A member list of ROOM with these group aliases, as the transport reads it."""
    members = (BOT, OWNER, ADMIN, *aliases)
    names = ("", "", "", *aliases.values())
    bot.app.dispatcher.feed(
        RoomSnapshotEvent(
            ROOM,
            members,
            bot.clock.now(),
            "测试一群",
            owner_id=OWNER,
            member_aliases=("", "群主", "管理员", *aliases.values()),
            member_names=names,
        )
    )
    await bot.settle()


async def _daily_run(bot: Harness) -> None:
    """The daily name-card job, run now (as the calendar would at 10:00)."""
    now = bot.clock.now()
    result = await remind_name_cards(bot.app.context_for_job(), now)
    await bot.app.doer.do(result, reports.name, f"name-cards@{now.isoformat()}")
    await bot.settle()


def _reminders(bot: Harness) -> list[Say]:
    return [
        a
        for a, status in bot.actions.new()
        if isinstance(a, Say) and REMINDER in a.text and status == "done"
    ]


async def test_only_non_compliant_members_are_reminded_and_only_once(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    await bot.start()
    await bot.puppet.join(ROOM, ["wxid_b", "wxid_c"], OWNER)
    await _list(bot, {"wxid_a": "上海-IT-阿甲", "wxid_b": "阿乙", "wxid_c": ""})
    bot.actions.new()
    await _daily_run(bot)
    [reminder] = _reminders(bot)
    assert reminder.room == ROOM and set(reminder.mention_ids) == {"wxid_b", "wxid_c"}
    assert "城市-行业-昵称" in reminder.text  # the super profile's welcome format
    await bot.clock.advance(24 * 3600)
    await _daily_run(bot)  # the next day: nobody twice
    assert _reminders(bot) == []
    await _list(bot, {"wxid_a": "上海-IT-阿甲", "wxid_b": "阿乙乙", "wxid_c": ""})
    await bot.clock.advance(24 * 3600)
    await _daily_run(bot)  # a changed alias that still does not match: once more
    [again] = _reminders(bot)
    assert again.mention_ids == ("wxid_b",)
    await bot.stop()


async def test_name_card_check_lists_the_non_compliant_for_admins_only(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    await bot.start()
    await _list(bot, {"wxid_a": "阿甲"})
    bot.actions.new()
    await bot.puppet.member_says(ROOM, ADMIN, "#名片检查")
    await bot.puppet.member_says(ROOM, "wxid_a", "#名片检查")
    await bot.settle()
    texts = [a.text for a, _ in bot.actions.new() if isinstance(a, Say)]
    assert any("城市-行业-昵称" in t and "阿甲" in t and "1人" in t for t in texts)
    assert not any("1人" in t and "wxid_a" in (t or "") for t in texts[1:])
    await bot.stop()


async def test_the_report_kind_sends_a_chart_and_a_summary_to_each_admin(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    await bot.start()
    await bot.puppet.member_says(ROOM, "wxid_a", "大家好")
    await bot.settle()
    await bot.clock.advance(7 * 24 * 3600)  # the next Monday: last week holds that message
    ctx = dataclasses.replace(bot.app.context_for_job(), policy=bot.app.policies.get(ROOM))
    now = bot.clock.now()
    entry: Any = SimpleNamespace(id="weekly", content=ReportContent(overview=True))
    run = Run(entry, ROOM, now, now + timedelta(hours=1), rooms=(ROOM, ROOM2))
    result = await run_report(ctx, run)
    images = [a for a in result.actions if isinstance(a, SendImage)]
    assert {a.to_contact for a in images} == {OWNER, ADMIN, OWNER}  # the overview to owners
    weekly = [a for a in images if "overview" not in a.path]
    assert sorted(a.to_contact or "" for a in weekly) == sorted([OWNER, ADMIN])
    assert all(a.not_after == run.not_after and len(a.sha256) == 64 for a in images)
    with Image.open(weekly[0].path) as image:
        assert image.format == "PNG"
    texts = [a.text for a in result.actions if isinstance(a, Say)]
    assert any("测试一群" in t and "消息 1 条" in t for t in texts)
    again = await run_report(ctx, run)  # a re-run: the same file, the same bytes
    assert [a.sha256 for a in again.actions if isinstance(a, SendImage)] == [
        a.sha256 for a in images
    ]
    await bot.stop()
