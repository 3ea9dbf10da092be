"""Execute actions: the only door to the transport, always through the governor.

Handlers and calendar jobs ``submit`` actions (data).  Each is written to the
outbox (with its idempotency key) before anything else happens; one loop then
takes them in the order the :class:`~bot.governor.PacedQueue` chooses, waits
until the :class:`~bot.governor.Governor` allows each one and the transport is
logged in, claims it in the outbox, executes it, and records the result there
and in the audit log: done, failed, refused (budget or open breaker), expired
(past its ``not_after``), dry_run (executed nothing).

After a crash, :meth:`Executor.start` resumes the outbox: pending actions are
executed once; an action that was being sent when the bot died may or may not
have reached WeChat, so it is marked in doubt and never repeated.  The
governor's last 24 hours are replayed from the outbox so a restart does not
reset its limits.  A risk-control error opens the breaker for that kind of
action and the owners are told.  Dry-run is a switch here, not an ``if`` in
the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import uuid
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

from bot.actions import Action, ActionKind, Priority, Say, action_name, from_payload, to_payload
from bot.clock import Clock
from bot.governor import Governor, GovernorSettings, PacedQueue, QueueEntry, Refusal
from bot.transport.base import Transport
from handlers.texts import notice
from storage.repo import Repository
from storage.types import NewOutboxItem

log = logging.getLogger(__name__)

_DAY = timedelta(hours=24)


def _detail(action: Action) -> dict[str, Any]:
    data = to_payload(action)
    for noise in ("reason", "key", "priority", "not_after"):
        data.pop(noise, None)
    return data


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of ``waits`` finishes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


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
        ready: asyncio.Event | None = None,
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
        self._ready = ready
        self._actions: dict[str, Action] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._submitting = 0
        self._stopping = False

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    @property
    def pending(self) -> int:
        """Actions submitted and not yet finished (queued or being executed)."""
        return len(self._actions) + self._in_flight + self._submitting

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Resume the outbox, then start executing."""
        if self._task is not None:
            return
        now = self._clock.now()
        for item in await self._repo.outbox_mark_in_doubt(now):
            log.warning(
                "%s %s was being sent when the bot stopped: not repeated", item.action, item.key
            )
            await self._audit_item(
                item.key,
                item.action,
                item.kind,
                item.room_id,
                item.payload,
                "in_doubt",
                "the bot stopped while sending it; not repeated",
            )
        for item in await self._repo.outbox_expire(now):
            await self._audit_item(
                item.key,
                item.action,
                item.kind,
                item.room_id,
                item.payload,
                "expired",
                "no longer valid when the bot came back",
            )
        mono = self._clock.monotonic()
        for kind, room_id, at in await self._repo.outbox_executed_since(now - _DAY):
            self.governor.record(ActionKind(kind), room_id, mono - (now - at).total_seconds())
        for item in await self._repo.outbox_pending(now):
            try:
                action = from_payload(item.action, item.payload)
            except (KeyError, TypeError, ValueError) as exc:
                await self._repo.outbox_finish(item.key, "failed", now, error=f"unreadable: {exc}")
                continue
            self._enqueue(item.key, action, mono)
        if self._actions:
            log.info("resuming %d queued action(s) from the outbox", len(self._actions))
            self._idle.clear()
        self._task = asyncio.create_task(self._run(), name="executor")

    async def submit(self, actions: Sequence[Action]) -> None:
        """Persist the actions, then queue them.  A key already known is ignored."""
        if not actions:
            return
        self._submitting += 1
        try:
            await self._submit(actions)
        finally:
            self._submitting -= 1

    async def _submit(self, actions: Sequence[Action]) -> None:
        now = self._clock.now()
        keyed: dict[str, Action] = {}
        for action in actions:
            key = action.key or f"{action_name(action)}:{uuid.uuid4().hex}"
            keyed.setdefault(key, dataclasses.replace(action, key=key))
        added = await self._repo.outbox_add(
            [
                NewOutboxItem(
                    key=key,
                    action=action_name(action),
                    payload=to_payload(action),
                    kind=str(action.kind),
                    room_id=action.room_id,
                    priority=int(action.priority),
                    created_at=now,
                    not_after=action.not_after,
                )
                for key, action in keyed.items()
            ]
        )
        mono = self._clock.monotonic()
        for key in added:
            self._enqueue(key, keyed[key], mono)
        if added:
            self._idle.clear()
            self._wake.set()

    def _enqueue(self, key: str, action: Action, mono: float) -> None:
        self._actions[key] = action
        self.queue.push(
            QueueEntry(
                id=key,
                kind=action.kind,
                room_id=action.room_id,
                priority=action.priority,
                enqueued_at=mono,
            )
        )

    async def join(self) -> None:
        """Wait until everything submitted has been executed (or refused)."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Give queued actions ``drain_timeout`` to go out; the rest stay in the outbox.

        An action being executed is allowed to finish (cancelling it mid-send
        would leave it in doubt); the loop then stops at its next decision.
        """
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.join(), self._drain_timeout)
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 60)
        except TimeoutError:  # a send that never returns (a frozen gateway): give up
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        if self._actions:
            log.info(
                "%d action(s) stay queued in the outbox for the next start", len(self._actions)
            )
        self._actions.clear()
        self._idle.set()

    def halt(self) -> None:
        """Stop at once, sending nothing more (this process lost the account).

        The action in flight finishes; queued ones stay in the outbox; a later
        ``stop()`` does not wait for the queue to drain.
        """
        self._drain_timeout = 0.0
        self._stopping = True
        self._wake.set()

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        while not self._stopping:
            if self._ready is not None and not self._ready.is_set() and self._actions:
                # Disconnected: hold everything, lose nothing (a stop still gets through).
                self._wake.clear()
                await _first(self._ready.wait(), self._wake.wait())
                continue
            now = self._clock.monotonic()
            decision = self.queue.peek(now)
            if decision is None:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            _, at = decision
            if not isinstance(at, Refusal) and at > now:
                await self._wait(at - now)  # or until something new arrives (or stop)
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
        await _first(self._clock.sleep(seconds), self._wake.wait())

    async def _execute(self, key: str, action: Action) -> None:
        now = self._clock.now()
        if action.not_after is not None and now > action.not_after:
            await self._finish(key, action, "expired", error="no longer valid")
            return
        if not await self._repo.outbox_claim(key, now):
            return  # already handled (e.g. by a previous run)
        mono = self._clock.monotonic()
        if self.dry_run:
            self.governor.record(action.kind, action.room_id, mono)
            self.governor.note(action.kind, "sent")
            await self._finish(key, action, "dry_run")
            return
        try:
            result = await self._transport.execute(action)
        except Exception as exc:
            # It reached WeChat, so it counts against the limits all the same.
            self.governor.record(action.kind, action.room_id, mono)
            self.governor.note(action.kind, "failed")
            tripped = self.governor.trip(action.kind, mono, str(exc))
            log.warning("%s failed: %s", action_name(action), exc)
            await self._finish(key, action, "failed", error=f"{type(exc).__name__}: {exc}")
            if tripped:
                await self._breaker_opened(action, str(exc))
            return
        self.governor.record(action.kind, action.room_id, mono)
        self.governor.note(action.kind, "sent")
        await self._finish(key, action, "done", result=result)

    async def _refused(self, key: str, action: Action, refusal: Refusal) -> None:
        status = "expired" if str(refusal.code) == "expired" else "refused"
        log.warning("%s not executed: %s", action_name(action), refusal.reason)
        await self._finish(key, action, status, error=refusal.reason)

    async def _breaker_opened(self, action: Action, error: str) -> None:
        hours = self.settings.breaker_pause_s / 3600
        log.error("risk control: pausing %s actions for %.0f h (%s)", action.kind, hours, error)
        text = notice(
            self._risk_notice,
            action=action_name(action),
            error=error,
            hours=f"{hours:g}",
            bot_name=self._bot_name,
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

    async def _finish(
        self,
        key: str,
        action: Action,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> None:
        at = self._clock.now()
        try:
            await self._repo.outbox_finish(key, status, at, result=result, error=error)
        except Exception:
            log.exception("could not record the outcome of %s", key)
        detail = _detail(action)
        if result:
            detail["result"] = result
        await self._audit_item(
            key,
            action_name(action),
            str(action.kind),
            action.room_id,
            detail,
            status,
            error,
            reason=action.reason,
        )

    async def _audit_item(
        self,
        key: str,
        action: str,
        kind: str,
        room_id: str | None,
        detail: dict[str, Any],
        status: str,
        error: str | None,
        *,
        reason: str | None = None,
    ) -> None:
        target = detail.get("member_id") or detail.get("to_contact") or detail.get("invitation_id")
        try:
            await self._repo.write_audit(
                at=self._clock.now(),
                action=action,
                kind=kind,
                room_id=room_id,
                target_id=target,
                key=key,
                status=status,
                reason=reason if reason is not None else str(detail.get("reason", "")),
                detail=detail,
                error=error,
            )
        except Exception:
            log.exception("could not write the audit row for %s", key)
