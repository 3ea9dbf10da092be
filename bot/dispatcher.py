"""Route events to handler groups: in order per room, rooms in parallel.

Patterned on python-telegram-bot's ``Application.process_update``: the
``outer`` steps (activity logging) see every event first; then handler
groups run in order; inside a group the first handler that returns a result
handles the event, and its result goes to ``apply`` (``bot.doer``: effects,
then actions); a result with ``stop`` ends the chain.  Events of one room
are handled strictly in arrival order by that room's lane; lanes of different
rooms run concurrently.  A failing handler is logged with its traceback, the
others still run, and ``on_handler_error`` hears of it (see
:class:`HandlerFailureAlarm`).

The queue is bounded: :meth:`Dispatcher.put` waits while ``max_queued``
events are pending (or ``max_queued_per_room`` in the event's room), so a
producer that awaits it is held back instead of filling memory.
:meth:`Dispatcher.feed` is for producers that cannot wait: it never drops an
event, and says with a WARNING when it goes over the bound.  The lane of a
room silent for ``idle_room_seconds`` (a day) is closed, and handlers with a
``forget_room(room_id)`` method are told, so per-room state does not pile up.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.alerts import Alert, Alerter, AlertKind
from bot.vocab.clock import Clock, SystemClock
from bot.vocab.events import Event, room_of
from handlers.base import Context, Handler, Result

log = logging.getLogger(__name__)

ContextFor = Callable[[Event], Context | None]  # None: not ours, drop it
#: Carries out a handler's result: (result, the deciding feature, the event).
Apply = Callable[[Result, str, Event], Awaitable[None]]
#: Called with (handler name, event, exception) whenever a handler raises.
HandlerErrorHook = Callable[[str, Event, BaseException], None]

_GLOBAL_LANE = "\0global"

DEFAULT_MAX_QUEUED = 10_000
DEFAULT_MAX_QUEUED_PER_ROOM = 2_000
DEFAULT_IDLE_ROOM_SECONDS = 86_400.0


class Dispatcher:
    def __init__(
        self,
        groups: Sequence[Sequence[Handler]],
        context_for: ContextFor,
        apply: Apply,
        *,
        outer: Sequence[Handler] = (),
        clock: Clock | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
        max_queued_per_room: int = DEFAULT_MAX_QUEUED_PER_ROOM,
        idle_room_seconds: float = DEFAULT_IDLE_ROOM_SECONDS,
        on_handler_error: HandlerErrorHook | None = None,
        on_evict: Callable[[str], None] | None = None,
    ) -> None:
        if max_queued < 1 or max_queued_per_room < 1:
            raise ValueError("queue bounds must be positive")
        self._groups = [list(g) for g in groups]
        self._context_for = context_for
        self._apply = apply
        self._outer = list(outer)
        self._clock: Clock = clock or SystemClock()
        self.max_queued = max_queued
        self.max_queued_per_room = max_queued_per_room
        self.idle_room_seconds = idle_room_seconds
        self.on_handler_error = on_handler_error
        self.on_evict = on_evict  # told of each evicted room, after the handlers
        self._lanes: dict[str, asyncio.Queue[Event | None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._last_seen: dict[str, float] = {}  # lane -> clock.monotonic() of its last event
        self._busy: set[str] = set()  # lanes handling an event right now
        self._next_sweep = self._clock.monotonic() + self._sweep_every
        self._pending = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._freed = asyncio.Event()  # set whenever an event is done
        self._full = False  # a WARNING was logged for the current episode
        self.failures = 0
        self.failures_by_handler: collections.Counter[str] = collections.Counter()
        self.handled = 0
        self.evicted = 0

    @property
    def handlers(self) -> list[Handler]:
        return [*self._outer, *(h for g in self._groups for h in g)]

    @property
    def pending(self) -> int:
        """Events queued or being handled."""
        return self._pending

    @property
    def rooms(self) -> list[str]:
        """Rooms with an open lane."""
        return [k for k in self._lanes if k != _GLOBAL_LANE]

    @property
    def _sweep_every(self) -> float:
        return max(1.0, self.idle_room_seconds / 24)

    # ------------------------------------------------------------ queueing

    def _key(self, event: Event) -> str:
        return room_of(event) or _GLOBAL_LANE

    def _over(self, key: str) -> bool:
        lane = self._lanes.get(key)
        queued_here = lane.qsize() if lane is not None else 0
        return self._pending >= self.max_queued or queued_here >= self.max_queued_per_room

    def _warn_full(self, key: str, *, waiting: bool) -> None:
        if self._full:
            return
        self._full = True
        lane = self._lanes.get(key)
        here = lane.qsize() if lane is not None else 0
        room = "direct/global" if key == _GLOBAL_LANE else key
        log.warning(
            "event queue full: %d events pending (limit %d), %d in %s (limit %d per room); %s",
            self._pending,
            self.max_queued,
            here,
            room,
            self.max_queued_per_room,
            "new events wait until handlers catch up"
            if waiting
            else "accepted anyway: this producer cannot wait",
        )

    def full(self, event: Event) -> bool:
        """Whether :meth:`put` would wait for this event (its lane or the queue is full)."""
        return self._over(self._key(event))

    async def put(self, event: Event) -> None:
        """Queue an event, waiting while its room's lane or the whole queue is
        full (back-pressure: the caller is held, nothing is dropped)."""
        key = self._key(event)
        while self._over(key):
            self._warn_full(key, waiting=True)
            self._freed.clear()
            await self._freed.wait()
        self.feed(event)

    def feed(self, event: Event) -> None:
        """Queue an event on its room's lane now (never blocks, never drops;
        over the bound it logs a WARNING: prefer :meth:`put`)."""
        key = self._key(event)
        if self._over(key):
            self._warn_full(key, waiting=False)
        now = self._clock.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self._sweep_every
            self.evict_idle()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = asyncio.Queue()
            self._tasks[key] = asyncio.create_task(self._run_lane(key, lane), name=f"lane:{key}")
        self._last_seen[key] = now
        self._pending += 1
        self._drained.clear()
        lane.put_nowait(event)

    async def _run_lane(self, key: str, lane: asyncio.Queue[Event | None]) -> None:
        # A lane lives while its room is heard from; evict_idle() closes it.
        while True:
            event = await lane.get()
            if event is None:
                return
            self._busy.add(key)
            self._freed.set()  # room in this lane for one more
            try:
                await self.process(event)
            finally:
                self._busy.discard(key)
                self._pending -= 1
                self._freed.set()
                if self._pending == 0:
                    if self._full:  # one WARNING per flood, and this line when it is over
                        self._full = False
                        log.info("event queue caught up: nothing pending")
                    self._drained.set()

    # ------------------------------------------------------------ eviction

    def evict_idle(self) -> list[str]:
        """Close the lanes of rooms silent for ``idle_room_seconds`` (on the
        injected clock) and tell handlers to forget them; returns the rooms."""
        cutoff = self._clock.monotonic() - self.idle_room_seconds
        gone = [
            key
            for key, seen in self._last_seen.items()
            if seen <= cutoff and key not in self._busy and self._lanes[key].empty()
        ]
        for key in gone:
            self._lanes.pop(key).put_nowait(None)  # the lane's task ends by itself
            self._tasks.pop(key)
            del self._last_seen[key]
            if key == _GLOBAL_LANE:
                continue
            for handler in self.handlers:
                forget = getattr(handler, "forget_room", None)
                if forget is None:
                    continue
                try:
                    forget(key)
                except Exception:
                    log.exception("handler %s failed to forget room %s", handler.name, key)
            if self.on_evict is not None:
                try:
                    self.on_evict(key)
                except Exception:
                    log.exception("the eviction hook failed for room %s", key)
        self.evicted += len(gone)
        if gone:
            log.debug("closed %d idle lane(s)", len(gone))
        return [k for k in gone if k != _GLOBAL_LANE]

    # ------------------------------------------------------------ handling

    async def process(self, event: Event) -> None:
        """Run one event through the handler groups (used by the lanes)."""
        ctx = self._context_for(event)
        if ctx is None:
            return
        self.handled += 1
        for step in self._outer:  # sees every event; its result is not an answer
            try:
                await step.handle(event, ctx)
            except Exception as exc:
                self._handler_failed(step.name, event, exc)
        for group in self._groups:
            stop = False
            for handler in group:
                try:
                    result = await handler.handle(event, ctx)
                except Exception as exc:
                    self._handler_failed(handler.name, event, exc)
                    continue
                if result is None:
                    continue
                if result.actions or result.effects:
                    try:  # handled either way: the next handler does not get it
                        await self._apply(result, getattr(handler, "feature", handler.name), event)
                    except Exception as exc:
                        self._handler_failed(handler.name, event, exc)
                stop = result.stop
                break  # the first handler that answers handles it for its group
            if stop:
                break

    def _handler_failed(self, name: str, event: Event, exc: BaseException) -> None:
        self.failures += 1
        self.failures_by_handler[name] += 1
        log.error("handler %s failed on %s", name, type(event).__name__, exc_info=exc)
        if self.on_handler_error is not None:
            try:
                self.on_handler_error(name, event, exc)
            except Exception:
                log.exception("the handler-error hook failed")

    async def join(self) -> None:
        """Wait until every queued event has been handled."""
        await self._drained.wait()

    async def close(self) -> None:
        await self.join()
        for key, task in list(self._tasks.items()):
            self._lanes[key].put_nowait(None)
            await task
        self._lanes.clear()
        self._tasks.clear()
        self._last_seen.clear()
        for handler in self.handlers:
            try:
                await handler.close()
            except Exception:
                log.exception("handler %s failed to close", handler.name)


class HandlerFailureAlarm:
    """An ``on_handler_error`` hook: one alert per burst of failures.

    A burst is ``threshold`` failures of one handler within ``window_seconds``
    (on the injected clock); it ends when that handler has not failed for a
    whole window, and the next burst alerts again."""

    def __init__(
        self,
        alerter: Alerter,
        clock: Clock,
        *,
        threshold: int = 5,
        window_seconds: float = 600.0,
        account_id: str = "",
    ) -> None:
        if threshold < 1 or window_seconds <= 0:
            raise ValueError("threshold and window must be positive")
        self._alerter = alerter
        self._clock = clock
        self.threshold = threshold
        self.window_seconds = window_seconds
        self.account_id = account_id
        self._times: dict[str, collections.deque[float]] = {}
        self._alerted: set[str] = set()

    def __call__(self, name: str, event: Event, exc: BaseException) -> None:
        now = self._clock.monotonic()
        times = self._times.setdefault(name, collections.deque())
        if times and now - times[-1] >= self.window_seconds:
            self._alerted.discard(name)  # quiet for a whole window: the burst is over
        times.append(now)
        while times and now - times[0] > self.window_seconds:
            times.popleft()
        if len(times) < self.threshold or name in self._alerted:
            return
        self._alerted.add(name)
        minutes = self.window_seconds / 60
        room = room_of(event)
        detail = str(exc).strip().splitlines()
        self._alerter.alert(
            Alert(
                kind=AlertKind.HANDLER_FAILING,
                what=f"「{name}」这一步在 {minutes:g} 分钟内失败了 {len(times)} 次"
                f"（最近一次：{type(exc).__name__}{'：' + detail[0] if detail else ''}）。",
                where=f"群 {room}" if room else "机器人自身的事件",
                doing="机器人照常处理其他事件；这一步在出错的地方被跳过。",
                owner_can=f"在日志里搜索「handler {name} failed」查看详情；"
                "如果当时数据库或网络断了，先检查它们；否则把这几行日志发给维护者。",
                account_id=self.account_id,
            )
        )
