"""Route events to handler groups: in order per room, rooms in parallel.

Patterned on python-telegram-bot's ``Application.process_update``: handler
groups run in order; inside a group the first handler that returns a result
handles the event; a result with ``stop`` ends the chain.  Events of one room
are handled strictly in arrival order by that room's lane; lanes of different
rooms run concurrently.  A failing handler is logged with its traceback and
the others still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.actions import Action
from bot.events import Event, room_of
from handlers.base import Context, Handler

log = logging.getLogger(__name__)

ContextFor = Callable[[Event], Context | None]  # None: not ours, drop it
Submit = Callable[[Sequence[Action]], Awaitable[None]]

_GLOBAL_LANE = "\0global"


class Dispatcher:
    def __init__(
        self,
        groups: Sequence[Sequence[Handler]],
        context_for: ContextFor,
        submit: Submit,
    ) -> None:
        self._groups = [list(g) for g in groups]
        self._context_for = context_for
        self._submit = submit
        self._lanes: dict[str, asyncio.Queue[Event | None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self.failures = 0
        self.handled = 0

    @property
    def handlers(self) -> list[Handler]:
        return [h for g in self._groups for h in g]

    def feed(self, event: Event) -> None:
        """Queue an event on its room's lane (never blocks)."""
        key = room_of(event) or _GLOBAL_LANE
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = asyncio.Queue()
            self._tasks[key] = asyncio.create_task(self._run_lane(key, lane), name=f"lane:{key}")
        self._pending += 1
        self._drained.clear()
        lane.put_nowait(event)

    async def _run_lane(self, key: str, lane: asyncio.Queue[Event | None]) -> None:
        # A lane lives as long as the dispatcher: one idle task per room the bot
        # hears from, which is cheaper than a timeout on every event.
        while True:
            event = await lane.get()
            if event is None:
                return
            try:
                await self.process(event)
            finally:
                self._pending -= 1
                if self._pending == 0:
                    self._drained.set()

    async def process(self, event: Event) -> None:
        """Run one event through the handler groups (used by the lanes)."""
        ctx = self._context_for(event)
        if ctx is None:
            return
        self.handled += 1
        for group in self._groups:
            stop = False
            for handler in group:
                try:
                    result = await handler.handle(event, ctx)
                except Exception:
                    self.failures += 1
                    log.exception("handler %s failed on %s", handler.name, type(event).__name__)
                    continue
                if result is None:
                    continue
                if result.actions:
                    await self._submit(result.actions)
                stop = result.stop
                break  # the first handler that answers handles it for its group
            if stop:
                break

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
        for handler in self.handlers:
            try:
                await handler.close()
            except Exception:
                log.exception("handler %s failed to close", handler.name)
