"""The paced queue: which pending action the executor runs next, and when.

:class:`PacedQueue` holds the pending actions (:class:`QueueEntry`) and, asked
with ``now``, returns the entry to execute and the earliest time the
:class:`~bot.governor.Governor` allows it, or a :class:`~bot.pacing.Refusal`
to drop it.  Order is urgency (a virtual deadline from priority and enqueue
time), bounded in work by ``max_overtakes``, with the message lane staying in
the current room when that saves a room switch.  Pure decision logic like the
governor: no I/O, no sleeping.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.pacing import _EPS, _INF, MESSAGE_KINDS, MINUTE, Refusal, RefusalCode
from bot.vocab.actions import ActionKind, Priority

if TYPE_CHECKING:
    from bot.governor import Governor


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A pending action as the queue sees it (the executor keeps the rest)."""

    id: str
    kind: ActionKind
    room_id: str | None
    priority: Priority
    enqueued_at: float
    not_after: float | None = None  # drop it if it cannot run by then


Decision = tuple[QueueEntry, float | Refusal]


#: How many lower-priority actions may execute while an action waits, by default.
DEFAULT_MAX_OVERTAKES = 4


@dataclass(slots=True, eq=False)
class _Item:
    entry: QueueEntry
    key: float  # urgency: enqueued_at + priority * step; lower goes first
    seq: int
    dead: bool = False
    # PacedQueue._lower_taken(priority) when pushed: the difference to its
    # value now is how many less urgent actions have been taken meanwhile.
    mark: int = 0

    @property
    def order(self) -> tuple[float, int]:
        return self.key, self.seq


_HeapRow = tuple[float, int, _Item]


def _top(heap: list[_HeapRow]) -> _Item | None:
    while heap and heap[0][2].dead:
        heapq.heappop(heap)
    return heap[0][2] if heap else None


@dataclass(slots=True, eq=False)
class _Room:
    """One conversation's pending messages, a heap per kind."""

    msg: list[_HeapRow] = field(default_factory=list)
    rich: list[_HeapRow] = field(default_factory=list)
    pushed_all: tuple[float, int] | None = None  # last head pushed to the heads heaps
    pushed_msg: tuple[float, int] | None = None
    live: int = 0

    def best(self, with_rich: bool) -> _Item | None:
        m = _top(self.msg)
        if not with_rich:
            return m
        r = _top(self.rich)
        if m is None or (r is not None and r.order < m.order):
            return r
        return m


_RoomHead = tuple[float, int, str | None]


@dataclass(slots=True)
class _Pick:
    item: _Item
    at: float | Refusal
    # Set when this pick keeps the current room although a more urgent
    # message waits elsewhere: that message's item.
    passes_over: _Item | None = None


