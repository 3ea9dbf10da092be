"""The welcome ritual: one message that @mentions the newcomers.

Joiners arriving within the room's ``window_seconds`` share one message (at
most ``max_mentions`` mentions each): a burst of 30 joins gives 3 messages,
not 30, which is kinder to the group and to the account's send budget.  The
message carries the rules, asks for a self-introduction and a name card in the
group's format.  The reminder for those who stay silent is a calendar job
(``sop.reminders``), since it is driven by time, not by an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from bot.actions import Priority, Say
from bot.events import Event, JoinEvent
from handlers.base import Context, Result
from handlers.texts import chunks, render

log = logging.getLogger(__name__)


@dataclass
class _Batch:
    ctx: Context
    member_ids: list[str] = field(default_factory=list)
    timer: asyncio.Task[None] | None = None


class WelcomeRitual:
    name = "welcome"

    def __init__(self) -> None:
        self._batches: dict[str, _Batch] = {}

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if not isinstance(event, JoinEvent) or ctx.policy is None:
            return None
        if not ctx.policy.welcome.enabled:
            return None
        newcomers = [m for m in event.member_ids if m != ctx.bot_id]
        if not newcomers:
            return None
        batch = self._batches.get(event.room_id)
        if batch is None:
            batch = self._batches[event.room_id] = _Batch(ctx)
            batch.timer = asyncio.create_task(
                self._send_after(event.room_id, ctx.policy.welcome.window_seconds)
            )
        for member in newcomers:
            if member not in batch.member_ids:
                batch.member_ids.append(member)
        return Result()

    async def _send_after(self, room_id: str, window: float) -> None:
        batch = self._batches[room_id]
        try:
            await batch.ctx.clock.sleep(window)
        except asyncio.CancelledError:
            return
        await self._send(room_id)

    async def _send(self, room_id: str) -> None:
        batch = self._batches.pop(room_id, None)
        if batch is None or not batch.member_ids:
            return
        ctx = batch.ctx
        assert ctx.policy is not None
        welcome = ctx.policy.welcome
        text = render(welcome.template, ctx.policy)
        actions = [
            Say(
                room=room_id,
                text=text,
                mention_ids=tuple(group),
                priority=Priority.WELCOME,
                reason=f"welcome {len(group)} newcomer(s)",
            )
            for group in chunks(batch.member_ids, welcome.max_mentions)
        ]
        try:
            await ctx.submit(actions)
            await ctx.repo.mark_welcomed(room_id, batch.member_ids, ctx.clock.now())
        except Exception:
            log.exception("could not send the welcome in %s", room_id)

    async def close(self) -> None:
        """Send what is waiting now rather than lose it."""
        for room_id, batch in list(self._batches.items()):
            if batch.timer is not None:
                batch.timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await batch.timer
            await self._send(room_id)
