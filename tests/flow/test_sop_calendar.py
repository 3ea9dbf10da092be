"""The SOP calendar of bot.yaml, run by the whole app on the injected clock.

The clock starts on Monday 2026-01-05 at 09:00 in Shanghai.  ROOM (测试一群)
carries the tag brandA; ROOM2 (测试二群) does not.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bot.alerts import AlertKind
from bot.vocab.actions import Say
from bot.vocab.clock import ManualClock
from tests.flow.expect import Has, Like
from tests.flow.harness import ADMIN, BASE_YAML, OWNER, ROOM, ROOM2, Harness

MORNING = """
calendar:
  entries:
    - id: morning
      kind: post
      cron: "30 9 * * *"
      days: workdays
      tags: [brandA]
      grace_minutes: 30
      post:
        text: "早安！今天是{date} {weekday}，{group}共 {member_count} 人。"
"""

AFTERNOON = """
calendar:
  entries:
    - id: afternoon
      kind: post
      cron: "30 13 * * *"
      groups: [r2@chatroom]
      post:
        text: "下午好，{group}"
"""

ROUND = """
calendar:
  entries:
    - id: daily-checkin
      kind: checkin
      cron: "0 10 * * *"
      groups: [r1@chatroom]
      checkin:
        close_after_minutes: 60
"""


def _bot(tmp_path: Path, yaml: str, **kw: object) -> Harness:
    return Harness(tmp_path, yaml, **kw)  # type: ignore[arg-type]


def _from_file(tmp_path: Path, yaml: str, **kw: object) -> tuple[Harness, Path]:
    """A bot whose config came from a file (so it can be reloaded)."""
    bot = _bot(tmp_path, yaml, **kw)
    path = tmp_path / "bot.yaml"
    path.write_text(BASE_YAML + textwrap.dedent(yaml), encoding="utf-8")
    bot.app.config._source = path
    return bot, path


def morning_post(room: str = ROOM) -> Like:
    return Like(Say, room=room, text="早安！今天是1月5日 星期一，测试一群共 3 人。")


async def test_a_morning_post_reaches_the_tagged_group_and_no_other(tmp_path: Path) -> None:
    bot = _bot(tmp_path, MORNING)
    await bot.start()
    bot.actions.new()
    await bot.advance(3600)
    bot.actions.expect(morning_post())
    await bot.stop()


async def test_a_post_is_sent_once_across_a_crash_after_its_run(tmp_path: Path) -> None:
    bot = _bot(tmp_path, MORNING)
    await bot.start()
    bot.actions.new()
    await bot.clock.advance(30 * 60)  # 09:30: the run is claimed and its post queued
    await bot.app.calendar.settle()
    await bot.crash()  # whether or not the post went out yet

    again = _bot(tmp_path, MORNING, clock=bot.clock)
    await again.start()  # the outbox finishes it; the run is not done a second time
    await again.advance(3600)
    posts = [a for a, status in [*bot.actions.new(), *again.actions.new()] if status == "done"]
    assert [getattr(a, "text", "") for a in posts if isinstance(a, Say)] == [
        "早安！今天是1月5日 星期一，测试一群共 3 人。"
    ]
    await again.stop()


async def _down_until(tmp_path: Path, minutes_after_tuesday_0930: int) -> Harness:
    """Monday's post is run; the bot is down from 10:00 until Tuesday 09:30 + the minutes."""
    bot = _bot(tmp_path, MORNING)
    await bot.start()
    await bot.advance(3600)  # Monday 09:30 is run (recorded)
    await bot.stop()
    await bot.clock.advance((23 * 60 + 30 + minutes_after_tuesday_0930) * 60)
    again = _bot(tmp_path, MORNING, clock=bot.clock)
    await again.start()
    await again.advance(60)
    return again


