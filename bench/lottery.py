"""Benchmark: group chat through the whole bot with the lottery's entry handler.

    python bench/lottery.py [--messages 10000 --groups 20 --members 20]
    python bench/lottery.py --quick           # 1,000 messages (smoke test)

``--messages`` short texts (the kind the entry handler looks at: 40
characters or fewer) from members of ``--groups`` managed groups go through
the in-process puppet, the real SDK (``WechatyTransport``), the dispatcher,
every feature and a real SQLite *file*, on a ``ManualClock`` (calendar off).
One group has an open draw; one message in 50 there is its keyword.

Two runs, the same messages:

* **cached**: the app's cache of each group's open draws
  (``sop.lottery.runtime``): a text asks the database only where a draw is
  open and the text could enter it;
* **uncached**: the cache turned off (``feature.cache_of`` gives None), which
  is what the handler did before: ask for the group's open draws on every
  short text.

Reported per run: ``lottery_queries`` (SQL statements on the lottery's tables
during the messages), ``wall_s``, ``msgs_per_s``, ``p50_handling_ms`` /
``p99_handling_ms`` (one event inside the dispatcher, every handler, waits
for the room's lock and the database included), ``entry_handler_*`` (the
lottery's entry handler alone: its total time and p50/p99 per message), and
``entered`` (the members entered: both runs must agree).  The whole-bot
figures are dominated by the other handlers (the activity log's writes); the
query count and the entry handler's own time are what the cache changes.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

from bot import compat
from bot.app import App, AppOptions
from bot.config import validate_config_text
from bot.transport.adapter import WechatyTransport
from bot.vocab.clock import ManualClock

BOT = "wxid_bot"
OWNER = "wxid_owner"
START = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # a Tuesday, 20:00 in Shanghai
SDK_LOGGERS = ("Message", "Contact", "Room", "Wechaty", "Accessory", "Puppet")
CHAT = ["早上好", "哈哈哈", "今天吃什么", "收到", "好的👌", "晚上一起吗", "这个不错", "+1"]
KEYWORD = "抽奖"


def room_id(r: int) -> str:
    return f"{30_000_000 + r}@chatroom"


def member_id(r: int, m: int) -> str:
    return f"wxid_l{r:03d}m{m:03d}"


def config_yaml(groups: int) -> str:
    lines = [
        f"owners: [{OWNER}]",
        "profiles:",
        "  member:",
        "    welcome: {enabled: false}",
        "groups:",
        *(f"  {room_id(r)}: {{name: 聊天群{r}, profile: member}}" for r in range(groups)),
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
        puppet.add_room(room_id(r), f"聊天群{r}", [OWNER, *ids], owner_id=OWNER, admin_ids=[BOT])
    return puppet


def plan(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rng = random.Random(args.seed)
    out = []
    for _ in range(args.messages):
        r, m = rng.randrange(args.groups), rng.randrange(args.members)
        text = KEYWORD if r == 0 and rng.random() < 0.02 else rng.choice(CHAT)
        out.append((room_id(r), member_id(r, m), text))
    return out


@contextmanager
def counting_lottery_sql(app: App) -> Iterator[list[int]]:
    seen = [0]

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "lottery_" in statement:
            seen[0] += 1

    engine = app.engine.sync_engine
    event.listen(engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", spy)


async def open_draw(app: App, room: str) -> int:
    from dataclasses import replace

    from sop.entries import Entry
    from sop.kinds import Run
    from sop.lottery import feature as lottery

    entry = Entry.model_validate(
        {
            "id": "bench",
            "kind": "lottery",
            "cron": "0 20 * * tue",
            "lottery": {"keyword": KEYWORD, "open_minutes": 600},
        }
    )
    ctx = replace(app.context_for_job(), policy=app.policies.get(room))
    now = app.clock.now()
    run = Run(entry, room, now, now + timedelta(hours=1))
    result = await lottery.run_lottery(ctx, run)
    assert result is not None
    draw = await lottery.store_of(ctx).by_run_key(run.key)
    assert draw is not None
    return draw.id


async def run(args: argparse.Namespace, cached: bool) -> dict[str, Any]:
    from sop.lottery import feature as lottery

    clock = ManualClock(START)
    config = validate_config_text(config_yaml(args.groups), "bench.yaml")
    messages = plan(args)
    real_cache_of = lottery.cache_of
    if not cached:
        lottery.cache_of = lambda ctx: None  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory(prefix="qunbot-bench-") as tmp:
            puppet = make_puppet(args.groups, args.members, clock.now)
            transport = WechatyTransport(puppet, clock=clock)
            app = App(
                config,
                transport,
                AppOptions(
                    base_dir=Path(tmp),
                    env={"DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'qunbot.db'}"},
                    clock=clock,
                    start_calendar=False,
                ),
            )
            handling: list[float] = []
            process = app.dispatcher.process

            async def timed(event: Any) -> None:
                t0 = time.perf_counter()
                await process(event)
                handling.append(time.perf_counter() - t0)

            app.dispatcher.process = timed  # type: ignore[method-assign]
            entry_handling: list[float] = []
            [entry] = [h for g in app.handler_groups for h in g if h.name == "lottery.enter"]
            enter = entry.fn  # type: ignore[attr-defined]

            async def timed_entry(event: Any, ctx: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return await enter(event, ctx)
                finally:
                    entry_handling.append(time.perf_counter() - t0)

            entry.fn = timed_entry  # type: ignore[attr-defined]
            await app.start()
            try:
                await asyncio.wait_for(transport.logged_in.wait(), 60)
                await app.settle(send=False)
                draw_id = await open_draw(app, room_id(0))
                await app.settle(send=False)
                handling.clear()
                entry_handling.clear()
                with counting_lottery_sql(app) as queries:
                    t0 = time.perf_counter()
                    for i, (room, member, text) in enumerate(messages, 1):
                        await puppet.member_says(room, member, text)
                        if i % args.yield_every == 0:
                            await clock.advance(0.05)
                    await app.settle(send=False)
                    elapsed = time.perf_counter() - t0
                entered = await lottery.LotteryStore(
                    app.services.sessions, account_id=app.repo.account_id
                ).entrants(draw_id)
                failures = app.dispatcher.failures
            finally:
                app.executor.halt()
                await app.stop()
    finally:
        lottery.cache_of = real_cache_of  # type: ignore[assignment]
    ms = sorted(t * 1000 for t in handling)
    entry_us = sorted(t * 1e6 for t in entry_handling)
    return {
        "messages": len(messages),
        "lottery_queries": queries[0],
        "wall_s": round(elapsed, 3),
        "msgs_per_s": round(len(messages) / elapsed, 1),
        "p50_handling_ms": round(statistics.median(ms), 3),
        "p99_handling_ms": round(ms[int(0.99 * (len(ms) - 1))], 3),
        "entry_handler_total_s": round(sum(entry_us) / 1e6, 3),
        "entry_handler_p50_us": round(statistics.median(entry_us), 1),
        "entry_handler_p99_us": round(entry_us[int(0.99 * (len(entry_us) - 1))], 1),
        "entered": len(entered),
        "handler_failures": failures,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--yield-every", type=int, default=50, help="messages per 50 ms")
    parser.add_argument("--quick", action="store_true", help="1,000 messages")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = 1_000
    return args


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    compat.load()
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    await run(argparse.Namespace(**{**vars(args), "messages": 200}), True)  # warm-up, dropped
    result = {"cached": await run(args, True), "uncached": await run(args, False)}
    if result["cached"]["entered"] != result["uncached"]["entered"] or any(
        r["handler_failures"] for r in result.values()
    ):
        raise SystemExit(f"the runs disagree: {result}")
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = asyncio.run(bench(parse_args(argv)))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
