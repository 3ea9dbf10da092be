"""The account-safety governor and its queue: pure, on numbers, no sleeping."""

from __future__ import annotations

import bisect
import itertools
import random
import time

import pytest
from pydantic import ValidationError

from bot.governor import (
    DAY,
    MESSAGE_KINDS,
    Governor,
    GovernorSettings,
    PacedQueue,
    QueueEntry,
    Refusal,
    RefusalCode,
)
from bot.vocab.actions import ActionKind, Priority

K = ActionKind
P = Priority


def gov(seed: int = 7, **settings: object) -> Governor:
    return Governor(GovernorSettings.model_validate(settings), random.Random(seed))


def at_time(g: Governor, kind: ActionKind, room: str | None, now: float) -> float:
    t = g.earliest(kind, room, now)
    assert not isinstance(t, Refusal), t
    return t


def send(g: Governor, kind: ActionKind, room: str | None, now: float) -> float:
    """Execute as early as allowed; return the time it ran."""
    t = at_time(g, kind, room, now)
    g.record(kind, room, t)
    return t


def drain(q: PacedQueue, g: Governor, now: float = 0.0) -> list[tuple[QueueEntry, float | Refusal]]:
    """The executor loop on a simulated clock."""
    out: list[tuple[QueueEntry, float | Refusal]] = []
    while (d := q.next(now)) is not None:
        entry, at = d
        out.append(d)
        if isinstance(at, Refusal):
            continue
        assert at >= now
        now = at
        g.record(entry.kind, entry.room_id, at)
    return out


def max_in_window(times: list[float], span: float) -> int:
    """Most events in any half-open window [t, t + span)."""
    return max((bisect.bisect_left(times, t + span) - i for i, t in enumerate(times)), default=0)


def entry(
    i: int | str,
    room: str | None = "r0",
    kind: ActionKind = K.MESSAGE,
    prio: Priority = P.BROADCAST,
    at: float = 0.0,
    not_after: float | None = None,
) -> QueueEntry:
    return QueueEntry(str(i), kind, room, prio, at, not_after)


# -- settings -------------------------------------------------------------------


def test_defaults_are_the_conservative_budget() -> None:
    s = GovernorSettings()
    assert (s.messages_per_min, s.message_burst, s.messages_hard_cap_per_min) == (20, 5, 40)
    assert (s.room_gap_s, s.switch_delay_min, s.switch_delay_max) == (3, 3, 5)
    assert (s.rich_per_min, s.rich_per_day) == (5, 100)
    assert (s.remove_gap_min, s.remove_gap_max, s.removes_per_day) == (10, 30, 30)
    assert (s.friend_requests_per_day, s.room_creates_per_day) == (10, 3)
    assert s.breaker_pause_s == DAY
    assert {"操作过于频繁", "Too many attempts", "20001", "频繁", "风控"} <= set(s.risk_markers)
    assert "risk" not in s.risk_markers  # ids like wxid_riskfree are not refusals
    assert s.retry_backoff_s == (5, 30, 120)
    assert s.dry_run is False


