"""Benchmark: the SOP calendar at size, and how late its runs fire under load.

    python bench/sop_calendar.py                 # 2,000 entries / 200 groups; 2 x 120 s live
    python bench/sop_calendar.py --repeat 3      # three of each, with min / median / max
    python bench/sop_calendar.py --quick         # 100 entries / 10 groups; 2 x 3 s (smoke test)

**Plan.**  A ``bot.yaml`` is generated (deterministically, ``--seed``): ``--groups``
groups in five custom profiles, each with two of 40 tags, and ``--entries``
``post`` / ``checkin`` entries with a mix of ``cron`` (daily, weekdays,
weekly), ``every`` (30m .. 1d) and ``at``; ``days`` every / workdays /
days_off; quiet hours (the calendar's ``22:00-08:00``, some entries their own,
``defer`` or ``skip``); jitter; targets by room id (1-3 groups), by tag or by
profile.  Measured, ``--repeat`` times each:

* ``validate``: :func:`bot.config.validate_config_text` of the file (every
  entry's kind content, targets and warnings included);
* ``jobs``: what the runtime does at start: one trigger per entry x target
  group (:func:`sop.targets.target_rooms`, :func:`sop.triggers.entry_trigger`,
  as :meth:`sop.runtime.CalendarRuntime.plan`);
* ``preview``: :func:`sop.preview.preview` over ``--days`` days from
  2026-09-26 (National Day and its make-up workdays inside): every run per
  group after day rules, quiet hours and jitter.  ``runs_planned`` is its length.

Peak memory (``tracemalloc``, in a separate pass: it slows Python down) is the
peak above what was allocated before each step.

**Live.**  The real app (:class:`bot.app.App` over the real SDK on the
in-process puppet, a SQLite *file* in a temporary folder, the governor in
``dry_run``) on the system clock.  Once it is up, its calendar is replaced
(:meth:`CalendarRuntime.reload`, as ``#重载`` does) by two post entries: ``tick``
(``every: 1m`` in every group: a burst at each minute) and ``spread`` (``cron:
"* * * * *"`` with one minute of jitter in the groups tagged ``t0``..``t19``).
Then for ``--window`` seconds a task makes members say ``--rate`` messages a
second through the puppet (``loaded``), or nothing (``baseline``, the same
window before it).  A run's lateness is its ``calendar_runs.started_at`` (the
claim, just before the kind's runner is called) minus its ``scheduled_at``;
``done`` lateness uses ``finished_at`` (its post rendered and queued).
Reported: p50 / p99 / max lateness, runs fired against the runs the triggers
say were due in the window, messages said and handled, and the loaded p99
over the baseline p99.  (``--quick``: the entries are ``at`` times two and three
seconds after the reload, so a smoke test need not wait for a minute.)

The last line is one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository

import argparse
import asyncio
import gc
import json
import logging
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from bot import compat
from bot.app import App, AppOptions
from bot.config import BotConfig, validate_config_text
from bot.transport.adapter import WechatyTransport
from bot.vocab.clock import SystemClock
from sop.calendar import fire_times
from sop.preview import preview
from sop.targets import target_rooms
from sop.triggers import day_book, entry_trigger

BOT = "wxid_bot"
OWNER = "wxid_owner"
PLAN_FROM = date(2026, 9, 26)  # National Day 10-01..10-07, make-up workdays 09-28, 10-10
PROFILES = 5
TAGS = 40
LIVE_TAGS = 20  # "spread" runs in the groups tagged t0..t19
SDK_LOGGERS = ("Message", "Contact", "Room", "Wechaty", "Accessory", "Puppet")
CHAT = (
    "大家好",
    "今天天气不错",
    "收到，谢谢",
    "这个活动什么时候开始？",
    "哈哈哈",
    "好的👌",
    "明天见",
)

T = TypeVar("T")


def room_id(r: int) -> str:
    return f"{30_000_000 + r}@chatroom"


def member_id(r: int, m: int) -> str:
    return f"wxid_c{r:03d}m{m:02d}"


def group_tags(r: int) -> tuple[str, str]:
    return f"t{r % TAGS}", f"t{(r * 7 + 3) % TAGS}"  # never the same two (6r != 37 mod 40)


# ----------------------------------------------------------------- bot.yaml


def _yaml_head(groups: int) -> list[str]:
    lines = [
        f"owners: [{OWNER}]",
        "governor: {dry_run: true}",
        "profiles:",
        *(f"  p{p}: {{extends: member}}" for p in range(PROFILES)),
        "groups:",
    ]
    for r in range(groups):
        a, b = group_tags(r)
        lines.append(
            f"  {room_id(r)}: {{name: 日程群{r}, profile: p{r % PROFILES}, tags: [{a}, {b}]}}"
        )
    return lines


def _entry(i: int, rng: random.Random, groups: int, days: int) -> dict[str, Any]:
    kind = "checkin" if rng.random() < 0.2 else "post"
    entry: dict[str, Any] = {"id": f"e{i:04d}", "kind": kind}
    hour, minute = rng.randint(8, 21), rng.choice((0, 15, 30, 45))
    pick = rng.random()
    if pick < 0.45:
        entry["cron"] = f"{minute} {hour} * * *"
    elif pick < 0.55:
        entry["cron"] = f"{minute} {hour} * * 1-5"
    elif pick < 0.65:
        entry["cron"] = f"{minute} {hour} * * {rng.choice(('tue', 'thu', 'sat', 'sun'))}"
    elif pick < 0.85:
        entry["every"] = rng.choice(("30m", "1h", "2h", "4h", "1d"))
    else:
        day = PLAN_FROM + timedelta(days=rng.randrange(max(1, days)))
        entry["at"] = f"{day.isoformat()} {hour:02d}:{minute:02d}"
    pick = rng.random()
    entry["days"] = "every" if pick < 0.6 else "workdays" if pick < 0.9 else "days_off"
    if rng.random() < 0.2:
        entry["quiet_hours"] = rng.choice(("23:00-07:00", "12:00-13:30", "20:00-09:00"))
        entry["in_quiet_hours"] = rng.choice(("defer", "skip"))
    if rng.random() < 0.4:
        entry["jitter_minutes"] = rng.choice((2, 5, 10))
    pick = rng.random()
    if pick < 0.6:
        entry["groups"] = sorted({room_id(rng.randrange(groups)) for _ in range(rng.randint(1, 3))})
    elif pick < 0.9:
        entry["tags"] = [f"t{rng.randrange(TAGS)}"]
    else:
        entry["profiles"] = [f"p{rng.randrange(PROFILES)}"]
    if kind == "post":
        entry["post"] = {"text": f"【{i}】{{group}}的朋友们好！今天是{{date}} {{weekday}}。"}
    else:
        entry["checkin"] = {"close_after_minutes": rng.choice((30, 60, 120))}
    return entry


def plan_yaml(entries: int, groups: int, days: int, seed: int) -> str:
    """``groups`` groups and ``entries`` entries (each entry one JSON line: flow YAML)."""
    rng = random.Random(seed)
    lines = [
        *_yaml_head(groups),
        "calendar:",
        "  timezone: Asia/Shanghai",
        '  quiet_hours: "22:00-08:00"',
        "  entries:",
    ]
    for i in range(entries):
        lines.append("    - " + json.dumps(_entry(i, rng, groups, days), ensure_ascii=False))
    return "\n".join(lines) + "\n"


def live_yaml(groups: int, *, quick_at: datetime | None = None) -> str:
    """The two live entries: every minute (or, ``quick_at``, once 2 s and 3 s after it)."""
    every = [f"t{t}" for t in range(LIVE_TAGS)]
    profiles = [f"p{p}" for p in range(PROFILES)]
    text = "{time} 整点播报：{group}，今天是{date} {weekday}"
    tick: dict[str, Any] = {"id": "tick", "kind": "post", "profiles": profiles}
    spread: dict[str, Any] = {"id": "spread", "kind": "post", "tags": every}
    if quick_at is None:
        tick["every"] = "1m"
        spread |= {"cron": "* * * * *", "jitter_minutes": 1}
    else:
        tick["at"] = (quick_at + timedelta(seconds=2)).isoformat()
        spread["at"] = (quick_at + timedelta(seconds=3)).isoformat()
    lines = [*_yaml_head(groups), "calendar:", "  timezone: Asia/Shanghai", "  entries:"]
    for entry in (tick, spread):
        entry["post"] = {"text": text}
        lines.append("    - " + json.dumps(entry, ensure_ascii=False))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- planning


def build_jobs(cfg: BotConfig) -> int:
    """One trigger per enabled entry x target group, as the runtime plans them."""
    book = day_book(cfg.calendar)
    triggers = []
    for entry in cfg.calendar.entries:
        if not entry.enabled:
            continue
        for room in target_rooms(entry, cfg):
            triggers.append(entry_trigger(entry, cfg.calendar, cfg.bot.timezone, room, book))
    return len(triggers)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def peak_mb(fn: Callable[[], T]) -> tuple[float, T]:
    """Peak memory allocated while ``fn`` runs, above what was allocated before (MB)."""
    gc.collect()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    out = fn()
    peak = tracemalloc.get_traced_memory()[1]
    return round((peak - before) / 2**20, 1), out


def spread_of(xs: list[float], digits: int = 3) -> dict[str, float]:
    return {
        "min": round(min(xs), digits),
        "median": round(statistics.median(xs), digits),
        "max": round(max(xs), digits),
    }


def bench_plan(args: argparse.Namespace) -> dict[str, Any]:
    text = plan_yaml(args.entries, args.groups, args.days, args.seed)
    times: dict[str, list[float]] = {"validate_s": [], "jobs_s": [], "preview_s": []}
    jobs = runs = 0
    for _ in range(args.repeat):
        gc.collect()
        t, cfg = timed(lambda: validate_config_text(text, "bench.yaml"))
        times["validate_s"].append(t)
        t, jobs = timed(lambda: build_jobs(cfg))  # noqa: B023
        times["jobs_s"].append(t)
        t, planned = timed(lambda: preview(cfg, PLAN_FROM, args.days))  # noqa: B023
        times["preview_s"].append(t)
        runs = len(planned)
        del planned, cfg
    tracemalloc.start()
    try:
        validate_mb, cfg = peak_mb(lambda: validate_config_text(text, "bench.yaml"))
        jobs_mb, _ = peak_mb(lambda: build_jobs(cfg))
        preview_mb, planned = peak_mb(lambda: preview(cfg, PLAN_FROM, args.days))
        del planned
    finally:
        tracemalloc.stop()
    kinds = {k: sum(1 for e in cfg.calendar.entries if e.kind == k) for k in ("post", "checkin")}
    return {
        "entries": args.entries,
        "groups": args.groups,
        "kinds": kinds,
        "yaml_kb": round(len(text.encode()) / 1024, 1),
        "jobs": jobs,
        "days": args.days,
        "from": PLAN_FROM.isoformat(),
        "runs_planned": runs,
        **{name: spread_of(xs) for name, xs in times.items()},
        "validate_peak_mb": validate_mb,
        "jobs_peak_mb": jobs_mb,
        "preview_peak_mb": preview_mb,
    }


# -------------------------------------------------------------------- live


def make_puppet(groups: int, members: int, now: Any) -> Any:
    from bot.transport.sandbox_puppet import SandboxPuppet

    puppet = SandboxPuppet(account_id=BOT, account_name="群管家", now=now)
    puppet.add_contact(OWNER, "群主")
    for r in range(groups):
        ids = [member_id(r, m) for m in range(members)]
        for m, cid in enumerate(ids):
            puppet.add_contact(cid, f"成员{r}-{m}")
        puppet.add_room(room_id(r), f"日程群{r}", [OWNER, *ids], owner_id=OWNER, admin_ids=[BOT])
    return puppet


async def feed(puppet: Any, groups: int, members: int, rate: float, seconds: float) -> int:
    """``rate`` messages a second for ``seconds``, from members taken in turn."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while (due := start + sent / rate) < start + seconds:
        delay = due - loop.time()
        await asyncio.sleep(max(0.0, delay))  # behind: yields all the same
        r, m = sent % groups, (sent // groups) % members
        await puppet.member_says(room_id(r), member_id(r, m), f"{CHAT[sent % len(CHAT)]} {sent}")
        sent += 1
    return sent


def percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


async def live_once(args: argparse.Namespace, rate: float) -> dict[str, Any]:
    from sqlalchemy import select

    from storage.db import session_factory
    from storage.models import CalendarRun

    clock = SystemClock()
    config = validate_config_text(live_yaml(args.live_groups), "bench.yaml")
    with tempfile.TemporaryDirectory(prefix="qunbot-calbench-") as tmp:
        puppet = make_puppet(args.live_groups, args.members, clock.now)
        transport = WechatyTransport(puppet, clock=clock)
        app = App(
            validate_config_text("\n".join(_yaml_head(args.live_groups)) + "\n", "bench.yaml"),
            transport,
            AppOptions(
                base_dir=Path(tmp),
                env={"DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'qunbot.db'}"},
                clock=clock,
            ),
        )
        handling: list[float] = []
        process = app.dispatcher.process

        async def timed_process(event: Any) -> None:
            t0 = time.perf_counter()
            await process(event)
            handling.append(time.perf_counter() - t0)

        app.dispatcher.process = timed_process  # type: ignore[method-assign]
        await app.start()
        try:
            await asyncio.wait_for(transport.logged_in.wait(), 60)
            await app.settle(send=False)
            if args.quick:
                config = validate_config_text(
                    live_yaml(args.live_groups, quick_at=clock.now()), "bench.yaml"
                )
            await app.sop.reload(config, by="bench")
            t0 = clock.now()
            end = t0 + timedelta(seconds=args.window)
            live = {k: p for k, p in app.sop.planned.items() if p.entry.id in ("tick", "spread")}
            due = {
                (p.job_id, room, at)
                for (_, room), p in live.items()
                for at in fire_times(p.trigger, t0, end)
            }
            handling.clear()
            sent = 0
            if rate > 0:
                sent = await feed(puppet, args.live_groups, args.members, rate, args.window)
            remaining = (end - clock.now()).total_seconds()
            await asyncio.sleep(max(0.0, remaining) + 0.5)
            await app.settle(send=False)  # every run due by ``end`` done, every message handled
            handled = len(handling)
            handling_ms = [h * 1000 for h in handling]
            async with session_factory(app.engine)() as session:
                rows = (
                    await session.execute(
                        select(CalendarRun).where(
                            CalendarRun.account_id == app.config.bot.account,
                            CalendarRun.job_id.in_(["sop:tick", "sop:spread"]),
                        )
                    )
                ).scalars()
                runs = [r for r in rows if t0 < r.scheduled_at <= end]
            seen = {(r.job_id, r.room_id, r.scheduled_at) for r in runs}
            # Due but never claimed: seconds after the reload (a window's edges?).
            unseen = sorted((at - t0).total_seconds() for _, _, at in due - seen)
            failures = app.dispatcher.failures
        finally:
            app.executor.halt()
            await app.stop()
    started = [(r.started_at - r.scheduled_at).total_seconds() * 1000 for r in runs if r.started_at]
    done = [(r.finished_at - r.scheduled_at).total_seconds() * 1000 for r in runs if r.finished_at]
    if not started:
        raise SystemExit(f"no calendar run fired in the {args.window} s window")
    return {
        "runs_expected": len(due),
        "unseen_s_after_reload": [round(x, 1) for x in unseen[:5]],
        "runs_fired": len(started),
        "runs_failed": sum(1 for r in runs if r.error),
        "p50_ms": round(percentile(started, 0.5), 1),
        "p99_ms": round(percentile(started, 0.99), 1),
        "max_ms": round(max(started), 1),
        "done_p50_ms": round(percentile(done, 0.5), 1) if done else None,
        "done_p99_ms": round(percentile(done, 0.99), 1) if done else None,
        "messages_said": sent,
        "messages_handled": handled if rate > 0 else 0,
        "handling_p50_ms": round(percentile(handling_ms, 0.5), 2) if handling_ms else None,
        "handling_p99_ms": round(percentile(handling_ms, 0.99), 2) if handling_ms else None,
        "handler_failures": failures,
    }


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("p50_ms", "p99_ms", "max_ms", "done_p50_ms", "done_p99_ms"):
        xs = [r[key] for r in results if r[key] is not None]
        if xs:
            out[key] = spread_of(xs, 1)
    for key in ("handling_p50_ms", "handling_p99_ms"):
        xs = [r[key] for r in results if r[key] is not None]
        if xs:
            out[key] = spread_of(xs, 2)
    for key in (
        "runs_expected",
        "runs_fired",
        "runs_failed",
        "unseen_s_after_reload",
        "messages_said",
        "messages_handled",
    ):
        out[key] = [r[key] for r in results]
    out["handler_failures"] = sum(r["handler_failures"] for r in results)
    return out


async def bench_live(args: argparse.Namespace) -> dict[str, Any]:
    compat.load()
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    baseline: list[dict[str, Any]] = []
    loaded: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        baseline.append(await live_once(args, 0.0))
        loaded.append(await live_once(args, args.rate))
    base, load = summary(baseline), summary(loaded)
    per_min = args.live_groups + sum(
        1
        for r in range(args.live_groups)
        if set(group_tags(r)) & {f"t{t}" for t in range(LIVE_TAGS)}
    )
    b99, l99 = base["p99_ms"]["median"], load["p99_ms"]["median"]
    return {
        "groups": args.live_groups,
        "members_per_group": args.members,
        "window_s": args.window,
        "rate_msgs_per_s": args.rate,
        "runs_per_min": per_min if not args.quick else None,
        "clock": "system",
        "measure": "calendar_runs.started_at - scheduled_at (claim, then the kind runs)",
        "baseline": base,
        "loaded": load,
        "p99_ratio_loaded_to_baseline": round(l99 / b99, 2) if b99 else None,
        "p99_under_1s": load["p99_ms"]["max"] < 1000,
    }


# -------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=200, help="groups in the planned file")
    parser.add_argument("--days", type=int, default=14, help="days previewed")
    parser.add_argument("--live-groups", type=int, default=200)
    parser.add_argument("--members", type=int, default=20, help="members per live group")
    parser.add_argument("--window", type=float, default=120, help="seconds of each live run")
    parser.add_argument("--rate", type=float, default=50, help="messages a second (loaded)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--no-live", action="store_true", help="the plan only")
    parser.add_argument("--quick", action="store_true", help="small and seconds long (smoke)")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.groups, args.days = 100, 10, 3
        args.live_groups, args.members, args.window, args.rate = 10, 5, 4.0, 20.0
    return args


def bench(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"repeat": args.repeat, "quick": args.quick}
    result["plan"] = bench_plan(args)
    if not args.no_live:
        result["live"] = asyncio.run(bench_live(args))
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = bench(parse_args(argv))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