async def test_a_run_missed_within_its_grace_is_done_late_once(tmp_path: Path) -> None:
    again = await _down_until(tmp_path, 20)  # back at 09:50: within the 30 min grace
    again.actions.expect(Like(Say, room=ROOM, text=Has("早安！今天是1月6日 星期二")))
    await again.advance(3600)
    again.actions.nothing()
    await again.stop()


async def test_a_run_missed_past_its_grace_is_not_sent_and_the_admins_are_told(
    tmp_path: Path,
) -> None:
    again = await _down_until(tmp_path, 60)  # back at 10:30
    told = Has("日程「morning」", "01月06日 09:30", "没有发出")
    again.actions.expect(
        Like(Say, room=None, to_contact=ADMIN, text=told),
        Like(Say, room=None, to_contact=OWNER, text=told),  # an owner is an admin too
        in_order=False,
    )
    runs = await again.app.calendar_runs.runs("sop:morning", ROOM)
    assert [r.status for r in runs] == ["done", "missed"]
    await again.stop()


async def test_an_invalid_reload_is_rejected_and_the_running_calendar_stays(
    tmp_path: Path,
) -> None:
    bot, path = _from_file(tmp_path, MORNING)
    await bot.start()
    bot.actions.new()
    path.write_text(path.read_text().replace('"30 9 * * *"', '"30 25 * * *"'), encoding="utf-8")

    applied, said = await bot.app.reload_config(by=OWNER)

    assert not applied and "没有生效" in said and "cron" in said
    alert = bot.app.alerter.sent[-1]  # type: ignore[attr-defined]
    assert alert.kind is AlertKind.CONFIG_REJECTED and "bot.yaml" in alert.what
    await bot.advance(3600)
    bot.actions.expect(morning_post())  # the old calendar ran on
    await bot.stop()


async def test_a_valid_reload_replaces_the_calendar_and_is_audited(tmp_path: Path) -> None:
    bot, path = _from_file(tmp_path, MORNING)
    await bot.start()
    bot.actions.new()
    path.write_text(BASE_YAML + textwrap.dedent(AFTERNOON), encoding="utf-8")

    applied, said = await bot.app.reload_config(by=OWNER)

    assert applied and "新增 1 项（afternoon）" in said and "删除 1 项（morning）" in said
    await bot.advance(5 * 3600)  # past 09:30 and 13:30
    bot.actions.expect(Like(Say, room=ROOM2, text="下午好，测试二群"))
    async with bot.app.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT status, reason FROM audit_log WHERE action = 'calendar'")
            )
        ).one()
    assert row.status == "done" and "afternoon" in row.reason
    await bot.stop()


async def test_the_owner_reloads_by_command_and_a_member_is_refused(tmp_path: Path) -> None:
    bot, _ = _from_file(tmp_path, MORNING)
    await bot.start()
    bot.actions.new()
    await bot.puppet.member_says(ROOM, "wxid_a", "#重载")
    await bot.puppet.direct_message(OWNER, "#重载")
    await bot.settle()
    bot.actions.expect(
        Like(Say, room=ROOM, text=Has("群主")),
        Like(Say, room=None, to_contact=OWNER, text=Has("已重新加载日程", "日程没有变化")),
        in_order=False,
    )
    await bot.stop()


async def test_an_entry_paused_in_a_group_stays_paused_after_a_restart(tmp_path: Path) -> None:
    bot = _bot(tmp_path, MORNING)
    await bot.start()
    await bot.puppet.member_says(ROOM, "wxid_a", "#暂停 morning")  # not an admin
    await bot.puppet.member_says(ROOM, ADMIN, "#暂停 morning")
    await bot.settle()
    bot.actions.new()
    await bot.stop()

    again = _bot(tmp_path, MORNING, clock=bot.clock)
    await again.start()
    await again.advance(3600)  # 09:30 passes: paused here
    again.actions.nothing()
    await again.puppet.member_says(ROOM, ADMIN, "#恢复 morning")
    await again.settle()
    again.actions.new()
    await again.advance(24 * 3600)
    again.actions.expect(Like(Say, room=ROOM, text=Has("早安！今天是1月6日 星期二")))
    await again.stop()