@pytest.mark.parametrize(
    "bad",
    [
        {"switch_delay_min": 6, "switch_delay_max": 5},
        {"remove_gap_min": 40},
        {"messages_per_min": 41},
        {"message_burst": 50, "messages_hard_cap_per_min": 40},
        {"room_gap_s": 0},
        {"rich_per_day": -1},
        {"messages_per_min": 0},
        {"risk_markers": []},
        {"risk_markers": ["频繁", "  "]},
        {"unknown_key": 1},
        {"breaker_pause_s": 1},
    ],
)
def test_settings_validation_rejects(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GovernorSettings.model_validate(bad)


def test_settings_from_yaml_like_mapping() -> None:
    s = GovernorSettings.model_validate(
        {"switch_delay_min": 4, "switch_delay_max": 4, "risk_markers": ["封号"], "dry_run": True}
    )
    assert s.switch_delay_min == s.switch_delay_max == 4
    assert s.risk_markers == ("封号",)
    assert s.dry_run


# -- message limits -------------------------------------------------------------


def test_every_message_window_holds_under_greedy_load() -> None:
    """Send 600 messages (25 % rich) as fast as allowed over 40 rooms, some
    runs in one room; every window of every message limit holds."""
    g = gov(seed=3)
    s = g.settings
    rng = random.Random(1)
    now, room = 0.0, "r0"
    log: list[tuple[ActionKind, str, float]] = []
    for _ in range(600):
        if rng.random() < 0.3:
            room = f"r{rng.randrange(40)}"
        kind = K.RICH if rng.random() < 0.25 else K.MESSAGE
        t = g.earliest(kind, room, now)
        if isinstance(t, Refusal):  # rich budget (100/day) used up
            kind, t = K.MESSAGE, at_time(g, K.MESSAGE, room, now)
        g.record(kind, room, t)
        log.append((kind, room, t))
        now = t
    times = [t for _, _, t in log]
    rate = s.messages_per_min / 60
    for i, j in itertools.combinations_with_replacement(range(len(times)), 2):
        assert j - i + 1 <= s.message_burst + rate * (times[j] - times[i]) + 1e-6
    assert max_in_window(times, 60) <= s.messages_per_min  # the spacing keeps it at 20
    assert max_in_window(times, 60) <= s.messages_hard_cap_per_min
    rich = [t for k, _, t in log if k is K.RICH]
    assert len(rich) == s.rich_per_day
    assert max_in_window(rich, 60) <= s.rich_per_min
    for (_, r1, t1), (_, r2, t2) in itertools.pairwise(log):
        assert t2 - t1 >= (s.room_gap_s if r1 == r2 else s.switch_delay_min) - 1e-9
    last: dict[str, float] = {}
    for _, r, t in log:
        assert t - last.get(r, -1e9) >= s.room_gap_s - 1e-9
        last[r] = t


def test_bucket_and_hard_cap_bind_when_spacing_is_loosened() -> None:
    # With the spacing out of the way (1 s), the bucket and the hard cap hold.
    g = gov(
        room_gap_s=1, switch_delay_min=0, switch_delay_max=0, messages_per_min=30,
        message_burst=20, messages_hard_cap_per_min=35,
    )  # fmt: skip
    times = [send(g, K.MESSAGE, f"r{i}", 0.0) for i in range(300)]
    for i, j in itertools.combinations_with_replacement(range(len(times)), 2):
        assert j - i + 1 <= 20 + 0.5 * (times[j] - times[i]) + 1e-6
    assert max_in_window(times, 60) == 35  # the hard cap is reached, not passed
    assert times[19] == 0.0 and times[20] > 0  # the burst goes at once


def test_per_room_gap() -> None:
    g = gov()
    assert send(g, K.MESSAGE, "a", 100.0) == 100.0
    assert at_time(g, K.MESSAGE, "a", 100.0) == 103.0
    assert at_time(g, K.RICH, "a", 101.0) == 103.0  # rich is a message too
    assert at_time(g, K.MESSAGE, "a", 200.0) == 200.0


def test_gap_to_a_room_visited_recently_still_applies_after_a_switch() -> None:
    g = gov(room_gap_s=10, switch_delay_min=3, switch_delay_max=3)
    send(g, K.MESSAGE, "a", 0.0)
    assert send(g, K.MESSAGE, "b", 0.0) == 3.0
    assert at_time(g, K.MESSAGE, "a", 3.0) == 10.0


def test_switch_jitter_in_range_drawn_once_and_stable() -> None:
    g = gov(seed=11)
    delays = []
    now = 0.0
    for i in range(200):
        t = send(g, K.MESSAGE, f"room{i % 2}", now)
        first = at_time(g, K.MESSAGE, f"room{(i + 1) % 2}", t)
        # Asking again, or for another room, or later, gives the same answer.
        assert all(at_time(g, K.MESSAGE, f"room{(i + 1) % 2}", t) == first for _ in range(5))
        assert at_time(g, K.MESSAGE, "elsewhere", t + 0.5) == first
        delays.append(first - t)
        now = t
    assert all(3.0 <= d <= 5.0 for d in delays)
    assert max(delays) - min(delays) > 1.0  # actually random
    # Drawing is deterministic for a seed.
    g2 = gov(seed=11)
    t = send(g2, K.MESSAGE, "room0", 0.0)
    assert at_time(g2, K.MESSAGE, "room1", t) - t == delays[0]


def test_rich_five_per_minute_and_hundred_per_day() -> None:
    g = gov(rich_per_day=100)
    times = [send(g, K.RICH, "a", 0.0) for _ in range(5)]
    assert times == [0, 3, 6, 9, 12]
    assert at_time(g, K.RICH, "a", 12.0) == 60.0  # the window, not the gap
    assert at_time(g, K.MESSAGE, "a", 12.0) == 15.0  # plain text is not held back
    now = 12.0
    for _ in range(95):
        now = send(g, K.RICH, "a", now)
    r = g.earliest(K.RICH, "a", now)
    assert isinstance(r, Refusal) and r.code is RefusalCode.BUDGET
    assert r.until == pytest.approx(0.0 + DAY)
    assert at_time(g, K.RICH, "a", DAY) == DAY  # rolling: the first one left the window


# -- removals and other kinds ---------------------------------------------------


def test_removals_spaced_ten_to_thirty_seconds_and_thirty_a_day() -> None:
    g = gov(seed=5)
    now, times = 0.0, []
    for _ in range(30):
        t = at_time(g, K.REMOVE, "room", now)
        assert at_time(g, K.REMOVE, "room", now) == t  # stable
        assert at_time(g, K.REMOVE, "other", now) == t  # serialized across rooms
        g.record(K.REMOVE, "room", t)
        times.append(t)
        now = t
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(10.0 <= x <= 30.0 for x in gaps)
    assert max(gaps) - min(gaps) > 3.0
    r = g.earliest(K.REMOVE, "room", now + 60)
    assert isinstance(r, Refusal) and r.code is RefusalCode.BUDGET and r.until == times[0] + DAY
    assert g.budget(now)["remove"] == {"used": 30, "per_day": 30}
    assert not isinstance(g.earliest(K.REMOVE, "room", times[0] + DAY), Refusal)
    # Messages are not affected by removals.
    assert at_time(g, K.MESSAGE, "room", now) == now


@pytest.mark.parametrize(
    ("kind", "per_min", "per_day"),
    [
        (K.FRIEND_REQUEST, 1, 10),
        (K.ROOM_CREATE, 1, 3),
        (K.INVITE, 2, 30),
        (K.ACCEPT, 3, 50),
        (K.ROOM_ADMIN, 2, 20),
    ],
)
def test_other_kinds_per_minute_and_per_day(kind: ActionKind, per_min: int, per_day: int) -> None:
    g = gov()
    now, times = 0.0, []
    while not isinstance(t := g.earliest(kind, "r", now), Refusal):
        g.record(kind, "r", t)
        times.append(t)
        now = t
    assert len(times) == per_day
    assert max_in_window(times, 60) == per_min
    assert t.code is RefusalCode.BUDGET


def test_zero_daily_budget_disables_a_kind() -> None:
    r = gov(friend_requests_per_day=0).earliest(K.FRIEND_REQUEST, None, 0.0)
    assert isinstance(r, Refusal) and r.until is None


def test_out_of_order_record_is_taken_as_latest() -> None:
    g = gov()
    g.record(K.REMOVE, None, 100.0)
    g.record(K.MESSAGE, "a", 50.0)  # late report: counted at 100
    assert at_time(g, K.MESSAGE, "a", 0.0) == 103.0


# -- circuit breaker --------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        "操作过于频繁，请稍后再试",
        "Error: Too many attempts. Try again later",
        "errcode=20001",
        "请求频繁",
        "RISK control",
    ],
)
def test_breaker_opens_for_that_kind_only_and_closes_after_24h(error: str) -> None:
    g = gov()
    assert g.trip(K.REMOVE, 1000.0, error) is True
    assert g.is_open(K.REMOVE, 1000.0)
    r = g.earliest(K.REMOVE, "a", 1000.0)
    assert isinstance(r, Refusal) and r.code is RefusalCode.BREAKER
    assert r.until == 1000.0 + DAY
    assert isinstance(g.earliest(K.REMOVE, "a", 1000.0 + DAY - 1), Refusal)
    for other in ActionKind:
        if other is not K.REMOVE:
            assert not g.is_open(other, 1000.0)
            assert not isinstance(g.earliest(other, "a", 1000.0), Refusal)
    assert not g.is_open(K.REMOVE, 1000.0 + DAY)
    assert at_time(g, K.REMOVE, "a", 1000.0 + DAY) == 1000.0 + DAY
    state = g.breaker_state(1000.0)
    assert state["remove"]["open"] is True and state["remove"]["trips"] == 1
    assert g.breaker_state(1000.0 + DAY)["remove"]["open"] is False


