"""``qunbot report lurkers``: who is silent, per group, from the rollups.

qunbot report lurkers [--group ID] [--csv FILE]
    the silent members (``lurkers.silent_days``) of every managed group (or
    one), longest silent first, each with its tier, days silent, last
    activity, join time and, for the exempt, why (admin, allowlisted,
    newcomer, same_tag_active).  Printed as a table, or written as CSV
    (UTF-8 with a byte-order mark, so a spreadsheet opens the Chinese text).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bot.cli_db import open_cli_db
from bot.config import BotConfig

COLUMNS = (
    "group",
    "group_name",
    "member_id",
    "member_name",
    "tier",
    "silent_days",
    "last_active",
    "joined_at",
    "exempt",
)


def lurkers_args(p: argparse.ArgumentParser) -> None:
    """``qunbot report lurkers``'s arguments (bot.cli_reports lists the reports)."""
    p.add_argument("--group", metavar="ID", help="only this group (room id)")
    p.add_argument("--csv", metavar="FILE", help="write CSV here instead of printing")


@dataclass(frozen=True)
class _Owner:
    """What ``handlers.lurkers.sweep.group_view`` reads: repo, sessions, policies."""

    repo: Any
    sessions: Any
    policies: Any


async def lurkers_command(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    csv_path = Path(args.csv) if args.csv else None
    return await report_lurkers(config, base_dir, group=args.group, csv_path=csv_path)


async def lurker_rows(
    config: BotConfig, base_dir: Path, *, group: str | None = None, now: datetime | None = None
) -> list[tuple[Any, ...]]:
    """The report's rows (``COLUMNS``), silent members of each group."""
    from bot.policies import PolicyBook
    from handlers.lurkers.sweep import group_view

    now = now or datetime.now(UTC)
    out: list[tuple[Any, ...]] = []
    async with open_cli_db(config, base_dir) as db:
        policies = PolicyBook(config)
        owner = _Owner(db.repo(timezone=config.bot.timezone), db.sessions, policies)
        rooms = [group] if group else sorted(policies.managed_rooms())
        for room in rooms:
            policy = policies.get(room)
            if policy is None:
                continue
            view = await group_view(owner, policy, now)
            silent = sorted(
                [*view.candidates, *(t for t in view.ranked if t.member_id in view.exempt)],
                key=lambda t: (-t.silent_days, t.member_id),
            )
            for t in silent:
                out.append(
                    (
                        room,
                        policy.name,
                        t.member_id,
                        t.row.name,
                        str(t.tier),
                        t.silent_days,
                        t.last_active.isoformat() if t.last_active else "",
                        t.row.joined_at.isoformat(),
                        view.exempt.get(t.member_id, ""),
                    )
                )
    return out


async def report_lurkers(
    config: BotConfig,
    base_dir: Path,
    *,
    group: str | None = None,
    csv_path: Path | None = None,
    out: IO[str] | None = None,
    now: datetime | None = None,
) -> int:
    """Print or write the report (see the module docstring); returns the exit code."""
    rows = await lurker_rows(config, base_dir, group=group, now=now)
    if csv_path is not None:
        with csv_path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
        print(f"{len(rows)} silent member(s) written to {csv_path}", file=sys.stderr)
        return 0
    stream = out or sys.stdout
    print("\t".join(COLUMNS), file=stream)
    for row in rows:
        print("\t".join(str(v) for v in row), file=stream)
    return 0
