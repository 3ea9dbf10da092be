"""``qunbot report …``: reports for operators, from the database.

qunbot report weekly --group ID [--week YYYY-MM-DD] [--out FILE.png]
    one group's week (the week holding that day; default: the last full
    week) as a chart, and its summary on stdout.
qunbot report overview [--week YYYY-MM-DD] [--out FILE.png]
    every managed group's week on one page.

``report`` is a parent command: another report is one more
``REPORT_COMMANDS[name] = (add_arguments, run)`` entry (e.g. ``lurkers``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.cli_db import open_cli_db
from bot.cli_lurkers import lurkers_args, lurkers_command
from bot.config import BotConfig

ReportRun = Callable[[BotConfig, Path, argparse.Namespace], Awaitable[int]]


def _weekly_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--group", metavar="ID", required=True, help="the group (room id)")
    p.add_argument("--week", metavar="YYYY-MM-DD", help="any day of the week (default: last week)")
    p.add_argument("--out", metavar="FILE.png", help="where to write the chart")


def _overview_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--week", metavar="YYYY-MM-DD", help="any day of the week (default: last week)")
    p.add_argument("--out", metavar="FILE.png", help="where to write the chart")


async def _weekly(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    return await report_weekly(
        config, base_dir, group=args.group, week=args.week, out=args.out and Path(args.out)
    )


async def _overview(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    return await report_overview(config, base_dir, week=args.week, out=args.out and Path(args.out))


#: report name -> (help, add its arguments, run it)
REPORT_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], ReportRun]] = {
    "weekly": ("one group's weekly report as a chart", _weekly_args, _weekly),
    "overview": ("every group's week on one page", _overview_args, _overview),
    "lurkers": ("silent members per group, with days silent", lurkers_args, lurkers_command),
}


def reports_parsers(sub: Any) -> None:
    """Add ``report`` (with a subcommand per entry of REPORT_COMMANDS) to ``qunbot``."""
    report = sub.add_parser("report", help="reports for operators (reads the database)")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    for name, (help_text, add_args, _run) in REPORT_COMMANDS.items():
        add_args(report_sub.add_parser(name, help=help_text))


async def report_command(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    return await REPORT_COMMANDS[args.report_command][2](config, base_dir, args)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())


async def report_weekly(
    config: BotConfig,
    base_dir: Path,
    *,
    group: str,
    week: str | None = None,
    out: Path | None = None,
) -> int:
    """Write one group's chart (default: the reports folder) and print its summary."""
    from bot.policies import PolicyBook
    from bot.vocab.clock import SystemClock
    from handlers.reports.weekly import (
        draw_weekly,
        figures,
        first_day_of,
        reports_dir,
        summary,
    )
    from storage.reports import ReportStore

    policy = PolicyBook(config).get(group)
    tz = ZoneInfo(policy.timezone if policy is not None else config.bot.timezone)
    first_day = first_day_of(week, SystemClock().now(), tz)
    async with open_cli_db(config, base_dir) as db:
        store = ReportStore(db.sessions, account_id=db.account)
        f = await figures(store, group, first_day, tz, policy)
    directory = reports_dir(config)
    image = await draw_weekly(f, directory)
    if out is not None:
        await asyncio.to_thread(_copy, image.path, out)
    if policy is not None:
        print(summary(f, policy))
    print(f"chart written to {out or image.path}", file=sys.stderr)
    return 0


async def report_overview(
    config: BotConfig, base_dir: Path, *, week: str | None = None, out: Path | None = None
) -> int:
    """Write every managed group's week on one page."""
    from bot.policies import PolicyBook
    from bot.vocab.clock import SystemClock
    from handlers.reports.weekly import draw_overview, figures, first_day_of, reports_dir
    from storage.reports import ReportStore

    book = PolicyBook(config)
    tz = ZoneInfo(config.bot.timezone)
    first_day = first_day_of(week, SystemClock().now(), tz)
    async with open_cli_db(config, base_dir) as db:
        store = ReportStore(db.sessions, account_id=db.account)
        rooms = sorted(set(book.managed_rooms()) | set(await store.groups()))
        groups = [await figures(store, r, first_day, tz, book.get(r)) for r in rooms]
    image = await draw_overview(groups, reports_dir(config))
    if out is not None:
        await asyncio.to_thread(_copy, image.path, out)
    print(f"{len(groups)} group(s); chart written to {out or image.path}", file=sys.stderr)
    return 0