def test_message_breaker_also_stops_rich_but_not_the_reverse() -> None:
    g = gov()
    g.trip(K.RICH, 0.0, "操作过于频繁")
    assert g.is_open(K.RICH, 1.0) and not g.is_open(K.MESSAGE, 1.0)
    g2 = gov()
    g2.trip(K.MESSAGE, 0.0, "Too many attempts")
    assert g2.is_open(K.RICH, 1.0) and g2.is_open(K.MESSAGE, 1.0)
    assert not g2.is_open(K.REMOVE, 1.0)


@pytest.mark.parametrize(
    "error",
    ["connection reset", "timeout after 30 s", "room 120001 not found", "asterisk", ""],
)
def test_non_risk_errors_do_not_trip(error: str) -> None:
    g = gov()
    assert g.trip(K.MESSAGE, 0.0, error) is False
    assert not g.is_open(K.MESSAGE, 0.0)
    assert g.counters()["message"]["failed"] == 1
    assert g.breaker_state() == {}


def test_breaker_pause_and_markers_are_configurable() -> None:
    g = gov(breaker_pause_s=3600, risk_markers=["封号"])
    assert g.trip(K.MESSAGE, 0.0, "操作过于频繁") is False
    assert g.trip(K.MESSAGE, 0.0, "账号有封号风险") is True
    assert g.is_open(K.MESSAGE, 3599.0) and not g.is_open(K.MESSAGE, 3600.0)
    g.trip(K.MESSAGE, 10.0, "封号")  # a second error extends the pause
    assert g.is_open(K.MESSAGE, 3605.0)
    g.close(K.MESSAGE)
    assert not g.is_open(K.MESSAGE, 3605.0)


