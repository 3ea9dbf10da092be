"""Execute actions: the only door to the transport, always through the governor.

Handlers and calendar jobs ``submit`` actions (data).  One loop takes them in
the order the :class:`~bot.governor.PacedQueue` chooses, waits until the
:class:`~bot.governor.Governor` allows each one, executes it on the transport
and writes an audit row: done, failed, refused (budget or open breaker),
expired, dry_run (executed nothing) or skipped (shut down before its turn).
A risk-control error opens the breaker for that kind of action and the owners
are told.  Dry-run is a switch here, not an ``if`` in the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from bot.actions import Action, Priority, Say
from bot.clock import Clock
from bot.governor import Governor, GovernorSettings, PacedQueue, QueueEntry, Refusal
from bot.transport.base import Transport
from storage.repo import Repository

log = logging.getLogger(__name__)


def action_name(action: Action) -> str:
    """``SetAnnouncement`` -> ``set_announcement`` (the audit log's action column)."""
    name = type(action).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _detail(action: Action) -> dict[str, Any]:
    data = asdict(action)
    for noise in ("reason", "key", "kind", "priority"):
        data.pop(noise, None)
    return data


class Executor:
    def __init__(
        self,
        transport: Transport,
        repo: Repository,
        clock: Clock,
        settings: GovernorSettings | None = None,
        *,
        owners: Sequence[str] = (),
        risk_notice: str = "risk control: {action} paused for {hours} h ({error})",
        bot_name: str = "",
        rng: random.Random | None = None,
        drain_timeout: float = 30.0,
    ) -> None:
        self.settings = settings or GovernorSettings()
        self.governor = Governor(self.settings, rng or random.Random())
        self.queue = PacedQueue(self.governor)
        self._transport = transport
        self._repo = repo
        self._clock = clock
        self._owners = tuple(owners)
        self._risk_notice = risk_notice
        self._bot_name = bot_name
        self._drain_timeout = drain_timeout
        self._actions: dict[str, Action] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    @property
    def pending(self) -> int:
        """Actions submitted and not yet finished (queued or being executed)."""
        return len(self._actions) + self._in_flight

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="executor")

    async def submit(self, actions: Sequence[Action]) -> None:
        now = self._clock.monotonic()
        for action in actions:
            key = action.key or f"{action_name(action)}:{uuid.uuid4().hex}"
            if key in self._actions:
                continue  # the same action twice is one action
            self._actions[key] = action
            self.queue.push(
                QueueEntry(
                    id=key,
                    kind=action.kind,
                    room_id=action.room_id,
                    priority=action.priority,
                    enqueued_at=now,
                )
            )
        if actions:
            self._idle.clear()
            self._wake.set()

    async def join(self) -> None:
        """Wait until everything submitted has been executed (or refused)."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Give queued actions ``drain_timeout`` to go out, then audit the rest as skipped."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.join(), self._drain_timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        for key, action in list(self._actions.items()):
            self.queue.cancel(key)
            await self._audit(key, action, "skipped", error="the bot stopped before its turn")
        self._actions.clear()
        self._idle.set()

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        while True:
            now = self._clock.monotonic()
            decision = self.queue.peek(now)
            if decision is None:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            entry, at = decision
            if not isinstance(at, Refusal) and at > now:
                await self._wait(at - now)  # or until something new arrives
                continue
            taken = self.queue.next(now)
            if taken is None:
                continue
            entry, at = taken
            action = self._actions.pop(entry.id, None)
            if action is None:
                continue
            self._in_flight += 1
            try:
                if isinstance(at, Refusal):
                    await self._refused(entry.id, action, at)
                else:
                    await self._execute(entry.id, action)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("executor failed around %s", entry.id)
            finally:
                self._in_flight -= 1

    async def _wait(self, seconds: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _execute(self, key: str, action: Action) -> None:
        now = self._clock.monotonic()
        if self.dry_run:
            self.governor.record(action.kind, action.room_id, now)
            self.governor.note(action.kind, "sent")
            await self._audit(key, action, "dry_run")
            return
        try:
            result = await self._transport.execute(action)
        except Exception as exc:
            # It reached WeChat, so it counts against the limits all the same.
            self.governor.record(action.kind, action.room_id, now)
            self.governor.note(action.kind, "failed")
            tripped = self.governor.trip(action.kind, now, str(exc))
            log.warning("%s failed: %s", action_name(action), exc)
            await self._audit(key, action, "failed", error=f"{type(exc).__name__}: {exc}")
            if tripped:
                await self._breaker_opened(action, str(exc))
            return
        self.governor.record(action.kind, action.room_id, now)
        self.governor.note(action.kind, "sent")
        await self._audit(key, action, "done", result=result)

    async def _refused(self, key: str, action: Action, refusal: Refusal) -> None:
        status = "expired" if str(refusal.code) == "expired" else "refused"
        log.warning("%s not executed: %s", action_name(action), refusal.reason)
        await self._audit(key, action, status, error=refusal.reason)

    async def _breaker_opened(self, action: Action, error: str) -> None:
        hours = self.settings.breaker_pause_s / 3600
        log.error("risk control: pausing %s actions for %.0f h (%s)", action.kind, hours, error)
        text = self._risk_notice.format(
            action=action_name(action),
            error=error,
            hours=f"{hours:g}",
            bot_name=self._bot_name,
            minutes="",
        )
        await self.submit(
            [
                Say(
                    room=None,
                    to_contact=owner,
                    text=text,
                    priority=Priority.MODERATION,
                    reason=f"tell the owners that {action.kind} actions are paused",
                )
                for owner in self._owners
            ]
        )

    async def _audit(
        self,
        key: str,
        action: Action,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> None:
        detail = _detail(action)
        if result:
            detail["result"] = result
        target = (
            getattr(action, "member_id", None)
            or getattr(action, "to_contact", None)
            or getattr(action, "invitation_id", None)
        )
        try:
            await self._repo.write_audit(
                at=self._clock.now(),
                action=action_name(action),
                kind=str(action.kind),
                room_id=action.room_id,
                target_id=target,
                key=key,
                status=status,
                reason=action.reason,
                detail=detail,
                error=error,
            )
        except Exception:
            log.exception("could not write the audit row for %s", key)
