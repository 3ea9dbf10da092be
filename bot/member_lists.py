"""One reader for member lists: on a budget, cached per room, refreshed in the background.

Reading a group's member list is something WeChat notices: a bot in 1,000
groups that reads every list at every login (and again at every reconnect)
is a risk-control trigger.  Every member-list read of the bot goes through
one :class:`MemberListReader`:

* a **budget**: at most ``reads_per_minute`` reads in any 60 s (on the
  injected clock; a read over budget waits its turn);
* a **cache** per room: a list read less than ``cache_hours`` ago is handed
  back without asking the puppet; two reads of one room at once are one read;
* **stale-only refreshes in the background**: :meth:`MemberListReader.refresh_in_background`
  queues rooms and one worker task reads those still stale, in order, one by
  one on the budget, so events keep flowing meanwhile;
* rooms the bot is **not in** (removed, or it left) are never read:
  :meth:`MemberListReader.mark_gone` / :meth:`MemberListReader.resume`;
* the **room list** (which rooms the puppet says the bot is in) is counted on
  the same budget and cached for the same period: :meth:`MemberListReader.room_list`.
  A read that fails, or a list that leaves the bot out
  (:class:`MaybeNotInRoom`), is checked against it, and to confirm such a doubt
  it is read again at most once per round (:meth:`MemberListReader.new_round`:
  a reconcile run, a login);
* other puppet reads WeChat can notice (the room payload read when the bot
  joins a group) are counted on the budget: :meth:`MemberListReader.charge`;
* a room silent for a day is **forgotten** (:meth:`MemberListReader.forget`):
  its lock and its member tuple go, its read time stays, so forgetting never
  makes a room stale and never causes a re-read.

The reader knows nothing of Wechaty: it is given a ``read`` function (the
transport's ``read_member_list``) that returns a :class:`MemberList` or raises
:class:`BotNotInRoom` / :class:`MaybeNotInRoom`, and a ``list_rooms`` function
(the transport's ``room_ids``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.vocab.clock import Clock
from bot.vocab.events import RoomSnapshotEvent

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class MemberList:
    """Who was in a room when it was read, and who owns and administers it."""

    room_id: str
    member_ids: tuple[str, ...]
    read_at: datetime
    topic: str = ""
    member_names: tuple[str, ...] = ()
    owner_id: str | None = None
    admin_ids: tuple[str, ...] = field(default=())
    member_aliases: tuple[str, ...] = ()  # group aliases (群昵称), in member_ids' order

    def snapshot(self) -> RoomSnapshotEvent:
        return RoomSnapshotEvent(
            self.room_id,
            self.member_ids,
            self.read_at,
            self.topic,
            self.member_names,
            owner_id=self.owner_id,
            admin_ids=self.admin_ids,
            member_aliases=self.member_aliases,
        )


class BotNotInRoom(Exception):
    """The bot is not (or no longer) a member of the room: nothing can be read there."""

    def __init__(self, room_id: str, detail: str = "") -> None:
        super().__init__(
            f"the bot is not a member of {room_id}" + (f": {detail}" if detail else "")
        )
        self.room_id = room_id
        self.detail = detail


class MaybeNotInRoom(Exception):
    """A read failed, or the list leaves the bot out: the bot may have been removed.

    The reader checks the room list: a room missing from it becomes
    :class:`BotNotInRoom`; otherwise ``members`` (the list as read) is the
    answer, or, without one, this error propagates as a failed read."""

    def __init__(self, room_id: str, detail: str, members: MemberList | None = None) -> None:
        super().__init__(f"{room_id}: {detail}")
        self.room_id = room_id
        self.detail = detail
        self.members = members


ReadList = Callable[[str], Awaitable[MemberList]]
ListRooms = Callable[[], Awaitable[Iterable[str]]]
OnList = Callable[[MemberList], None]
OnGone = Callable[[str, str], Awaitable[None]]


class ReadBudget:
    """At most ``per_minute`` reads in any 60 s window (sliding, on the clock)."""

    def __init__(self, clock: Clock, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._clock = clock
        self.per_minute = per_minute
        self._times: deque[float] = deque()

    def delay(self) -> float:
        """Seconds until one more read is allowed (0: now)."""
        now = self._clock.monotonic()
        while self._times and self._times[0] <= now - WINDOW_SECONDS:
            self._times.popleft()
        if len(self._times) < self.per_minute:
            return 0.0
        return self._times[0] + WINDOW_SECONDS - now

    async def wait_turn(self) -> None:
        """Wait until a read is allowed (without counting one)."""
        while (wait := self.delay()) > 0:
            await self._clock.sleep(wait)

    async def acquire(self) -> None:
        """Wait until a read is allowed, and count it."""
        await self.wait_turn()
        self.charge()

    def charge(self) -> None:
        """Count a read made without waiting (later reads wait for it)."""
        self._times.append(self._clock.monotonic())


class MemberListReader:
    """Paced, cached member-list reads; a background worker for stale refreshes."""

    def __init__(
        self,
        read: ReadList,
        clock: Clock,
        *,
        reads_per_minute: int = 10,
        cache_hours: float = 6.0,
        list_rooms: ListRooms | None = None,
    ) -> None:
        self._read = read
        self._clock = clock
        self.budget = ReadBudget(clock, reads_per_minute)
        self.cache_seconds = cache_hours * 3600.0
        # room -> clock.monotonic() of its last read; kept when the room is forgotten.
        self._read_at: dict[str, float] = {}
        self._cache: dict[str, MemberList] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._gone: set[str] = set()
        self.reads = 0  # calls of ``read`` (member lists asked of the puppet)
        # The room list: read on the budget, cached, re-read at most once per round.
        self._list_rooms = list_rooms
        self._rooms: tuple[float, frozenset[str]] | None = None
        self._rooms_lock = asyncio.Lock()
        self._rooms_read_this_round = False
        self.room_list_reads = 0  # calls of ``list_rooms``
        self.other_reads = 0  # other puppet reads counted on the budget (:meth:`charge`)
        # The background worker: rooms waiting for a refresh, in order.
        self._queue: dict[str, None] = {}
        self._on_list: OnList | None = None
        self._on_gone: OnGone | None = None
        self._worker: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()  # nothing to read now (idle, or waiting for budget)
        self._quiet.set()

    # ------------------------------------------------------------ the cache

    def _fresh(self, room_id: str) -> bool:
        read_mono = self._read_at.get(room_id)
        return read_mono is not None and self._clock.monotonic() - read_mono < self.cache_seconds

    def cached(self, room_id: str) -> MemberList | None:
        """The room's list if it was read within the cache period (and not
        forgotten since), else None."""
        return self._cache.get(room_id) if self._fresh(room_id) else None

    def is_stale(self, room_id: str) -> bool:
        """Not read within the cache period (a forgotten room keeps its read time)."""
        return room_id not in self._gone and not self._fresh(room_id)

    def stale(self, room_ids: Iterable[str]) -> list[str]:
        return [r for r in room_ids if self.is_stale(r)]

    def invalidate(self, room_id: str) -> None:
        """Forget the room's cached list (the next read asks the puppet)."""
        self._cache.pop(room_id, None)
        self._read_at.pop(room_id, None)

    def forget(self, room_id: str) -> None:
        """The room has been silent for long (the dispatcher evicted it): drop its
        lock and its member tuple.  Its read time stays, so it is not stale any
        sooner: forgetting never causes a re-read (a caller that needs the list
        before it is stale reads it once, on the budget)."""
        lock = self._locks.get(room_id)
        if lock is not None and not lock.locked():
            del self._locks[room_id]
        self._cache.pop(room_id, None)

    def charge(self) -> None:
        """Count a puppet read made outside the reader (e.g. the room payload read
        when the bot joins a group) on the budget, without waiting: the reads
        after it wait for it."""
        self.budget.charge()
        self.other_reads += 1

    # ------------------------------------------------------------ room list

    def new_round(self) -> None:
        """A reconcile run or a login begins: a doubt about a room may re-read the
        room list once more."""
        self._rooms_read_this_round = False

    def note_listed(self, room_id: str) -> None:
        """The bot is in ``room_id`` (it just joined): so says the cached room list."""
        if self._rooms is not None:
            self._rooms = (self._rooms[0], self._rooms[1] | {room_id})

    async def room_list(self, *, confirm: bool = False) -> frozenset[str] | None:
        """The rooms the puppet says the bot is in; None if unknown (no room list,
        or it could not be read).  Cached for the cache period; ``confirm``
        re-reads it unless it was read this round already: at most one read per
        cache period plus one per round.  A read is counted on the budget (the
        member-list reads after it wait for it) but does not wait for it: it is
        asked for inside a paced read or at a login, and must not hold either
        for up to a minute."""
        if self._list_rooms is None:
            return None
        async with self._rooms_lock:
            entry = self._rooms
            fresh = entry is not None and self._clock.monotonic() - entry[0] < self.cache_seconds
            if entry is not None and fresh and (not confirm or self._rooms_read_this_round):
                return entry[1]
            self.budget.charge()
            self.room_list_reads += 1
            self._rooms_read_this_round = True
            try:
                listed = frozenset(str(r) for r in await self._list_rooms())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("could not list the bot's rooms", exc_info=True)
                return None
            self._rooms = (self._clock.monotonic(), listed)
            return self._rooms[1]

    async def _not_listed(self, room_id: str) -> bool:
        """True if the (non-empty) room list lacks ``room_id``: confirmed this round."""
        listed = await self.room_list(confirm=True)
        return listed is not None and bool(listed) and room_id not in listed

    # ------------------------------------------------- rooms the bot is not in

    @property
    def gone(self) -> frozenset[str]:
        return frozenset(self._gone)

    def is_gone(self, room_id: str) -> bool:
        return room_id in self._gone

    def mark_gone(self, room_id: str) -> bool:
        """Never read this room again (until :meth:`resume`); False if already so."""
        if room_id in self._gone:
            return False
        self._gone.add(room_id)
        self.invalidate(room_id)
        self.forget(room_id)
        self._queue.pop(room_id, None)
        return True

    def resume(self, room_id: str) -> bool:
        """The bot is back in the room; False if it was not marked gone."""
        if room_id not in self._gone:
            return False
        self._gone.discard(room_id)
        self.invalidate(room_id)
        return True

    # ---------------------------------------------------------------- reads

    async def get(self, room_id: str) -> MemberList:
        """The room's member list: cached if read within the cache period, else
        read on the budget.  Raises :class:`BotNotInRoom` for a room the bot is
        not in (and marks it gone), checked against the room list when the read
        is in doubt (:class:`MaybeNotInRoom`); other read errors propagate."""
        if room_id in self._gone:
            raise BotNotInRoom(room_id, "marked as left")
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:  # a second caller waits for the first one's read
            cached = self.cached(room_id)
            if cached is not None:
                return cached
            if room_id in self._gone:
                raise BotNotInRoom(room_id, "marked as left")
            await self.budget.acquire()
            self.reads += 1
            try:
                members = await self._read(room_id)
            except BotNotInRoom:
                self.mark_gone(room_id)
                raise
            except MaybeNotInRoom as doubt:
                if await self._not_listed(room_id):
                    self.mark_gone(room_id)
                    raise BotNotInRoom(room_id, doubt.detail) from doubt
                if doubt.members is None:
                    raise
                members = doubt.members
            self._read_at[room_id] = self._clock.monotonic()
            self._cache[room_id] = members
            return members

    # --------------------------------------------------- background refresh

    def refresh_in_background(
        self, room_ids: Iterable[str], on_list: OnList, on_gone: OnGone
    ) -> int:
        """Queue the stale rooms among ``room_ids`` for a paced read; returns how many.

        One worker reads them in order; each list read is handed to ``on_list``
        (e.g. fed to the dispatcher as a snapshot); a room the bot is not in
        goes to ``on_gone``.  A room queued twice is read once; a room that
        became fresh meanwhile (read by someone else) is skipped.
        """
        self._on_list, self._on_gone = on_list, on_gone
        added = 0
        for room_id in room_ids:
            if room_id not in self._queue and self.is_stale(room_id):
                self._queue[room_id] = None
                added += 1
        if self._queue and (self._worker is None or self._worker.done()):
            self._quiet.clear()
            self._worker = asyncio.create_task(self._work(), name="member-lists")
        return added

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _work(self) -> None:
        try:
            while self._queue:
                room_id = next(iter(self._queue))
                if not self.is_stale(room_id):
                    self._queue.pop(room_id, None)
                    continue
                if self.budget.delay() > 0:
                    self._quiet.set()  # waiting for budget: nothing to settle now
                    await self.budget.wait_turn()
                    self._quiet.clear()
                await self._refresh_one(room_id)
                self._queue.pop(room_id, None)
        finally:
            self._quiet.set()

    async def _refresh_one(self, room_id: str) -> None:
        try:
            members = await self.get(room_id)
        except BotNotInRoom as exc:
            if self._on_gone is not None:
                try:
                    await self._on_gone(room_id, exc.detail)
                except Exception:
                    log.exception("handling the bot's absence from %s failed", room_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("could not read the member list of %s", room_id, exc_info=True)
        else:
            if self._on_list is not None:
                try:
                    self._on_list(members)
                except Exception:
                    log.exception("handling the member list of %s failed", room_id)

    async def settle(self) -> None:
        """Wait until the worker has nothing it can read now (idle, or waiting for budget)."""
        await self._quiet.wait()

    async def close(self) -> None:
        """Stop the background worker (queued rooms are dropped)."""
        self._queue.clear()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        self._quiet.set()
