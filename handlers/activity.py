"""Record every message, join and leave; never stops the chain.

Messages are buffered and written in batches (one transaction per batch), so
the hot path costs a list append; the batch is flushed when it reaches
``flush_max_rows`` or ``flush_interval_seconds`` after its first row, and on
shutdown.  Joins and leaves change memberships, which the welcome ritual and
the reminder rely on, so they are written at once.

Flushes are coalesced: one runs at a time (a lock), and rows that arrive while
it writes join the next batch.  A batch and the senders' new names are one
transaction.  A full buffer starts a flush in the background
and the room's lane goes on; only past ``BACKLOG_BATCHES`` full batches does a
lane wait for the writer (back-pressure).  Whoever waits for the lock checks
again once it has it: rows an earlier flush already took are not its business
(without that re-check, lanes queued on the lock each wrote the few rows that
came in meanwhile: 500 rooms made 500 small transactions instead of 40).

One bad row never stops the log: ids are made storable first (a lone
surrogate from the puppet's JSON becomes U+FFFD), the repository writes a
refused batch row by row and skips only the rows it still refuses, and a
join or leave is recorded even when the flush before it failed.  Rows are
kept for the next flush only while the database cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.vocab.clock import Clock
from bot.vocab.events import Event, JoinEvent, LeaveEvent, MessageEvent
from handlers.base import Context, Result
from storage.repo import ActivityNotStored, ActivityRow, Repository
from storage.types import clean_text

log = logging.getLogger(__name__)

#: Names already stored are remembered so they are not written again; past
#: this many the memory is dropped (it only saves writes).
KNOWN_NAMES_MAX = 100_000
#: While the database cannot be reached rows wait in memory; past this many
#: the oldest are dropped, with an ERROR line saying how many.
BUFFER_MAX = 200_000
#: A room's lane waits for the writer only when this many full batches are
#: buffered; below that a full buffer just starts a flush in the background.
BACKLOG_BATCHES = 4


def _id(value: str) -> str:
    # Runs twice per message: the common case (ASCII, no NUL) needs no copy.
    if value.isascii() and "\x00" not in value:
        return value
    return clean_text(value)


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
        self._writer: asyncio.Task[None] | None = None  # a flush started by a full buffer
        self._lock = asyncio.Lock()
        # Rows are numbered as they are buffered; ``_done`` is the number up to
        # which every row has been written, so a flush can tell whether the
        # rows it was called for were taken by an earlier one.
        self._seq = 0
        self._done = 0
        self.flushed = 0
        self.batches = 0  # transactions written (for the benchmark)

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if isinstance(event, MessageEvent):
            if event.room_id is None:
                return None
            sender = _id(event.sender_id)
            self._rows.append(
                ActivityRow(
                    room_id=_id(event.room_id),
                    contact_id=sender,
                    kind="message",
                    at=event.at,
                    message_kind=event.kind.value,
                    message_id=event.message_id,
                    text=_logged_text(event),
                )
            )
            self._seq += 1
            if event.sender_name and self._known_names.get(sender) != event.sender_name:
                self._names[sender] = event.sender_name
            buffered = len(self._rows)
            if buffered >= self._max_rows:
                if buffered >= self._max_rows * BACKLOG_BATCHES:
                    await self.flush()  # the writer is behind: hold this lane
                elif self._writer is None:
                    self._writer = asyncio.create_task(self._flush_full())
            elif self._timer is None:
                self._timer = asyncio.create_task(self._flush_later())
        elif isinstance(event, JoinEvent):
            await self._flush_before(event)  # keep the log in order around membership changes
            room = _id(event.room_id)
            members = [_id(m) for m in event.member_ids]
            inviter = None if event.inviter_id is None else _id(event.inviter_id)
            names = dict(zip(members, event.member_names, strict=False))
            await self._upsert_names({i: n for i, n in names.items() if n}, event)
            for member in members:
                try:
                    await self._repo.record_join(room, member, event.at, inviter)
                except Exception:
                    log.exception("join of %r in %r not recorded", member, room)
            await self._record(
                [ActivityRow(room_id=room, contact_id=m, kind="join", at=event.at) for m in members]
            )
        elif isinstance(event, LeaveEvent):
            await self._flush_before(event)
            room = _id(event.room_id)
            members = [_id(m) for m in event.member_ids]
            remover = None if event.remover_id is None else _id(event.remover_id)
            for member in members:
                try:
                    await self._repo.record_leave(room, member, event.at, remover)
                except Exception:
                    log.exception("leave of %r from %r not recorded", member, room)
            await self._record(
                [
                    ActivityRow(room_id=room, contact_id=m, kind="leave", at=event.at)
                    for m in members
                ]
            )
        return None  # observe only: later handlers still see the event

    async def _flush_before(self, event: Event) -> None:
        """Flush what is buffered; a failure here must not lose ``event``."""
        try:
            await self.flush()
        except Exception:
            log.exception("activity flush before %s failed; rows kept", type(event).__name__)

    async def _record(self, rows: list[ActivityRow]) -> None:
        """Write join/leave rows now, or keep them for the next flush."""
        try:
            await self._repo.record_activity(rows)
        except ActivityNotStored as exc:
            log.warning("%s; kept for the next flush", exc)
            self._rows.extend(exc.rows)
            self._seq += len(exc.rows)

    async def _upsert_names(self, names: dict[str, str], event: Event) -> None:
        if not names:
            return
        try:
            await self._repo.upsert_contacts(names.items(), event.at)
        except Exception:
            log.exception("contact names not stored (they are sent again next time)")

    async def _flush_later(self) -> None:
        try:
            await self._clock.sleep(self._interval)
            self._timer = None
            await self.flush()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("activity flush failed; rows are kept for the next try")

    async def _flush_full(self) -> None:
        """Flush in the background while the buffer holds a full batch."""
        try:
            while len(self._rows) >= self._max_rows:
                await self.flush()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("activity flush failed; rows are kept for the next try")
        finally:
            self._writer = None

    async def flush(self) -> None:
        """Write what is buffered now.  Rows the database refuses are skipped (and
        logged) by the repository; rows it could not reach stay buffered and
        :class:`ActivityNotStored` is raised.  While another flush writes, this
        one waits; it then writes only if rows it was called for are left."""
        target = self._seq
        async with self._lock:
            if not self._rows or self._done >= target:
                return  # an earlier flush took them (rows since then wait for the next)
            rows, names, taken = self._rows, self._names, self._seq
            self._rows, self._names = [], {}
            try:
                # The senders' new names go in the batch's own transaction.
                written = await self._repo.record_activity(rows, names)
            except ActivityNotStored as exc:
                self._rows[:0] = exc.rows  # nothing is lost: retry with the next flush
                self._names = {**names, **self._names}
                excess = len(self._rows) - BUFFER_MAX
                if excess > 0:
                    del self._rows[:excess]
                    log.error("database unreachable: %d oldest activity rows dropped", excess)
                self.flushed += len(rows) - len(exc.rows)
                raise
            except Exception:
                self._rows[:0] = rows  # a bug, not a row: keep everything, say so
                self._names = {**names, **self._names}
                raise
            if len(self._known_names) + len(names) > KNOWN_NAMES_MAX:
                self._known_names.clear()
            self._known_names.update(names)
            self.flushed += written
            self.batches += 1
            self._done = taken

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        await self.flush()


def _logged_text(event: MessageEvent) -> str:
    """The text, with what makes a link, card or mini program worth logging:
    the link's URL, the card's account id, the mini program's app id."""
    a = event.attachment
    if a is None:
        return event.text
    extra = [x for x in (a.url, f"appid={a.app_id}" if a.app_id else "", a.contact_id) if x]
    return " ".join([event.text or a.title, *extra]).strip()