# -- the queue ----------------------------------------------------------------------


def test_moderation_enqueued_after_fifty_broadcasts_goes_first() -> None:
    g = gov()
    q = PacedQueue(g)
    for i in range(50):
        q.push(entry(f"b{i}", room=f"r{i % 5}", at=0.0))
    drain_some = [q.next(0.0) for _ in range(3)]  # already busy in some room
    for d in drain_some:
        assert d is not None and not isinstance(d[1], Refusal)
        g.record(d[0].kind, d[0].room_id, d[1])
    now = drain_some[-1][1]  # type: ignore[index]
    assert isinstance(now, float)
    q.push(entry("warn", room="r9", prio=P.MODERATION, at=now))
    d = q.next(now)
    assert d is not None and d[0].id == "warn"
    q.push(entry("kick", room="r1", kind=K.REMOVE, prio=P.MODERATION, at=now))
    d = q.next(now)
    assert d is not None and d[0].id == "kick" and d[1] == now


def test_lower_priority_value_first_when_ready_together() -> None:
    g = gov()
    q = PacedQueue(g)
    for i, prio in enumerate([P.BROADCAST, P.REPLY, P.WELCOME, P.MODERATION]):
        q.push(entry(i, room=f"r{i}", prio=prio, at=float(i)))
    order = [e.priority for e, _ in drain(q, g, 10.0)]
    assert order == [P.MODERATION, P.WELCOME, P.REPLY, P.BROADCAST]


def test_groups_work_per_room() -> None:
    g = gov()
    q = PacedQueue(g)
    for i in range(30):  # enqueued round-robin over 3 rooms
        q.push(entry(i, room=f"r{i % 3}"))
    rooms = [e.room_id for e, _ in drain(q, g)]
    switches = sum(a != b for a, b in itertools.pairwise(rooms))
    assert switches == 2


