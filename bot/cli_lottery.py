"""``qunbot lottery``: check a draw from what was published, or show one from the database.

qunbot lottery verify --seed S --entrants FILE --winners N [--hash H]
    recompute a draw (:mod:`sop.lottery.fair`) from its published seed and
    entrant list (FILE: one account id a line; ``-``: standard input; the
    order does not matter, the canonical list is the ids sorted): prints the
    list's hash, the winners with their numbers and, with ``--hash``,
    whether the seed matches the hash posted when the lottery opened.
    Exit status 0 when it matches (or no hash was given), 1 when not.
    Needs no bot.yaml and no database.
qunbot lottery show DRAW [--json]
    a draw of this account from the database: its group, status, seed hash,
    the seed (only once drawn), the entrants with their numbers and the
    winners.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Any

from bot.cli_db import open_cli_db
from bot.config import BotConfig
from sop.lottery import fair


def lottery_parsers(sub: Any) -> None:
    """Add ``lottery verify`` and ``lottery show`` to the ``qunbot`` command's subparsers."""
    lottery = sub.add_parser("lottery", help="verify a lottery draw, or show one")
    lottery_sub = lottery.add_subparsers(dest="lottery_command", required=True)
    verify = lottery_sub.add_parser(
        "verify", help="recompute a draw from its published seed and entrants"
    )
    verify.add_argument("--seed", required=True, help="the seed posted at the draw")
    verify.add_argument(
        "--entrants", required=True, metavar="FILE", help="one account id a line (- for stdin)"
    )
    verify.add_argument("--winners", required=True, type=int, help="how many were drawn")
    verify.add_argument("--hash", help="the seed's hash posted when the lottery opened")
    verify.add_argument("--json", action="store_true", help="one JSON object")
    show = lottery_sub.add_parser("show", help="a draw from the database")
    show.add_argument("draw", type=int, help="the draw's number (第 N 期)")
    show.add_argument("--json", action="store_true", help="one JSON object")


def _read_ids(path: str) -> list[str]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def verify(
    seed: str,
    entrants_file: str,
    winners: int,
    published_hash: str | None = None,
    *,
    as_json: bool = False,
    out: IO[str] | None = None,
) -> int:
    """Print the recomputed draw (see the module docstring); 1 if the seed does not match."""
    out = out or sys.stdout
    seed = seed.strip()
    try:
        ids = _read_ids(entrants_file)
    except OSError as exc:
        print(f"cannot read {entrants_file}: {exc}", file=sys.stderr)
        return 2
    if winners < 0:
        print("--winners cannot be negative", file=sys.stderr)
        return 2
    try:
        seed.encode("ascii")
    except UnicodeEncodeError:
        print("the seed is 64 hex characters", file=sys.stderr)
        return 2
    ordered = fair.canonical(ids)
    numbers = fair.numbered(ordered)
    drawn = fair.draw(seed, ordered, winners)
    matches = None if published_hash is None else fair.seed_matches(seed, published_hash)
    report = {
        "algorithm": fair.ALGORITHM,
        "seed": seed,
        "seed_hash": fair.seed_hash(seed),
        "seed_matches_hash": matches,
        "entrants": len(ordered),
        "entrants_hash": fair.list_hash(ordered),
        "winners": [{"rank": r, "number": numbers[m], "id": m} for r, m in enumerate(drawn, 1)],
    }
    if as_json:
        out.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        out.write(f"algorithm      {fair.ALGORITHM}\n")
        out.write(f"seed hash      {report['seed_hash']}\n")
        if matches is not None:
            verdict = "yes" if matches else "NO: this is not the seed that was promised"
            out.write(f"matches --hash {verdict}\n")
        out.write(f"entrants       {len(ordered)} (list hash {report['entrants_hash']})\n")
        if len(ordered) != len(ids):
            out.write(
                f"               ({len(ids) - len(ordered)} blank or repeated line(s) left out)\n"
            )
        out.write("winners\n")
        for r, m in enumerate(drawn, 1):
            out.write(f"  {r}. #{numbers[m]} {m}\n")
    return 1 if matches is False else 0


async def show_command(config: BotConfig, base_dir: Path, args: argparse.Namespace) -> int:
    return await show(config, base_dir, args.draw, as_json=args.json)


async def show(
    config: BotConfig,
    base_dir: Path,
    draw_id: int,
    *,
    as_json: bool = False,
    out: IO[str] | None = None,
) -> int:
    """Print one draw of ``bot.account`` from the database."""
    from sop.lottery.store import LotteryStore

    out = out or sys.stdout
    async with open_cli_db(config, base_dir) as db:
        store = LotteryStore(db.sessions, account_id=db.account)
        draw = await store.get(draw_id)
        entrants = [] if draw is None else await store.entrants(draw_id)
    if draw is None:
        print(f"no draw {draw_id} for {config.bot.account}", file=sys.stderr)
        return 1
    entered = [e for e in entrants if e.status == "entered"]
    winners = sorted((e for e in entered if e.rank is not None), key=lambda e: e.rank or 0)
    listed = config.groups.get(draw.room_id)
    report: dict[str, Any] = {
        "draw": draw.id,
        "entry": draw.entry_id,
        "group": draw.room_id,
        "group_name": (listed.name if listed is not None else None) or draw.room_id,
        "status": draw.status,
        "algorithm": draw.algorithm,
        "opened_at": draw.opened_at.isoformat(),
        "draws_at": draw.draws_at.isoformat(),
        "winners_wanted": draw.winners,
        "seed_hash": draw.seed_hash,
        "seed": draw.seed if draw.drawn else None,  # secret until the draw
        "entrants_hash": draw.entrants_hash,
        "entrants": [
            {"number": e.number, "id": e.member_id, "name": e.name, "via": e.via} for e in entered
        ],
        "ineligible": [
            {"id": e.member_id, "name": e.name, "reason": e.reason}
            for e in entrants
            if e.status == "ineligible"
        ],
        "winners": [
            {"rank": w.rank, "number": w.number, "id": w.member_id, "name": w.name} for w in winners
        ],
    }
    if as_json:
        out.write(json.dumps(report, ensure_ascii=False) + "\n")
        return 0
    out.write(f"draw {draw.id} ({draw.entry_id}) in {report['group_name']} [{draw.room_id}]\n")
    out.write(f"status     {draw.status}, draws at {report['draws_at']}\n")
    out.write(f"seed hash  {draw.seed_hash}\n")
    out.write(f"seed       {draw.seed if draw.drawn else '(secret until the draw)'}\n")
    if draw.entrants_hash:
        out.write(f"list hash  {draw.entrants_hash}\n")
    out.write(f"entrants   {len(entered)}\n")
    for e in entered:
        number = f"{e.number}." if e.number is not None else "-"
        out.write(f"  {number} {e.member_id} {e.name}\n")
    if winners:
        out.write("winners\n")
        for w in winners:
            out.write(f"  {w.rank}. #{w.number} {w.member_id} {w.name}\n")
    return 0
