"""The ``checkin`` kind: opens a check-in round in each target group, closes
it after a while and posts a summary with the streak leaders."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model
from bot.vocab.actions import Action, Priority, Say
from bot.vocab.texts import render
from handlers.base import Context, Result
from handlers.feature import Feature
from sop.calendar import every, fire_times
from sop.kinds import JOB_PREFIX, Run
from storage.calendar_runs import RunKey
from storage.checkin_days import CheckinDays

if TYPE_CHECKING:  # pragma: no cover
    from sop.runtime import CalendarRuntime, Planned

WEEKDAYS = "一二三四五六日"
#: A round whose summary was not posted within this long after its close (the
#: bot was down) gets none: a summary hours late would confuse.
CLOSE_GRACE = timedelta(minutes=30)

_BASE = {"group", "bot_name", "prefix", "date", "weekday"}


class CheckinRoundContent(Model):
    """``checkin:`` of a calendar entry."""

    open_text: Annotated[str, Template(placeholders=_BASE | {"minutes"})] = Field(
        default="☀️ {date} {weekday} 签到开始啦！发送「{prefix}签到」打卡领积分，{minutes} 分钟后公布今日签到榜。",
        max_length=1000,
    )
    close_after_minutes: float = Field(default=120, gt=0, le=1440)
    summary_text: Annotated[str, Template(placeholders=_BASE | {"count", "leaders"})] = Field(
        default="📋 今日签到结束：共 {count} 人签到。\n连续签到榜：\n{leaders}",
        max_length=1000,
    )
    leader_line: Annotated[str, Template(placeholders={"rank", "name", "streak"})] = Field(
        default="{rank}. {name}：连续 {streak} 天", max_length=200
    )
    leaders: int = Field(default=5, ge=0, le=20, description="Streak leaders in the summary.")


feature = Feature("checkin_rounds")


def _values(ctx: Context, run: Run) -> dict[str, str]:
    tz = ZoneInfo(run.entry.timezone or ctx.config.calendar.timezone or ctx.config.bot.timezone)
    local = run.scheduled_at.astimezone(tz)
    return {
        "prefix": ctx.config.commands.prefix,
        "date": f"{local.month}月{local.day}日",
        "weekday": f"星期{WEEKDAYS[local.weekday()]}",
    }


@feature.kind("checkin", CheckinRoundContent, description="A check-in round with its summary.")
async def run_checkin(ctx: Context, run: Run) -> list[Action]:
    """Open the round: the announcement (the summary is :func:`close_rounds`')."""
    content: CheckinRoundContent = run.content
    if ctx.policy is None:
        return []
    minutes = f"{content.close_after_minutes:g}"
    text = render(content.open_text, ctx.policy, minutes=minutes, **_values(ctx, run))
    why = f"calendar {run.entry.id}: check-in round opens"
    return [Say(room=run.room_id, text=text, priority=Priority.BROADCAST, reason=why)]


@feature.job("close", lambda tz, config: every(1, tz), grace=timedelta(minutes=1))
async def close_rounds(ctx: Context, now: datetime) -> Result:
    """Post the summary of each round whose time is up (once: claimed by its key)."""
    assert ctx.services is not None
    runtime: CalendarRuntime = ctx.services.shared["sop"]
    actions: list[Action] = []
    for (job_id, room), planned in list(runtime.planned.items()):
        entry = planned.entry
        if entry.kind != "checkin" or not room:
            continue
        content: CheckinRoundContent = entry.content
        span = timedelta(minutes=content.close_after_minutes)
        opened = fire_times(planned.trigger, now - span - CLOSE_GRACE, now - span, 10)
        if not opened:
            continue
        at = opened[-1]
        if not await _opened(runtime, job_id, room, at):
            continue  # missed, paused or not yet run: nothing to close
        close_key = RunKey(f"{job_id}:close", room, at)
        if not await runtime.runs.claim(close_key, now):
            continue
        await runtime.runs.finish(close_key, now)
        actions += await _summary(ctx, runtime, planned, room, at, content)
    return Result(actions)


async def _opened(runtime: CalendarRuntime, job_id: str, room: str, at: datetime) -> bool:
    if await runtime.pauses.is_paused(room, job_id.removeprefix(JOB_PREFIX)):
        return False
    return any(
        r.key.scheduled_at == at and r.status == "done"
        for r in await runtime.runs.runs(job_id, room)
    )


async def _summary(
    ctx: Context,
    runtime: CalendarRuntime,
    planned: Planned,
    room: str,
    at: datetime,
    content: CheckinRoundContent,
) -> list[Action]:
    policy = runtime.policies.get(room)
    if policy is None:
        return []
    run = Run(planned.entry, room, at, at + timedelta(minutes=planned.entry.valid_minutes))
    day = at.astimezone(runtime.tz).date().isoformat()
    assert ctx.sessions is not None
    days = CheckinDays(ctx.sessions)
    count = await days.count(room, day)
    leaders = await days.leaders(room, day, content.leaders)
    lines = [
        content.leader_line.format(rank=i, name=x.name, streak=x.streak)
        for i, x in enumerate(leaders, 1)
    ]
    text = render(
        content.summary_text,
        policy,
        count=str(count),
        leaders="\n".join(lines) or "（今天还没有人签到）",
        **_values(ctx, run),
    )
    why = f"calendar {planned.entry.id}: check-in round summary"
    key = f"{run.key}:summary"
    return [Say(room=room, text=text, priority=Priority.BROADCAST, reason=why, key=key)]
