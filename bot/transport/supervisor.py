"""Keep the puppet connected: reconnect with backoff, notice a silent stream.

Replaces the SDK's own reconnect (wechaty-notes defect 6: it sleeps 60 s,
retries once and then fails for good with "Scheduler is already running").

* ``connect`` runs one connection: it returns (or raises) when the event
  stream ends.  The supervisor runs it again after a backoff of about 1, 2, 5,
  10, 30, 60 s (capped), reset once a connection has stayed up.
* A watchdog is fed by every puppet event, ``dong`` and the puppet's
  ``heartbeat`` (defect 7: the SDK listens for ``heart-beat``, the service
  emits ``heartbeat``).  After ``watchdog_timeout`` of silence it sends a
  ``ding``; if nothing answers within another ``ding_timeout`` the
  connection is declared dead and torn down, so a frozen or half-open stream
  is noticed instead of waited on forever.
* Every state change is reported to ``on_state`` ("connected",
  "disconnected", "reconnecting", "stalled"), which the app records.

Time comes from the injected clock, so all of this is tested without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.vocab.clock import Clock

log = logging.getLogger(__name__)

BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def backoff_delay(attempt: int, steps: Sequence[float] = BACKOFF) -> float:
    """Delay before reconnect attempt ``attempt`` (0-based), capped at the last step."""
    return steps[min(max(attempt, 0), len(steps) - 1)]


class Supervisor:
    def __init__(
        self,
        connect: Callable[[], Awaitable[None]],
        *,
        clock: Clock,
        ding: Callable[[], Awaitable[None]] | None = None,
        teardown: Callable[[], Awaitable[None]] | None = None,
        on_state: Callable[[str, str], None] | None = None,
        watchdog_timeout: float = 60.0,
        ding_timeout: float = 15.0,
        stable_after: float = 30.0,
        backoff: Sequence[float] = BACKOFF,
    ) -> None:
        self._connect = connect
        self._clock = clock
        self._ding = ding
        self._teardown = teardown
        self._on_state = on_state or (lambda state, detail: None)
        self.watchdog_timeout = watchdog_timeout
        self.ding_timeout = ding_timeout
        self.stable_after = stable_after
        self.backoff = tuple(backoff)
        self.last_seen = clock.monotonic()
        self.attempt = 0
        self.reconnects = 0
        self._fed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def feed(self) -> None:
        """Something arrived from the puppet: the connection is alive."""
        self.last_seen = self._clock.monotonic()
        self._fed.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="supervisor")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            started = self._clock.monotonic()
            self.last_seen = started
            reason = await self._one_connection()
            if self._stopping:
                return
            lasted = self._clock.monotonic() - started
            if lasted >= self.stable_after:
                self.attempt = 0  # it was up for a while: start the backoff afresh
            delay = backoff_delay(self.attempt, self.backoff)
            self.attempt += 1
            self.reconnects += 1
            self._on_state("disconnected", reason)
            log.warning("puppet connection lost (%s); reconnecting in %.0f s", reason, delay)
            await self._clock.sleep(delay)
            self._on_state("reconnecting", f"attempt {self.attempt}")

    async def _one_connection(self) -> str:
        """Run one connection until its stream ends or the watchdog kills it."""
        connection = asyncio.ensure_future(self._connect())
        watchdog = asyncio.ensure_future(self._watch())
        try:
            done, _ = await asyncio.wait(
                {connection, watchdog}, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            for task in (connection, watchdog):
                task.cancel()
            raise
        if connection in done:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            exc = connection.exception()
            return f"stream ended: {exc!r}" if exc else "stream ended"
        # The watchdog found the stream silent: tear the connection down.
        connection.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connection
        if self._teardown is not None:
            with contextlib.suppress(Exception):
                await self._teardown()
        return watchdog.result() if not watchdog.cancelled() else "watchdog"

    async def _watch(self) -> str:
        """Return (a reason) when the stream has been silent too long."""
        while True:
            quiet = self._clock.monotonic() - self.last_seen
            if quiet < self.watchdog_timeout:
                await self._wait_for_feed(self.watchdog_timeout - quiet)
                continue
            # Silent: ask the other side for a sign of life.
            self._on_state("stalled", f"no event for {quiet:.0f} s")
            self._fed.clear()
            if self._ding is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._ding(), self.ding_timeout)
            if self._clock.monotonic() - self.last_seen < self.watchdog_timeout:
                continue  # the ding itself went through and something arrived
            if not await self._wait_for_feed(self.ding_timeout):
                return f"no answer to ding within {self.ding_timeout:.0f} s"

    async def _wait_for_feed(self, seconds: float) -> bool:
        """Wait up to ``seconds`` of clock time; True if fed meanwhile."""
        self._fed.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        fed = asyncio.ensure_future(self._fed.wait())
        try:
            done, _ = await asyncio.wait({sleeper, fed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, fed):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return fed in done
