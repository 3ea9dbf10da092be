"""Benchmark: a morning rush of check-ins through the whole bot.

    python bench/engagement.py [--groups 100 --members 100 --seconds 60 --fold 120]
    python bench/engagement.py --quick        # 10 groups x 20 members (smoke test)

``--groups x --members`` members (10,000 by default) each send ``#签到`` once,
spread evenly over ``--seconds`` (one minute) of a ``ManualClock``, through the
in-process puppet, the real SDK (``WechatyTransport``), the dispatcher, the
command router, the points feature and a real SQLite *file* (and PostgreSQL
when ``QUNBOT_TEST_PG_URL`` names a server: a database of its own is created
and dropped).  Then the clock passes the folding window and the fold job runs.

Reported:

* ``commands_per_s``: check-ins handled per second of wall time (from the
  first message until the dispatcher is idle);
* ``p50_handling_ms`` / ``p99_handling_ms``: one event's time inside the
  dispatcher (every handler, the ledger transaction, the reply queued);
* ``messages``: what the bot queued to send (immediate replies + folded
  confirmations), against ``messages_unfolded`` (one reply each), and
  ``send_minutes`` = messages / the governor's ``messages_per_min`` (20): how
  long the account needs to send them at its budget; ``deliverable`` says
  whether every folded message is still valid then;
* ``confirmed`` (members @-mentioned in some message) must equal the
  check-ins, ``ledger_rows`` too: nobody lost, nobody paid twice.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import compat
from bot.app import App, AppOptions
from bot.config import validate_config_text
from bot.governor import GovernorSettings
from bot.transport.adapter import WechatyTransport
from bot.vocab.actions import Action, Say
from bot.vocab.clock import ManualClock
from handlers.engagement.points import FOLD_VALID_SECONDS, store_of

BOT = "wxid_bot"
OWNER = "wxid_owner"
START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
SDK_LOGGERS = ("Message", "Contact", "Room", "Wechaty", "Accessory", "Puppet")


def room_id(r: int) -> str:
    return f"{20_000_000 + r}@chatroom"


def member_id(r: int, m: int) -> str:
    return f"wxid_g{r:03d}m{m:03d}"


def config_yaml(groups: int, fold: float) -> str:
    lines = [
        f"owners: [{OWNER}]",
        "profiles:",
        "  member:",
        f"    engagement: {{checkin: {{fold_seconds: {fold:g}}}}}",
        "    welcome: {enabled: false}",
        "groups:",
        *(f"  {room_id(r)}: {{name: 签到群{r}, profile: member}}" for r in range(groups)),
    ]
    return "\n".join(lines) + "\n"


def make_puppet(groups: int, members: int, now: Any) -> Any:
    from bot.transport.sandbox_puppet import SandboxPuppet

    puppet = SandboxPuppet(account_id=BOT, account_name="群管家", now=now)
    puppet.add_contact(OWNER, "群主")
    for r in range(groups):
        ids = [member_id(r, m) for m in range(members)]
        for m, cid in enumerate(ids):
            puppet.add_contact(cid, f"成员{r}-{m}")
        puppet.add_room(room_id(r), f"签到群{r}", [OWNER, *ids], owner_id=OWNER, admin_ids=[BOT])
    return puppet


@contextlib.asynccontextmanager
async def postgres_database(url: str) -> AsyncIterator[str]:
    """A database of its own on the server ``url`` names, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"qunbot_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def run(args: argparse.Namespace, database_url: str | None) -> dict[str, Any]:
    clock = ManualClock(START)
    config = validate_config_text(config_yaml(args.groups, args.fold), "bench.yaml")
    with tempfile.TemporaryDirectory(prefix="qunbot-bench-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'qunbot.db'}"
        puppet = make_puppet(args.groups, args.members, clock.now)
        transport = WechatyTransport(puppet, clock=clock)
        app = App(
            config,
            transport,
            AppOptions(
                base_dir=Path(tmp),
                env={"DATABASE_URL": url},
                clock=clock,
                start_calendar=False,
            ),
        )
        queued: list[Action] = []
        submit = app.executor.submit

        async def counting(actions: Sequence[Action]) -> None:
            queued.extend(actions)
            await submit(actions)

        app.executor.submit = counting  # type: ignore[method-assign]
        handling: list[float] = []
        process = app.dispatcher.process

        async def timed(event: Any) -> None:
            t0 = time.perf_counter()
            await process(event)
            handling.append(time.perf_counter() - t0)

        app.dispatcher.process = timed  # type: ignore[method-assign]
        await app.start()
        try:
            await asyncio.wait_for(transport.logged_in.wait(), 60)
            await app.settle(send=False)
            handling.clear()
            queued.clear()
            plan = [
                (room_id(r), member_id(r, m))
                for m in range(args.members)
                for r in range(args.groups)
            ]
            per_second = max(1, -(-len(plan) // args.seconds))
            t0 = time.perf_counter()
            for i in range(0, len(plan), per_second):
                for room, member in plan[i : i + per_second]:
                    await puppet.member_says(room, member, "#签到")
                await clock.advance(1)
            await app.settle(send=False)
            elapsed = time.perf_counter() - t0
            immediate = [a for a in queued if isinstance(a, Say)]
            queued.clear()
            await clock.advance(args.fold + 60)
            await app.calendar.run_job("points.fold")
            await app.settle(send=False)
            folded = [a for a in queued if isinstance(a, Say)]
            store = store_of(app.context_for_job())
            ledger_rows = len(await store.ledger())
            failures = app.dispatcher.failures
        finally:
            app.executor.halt()
            await app.stop()
    says = immediate + folded
    budget = GovernorSettings().messages_per_min
    send_minutes = len(says) / budget
    handling_ms = sorted(t * 1000 for t in handling)
    return {
        "backend": "postgresql" if database_url else "sqlite",
        "checkins": len(plan),
        "groups": args.groups,
        "seconds_of_checkins": args.seconds,
        "fold_seconds": args.fold,
        "wall_s": round(elapsed, 3),
        "commands_per_s": round(len(plan) / elapsed, 1),
        "p50_handling_ms": round(statistics.median(handling_ms), 3),
        "p99_handling_ms": round(handling_ms[int(0.99 * (len(handling_ms) - 1))], 3),
        "messages": len(says),
        "messages_immediate": len(immediate),
        "messages_folded": len(folded),
        "messages_unfolded": len(plan),
        "max_mentions": max((len(a.mention_ids) for a in says), default=0),
        "confirmed": len({(a.room, m) for a in says for m in a.mention_ids}),
        "ledger_rows": ledger_rows,
        "handler_failures": failures,
        "budget_msgs_per_min": budget,
        "send_minutes": round(send_minutes, 1),
        "deliverable": send_minutes * 60 <= FOLD_VALID_SECONDS,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60, help="the check-ins come within")
    parser.add_argument("--fold", type=float, default=120, help="checkin.fold_seconds")
    parser.add_argument("--quick", action="store_true", help="10 groups x 20 members")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    if args.quick:
        args.groups, args.members = 10, 20
    return args


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    compat.load()
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    result: dict[str, Any] = {"sqlite": await run(args, None)}
    pg = os.environ.get("QUNBOT_TEST_PG_URL")
    if pg and not args.no_postgres:
        try:
            async with postgres_database(pg) as url:
                result["postgresql"] = await run(args, url)
        except Exception as exc:  # no server, no right to create a database
            result["postgresql"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    for backend in ("sqlite", "postgresql"):
        figures = result.get(backend, {})
        if "checkins" in figures and not (
            figures["confirmed"] == figures["ledger_rows"] == figures["checkins"]
            and figures["handler_failures"] == 0
        ):
            raise SystemExit(f"{backend}: check-ins lost or paid twice: {figures}")
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = asyncio.run(bench(parse_args(argv)))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
