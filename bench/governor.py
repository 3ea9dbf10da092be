"""Benchmark: drain a mixed backlog through PacedQueue + Governor.

    python bench/governor.py [--actions 1000 --rooms 200 --seed 1]

All actions are queued at t=0 and drained on a simulated clock (no sleeping):
``entry, at = queue.next(now)``; the clock jumps to ``at``; ``record``.  The
executed timeline is then checked against every limit, window by window.

Mix (fractions of --actions; the rest are plain messages): plain MESSAGE
78 %, RICH 10 %, REMOVE 6 %, INVITE 2 %, ACCEPT 2 %, ROOM_ADMIN 1 %,
FRIEND_REQUEST 0.6 %, ROOM_CREATE 0.4 %.  Rooms drawn uniformly.
Priorities: REMOVE is MODERATION; plain messages are 4 % WELCOME, 6 % REPLY,
90 % BROADCAST; INVITE / ACCEPT / FRIEND_REQUEST are REPLY; the rest
BROADCAST.

The last line is one JSON object.  ``max_rate_over_limit`` is the highest
(observed count in a window) / (that window's limit) over all limits, and for
spacing limits (room gap, switch delay, removal gap) the limit divided by the
smallest observed gap; it must never exceed 1.0.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.governor import (
    DAY,
    MESSAGE_KINDS,
    MINUTE,
    Governor,
    GovernorSettings,
    PacedQueue,
    QueueEntry,
    Refusal,
)
from bot.vocab.actions import ActionKind, Priority

MIX: dict[ActionKind, float] = {
    ActionKind.RICH: 0.10,
    ActionKind.REMOVE: 0.06,
    ActionKind.INVITE: 0.02,
    ActionKind.ACCEPT: 0.02,
    ActionKind.ROOM_ADMIN: 0.01,
    ActionKind.FRIEND_REQUEST: 0.006,
    ActionKind.ROOM_CREATE: 0.004,
}
PRIORITY: dict[ActionKind, Priority] = {
    ActionKind.RICH: Priority.BROADCAST,
    ActionKind.REMOVE: Priority.MODERATION,
    ActionKind.INVITE: Priority.REPLY,
    ActionKind.ACCEPT: Priority.REPLY,
    ActionKind.ROOM_ADMIN: Priority.BROADCAST,
    ActionKind.FRIEND_REQUEST: Priority.REPLY,
    ActionKind.ROOM_CREATE: Priority.BROADCAST,
}


def make_entries(n: int, rooms: int, rng: random.Random) -> list[QueueEntry]:
    counts = {k: round(n * f) for k, f in MIX.items()}
    counts[ActionKind.MESSAGE] = n - sum(counts.values())
    kinds = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(kinds)
    entries = []
    for i, kind in enumerate(kinds):
        if kind is ActionKind.MESSAGE:
            x = rng.random()
            prio = Priority.BROADCAST
            if x < 0.10:
                prio = Priority.WELCOME if x < 0.04 else Priority.REPLY
        else:
            prio = PRIORITY[kind]
        room = f"room-{rng.randrange(rooms):04d}"
        entries.append(QueueEntry(f"a{i}", kind, room, prio, 0.0))
    return entries


def window_ratio(times: list[float], limit: int, span: float) -> float:
    """Max events in any half-open window [t, t + span), over the limit."""
    if not times:
        return 0.0
    best = max(bisect.bisect_left(times, t + span) - i for i, t in enumerate(times))
    return best / limit if limit > 0 else math.inf


def gap_ratio(gaps: list[float], minimum: float) -> float:
    return minimum / min(gaps) if gaps and min(gaps) > 0 else (0.0 if not gaps else math.inf)


def bucket_ratio(times: list[float], rate: float, burst: int) -> float:
    """Max over windows [t_i, t_j] of (j - i + 1) / (burst + rate * (t_j - t_i))."""
    worst = 0.0
    for i, ti in enumerate(times):
        for j in range(i, len(times)):
            worst = max(worst, (j - i + 1) / (burst + rate * (times[j] - ti) + 1e-9))
    return worst


def theoretical_minimum(
    s: GovernorSettings, executed: Counter[ActionKind], rooms: int
) -> dict[str, float]:
    """A lower bound on the drain time (first action at 0) that no schedule
    can beat, for the executed mix.  Lanes share nothing, so it is the max of
    the per-lane bounds:

    * messages (N = plain + rich, R = rooms with a message): N - 1 gaps, at
      least R - 1 of them room switches; a switch waits >= switch_delay_min
      (the random draw at its LOWER bound), any other gap >= min(room_gap,
      switch_delay_min):  (R-1)*switch_min + (N-R)*min(gap, switch_min);
      the bucket: N <= burst + rate*T;  the hard cap and the rich window:
      (ceil(n / limit) - 1) * 60 s;
    * removals: (n - 1) * remove_gap_min (the random spacing at its lower
      bound);
    * every other kind: (ceil(n / per_min) - 1) * 60 s.

    It ignores interactions (e.g. rich entries must fit among the plain ones),
    so the true optimum can only be larger.
    """
    n_msg = executed[ActionKind.MESSAGE] + executed[ActionKind.RICH]
    bounds: dict[str, float] = {}
    if n_msg:
        r = min(rooms, n_msg)
        step = min(s.room_gap_s, s.switch_delay_min)
        bounds["message_spacing"] = (r - 1) * s.switch_delay_min + (n_msg - r) * step
        bounds["message_bucket"] = max(0.0, (n_msg - s.message_burst) / (s.messages_per_min / 60))
        bounds["message_hard_cap"] = (math.ceil(n_msg / s.messages_hard_cap_per_min) - 1) * MINUTE
    n_rem = executed[ActionKind.REMOVE]
    if n_rem:
        bounds["remove_spacing"] = (n_rem - 1) * s.remove_gap_min
    for kind in ActionKind:
        pm = s.per_min(kind)
        if pm is not None and executed[kind]:
            bounds[f"{kind.value}_per_min"] = (math.ceil(executed[kind] / pm) - 1) * MINUTE
    return bounds


def run(n: int, rooms: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    s = GovernorSettings()
    gov = Governor(s, random.Random(seed + 1))
    q = PacedQueue(gov)
    entries = make_entries(n, rooms, rng)
    queued = Counter(e.kind for e in entries)

    t0 = time.perf_counter()
    for e in entries:
        q.push(e)
    enqueue_s = time.perf_counter() - t0

    now = 0.0
    log: list[tuple[ActionKind, str | None, float]] = []
    refused: Counter[str] = Counter()
    waits: dict[Priority, list[float]] = defaultdict(list)
    decisions = 0
    t0 = time.perf_counter()
    while (d := q.next(now)) is not None:
        decisions += 1
        entry, at = d
        if isinstance(at, Refusal):
            refused[f"{entry.kind.value}:{at.code.value}"] += 1
            continue
        assert at >= now
        now = at
        gov.record(entry.kind, entry.room_id, at)
        log.append((entry.kind, entry.room_id, at))
        waits[entry.priority].append(at - entry.enqueued_at)
    drain_s = time.perf_counter() - t0

    executed = Counter(k for k, _, _ in log)
    total = log[-1][2] if log else 0.0
    rooms_used = len({r for k, r, _ in log if k in MESSAGE_KINDS})

    # -- every limit, every window ----------------------------------------
    ratios: dict[str, float] = {}
    msgs = [(r, t) for k, r, t in log if k in MESSAGE_KINDS]
    mt = [t for _, t in msgs]
    ratios["message_bucket"] = bucket_ratio(mt, s.messages_per_min / 60, s.message_burst)
    ratios["message_hard_cap_60s"] = window_ratio(mt, s.messages_hard_cap_per_min, MINUTE)
    # Not a limit of its own (the bucket allows burst + 20 per minute), but
    # the spacing should keep every 60 s window at <= messages_per_min:
    ratios["message_60s_vs_sustained"] = window_ratio(mt, int(s.messages_per_min), MINUTE)
    last_in: dict[str | None, float] = {}
    same, switch = [], []
    for i, (room, t) in enumerate(msgs):
        if room in last_in:
            same.append(t - last_in[room])
        if i and msgs[i - 1][0] != room:
            switch.append(t - msgs[i - 1][1])
        last_in[room] = t
    ratios["room_gap"] = gap_ratio(same, s.room_gap_s)
    ratios["switch_delay"] = gap_ratio(switch, s.switch_delay_min)
    rem = [t for k, _, t in log if k is ActionKind.REMOVE]
    ratios["remove_gap"] = gap_ratio([b - a for a, b in itertools.pairwise(rem)], s.remove_gap_min)
    for kind in ActionKind:
        times = [t for k, _, t in log if k is kind]
        pm, pd = s.per_min(kind), s.per_day(kind)
        if pm is not None:
            ratios[f"{kind.value}_per_min"] = window_ratio(times, pm, MINUTE)
        if pd is not None:
            ratios[f"{kind.value}_per_day"] = window_ratio(times, pd, DAY) if pd else 0.0

    bounds = theoretical_minimum(s, executed, rooms_used)
    t_min = max(bounds.values())
    # The same with the unavoidable switches at the MEAN random delay (4 s):
    # what a perfect scheduler would average.
    n_msg = len(mt)
    mean_switch = (s.switch_delay_min + s.switch_delay_max) / 2
    t_mean = max(
        t_min,
        (rooms_used - 1) * mean_switch
        + (n_msg - rooms_used) * min(s.room_gap_s, s.switch_delay_min),
    )

    # -- next() cost with a large backlog ----------------------------------
    big_gov = Governor(s, random.Random(seed))
    big = PacedQueue(big_gov)
    for e in make_entries(5000, rooms, random.Random(seed + 2)):
        big.push(e)
    t0 = time.perf_counter()
    now2 = 0.0
    for _ in range(1000):
        d2 = big.next(now2)
        assert d2 is not None
        e2, at2 = d2
        if not isinstance(at2, Refusal):
            now2 = at2
            big_gov.record(e2.kind, e2.room_id, at2)
    next_us_5000 = (time.perf_counter() - t0) / 1000 * 1e6

    return {
        "actions": n,
        "rooms": rooms,
        "seed": seed,
        "queued": {k.value: v for k, v in sorted(queued.items())},
        "executed": {k.value: v for k, v in sorted(executed.items())},
        "refused": dict(sorted(refused.items())),
        "message_rooms": rooms_used,
        "room_switches": len(switch),
        "max_rate_over_limit": round(max(ratios.values()), 4),
        "rate_over_limit": {k: round(v, 4) for k, v in ratios.items()},
        "total_time_s": round(total, 1),
        "theoretical_min_s": round(t_min, 1),
        "theoretical_min_bounds_s": {k: round(v, 1) for k, v in bounds.items()},
        "total_time_ratio": round(total / t_min, 4) if t_min else None,
        "min_with_mean_switch_s": round(t_mean, 1),
        "total_time_ratio_vs_mean_switch": round(total / t_mean, 4) if t_mean else None,
        "max_wait_s": {p.name: round(max(w), 1) for p, w in sorted(waits.items())},
        "mean_wait_s": {p.name: round(sum(w) / len(w), 1) for p, w in sorted(waits.items())},
        "baseline": {
            "messages_per_min": s.messages_per_min,
            "message_burst": s.message_burst,
            "messages_hard_cap_per_min": s.messages_hard_cap_per_min,
            "room_gap_s": s.room_gap_s,
            "switch_delay_s": [s.switch_delay_min, s.switch_delay_max],
            "rich_per_min": s.rich_per_min,
            "rich_per_day": s.rich_per_day,
            "remove_gap_s": [s.remove_gap_min, s.remove_gap_max],
            "removes_per_day": s.removes_per_day,
            "friend_requests_per_day": s.friend_requests_per_day,
            "room_creates_per_day": s.room_creates_per_day,
            "priority_step_s": s.priority_step_s,
            "room_batch": s.room_batch,
        },
        "enqueue_per_s": round(n / enqueue_s) if enqueue_s else None,
        "decisions_per_s": round(decisions / drain_s) if drain_s else None,
        "next_us_at_5000_pending": round(next_us_5000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=1000)
    ap.add_argument("--rooms", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    result = run(args.actions, args.rooms, args.seed)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
