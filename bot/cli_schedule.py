"""``qunbot schedule preview``: the calendar's upcoming runs, before they happen.

    qunbot schedule preview [--config FILE] [--from YYYY-MM-DD] [--days 14]
                            [--group ID] [--json]
        every run of bot.yaml's calendar in the window, per group, after
        holidays, make-up workdays (调休), quiet hours, day rules and jitter, in
        time order: a table for people (with how long each broadcast takes
        under the governor's pace), or one JSON object a line (``--json``:
        ``entry``, ``group``, ``at`` with its offset, ``kind``, ``nominal``,
        ``notes``, …).

Reads only bot.yaml: no database, no WeChat.  Groups the bot adopted at run
time (not in ``groups:``) are not known here; the runtime's ``#日程`` shows them.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.config import BotConfig
from bot.config.errors import ConfigIssue
from sop.days import weekday_zh
from sop.preview import (
    broadcast_estimates,
    calendar_tz,
    format_minutes,
    holiday_warnings,
    preview,
)

ENTRY_WIDTH = 20
GROUP_WIDTH = 34


def schedule_parsers(sub: Any) -> None:
    """Add ``schedule preview`` to the ``qunbot`` command's subparsers."""
    schedule = sub.add_parser("schedule", help="the SOP calendar (reads bot.yaml only)")
    schedule_sub = schedule.add_subparsers(dest="schedule_command", required=True)
    p = schedule_sub.add_parser("preview", help="every upcoming run per group, in time order")
    # dest "file": the top-level -c/--config stays what it was (as `config check FILE`)
    p.add_argument("--config", dest="file", metavar="FILE", help="bot.yaml to read")
    p.add_argument(
        "--from", dest="start", metavar="YYYY-MM-DD", type=_day, help="first day (default today)"
    )
    p.add_argument("--days", type=_days, default=14, help="how many days (default 14)")
    p.add_argument("--group", metavar="ID", help="only this group (room id)")
    p.add_argument("--json", action="store_true", help="one JSON object a line")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD") from None


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 400:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of days from 1 to 400")
    return value


def today(cfg: BotConfig) -> date:
    """Today in the calendar's time zone (a function, so tests can fix it)."""
    return datetime.now(UTC).astimezone(calendar_tz(cfg)).date()


async def schedule_command(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    start = args.start or today(config)
    return print_preview(
        config, start, args.days, group=args.group, as_json=args.json, out=sys.stdout
    )


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    if _width(text) > width:
        cut, used = [], 0
        for c in text:
            if used + _width(c) > width - 1:
                break
            cut.append(c)
            used += _width(c)
        text = "".join(cut) + "…"
    return text + " " * max(0, width - _width(text))


def print_preview(
    cfg: BotConfig,
    start: date,
    days: int,
    *,
    group: str | None = None,
    as_json: bool = False,
    out: Any = None,
) -> int:
    out = out if out is not None else sys.stdout
    runs = preview(cfg, start, days, group=group)
    if as_json:
        for run in runs:
            out.write(json.dumps(run.as_json(), ensure_ascii=False) + "\n")
        return 0
    tz = calendar_tz(cfg)
    header = (
        f"{_pad('日期', 10)}  {_pad('星期', 4)}  {_pad('时间', 5)}  {_pad('条目', ENTRY_WIDTH)}  "
        f"{_pad('类型', 10)}  {_pad('群', GROUP_WIDTH)}  备注"
    )
    out.write(f"日程预览：{start.isoformat()} 起 {days} 天（{tz.key}）\n")
    if not runs:
        out.write("这段时间没有要执行的日程。\n")
    else:
        out.write(header + "\n")
    for run in runs:
        where = (
            run.group
            if not run.room_id or run.group == run.room_id
            else (f"{run.group} ({run.room_id})")
        )
        out.write(
            f"{run.at:%Y-%m-%d}  {_pad(weekday_zh(run.at.date()), 4)}  {run.at:%H:%M}  "
            f"{_pad(run.entry, ENTRY_WIDTH)}  {_pad(run.kind, 10)}  {_pad(where, GROUP_WIDTH)}  "
            f"{'；'.join(run.notes)}".rstrip()
            + "\n"
        )
    if runs:
        out.write(f"共 {len(runs)} 次。\n")
    estimates = broadcast_estimates(cfg)
    if estimates:
        gov = cfg.governor
        out.write(
            f"\n群发耗时（按风控节奏：每分钟最多 {gov.messages_per_min:g} 条消息，"
            f"其中图片/链接/小程序每分钟 {gov.rich_per_min} 条，换群间隔 "
            f"{gov.switch_delay_min:g}–{gov.switch_delay_max:g} 秒）：\n"
        )
        for e in estimates:
            line = (
                f"  {_pad(e.entry, ENTRY_WIDTH)}  {e.groups} 个群 × {e.messages_per_group} 条"
                f" = {e.messages} 条，{format_minutes(e.minutes)}"
            )
            if e.over_rich_day:
                line += f"（超过每天 {gov.rich_per_day} 条图片/链接的上限，超出部分会被拒绝）"
            out.write(line + "\n")
    return 0


def check_warnings(
    cfg: BotConfig, on: date | None = None, filename: str | None = None
) -> list[ConfigIssue]:
    """What ``config check`` warns about the calendar today (holiday data running out)."""
    from bot.config.loader import locate_in_file

    problems = holiday_warnings(cfg, on or today(cfg))
    if not problems:
        return []
    source = cfg.source_path
    if source is None:
        return [ConfigIssue(filename or "bot.yaml", None, None, "", p[1]) for p in problems]
    return locate_in_file(source, problems, filename)