class PacedQueue:
    """Pending actions; :meth:`next` says which to execute and when.

    Order: refusals (breaker, budget) and expired entries come out at once.
    Otherwise each lane (the message lane; removals; each other kind) offers
    its best entry with the earliest time the governor allows, and the
    earliest wins (ties: the more urgent).  Urgency is a virtual deadline,
    ``enqueued_at + priority * priority_step_s``: lower Priority first among
    entries queued about the same time, and no entry waits behind entries
    queued more than ``3 * priority_step_s`` after it, which bounds every wait.

    That bound is in time, not in work: a welcome queued 300 s into a backlog
    of replies would wait for all of them.  So a count bounds it too: while an
    entry waits, at most ``max_overtakes`` entries of a lower priority (a
    higher Priority value; any lane, any room) are taken to execute; after
    that the most urgent entry that has waited that long goes next, whatever
    the room, room_batch or urgency say, unless it is blocked anyway long
    enough (by the same slack as above) that the other cannot delay it.  So
    an entry's wait is its own pacing plus at most ``max_overtakes`` less
    urgent sends.  Refusals and expired entries do not count (they send
    nothing); entries of the same or a higher priority never count against it.

    In the message lane the queue stays in the current room while that room
    has an entry at least as urgent as any elsewhere (same room: 3 s; switch:
    3-5 s).  When a more urgent message waits elsewhere, it may first finish
    the current room if at most ``room_batch`` messages are left there (that
    saves a later visit; never ahead of MODERATION).  A less urgent entry goes
    first when the more urgent one is blocked anyway (say, by the rich 5/min
    window) long enough not to be delayed by it.  An entry whose time would
    fall after its ``not_after`` comes out expired.

    Cost: push O(log n); next amortized O(log n) and a handful of governor
    calls, whatever the number of pending entries.
    """

    def __init__(self, governor: Governor, *, max_overtakes: int = DEFAULT_MAX_OVERTAKES) -> None:
        if max_overtakes < 0:
            raise ValueError("max_overtakes must be >= 0")
        self._gov = governor
        s = governor.settings
        self._step = s.priority_step_s
        self._max_overtakes = max_overtakes
        # Entries taken to execute, per Priority; and the entries of each
        # priority and kind in push order (oldest first: overtaken most).
        self._taken = [0] * len(Priority)
        self._by_priority: dict[tuple[Priority, ActionKind], deque[_Item]] = {
            (p, k): deque() for p in Priority for k in ActionKind
        }
        # Slack such that running one more message first cannot delay the
        # other: a same-room gap, a switch, and one bucket token.
        rate_gap = MINUTE / s.messages_per_min
        self._slack_room = max(s.room_gap_s, rate_gap)
        self._slack_switch = max(s.room_gap_s, s.switch_delay_max, rate_gap)
        self._items: dict[str, _Item] = {}
        self._seq = 0
        self._by_kind: dict[ActionKind, list[_HeapRow]] = {k: [] for k in ActionKind}
        self._rooms: dict[str | None, _Room] = {}
        self._heads_all: list[_RoomHead] = []
        self._heads_msg: list[_RoomHead] = []
        self._deadlines: list[tuple[float, int, _Item]] = []
        self._held_id: str | None = None
        self._held_count = 0
        self._garbage = 0  # removals since the last compaction

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._items

    def push(self, entry: QueueEntry) -> None:
        if entry.id in self._items:
            raise ValueError(f"entry {entry.id!r} is already queued")
        self._seq += 1
        item = _Item(
            entry,
            entry.enqueued_at + int(entry.priority) * self._step,
            self._seq,
            mark=self._lower_taken(entry.priority),
        )
        self._items[entry.id] = item
        self._by_priority[entry.priority, entry.kind].append(item)
        row = (item.key, item.seq, item)
        heapq.heappush(self._by_kind[entry.kind], row)
        if entry.not_after is not None:
            heapq.heappush(self._deadlines, (entry.not_after, item.seq, item))
        if entry.kind in MESSAGE_KINDS:
            room = self._rooms.get(entry.room_id)
            if room is None:
                room = self._rooms[entry.room_id] = _Room()
            heapq.heappush(room.msg if entry.kind is ActionKind.MESSAGE else room.rich, row)
            room.live += 1
            self._refresh_room(entry.room_id, room)

    enqueue = push

    def cancel(self, entry_id: str) -> bool:
        item = self._items.get(entry_id)
        if item is None:
            return False
        self._remove(item)
        return True

    def peek(self, now: float) -> Decision | None:
        """What :meth:`next` would return, without taking it."""
        pick = self._decide(now)
        return None if pick is None else (pick.item.entry, pick.at)

    def next(self, now: float) -> Decision | None:
        """Take the entry to execute next: ``(entry, at)`` with ``at`` the
        time to execute it (>= now), or ``(entry, Refusal)`` to drop it.
        None when the queue is empty."""
        pick = self._decide(now)
        if pick is None:
            return None
        item, at = pick.item, pick.at
        self._remove(item)
        kind = item.entry.kind
        if isinstance(at, Refusal):
            self._gov.note(kind, "expired" if at.code is RefusalCode.EXPIRED else "refused")
        else:
            self._taken[item.entry.priority] += 1
            if at > now + _EPS:
                self._gov.note(kind, "delayed")
        if pick.passes_over is not None:
            if self._held_id == pick.passes_over.entry.id:
                self._held_count += 1
            else:
                self._held_id, self._held_count = pick.passes_over.entry.id, 1
        elif self._held_id == item.entry.id:
            self._held_id, self._held_count = None, 0
        return item.entry, at

    def overtaken(self, entry_id: str) -> int:
        """How many lower-priority entries were taken while this one waited."""
        item = self._items[entry_id]
        return self._lower_taken(item.entry.priority) - item.mark

    # -- internals ----------------------------------------------------------

    def _lower_taken(self, priority: Priority) -> int:
        return sum(self._taken[int(priority) + 1 :])

    def _starving(self, than: Priority) -> list[_Item]:
        """Entries more urgent than ``than`` overtaken ``max_overtakes`` times:
        the oldest of each priority and kind, most urgent first."""
        found: list[_Item] = []
        for (priority, _), rows in self._by_priority.items():
            if priority >= than:
                continue
            while rows and rows[0].dead:
                rows.popleft()
            if rows and self._lower_taken(priority) - rows[0].mark >= self._max_overtakes:
                found.append(rows[0])
        found.sort(key=lambda i: (i.entry.priority, i.seq))
        return found

    def _bounded(self, pick: _Pick, at: float, now: float) -> tuple[_Pick, float]:
        """``pick``, or a starving entry it would delay (one that has waited
        behind ``max_overtakes`` less urgent ones and is not blocked anyway
        long enough), repeated for the entries more urgent than that one."""
        while True:
            for item in self._starving(pick.item.entry.priority):
                item_at = self._when(item, now)
                if at + self._slack_switch > item_at:
                    pick, at = _Pick(item, item_at), item_at
                    break
            else:
                return pick, at

    def _remove(self, item: _Item) -> None:
        item.dead = True
        del self._items[item.entry.id]
        self._garbage += 1
        if self._garbage > 1024 and self._garbage > 2 * len(self._items):
            self._compact()
        if item.entry.kind in MESSAGE_KINDS:
            room = self._rooms[item.entry.room_id]
            room.live -= 1
            if room.live == 0:
                del self._rooms[item.entry.room_id]
            else:
                self._refresh_room(item.entry.room_id, room)

    def _compact(self) -> None:
        # Dead rows are dropped lazily when they surface; rows that never do
        # (cancelled or taken away from a heap's top) are swept here, after as
        # many removals as there are live entries: amortized O(log n).
        self._garbage = 0

        def live(rows: list[_HeapRow]) -> list[_HeapRow]:
            kept = [r for r in rows if not r[2].dead]
            heapq.heapify(kept)
            return kept

        self._by_kind = {k: live(rows) for k, rows in self._by_kind.items()}
        self._deadlines = [r for r in self._deadlines if not r[2].dead]
        heapq.heapify(self._deadlines)
        for rows in self._by_priority.values():
            kept = [i for i in rows if not i.dead]
            rows.clear()
            rows.extend(kept)
        self._heads_all, self._heads_msg = [], []
        for room_id, room in self._rooms.items():
            room.msg, room.rich = live(room.msg), live(room.rich)
            room.pushed_all = room.pushed_msg = None
            self._refresh_room(room_id, room)

    def _refresh_room(self, room_id: str | None, room: _Room) -> None:
        # Keep each room's current best in the heads heaps (stale rows are
        # dropped when they surface).
        best = room.best(True)
        if best is not None and best.order != room.pushed_all:
            room.pushed_all = best.order
            heapq.heappush(self._heads_all, (best.key, best.seq, room_id))
        best = room.best(False)
        if best is not None and best.order != room.pushed_msg:
            room.pushed_msg = best.order
            heapq.heappush(self._heads_msg, (best.key, best.seq, room_id))

    def _best_elsewhere(self, with_rich: bool, exclude: tuple[bool, str | None]) -> _Item | None:
        heap = self._heads_all if with_rich else self._heads_msg
        stash: list[_RoomHead] = []
        found: _Item | None = None
        while heap:
            key, seq, room_id = heap[0]
            room = self._rooms.get(room_id)
            best = room.best(with_rich) if room is not None else None
            if best is None or best.order != (key, seq):
                heapq.heappop(heap)
                continue
            if exclude[0] and room_id == exclude[1]:
                stash.append(heapq.heappop(heap))
                continue
            found = best
            break
        for row in stash:
            heapq.heappush(heap, row)
        return found

    def _when(self, item: _Item, now: float) -> float:
        return self._gov.earliest_time(item.entry.kind, item.entry.room_id, now)

    def _prefer(
        self, urgent: tuple[_Item, float], other: tuple[_Item, float], slack: float
    ) -> tuple[_Item, float]:
        # Let the less urgent go first only if the urgent one is blocked long
        # enough that doing so cannot delay it.
        if other[1] + slack <= urgent[1]:
            return other
        return urgent

    def _decide(self, now: float) -> _Pick | None:
        if not self._items:
            return None
        gov = self._gov
        # Expired entries first.
        while self._deadlines:
            not_after, _, item = self._deadlines[0]
            if item.dead:
                heapq.heappop(self._deadlines)
                continue
            if not_after < now:
                return _Pick(item, Refusal("expired before it could run", RefusalCode.EXPIRED))
            break
        best: _Pick | None = None
        best_at = _INF
        for kind in ActionKind:
            top = _top(self._by_kind[kind])
            if top is None:
                continue
            refusal = gov.refusal(kind, now)
            if refusal is not None:
                return _Pick(top, refusal)
            if kind not in MESSAGE_KINDS:
                at = self._when(top, now)
                if best is None or (at, top.order) < (best_at, best.item.order):
                    best, best_at = _Pick(top, at), at
        msg = self._decide_messages(now)
        if msg is not None:
            at = msg[1]
            if best is None or (at, msg[0].order) < (best_at, best.item.order):
                best, best_at = _Pick(msg[0], at, passes_over=msg[2]), at
        if best is None:
            return None
        # Bound the wait in work: an entry overtaken max_overtakes times by
        # less urgent ones goes next, unless it is blocked anyway long enough
        # that the pick cannot delay it (say, by the rich 5/min window).
        best, best_at = self._bounded(best, best_at, now)
        deadline = best.item.entry.not_after
        if deadline is not None and best_at > deadline:
            return _Pick(best.item, Refusal("cannot run before not_after", RefusalCode.EXPIRED))
        return best

    def _decide_messages(self, now: float) -> tuple[_Item, float, _Item | None] | None:
        """The message lane's pick: (item, at, the more urgent item it passes over)."""
        has_cur, cur = current = self._gov.current_room
        # Best in the current room: the more urgent of its best text and best
        # rich message, unless that one is blocked long enough.
        here: tuple[_Item, float] | None = None
        room = self._rooms.get(cur) if has_cur else None
        if room is not None:
            cands = [(x, self._when(x, now)) for x in (_top(room.msg), _top(room.rich)) if x]
            cands.sort(key=lambda c: c[0].order)
            here = cands[0]
            if len(cands) == 2:
                here = self._prefer(cands[0], cands[1], self._slack_room)
        # Best elsewhere, likewise between the overall best and the best text.
        there: tuple[_Item, float] | None = None
        u_all = self._best_elsewhere(True, current)
        if u_all is not None:
            there = (u_all, self._when(u_all, now))
            if u_all.entry.kind is ActionKind.RICH:
                u_msg = self._best_elsewhere(False, current)
                if u_msg is not None:
                    there = self._prefer(there, (u_msg, self._when(u_msg, now)), self._slack_switch)
        if here is None or there is None:
            pick = here or there
            return None if pick is None else (pick[0], pick[1], None)
        if here[0].key <= there[0].key:
            # Stay, unless this room's best is blocked long enough.
            pick = self._prefer(here, there, self._slack_switch)
            return pick[0], pick[1], None
        # A more urgent message waits in another room.
        if here[1] + self._slack_switch <= there[1]:
            return here[0], here[1], None  # it is blocked anyway
        # Pass it over only to finish this room (that saves a visit; sending
        # part of the room first would not), within the room_batch allowance.
        held = self._held_count if self._held_id == there[0].entry.id else 0
        assert room is not None
        if (
            here[1] < there[1] - _EPS
            and there[0].entry.priority is not Priority.MODERATION
            and held + room.live <= self._gov.settings.room_batch
        ):
            return here[0], here[1], there[0]
        return there[0], there[1], None