def test_finishes_a_small_room_before_a_more_urgent_one_elsewhere_but_not_moderation() -> None:
    g = gov()
    q = PacedQueue(g)
    for i in range(3):
        q.push(entry(f"b{i}", room="a"))
    q.push(entry("w", room="b", prio=P.WELCOME))
    assert drain(q, g)[0][0].id == "w"  # no current room: priority decides
    # From inside room "a", its 3 broadcasts (<= room_batch) go first: that
    # saves coming back; 6 would not fit, and MODERATION never waits.
    g = gov()
    q = PacedQueue(g)
    g.record(K.MESSAGE, "a", 0.0)
    for i in range(3):
        q.push(entry(f"b{i}", room="a"))
    q.push(entry("w", room="b", prio=P.WELCOME))
    assert [e.id for e, _ in drain(q, g)] == ["b0", "b1", "b2", "w"]
    g = gov()
    q = PacedQueue(g)
    g.record(K.MESSAGE, "a", 0.0)
    for i in range(6):
        q.push(entry(f"b{i}", room="a"))
    q.push(entry("w", room="b", prio=P.WELCOME))
    assert drain(q, g)[0][0].id == "w"
    g = gov()
    q = PacedQueue(g)
    g.record(K.MESSAGE, "a", 0.0)
    q.push(entry("b0", room="a"))
    q.push(entry("m", room="b", prio=P.MODERATION))
    assert drain(q, g)[0][0].id == "m"


def test_no_starvation_under_a_steady_stream_of_urgent_work() -> None:
    g = gov()
    q = PacedQueue(g)
    q.push(entry("old-broadcast", room="quiet", at=0.0))
    now, n = 0.0, 0
    served_at = None
    while served_at is None:
        # Two fresh replies per decision: more than the lane can ever send.
        for _ in range(2):
            q.push(entry(f"reply{n}", room=f"busy{n % 3}", prio=P.REPLY, at=now))
            n += 1
        d = q.next(now)
        assert d is not None
        e, at = d
        assert not isinstance(at, Refusal)
        g.record(e.kind, e.room_id, at)
        now = at
        if e.id == "old-broadcast":
            served_at = at
    # Its virtual deadline is 0 + 3 * 300 s; replies (0 + 2 * 300 s) queued
    # after 300 s rank behind it, so it waits only for the replies queued
    # before then: at most 2 per decision, decisions at least 3 s apart, each
    # reply taking at most 5 s.
    step = g.settings.priority_step_s
    ahead = 2 * (step / 3 + 1)
    assert served_at <= (ahead + 1) * 5
    assert served_at >= step  # but the priorities did hold it back first


def test_expired_entries_come_out_as_refusals() -> None:
    g = gov()
    q = PacedQueue(g)
    q.push(entry("late", room="a", not_after=5.0))
    q.push(entry("ok", room="a"))
    d = q.next(10.0)
    assert d is not None and d[0].id == "late"
    assert isinstance(d[1], Refusal) and d[1].code is RefusalCode.EXPIRED
    assert g.counters()["message"]["expired"] == 1
    # An entry that cannot be run before its deadline expires too.
    g.record(K.MESSAGE, "a", 10.0)
    q.push(entry("tight", room="a", prio=P.MODERATION, at=10.0, not_after=11.0))
    d = q.next(10.0)
    assert d is not None and d[0].id == "tight"
    assert isinstance(d[1], Refusal) and d[1].code is RefusalCode.EXPIRED
    d = q.next(10.0)
    assert d is not None and d[0].id == "ok" and d[1] == 13.0


def test_refusals_come_out_at_once() -> None:
    g = gov(removes_per_day=2)
    q = PacedQueue(g)
    for i in range(4):
        q.push(entry(i, kind=K.REMOVE, prio=P.MODERATION))
    got = drain(q, g)
    assert [isinstance(at, Refusal) for _, at in got] == [False, False, True, True]
    assert g.counters()["remove"]["refused"] == 2
    g.trip(K.MESSAGE, 0.0, "操作过于频繁")
    q.push(entry("m"))
    q.push(entry("r", kind=K.RICH))
    got = drain(q, g)
    assert all(isinstance(at, Refusal) and at.code is RefusalCode.BREAKER for _, at in got)


