"""Benchmark: ordinary group chat through the whole bot vs. the bare Wechaty SDK.

    python bench/pipeline.py [--messages 20000 --rooms 50 --members 20 --seed 1]
    python bench/pipeline.py --quick          # 2,000 messages, 1 repetition (smoke test)

N plain-text messages (never commands: the bot sends nothing) from members of
``--rooms`` managed groups are pushed by the in-process ``SandboxPuppet``:

* **full**: the real SDK (``WechatyTransport`` over the puppet), the
  dispatcher, every handler (activity to a real SQLite *file* in a temp dir,
  membership, joining, welcome, commands) and the executor; built like
  ``tests/flow/harness.py`` but on a ``SystemClock`` (real time, so the
  activity recorder's 0.2 s flush timer runs for real), calendar off.  Timed
  from the first ``member_says`` until ``await app.settle(send=False)`` returns;
  then ``repo.count_activity()`` must have grown by exactly N.
* **bare**: the same puppet and the same ``WechatyTransport`` (the SDK cost
  our adapter pays: ``Message.load`` + ``ready`` + ``talker`` + conversion)
  with a sink that does nothing; timed until ``transport.drain()`` returns.
  ``ratio = bare_msgs_per_s / full_msgs_per_s``: what the dispatcher,
  handlers and storage cost on top of it.
* **raw_sdk** (extra figure): a ``Wechaty`` bound to the puppet and a plain
  async puppet listener doing ``Message.load(id)`` + ``await msg.ready()``
  (pyee runs one task per message); timed until the N-th has finished.

Each measurement gets a fresh puppet (its ``start()`` isolates the SDK's
process-wide Contact/Room pools) and is warmed the same way: login, and the
member lists of every room read before the clock starts (the transport does it
at login; the raw variant does it by hand).  One small warm-up round of each
kind runs first; the measured rounds then rotate the order (bare, full, raw /
full, raw, bare / ...).  The producer yields to the event loop every
``--yield-every`` messages, so the run measures saturated throughput with a
bounded backlog.

Noise.  Garbage collection: before every timed section, full and bare alike,
the heap is collected and frozen (``gc.collect(); gc.freeze()``), so a
collection inside the section walks only the objects made there, not the
puppet's, the app's or the SDK's pools (unfrozen after the section).  A shared
machine: the median of ``--reps`` rounds (default 5) is reported, and each
round's own full/bare ratio with their spread (``ratio_per_round``,
``ratio_spread``).  The rooms' members live in the puppet, not in the YAML,
so ``--rooms 500`` is a valid config.

The SDK logs every payload load at INFO on its own stderr handlers (loggers
``Message``, ``Contact``, ``Room`` ...); they are set to WARNING unless
``--sdk-logging`` is given (``sdk_info_logging_suppressed`` says which).

Wall time is what the targets use; process CPU time over the same span (all
threads, including aiosqlite's) is reported too (``*_cpu_us_per_msg``,
``cpu_ratio``): it is much steadier when other work shares the machine.
``--profile FILE`` cProfiles the timed section of one extra full run.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import logging
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import compat
from bot.app import App, AppOptions
from bot.config import BotConfig, validate_config_text
from bot.transport.adapter import WechatyTransport, free_port
from bot.vocab.clock import SystemClock

BOT = "wxid_benchbot"
OWNER = "wxid_benchowner"

TARGET_FULL_MSGS_PER_S = 2000.0
TARGET_RATIO = 1.5

# The SDK's loggers (wechaty_puppet.logger.get_logger: own handler, propagate=False).
SDK_LOGGERS = (
    "Wechaty",
    "Message",
    "Contact",
    "ContactSelf",
    "Room",
    "RoomInvitation",
    "FriendShip",
    "Favorite",
    "Image",
    "MiniProgram",
    "UrlLink",
    "Tag",
    "Config",
    "Accessory",
    "FileBox",
    "WechatyPuppet",
    "WechatyPuppet.Schemas.Event",
    "WechatyPuppet.Schema.Base",
    "wechaty.plugin",
)

_WORDS = (
    "大家好",
    "今天",
    "天气",
    "不错",
    "周末",
    "一起",
    "吃饭",
    "有人",
    "知道",
    "这个",
    "问题",
    "怎么",
    "解决",
    "谢谢",
    "分享",
    "一下",
    "经验",
    "宝宝",
    "最近",
    "工作",
    "好的",
    "收到",
    "哈哈",
    "明天",
    "见",
    "推荐",
    "一本书",
    "链接",
    "晚安",
    "早上好",
    "ok",
    "👍",
    "😂",
    "？",
    "！",
    "。",
    "，",
)


# ---------------------------------------------------------------- set-up


def room_id(r: int) -> str:
    return f"{10_000_000 + r}@chatroom"


def member_id(r: int, m: int) -> str:
    return f"wxid_r{r:03d}m{m:03d}"


def config_yaml(rooms: int) -> str:
    """Production settings only: the groups the bot manages (the members are
    put into the puppet by :func:`make_puppet`, so 500 rooms stay a small file)."""
    lines = [
        f"owners: [{OWNER}]",
        "groups:",
        *(f"  {room_id(r)}: {{name: 压测群{r}, profile: member}}" for r in range(rooms)),
    ]
    return "\n".join(lines) + "\n"


def make_puppet(rooms: int, members: int, now: Callable[[], Any]) -> Any:
    """The in-process puppet with ``rooms`` groups of ``members`` members (and the owner)."""
    from bot.transport.sandbox_puppet import SandboxPuppet

    puppet = SandboxPuppet(account_id=BOT, account_name="群管家", now=now)
    puppet.add_contact(OWNER, "群主")
    for r in range(rooms):
        ids = [member_id(r, m) for m in range(members)]
        for m, cid in enumerate(ids):
            puppet.add_contact(cid, f"成员{r}-{m}")
        puppet.add_room(room_id(r), f"压测群{r}", [OWNER, *ids], owner_id=OWNER, admin_ids=[BOT])
    return puppet


def make_plan(n: int, rooms: int, members: int, seed: int) -> list[tuple[str, str, str]]:
    """(room, member, text) for each message; plain chat, never a command."""
    rng = random.Random(seed)
    plan = []
    for _ in range(n):
        r = rng.randrange(rooms)
        words = rng.choices(_WORDS, k=rng.randint(1, 12))
        text = "".join(words)
        assert not text.startswith("#")
        plan.append((room_id(r), member_id(r, rng.randrange(members)), text))
    return plan


def set_sdk_logging(level: int) -> None:
    compat.load()  # the SDK's loggers exist once it is imported
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and name.lower().startswith("wechaty"):
            logger.setLevel(level)


async def push(puppet: Any, plan: list[tuple[str, str, str]], yield_every: int) -> None:
    says = puppet.member_says
    for i, (room, member, text) in enumerate(plan, 1):
        await says(room, member, text)
        if i % yield_every == 0:
            await asyncio.sleep(0)


# ---------------------------------------------------------------- the three runs


@dataclass(frozen=True)
class Setup:
    config: BotConfig
    rooms: int
    members: int

    def puppet(self, clock: SystemClock) -> Any:
        return make_puppet(self.rooms, self.members, clock.now)


def settle_gc() -> None:
    """Before a timed section: collect, then freeze what survives (the puppet,
    the app, the SDK's pools), so a collection inside the section only walks
    objects made there.  Done the same way for every kind of run."""
    gc.collect()
    gc.freeze()


def thaw_gc() -> None:
    gc.unfreeze()
    gc.collect()


@dataclass
class Run:
    seconds: float  # wall time, first member_says until everything is handled
    cpu: float  # process CPU time (all threads, incl. aiosqlite's) over the same span
    count: int  # rows stored (full) / events delivered (bare) / messages loaded (raw)
    startup_failures: int = 0  # handler failures before the clock started (full only)


async def run_full(
    setup: Setup,
    plan: list[tuple[str, str, str]],
    yield_every: int,
    profiler: cProfile.Profile | None = None,
) -> Run:
    """Seconds for the whole pipeline, and how many activity rows the run stored."""
    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="qunbot-bench-") as tmp:
        db = Path(tmp) / "qunbot.db"
        puppet = setup.puppet(clock)
        transport = WechatyTransport(puppet, clock=clock)
        app = App(
            setup.config,
            transport,
            AppOptions(
                base_dir=Path(tmp),
                env={"DATABASE_URL": f"sqlite+aiosqlite:///{db}"},
                clock=clock,
                start_calendar=False,
            ),
        )
        await app.start()
        try:
            await asyncio.wait_for(transport.logged_in.wait(), 30)
            await app.settle(send=False)  # login snapshots: memberships written
            before = await app.repo.count_activity()
            startup_failures = app.dispatcher.failures
            settle_gc()
            if profiler is not None:
                profiler.enable()
            c0, t0 = time.process_time(), time.perf_counter()
            await push(puppet, plan, yield_every)
            await app.settle(send=False)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            thaw_gc()
            if profiler is not None:
                profiler.disable()
            stored = await app.repo.count_activity() - before
            if app.executor.pending:
                raise RuntimeError(f"the bot queued {app.executor.pending} action(s) for chat")
            failures = app.dispatcher.failures - startup_failures
            if failures or transport.dropped:
                raise RuntimeError(
                    f"{failures} handler failure(s), {transport.dropped} dropped event(s)"
                )
        finally:
            await app.stop()
    return Run(elapsed, cpu, stored, startup_failures)


async def run_bare(setup: Setup, plan: list[tuple[str, str, str]], yield_every: int) -> Run:
    """Seconds for the same transport with a no-op sink; and how many events it delivered."""
    clock = SystemClock()
    puppet = setup.puppet(clock)
    transport = WechatyTransport(puppet, clock=clock)
    delivered = 0

    def sink(event: Any) -> None:
        nonlocal delivered
        delivered += 1

    await transport.start(sink)
    try:
        await asyncio.wait_for(transport.logged_in.wait(), 30)
        await transport.drain()  # login + room snapshots
        delivered = 0
        settle_gc()
        c0, t0 = time.process_time(), time.perf_counter()
        await push(puppet, plan, yield_every)
        await transport.drain()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        thaw_gc()
    finally:
        await transport.stop()
    return Run(elapsed, cpu, delivered)


async def run_raw_sdk(setup: Setup, plan: list[tuple[str, str, str]], yield_every: int) -> Run:
    """Seconds for a raw SDK listener (Message.load + ready per message)."""
    from wechaty_puppet import PuppetOptions

    wechaty = compat.load()
    clock = SystemClock()
    puppet = setup.puppet(clock)
    bot = wechaty.Wechaty(
        wechaty.WechatyOptions(
            name="bench", puppet=puppet, puppet_options=PuppetOptions(), port=free_port()
        )
    )
    await bot.init_puppet()
    await puppet.start()  # isolates the pools, logs in
    for rid in await puppet.room_list():  # the warm-up the transport does at login
        room = bot.Room.load(rid)
        await room.ready()
        await room.member_list()
    n = len(plan)
    done = asyncio.Event()
    count = 0
    message_cls = bot.Message

    async def on_message(payload: Any) -> None:
        nonlocal count
        msg = message_cls.load(payload.message_id)
        await msg.ready()
        count += 1
        if count >= n:
            done.set()

    puppet.on("message", on_message)
    try:
        settle_gc()
        c0, t0 = time.process_time(), time.perf_counter()
        await push(puppet, plan, yield_every)
        await asyncio.wait_for(done.wait(), 600)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        thaw_gc()
        await puppet.settle()
    finally:
        await puppet.stop()
    return Run(elapsed, cpu, count)


RUNNERS: dict[str, Callable[..., Any]] = {
    "bare": run_bare,
    "full": run_full,
    "raw_sdk": run_raw_sdk,
}


# ---------------------------------------------------------------- main


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    level = logging.INFO if args.sdk_logging else logging.WARNING
    set_sdk_logging(level)
    config = validate_config_text(config_yaml(args.rooms), "bench.yaml")
    setup = Setup(config, args.rooms, args.members)
    plan = make_plan(args.messages, args.rooms, args.members, args.seed)
    warm = make_plan(min(args.messages, 1000), args.rooms, args.members, args.seed + 1)
    kinds = ["bare", "full", "raw_sdk"]

    if not args.no_warmup:
        for kind in kinds:
            await RUNNERS[kind](setup, warm, args.yield_every)

    runs: dict[str, list[Run]] = {k: [] for k in kinds}
    for rep in range(args.reps):
        order = kinds[rep % 3 :] + kinds[: rep % 3]  # rotate, so no kind always goes first
        for kind in order:
            run = await RUNNERS[kind](setup, plan, args.yield_every)
            runs[kind].append(run)
            print(
                f"rep {rep + 1}/{args.reps} {kind:8s} {run.seconds:7.3f} s "
                f"{args.messages / run.seconds:9.0f} msg/s  cpu {run.cpu:6.3f} s  "
                f"({run.count} handled)",
                file=sys.stderr,
                flush=True,
            )

    if args.profile:
        profiler = cProfile.Profile()
        run = await run_full(setup, plan, args.yield_every, profiler)
        profiler.dump_stats(args.profile)
        print(
            f"profiled full run ({run.seconds:.3f} s under cProfile) -> {args.profile}; "
            "hottest functions of bot/, handlers/, storage/ by own time:",
            file=sys.stderr,
        )
        ours = r"/(bot|handlers|storage|sop)/"
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(ours, 20)

    n = args.messages
    wall = {k: statistics.median(r.seconds for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r.cpu for r in v) for k, v in runs.items()}
    rate = {k: n / wall[k] for k in kinds}
    bad_rows = [r.count for r in runs["full"] if r.count != n]
    stored = bad_rows[0] if bad_rows else n
    ratio = rate["bare"] / rate["full"]
    # Each round's own full/bare ratio: their spread says how noisy the machine was.
    ratios = sorted(f.seconds / b.seconds for f, b in zip(runs["full"], runs["bare"], strict=True))
    return {
        "messages": n,
        "rooms": args.rooms,
        "members_per_room": args.members,
        "seed": args.seed,
        "reps": args.reps,
        "full_msgs_per_s": round(rate["full"], 1),
        "bare_msgs_per_s": round(rate["bare"], 1),
        "raw_sdk_msgs_per_s": round(rate["raw_sdk"], 1),
        "ratio": round(ratio, 3),
        "ratio_per_round": [round(r, 3) for r in ratios],
        "ratio_spread": [round(ratios[0], 3), round(ratios[-1], 3)],
        "ratio_vs_raw_sdk": round(rate["raw_sdk"] / rate["full"], 3),
        # CPU time (all threads) is steadier than wall time on a shared machine.
        "full_cpu_us_per_msg": round(cpu["full"] / n * 1e6, 1),
        "bare_cpu_us_per_msg": round(cpu["bare"] / n * 1e6, 1),
        "raw_sdk_cpu_us_per_msg": round(cpu["raw_sdk"] / n * 1e6, 1),
        "cpu_ratio": round(cpu["full"] / cpu["bare"], 3),
        "stored_rows": stored,
        "stored_rows_ok": not bad_rows,
        "bare_events_delivered": min(r.count for r in runs["bare"]),
        "startup_handler_failures": sum(r.startup_failures for r in runs["full"]),
        "seconds": {k: [round(r.seconds, 4) for r in v] for k, v in runs.items()},
        "cpu_seconds": {k: [round(r.cpu, 4) for r in v] for k, v in runs.items()},
        "targets": {"full_msgs_per_s": TARGET_FULL_MSGS_PER_S, "ratio": TARGET_RATIO},
        "targets_met": rate["full"] >= TARGET_FULL_MSGS_PER_S and ratio <= TARGET_RATIO,
        "gc": "collected and frozen (gc.freeze) before every timed section, full and bare "
        "alike; median of the rounds, spread in ratio_spread",
        "clock": "SystemClock",
        "database": "sqlite+aiosqlite file in a temp dir",
        "yield_every": args.yield_every,
        "warmup": not args.no_warmup,
        "sdk_info_logging_suppressed": not args.sdk_logging,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--rooms", type=int, default=50)
    ap.add_argument("--members", type=int, default=20, help="members per room (besides the bot)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5, help="measured rounds; the median is reported")
    ap.add_argument(
        "--yield-every",
        type=int,
        default=100,
        help="the producer yields to the loop after this many messages",
    )
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument(
        "--sdk-logging",
        action="store_true",
        help="keep the SDK's per-message INFO logging (to stderr)",
    )
    ap.add_argument(
        "--profile",
        metavar="FILE",
        help="after the measured rounds, cProfile one more full run's timed section "
        "into FILE (pstats) and print our hottest functions to stderr",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2,000 messages, 10 rooms, 1 round, no warm-up",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a target is missed (stored rows are always checked)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.messages, args.rooms, args.reps, args.no_warmup = 2000, 10, 1, True
    if args.messages < 1 or args.rooms < 1 or args.members < 1 or args.reps < 1:
        ap.error("--messages, --rooms, --members and --reps must be positive")
    if args.yield_every < 1:
        ap.error("--yield-every must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(bench(args))
    print(json.dumps(result, ensure_ascii=False))
    if not result["stored_rows_ok"]:
        return 1
    if args.check and not result["targets_met"]:
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
