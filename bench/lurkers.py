"""Benchmark: the lurker list per group from the rollups, against a naive
aggregate over the activity log.

    python bench/lurkers.py                  # 200 groups x 500 members, 20 M events
    python bench/lurkers.py --scale 0.05     # 10 groups, 1 M events (smoke / CI size)

A SQLite *file* is filled in bulk (``executemany`` inside one transaction
per group, the activity log AND the rollups it implies, member_stats and
member_days, computed exactly from the rows written; memberships and names
too): per group 500 members, 10% who never spoke, 20% silent for 35-90
days, the rest speaking over the last 90 days with a skewed rate.  Then, for
every group, ``--repeats`` times:

* ``rollups``: what ``#潜水`` / a sweep does: ``LurkerStore.member_rows`` (four
  small queries on memberships, member_stats, member_days, checkins, coupons)
  and the pure tiering (:func:`handlers.lurkers.tiers.tiers`);
* ``naive``: ``SELECT contact_id, COUNT(*), MAX(at) FROM activity_events
  WHERE room_id = ? AND kind = 'message' GROUP BY contact_id`` joined in
  Python with the memberships.

Both lists must agree (``agree``).  Reported: ms per group for each (median
of the repeats' means, with min and max), their ratio, the build time, the
database size.  The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine

from handlers.lurkers.policy import ActivityCounts, LurkersPolicy
from handlers.lurkers.tiers import silent_members, tiers
from storage.db import session_factory
from storage.lurkers import LurkerStore
from storage.models import Base

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TZ_OFFSET = 8 * 3600  # Asia/Shanghai, the bot's default time zone
MEMBERS = 500
EVENTS = 20_000_000
GROUPS = 200
DAYS = 90


def stamp(t: float) -> str:
    """A time as UTCDateTime stores it on SQLite."""
    return datetime.fromtimestamp(t, UTC).isoformat(" ", "microseconds")[:26]


def build(path: Path, groups: int, events: int, seed: int = 7) -> dict[str, Any]:
    """Fill ``path`` (see the module docstring); returns counts and the time taken."""
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    now = NOW.timestamp()
    joined = stamp(now - 120 * 86400)
    per_group = events // groups
    days_cache: dict[int, str] = {}
    started = time.perf_counter()
    written = 0
    names = [(f"wxid_m{m:03d}", f"成员{m:03d}", joined) for m in range(MEMBERS)]
    con.executemany("INSERT INTO contacts (contact_id, name, updated_at) VALUES (?, ?, ?)", names)
    for g in range(groups):
        room = f"g{g:03d}@chatroom"
        ids = [f"wxid_m{m:03d}" for m in range(MEMBERS)]
        order = ids[:]
        rng.shuffle(order)
        never = set(order[: MEMBERS // 10])
        silent = set(order[MEMBERS // 10 : MEMBERS * 3 // 10])
        talkers = [m for m in order if m not in never]
        weights = [1.0 / (i + 1) ** 0.8 for i in range(len(talkers))]
        who = rng.choices(talkers, weights=weights, k=per_group)
        rand = rng.random
        rows = []
        stats: dict[str, list[Any]] = {}
        days: dict[tuple[str, str], int] = {}
        for i, member in enumerate(who):
            if member in silent:
                t = now - (35 + rand() * (DAYS - 35)) * 86400
            else:
                t = now - rand() * DAYS * 86400
            at = stamp(t)
            rows.append((room, member, "message", "text", f"{room}:{i}", "hi", at))
            s = stats.get(member)
            if s is None:
                stats[member] = [at, at, 1]
            else:
                s[2] += 1
                if at < s[0]:
                    s[0] = at
                if at > s[1]:
                    s[1] = at
            n = int((t + TZ_OFFSET) // 86400)
            day = days_cache.get(n)
            if day is None:
                day = days_cache[n] = date.fromordinal(date(1970, 1, 1).toordinal() + n).isoformat()
            days[(member, day)] = days.get((member, day), 0) + 1
        with con:
            con.executemany(
                "INSERT INTO activity_events (room_id, contact_id, kind, message_kind, "
                "message_id, text, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            con.executemany(
                "INSERT INTO member_stats (room_id, contact_id, first_seen_at, last_spoke_at, "
                "message_count, last_active_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(room, m, s[0], s[1], s[2], s[1]) for m, s in stats.items()],
            )
            con.executemany(
                "INSERT INTO member_days (room_id, contact_id, day, messages) VALUES (?, ?, ?, ?)",
                [(room, m, d, n) for (m, d), n in days.items()],
            )
            con.executemany(
                "INSERT INTO memberships (room_id, contact_id, joined_at, inviter_id, left_at, "
                "remover_id, role, welcomed_at, reminded_at, join_count) "
                "VALUES (?, ?, ?, NULL, NULL, NULL, ?, NULL, NULL, 1)",
                [(room, m, joined, "owner" if m == order[-1] else "member") for m in ids],
            )
        written += len(rows)
    con.execute("ANALYZE")
    con.close()
    return {"events": written, "build_s": round(time.perf_counter() - started, 1)}


def naive(con: sqlite3.Connection, room: str, section: LurkersPolicy) -> list[str]:
    """Silent members from the event log itself (messages only)."""
    cutoff = stamp((NOW - timedelta(days=section.silent_days)).timestamp())
    last = dict(
        con.execute(
            "SELECT contact_id, MAX(at) FROM activity_events WHERE room_id = ? "
            "AND kind = 'message' GROUP BY contact_id",
            (room,),
        ).fetchall()
    )
    present = con.execute(
        "SELECT contact_id FROM memberships WHERE room_id = ? AND left_at IS NULL", (room,)
    ).fetchall()
    return sorted(m for (m,) in present if last.get(m) is None or last[m] < cutoff)


async def measure(path: Path, groups: int, repeats: int) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    section = LurkersPolicy(
        silent_days=30, activity=ActivityCounts(checkins=False, redemptions=False)
    )
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    store = LurkerStore(session_factory(engine), account_id="default")
    con = sqlite3.connect(path)
    rooms = [f"g{g:03d}@chatroom" for g in range(groups)]
    today = (NOW + timedelta(seconds=TZ_OFFSET)).date()
    fast: list[float] = []
    slow: list[float] = []
    agree = True
    lurkers = 0
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            found: dict[str, list[str]] = {}
            for room in rooms:
                rows = await store.member_rows(
                    room,
                    day_7=(today - timedelta(days=6)).isoformat(),
                    day_30=(today - timedelta(days=29)).isoformat(),
                    since=NOW - timedelta(days=30),
                )
                ranked = tiers(rows, NOW, section)
                found[room] = sorted(t.member_id for t in silent_members(ranked, section))
            fast.append((time.perf_counter() - t0) * 1000 / len(rooms))
            t0 = time.perf_counter()
            for room in rooms:
                agree = agree and naive(con, room, section) == found[room]
            slow.append((time.perf_counter() - t0) * 1000 / len(rooms))
            lurkers = sum(len(v) for v in found.values())
    finally:
        con.close()
        await engine.dispose()

    def figure(xs: list[float]) -> dict[str, float]:
        return {
            "median": round(statistics.median(xs), 2),
            "min": round(min(xs), 2),
            "max": round(max(xs), 2),
        }

    weekly, charts = await _weekly_reports(path, rooms, repeats)
    r, n = figure(fast), figure(slow)
    return {
        "weekly_figures_ms_per_group": figure(weekly),
        "weekly_chart_ms": figure(charts),
        "rollups_ms_per_group": r,
        "naive_ms_per_group": n,
        "ratio": round(n["median"] / r["median"], 1) if r["median"] else None,
        "under_100ms": r["median"] < 100,
        "agree": agree,
        "lurkers": lurkers,
    }


async def _weekly_reports(
    path: Path, rooms: list[str], repeats: int
) -> tuple[list[float], list[float]]:
    """The weekly report of last week: its figures for every group (ms per
    group, per repeat), and the chart rendered for three groups (ms each)."""
    from zoneinfo import ZoneInfo

    from sqlalchemy.ext.asyncio import create_async_engine

    from handlers.reports.chart import render_weekly
    from storage.reports import ReportStore, last_full_week

    tz = ZoneInfo("Asia/Shanghai")
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    store = ReportStore(session_factory(engine), account_id="default")
    week = last_full_week(NOW, tz)
    figures: list[float] = []
    charts: list[float] = []
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            done = [await store.weekly(room, week, tz) for room in rooms]
            figures.append((time.perf_counter() - t0) * 1000 / len(rooms))
        with tempfile.TemporaryDirectory() as tmp:
            for f in done[:3]:
                t0 = time.perf_counter()
                render_weekly(f, Path(tmp) / f"{f.room_id}.png")
                charts.append((time.perf_counter() - t0) * 1000)
    finally:
        await engine.dispose()
    return figures, charts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="groups and events x this")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db", help="keep the database here (default: a temporary folder)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    groups = max(2, round(GROUPS * args.scale))
    events = max(groups * 1000, round(EVENTS * args.scale))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "lurkers.db"
        if path.exists():
            path.unlink()
        built = build(path, groups, events)
        size = path.stat().st_size + sum(
            p.stat().st_size for p in path.parent.glob(path.name + "-*") if p.exists()
        )
        result = asyncio.run(measure(path, groups, args.repeats))
        report = {
            "groups": groups,
            "members_per_group": MEMBERS,
            **built,
            "db_mb": round(size / 1e6, 1),
            "repeats": args.repeats,
            **result,
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        }
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
