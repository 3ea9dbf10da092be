"""PacedQueue: an urgent action waits behind a bounded number of less urgent ones.

The urgency key (``enqueued_at + priority * step``) bounds a wait in time
only: a welcome queued 300 s into a backlog of replies used to wait for the
whole backlog.  These tests prove the count bound (``max_overtakes``) on a
simulated executor loop: pure numbers, no sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from bot.governor import (
    DEFAULT_MAX_OVERTAKES,
    Governor,
    GovernorSettings,
    PacedQueue,
    QueueEntry,
    Refusal,
)
from bot.vocab.actions import ActionKind, Priority

K = ActionKind
P = Priority
SETTINGS = GovernorSettings()
# The longest gap between two messages with the defaults (a room switch).
SEND_GAP = max(SETTINGS.room_gap_s, SETTINGS.switch_delay_max, 60 / SETTINGS.messages_per_min)


def gov(seed: int = 7) -> Governor:
    return Governor(GovernorSettings(), random.Random(seed))


def entry(
    i: int | str,
    room: str | None = "a",
    prio: Priority = P.REPLY,
    at: float = 0.0,
    kind: ActionKind = K.MESSAGE,
    not_after: float | None = None,
) -> QueueEntry:
    return QueueEntry(str(i), kind, room, prio, at, not_after)


@dataclass
class Sim:
    """The executor loop on a simulated clock, recording who overtook whom."""

    g: Governor
    q: PacedQueue
    now: float = 0.0
    taken: list[tuple[QueueEntry, float]] = field(default_factory=list)
    pushed_at: dict[str, int] = field(default_factory=dict)  # id -> len(taken) then

    def push(self, e: QueueEntry) -> None:
        self.pushed_at[e.id] = len(self.taken)
        self.q.push(e)

    def step(self) -> QueueEntry | None:
        d = self.q.next(self.now)
        if d is None:
            return None
        e, at = d
        if isinstance(at, Refusal):
            return e
        assert at >= self.now
        self.now = at
        self.g.record(e.kind, e.room_id, at)
        self.taken.append((e, at))
        return e

    def run_until(self, t: float) -> None:
        while self.now < t:
            d = self.q.peek(self.now)
            if d is None or (not isinstance(d[1], Refusal) and d[1] > t):
                self.now = t
                return
            self.step()

    def lower_taken_while_waiting(self, e: QueueEntry) -> list[QueueEntry]:
        start = self.pushed_at[e.id]
        end = next(i for i, (x, _) in enumerate(self.taken) if x.id == e.id)
        return [x for x, _ in self.taken[start:end] if x.priority > e.priority]


def test_a_welcome_behind_a_thousand_replies_elsewhere_waits_for_at_most_a_few() -> None:
    sim = Sim(g := gov(), PacedQueue(g))
    for i in range(1000):
        sim.push(entry(f"reply{i}", room="a", prio=P.REPLY, at=0.0))
    sim.run_until(400.0)  # well past the urgency step: the replies now rank first
    joined = sim.now
    sim.push(entry("welcome", room="b", prio=P.WELCOME, at=joined))
    while sim.step() is not None and sim.taken[-1][0].id != "welcome":
        pass
    welcome_at = sim.taken[-1][1]
    ahead = sim.lower_taken_while_waiting(sim.taken[-1][0])
    assert len(ahead) == DEFAULT_MAX_OVERTAKES
    assert welcome_at - joined <= (DEFAULT_MAX_OVERTAKES + 1) * SEND_GAP
    assert len(sim.q) > 800  # the backlog is still there: it did not just run out


def test_without_the_count_bound_the_same_welcome_waits_for_the_whole_backlog() -> None:
    # What the bound fixes: with it effectively off, urgency alone decides.
    sim = Sim(g := gov(), PacedQueue(g, max_overtakes=10**9))
    for i in range(1000):
        sim.push(entry(f"reply{i}", room="a", prio=P.REPLY, at=0.0))
    sim.run_until(400.0)
    sim.push(entry("welcome", room="b", prio=P.WELCOME, at=sim.now))
    while sim.step() is not None and sim.taken[-1][0].id != "welcome":
        pass
    assert len(sim.lower_taken_while_waiting(sim.taken[-1][0])) > 800
    assert len(sim.q) == 0


def test_moderation_waits_behind_at_most_max_overtakes_of_anything_less_urgent() -> None:
    sim = Sim(g := gov(), PacedQueue(g, max_overtakes=2))
    for i in range(50):
        sim.push(entry(f"b{i}", room="a", prio=P.BROADCAST, at=0.0))
        sim.push(entry(f"w{i}", room="c", prio=P.WELCOME, at=0.0))
    sim.run_until(2000.0)
    sim.push(entry("warn", room="d", prio=P.MODERATION, at=sim.now))
    while sim.step() is not None and sim.taken[-1][0].id != "warn":
        pass
    assert len(sim.lower_taken_while_waiting(sim.taken[-1][0])) <= 2


def test_zero_overtakes_is_strict_priority() -> None:
    sim = Sim(g := gov(), PacedQueue(g, max_overtakes=0))
    for i in range(5):
        sim.push(entry(f"b{i}", room="a", prio=P.BROADCAST, at=0.0))
    # Queued 1,000 s later: its urgency key ranks it behind every broadcast.
    sim.now = 1000.0
    sim.push(entry("w", room="b", prio=P.WELCOME, at=1000.0))
    assert sim.step() is not None and sim.taken[0][0].id == "w"


def test_refusals_and_expired_entries_do_not_count_as_overtaking() -> None:
    g = gov()
    q = PacedQueue(g, max_overtakes=1)
    q.push(entry("w", room="b", prio=P.WELCOME, at=1000.0))
    q.push(entry("late", room="a", prio=P.BROADCAST, at=0.0, not_after=5.0))
    d = q.next(1000.0)
    assert d is not None and d[0].id == "late" and isinstance(d[1], Refusal)
    assert q.overtaken("w") == 0


def test_an_urgent_entry_blocked_anyway_still_lets_others_through() -> None:
    # A rich welcome waiting for the 5-per-minute window does not hold up
    # texts that cannot delay it, even past its overtake allowance.
    g = gov()
    q = PacedQueue(g, max_overtakes=1)
    for i in range(5):
        g.record(K.RICH, "a", 3.0 * i)  # the rich window is full until 60 s
    q.push(entry("rich", room="a", kind=K.RICH, prio=P.WELCOME, at=12.0))
    for i in range(5):
        q.push(entry(f"text{i}", room="a", prio=P.BROADCAST, at=12.0))
    now, order = 12.0, []
    while (d := q.next(now)) is not None:
        e, at = d
        assert not isinstance(at, Refusal)
        order.append((e.id, at))
        g.record(e.kind, e.room_id, at)
        now = at
    rich_at = dict(order)["rich"]
    assert rich_at == 60.0  # not delayed by the texts that went first
    assert [i for i, _ in order].index("rich") >= 2


@pytest.mark.parametrize("seed", range(20))
def test_random_traffic_never_lets_more_than_max_overtakes_pass_an_entry(seed: int) -> None:
    """Messages of every priority, many rooms, arriving over time: every entry
    is taken after at most ``max_overtakes`` less urgent ones."""
    rng = random.Random(seed)
    bound = rng.randint(0, 6)
    sim = Sim(g := gov(seed), PacedQueue(g, max_overtakes=bound))
    n = 0
    for _ in range(150):
        for _ in range(rng.choice((0, 0, 1, 2, 5))):
            prio = rng.choice(list(Priority))
            sim.push(entry(f"e{n}", room=f"r{rng.randint(0, 4)}", prio=prio, at=sim.now))
            n += 1
        sim.step()
        sim.now += rng.choice((0.0, 0.0, 1.0, 30.0))
    while sim.step() is not None:
        pass
    assert len(sim.taken) == n
    worst = max(len(sim.lower_taken_while_waiting(e)) for e, _ in sim.taken)
    assert worst <= bound


@pytest.mark.parametrize("seed", range(20))
def test_random_mixed_kinds_never_let_more_than_max_overtakes_delay_an_entry(seed: int) -> None:
    """With removals, invites and rich messages too (each blocked by limits of
    its own), a less urgent action may still go first when the urgent one is
    blocked anyway; what is bounded is the number that could delay it: taken
    at a time less than one send gap before the urgent one could go."""
    rng = random.Random(seed)
    bound = rng.randint(0, 6)
    g = gov(seed)
    q = PacedQueue(g, max_overtakes=bound)
    kinds = [K.MESSAGE] * 6 + [K.RICH, K.REMOVE, K.INVITE]
    pending: dict[str, QueueEntry] = {}
    delayed_by: dict[str, int] = {}
    now, n, done = 0.0, 0, 0

    def step() -> bool:
        nonlocal now, done
        d = q.next(now)
        if d is None:
            return False
        y, at = d
        del pending[y.id]
        done += 1
        if isinstance(at, Refusal):
            return True
        for x in pending.values():
            if x.priority < y.priority and at + SEND_GAP > g.earliest_time(x.kind, x.room_id, now):
                delayed_by[x.id] = delayed_by.get(x.id, 0) + 1
        now = at
        g.record(y.kind, y.room_id, at)
        return True

    for _ in range(150):
        for _ in range(rng.choice((0, 0, 1, 2, 5))):
            e = entry(
                f"e{n}",
                room=f"r{rng.randint(0, 4)}",
                prio=rng.choice(list(Priority)),
                at=now,
                kind=rng.choice(kinds),
            )
            pending[e.id] = e
            q.push(e)
            n += 1
        step()
        now += rng.choice((0.0, 0.0, 1.0, 30.0))
    while step():
        pass
    assert done == n and not pending
    assert max(delayed_by.values(), default=0) <= bound


def test_the_queue_still_orders_by_urgency_within_the_bound() -> None:
    # Fewer less urgent entries than the allowance: nothing changes.
    sim = Sim(g := gov(), PacedQueue(g))
    g.record(K.MESSAGE, "a", 0.0)
    for i in range(3):
        sim.push(entry(f"b{i}", room="a", prio=P.BROADCAST))
    sim.push(entry("w", room="b", prio=P.WELCOME))
    while sim.step() is not None:
        pass
    assert [e.id for e, _ in sim.taken] == ["b0", "b1", "b2", "w"]  # room_batch
