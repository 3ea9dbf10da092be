"""The sandbox's clock: the system clock plus an offset the console moves.

``time +24h`` in the console calls :meth:`OffsetClock.advance`: ``now()`` and
``monotonic()`` jump forward and every sleeper re-checks its deadline at once,
so a reminder due tomorrow (or a calendar run) happens now instead of tomorrow.
Time never goes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STEP = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


class OffsetClock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._moved = asyncio.Event()

    @property
    def offset(self) -> float:
        """Seconds this clock is ahead of the system clock."""
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + max(0.0, seconds)
        while (left := deadline - self.monotonic()) > 0:
            moved = self._moved
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(moved.wait(), left)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move forward ``seconds``; sleepers whose deadline has passed wake."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += seconds
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()


def parse_duration(text: str) -> float:
    """``+24h``, ``30m``, ``90s``, ``1d``, ``1h30m`` → seconds; ValueError otherwise."""
    spec = text.strip().lstrip("+").lower()
    pos, total = 0, 0.0
    for m in _STEP.finditer(spec):
        if m.start() != pos:
            break
        total += float(m[1]) * _UNITS[m[2]]
        pos = m.end()
    if not spec or pos != len(spec) or total <= 0:
        raise ValueError(f"not a duration: {text!r} (e.g. +24h, +30m, +90s)")
    return total
