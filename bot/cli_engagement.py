"""``qunbot export points|coupons``: engagement records for operators' spreadsheets.

qunbot export points [--group ID] --csv FILE
    every row of the points ledger, oldest first (of the group's scope
    with ``--group``: the group's own points, or its tag's when the group
    shares them), with the member's balance after each row.  UTF-8 with a
    byte-order mark, so a spreadsheet opens the Chinese text as such.
qunbot export coupons [--group ID] --csv FILE
    every coupon with its type, code, owner, state and dates (bot.cli_coupons).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import IO, Any

from bot.cli_db import open_cli_db
from bot.config import BotConfig

POINTS_COLUMNS = (
    "id",
    "at",
    "scope",
    "group",
    "member_id",
    "member_name",
    "amount",
    "balance_after",
    "kind",
    "reason",
    "reference",
    "by",
)


def engagement_parsers(sub: Any) -> None:
    """Add ``export`` to the ``qunbot`` command's subparsers."""
    export = sub.add_parser("export", help="engagement records as CSV (reads the database)")
    export.add_argument("what", choices=("points", "coupons"), help="which records")
    export.add_argument("--group", metavar="ID", help="only this group (room id)")
    export.add_argument("--csv", metavar="FILE", required=True, help="the CSV file to write")


async def export_command(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    if args.what == "points":
        return await export_points(config, base_dir, group=args.group, csv_path=Path(args.csv))
    from bot.cli_coupons import export_coupons

    return await export_coupons(config, args.group, args.csv, base_dir=base_dir)


def _scopes(config: BotConfig, group: str | None) -> list[str] | None:
    if group is None:
        return None
    from bot.policies import PolicyBook
    from handlers.engagement.policy import scope_of

    policy = PolicyBook(config).get(group)
    return [scope_of(policy)] if policy is not None else [f"room:{group}"]


async def export_points(
    config: BotConfig,
    base_dir: Path,
    *,
    group: str | None = None,
    csv_path: Path,
    err: IO[str] | None = None,
) -> int:
    """Write the ledger (see the module docstring); returns the exit code."""
    from storage.points import PointsStore

    async with open_cli_db(config, base_dir) as db:
        rows = await PointsStore(db.sessions, account_id=db.account).ledger(
            scopes=_scopes(config, group)
        )
        names = await db.contact_names(r.member_id for r in rows)
    balances: dict[tuple[str, str], int] = {}
    with csv_path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(POINTS_COLUMNS)
        for r in rows:
            who = (r.scope, r.member_id)
            balances[who] = balances.get(who, 0) + r.amount
            writer.writerow(
                (
                    r.id,
                    r.at.isoformat(),
                    r.scope,
                    r.room_id or "",
                    r.member_id,
                    names.get(r.member_id) or "",
                    r.amount,
                    balances[who],
                    r.kind,
                    r.reason,
                    r.reference,
                    r.by or "",
                )
            )
    print(f"{len(rows)} ledger row(s) written to {csv_path}", file=err or sys.stderr)
    return 0
