"""Record every message, join and leave; never stops the chain.

Messages are buffered and written in batches (one transaction per batch), so
the hot path costs a list append; the batch is flushed when it reaches
``flush_max_rows`` or ``flush_interval_seconds`` after its first row, and on
shutdown.  Joins and leaves change memberships, which the welcome ritual and
the reminder rely on, so they are written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.clock import Clock
from bot.events import Event, JoinEvent, LeaveEvent, MessageEvent
from handlers.base import Context, Result
from storage.repo import ActivityRow, Repository

log = logging.getLogger(__name__)


class ActivityRecorder:
    name = "activity"

    def __init__(
        self, repo: Repository, clock: Clock, *, flush_interval: float = 0.2, max_rows: int = 500
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._interval = flush_interval
        self._max_rows = max_rows
        self._rows: list[ActivityRow] = []
        self._names: dict[str, str] = {}
        self._known_names: dict[str, str] = {}  # already stored: not written again
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.flushed = 0

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if isinstance(event, MessageEvent):
            if event.room_id is None:
                return None
            self._rows.append(
                ActivityRow(
                    room_id=event.room_id,
                    contact_id=event.sender_id,
                    kind="message",
                    at=event.at,
                    message_kind=event.kind.value,
                    message_id=event.message_id,
                    text=event.text,
                )
            )
            if event.sender_name and self._known_names.get(event.sender_id) != event.sender_name:
                self._names[event.sender_id] = event.sender_name
            if len(self._rows) >= self._max_rows:
                await self.flush()
            elif self._timer is None:
                self._timer = asyncio.create_task(self._flush_later())
        elif isinstance(event, JoinEvent):
            await self.flush()  # keep the log in order around membership changes
            names = dict(zip(event.member_ids, event.member_names, strict=False))
            await self._repo.upsert_contacts(((i, n) for i, n in names.items() if n), event.at)
            for member in event.member_ids:
                await self._repo.record_join(event.room_id, member, event.at, event.inviter_id)
            await self._repo.record_activity(
                [
                    ActivityRow(room_id=event.room_id, contact_id=m, kind="join", at=event.at)
                    for m in event.member_ids
                ]
            )
        elif isinstance(event, LeaveEvent):
            await self.flush()
            for member in event.member_ids:
                await self._repo.record_leave(event.room_id, member, event.at, event.remover_id)
            await self._repo.record_activity(
                [
                    ActivityRow(room_id=event.room_id, contact_id=m, kind="leave", at=event.at)
                    for m in event.member_ids
                ]
            )
        return None  # observe only: later handlers still see the event

    async def _flush_later(self) -> None:
        try:
            await self._clock.sleep(self._interval)
            self._timer = None
            await self.flush()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("activity flush failed; rows are kept for the next try")

    async def flush(self) -> None:
        async with self._lock:
            if not self._rows:
                return
            rows, names = self._rows, self._names
            self._rows, self._names = [], {}
            try:
                if names:
                    await self._repo.upsert_contacts(names.items(), rows[-1].at)
                await self._repo.record_activity(rows)
            except Exception:
                self._rows[:0] = rows  # nothing is lost: retry with the next flush
                self._names = {**names, **self._names}
                raise
            self._known_names.update(names)
            self.flushed += len(rows)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.flush()
