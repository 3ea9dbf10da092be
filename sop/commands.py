"""The calendar's commands: ``#日程`` (anyone), ``#暂停 <entry>`` and
``#恢复 <entry>`` (admins, this group, persisted), ``#重载`` (owners).

The runtime (:class:`sop.runtime.CalendarRuntime`) is the app's
(``services.shared["sop"]``); these only read it and record pauses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers.base import Context
from handlers.command_router import Reply
from handlers.feature import Feature, Stage
from handlers.lurkers.feature import restore as restore_member
from handlers.parsing import Command

if TYPE_CHECKING:  # pragma: no cover
    from sop.runtime import CalendarRuntime

WEEKDAYS = "一二三四五六日"
feature = Feature("calendar", stage=Stage.COMMANDS)


def _runtime(ctx: Context) -> CalendarRuntime:
    assert ctx.services is not None
    runtime: CalendarRuntime = ctx.services.shared["sop"]
    return runtime


@feature.command("日程", "schedule")
async def schedule(cmd: Command, ctx: Context) -> str:
    """This group's next runs (a week ahead), paused entries marked."""
    runtime, room = _runtime(ctx), cmd.room_id or ""
    runs = runtime.next_runs(room, days=7, limit=10)
    paused = await runtime.pauses.paused(room)
    if not runs and not paused:
        return "本群近 7 天没有安排日程。"
    tz = ZoneInfo(ctx.config.calendar.timezone or ctx.config.bot.timezone)
    lines = ["本群接下来的日程："]
    for at, entry in runs:
        local = at.astimezone(tz)
        mark = "（已暂停）" if entry.id in paused else ""
        lines.append(f"{local:%m-%d} 周{WEEKDAYS[local.weekday()]} {local:%H:%M}  {entry.id}{mark}")
    if paused:
        lines.append(f"已暂停：{'、'.join(sorted(paused))}（{cmd.prefix}恢复 名称 可恢复）")
    return "\n".join(lines)


@feature.command("暂停", "暂停日程", admin_only=True)
async def pause(cmd: Command, ctx: Context) -> str:
    return await _pause_or_resume(cmd, ctx, pause=True)


@feature.command("恢复", "恢复日程", admin_only=True)
async def resume(cmd: Command, ctx: Context) -> str | Reply:
    """``#恢复 <entry>`` resumes a calendar entry; ``#恢复 @x`` brings back a
    member removed as a lurker (handlers.lurkers)."""
    if cmd.mentions:
        return await restore_member(cmd, ctx)
    return await _pause_or_resume(cmd, ctx, pause=False)


async def _pause_or_resume(cmd: Command, ctx: Context, *, pause: bool) -> str:
    runtime, room = _runtime(ctx), cmd.room_id or ""
    verb = "暂停" if pause else "恢复"
    entry_id = cmd.args.strip()
    if not room:
        return f"请在要{verb}日程的群里发送这条命令。"
    if not entry_id:
        ids = sorted(
            {p.entry.id for p in runtime.planned.values() if room in (p.room_id, *p.rooms)}
        )
        known = "、".join(ids) or "（本群没有日程）"
        return f"用法：{cmd.prefix}{verb} 日程名称。本群的日程：{known}"
    if runtime.entry_for(room, entry_id) is None:
        return f"本群没有名为「{entry_id}」的日程，发送 {cmd.prefix}日程 查看。"
    now = ctx.clock.now()
    if pause:
        done = await runtime.pauses.pause(room, entry_id, cmd.sender_id, now)
        text = f"已在本群暂停日程「{entry_id}」，{cmd.prefix}恢复 {entry_id} 可恢复。"
        return text if done else f"日程「{entry_id}」在本群已经是暂停状态。"
    done = await runtime.pauses.resume(room, entry_id)
    return f"已在本群恢复日程「{entry_id}」。" if done else f"日程「{entry_id}」在本群没有暂停。"


@feature.command("重载", "reload", owner_only=True, direct=True)
async def reload(cmd: Command, ctx: Context) -> str:
    assert ctx.services is not None
    _, text = await ctx.services.shared["reload_config"](by=cmd.sender_id)
    return str(text)