async def test_a_member_sees_the_groups_next_runs(tmp_path: Path) -> None:
    bot = _bot(tmp_path, MORNING)
    await bot.start()
    bot.actions.new()
    await bot.puppet.member_says(ROOM, "wxid_a", "#日程")
    await bot.settle()
    bot.actions.expect(
        Like(Say, room=ROOM, text=Has("01-05 周一 09:30  morning", "01-09 周五 09:30  morning"))
    )
    said = bot.actions.new()
    assert said == []
    await bot.stop()


async def test_a_checkin_round_opens_and_posts_its_streak_leaders(tmp_path: Path) -> None:
    bot = _bot(tmp_path, ROUND)
    await bot.start()
    bot.actions.new()
    await bot.advance(3600)  # 10:00: the round opens
    bot.actions.expect(Like(Say, room=ROOM, text=Has("签到开始啦", "60 分钟后")))
    await bot.puppet.member_says(ROOM, "wxid_a", "#签到")
    await bot.settle()
    bot.actions.new()
    await bot.advance(3600)  # 11:00: it closes
    bot.actions.expect(Like(Say, room=ROOM, text=Has("共 1 人签到", "1. 阿甲：连续 1 天")))
    await bot.stop()


MEMBER_DAY = """
profiles:
  super:
    welcome: {enabled: false}
    engagement:
      coupons:
        types:
          coffee: {name: 咖啡券, value: ¥10, valid_days: 7}
calendar:
  entries:
    - id: member-day
      kind: coupon_drop
      cron: "0 10 * * *"
      groups: [r1@chatroom]
      coupon_drop: {type: coffee, to: eligible, spoke_within_days: 7}
    - id: flash-coupons
      kind: coupon_drop
      cron: "0 11 * * *"
      groups: [r1@chatroom]
      coupon_drop: {type: coffee, count: 1, open_minutes: 30}
"""


async def test_member_day_gives_one_coupon_to_each_member_who_spoke_lately(
    tmp_path: Path,
) -> None:
    bot = _bot(tmp_path, MEMBER_DAY)
    await bot.start()
    await bot.puppet.member_says(ROOM, "wxid_a", "大家好")  # spoke; the owner did not
    await bot.settle()
    bot.actions.new()
    await bot.advance(3600)  # 10:00
    bot.actions.expect(Like(Say, room=ROOM, text=Has("已给 1 位", "咖啡券")))
    await bot.puppet.member_says(ROOM, "wxid_a", "#我的券")
    await bot.settle()
    bot.actions.expect(Like(Say, room=ROOM, text=Has("咖啡券")))
    await bot.advance(3600)  # 11:00: a drop for the first one who claims
    bot.actions.expect(Like(Say, room=ROOM, text=Has("咖啡券", "领券")))
    await bot.puppet.member_says(ROOM, ADMIN, "#领券")
    await bot.puppet.member_says(ROOM, "wxid_a", "#领券")
    await bot.settle()
    said = [a.text for a, _ in bot.actions.new() if isinstance(a, Say)]
    assert len(said) == 2 and sum("领到" in t or "成功" in t for t in said) == 1, said
    await bot.stop()


async def test_the_owners_are_told_once_when_holiday_data_runs_out(tmp_path: Path) -> None:
    december = ManualClock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))  # 2027 is 31 days away
    bot = _bot(tmp_path, MORNING, clock=december)
    await bot.start()
    told = [a for a in bot.app.alerter.sent if a.kind is AlertKind.HOLIDAY_DATA]
    assert len(told) == 1 and "2027" in told[0].what and "morning" in told[0].what
    await bot.stop()

    again = _bot(tmp_path, MORNING, clock=december)
    await again.start()
    assert not [a for a in again.app.alerter.sent if a.kind is AlertKind.HOLIDAY_DATA]
    await again.stop()