def test_rich_waiting_for_its_window_lets_plain_messages_through() -> None:
    g = gov()
    q = PacedQueue(g)
    for i in range(5):
        g.record(K.RICH, "a", 3.0 * i)  # the rich window is full until 60 s
    q.push(entry("rich", room="a", kind=K.RICH, prio=P.WELCOME, at=12.0))
    for i in range(5):
        q.push(entry(f"text{i}", room="a", at=12.0))
    got = drain(q, g, 12.0)
    ids = [e.id for e, _ in got]
    assert ids[:5] == [f"text{i}" for i in range(5)]
    assert got[5] == (got[5][0], 60.0)


def test_peek_does_not_take_and_cancel_removes() -> None:
    g = gov()
    q = PacedQueue(g)
    q.push(entry("a"))
    q.push(entry("b"))
    assert q.peek(0.0) == q.peek(0.0)
    assert len(q) == 2 and "a" in q
    assert q.cancel("a") and not q.cancel("a")
    d = q.next(0.0)
    assert d is not None and d[0].id == "b" and len(q) == 0
    assert q.next(0.0) is None
    with pytest.raises(ValueError, match="already queued"):
        q.push(entry("c"))
        q.push(entry("c"))


def test_counters() -> None:
    g = gov()
    q = PacedQueue(g)
    for i in range(3):
        q.push(entry(i, room="a"))
    q.push(entry("x", kind=K.FRIEND_REQUEST, prio=P.REPLY))
    drain(q, g)
    g.trip(K.MESSAGE, 9.0, "timeout")
    c = g.counters()
    assert c["message"] == {"sent": 3, "delayed": 2, "refused": 0, "failed": 1, "expired": 0}
    assert c["friend_request"]["sent"] == 1
    assert set(c) == {k.value for k in ActionKind}


def test_mixed_drain_holds_every_limit() -> None:
    """A small version of bench/governor.py: queue, drain, check the log."""
    rng = random.Random(4)
    g = gov(seed=4)
    s = g.settings
    q = PacedQueue(g)
    kinds = [K.MESSAGE] * 240 + [K.RICH] * 30 + [K.REMOVE] * 35 + [K.INVITE] * 5
    rng.shuffle(kinds)
    for i, kind in enumerate(kinds):
        prio = P.MODERATION if kind is K.REMOVE else rng.choice(list(Priority))
        q.push(entry(i, room=f"r{rng.randrange(30)}", kind=kind, prio=prio))
    got = drain(q, g)
    assert len(got) == len(kinds)
    done = [(e.kind, e.room_id, at) for e, at in got if not isinstance(at, Refusal)]
    assert sum(k is K.REMOVE for k, _, _ in done) == 30
    msgs = [(r, t) for k, r, t in done if k in MESSAGE_KINDS]
    for (r1, t1), (r2, t2) in itertools.pairwise(msgs):
        assert t2 - t1 >= (s.room_gap_s if r1 == r2 else s.switch_delay_min) - 1e-9
    assert max_in_window([t for _, t in msgs], 60) <= 20
    rich = [t for k, _, t in done if k is K.RICH]
    assert max_in_window(rich, 60) <= 5
    rem = [t for k, _, t in done if k is K.REMOVE]
    assert all(b - a >= 10 for a, b in itertools.pairwise(rem))
    # Grouped: at most one visit per (room, priority), far from round-robin.
    groups = {(e.room_id, e.priority) for e, _ in got if e.kind in MESSAGE_KINDS}
    switches = sum(a[0] != b[0] for a, b in itertools.pairwise(msgs))
    assert switches < len(groups) < len(msgs) / 2


def test_queue_is_fast_with_thousands_pending() -> None:
    g = gov()
    q = PacedQueue(g)
    rng = random.Random(2)
    t0 = time.perf_counter()
    for i in range(5000):
        kind = K.RICH if i % 10 == 0 else K.MESSAGE
        q.push(entry(i, room=f"r{rng.randrange(500)}", kind=kind, prio=rng.choice(list(Priority))))
    now = 0.0
    for _ in range(2000):
        d = q.next(now)
        assert d is not None
        e, at = d
        if not isinstance(at, Refusal):
            g.record(e.kind, e.room_id, at)
            now = at
    assert time.perf_counter() - t0 < 3.0  # about 0.1 s here; O(n^2) would be far slower
