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
reset its limits.  Dry-run is a switch here, not an ``if`` in the handlers.

A risk-control error opens a pause for that kind of action: it is stored
(``storage.pauses``, per account) and restored at start, before anything is
executed, so a restart does not end it; the owners get an alert (never through
the paused account) and, unless messages are what is paused, a WeChat notice
(:class:`~bot.pause_keeper.PauseKeeper` keeps them; the executor owns one).
An owner closes a pause early with a :class:`~bot.vocab.effects.ClosePause`
decision (a handler returns it; :meth:`Executor.submit` applies it) or with
``qunbot pause clear`` (the database; the loop notices before refusing).

A transport error that is not a refusal but a lost connection (ECONNRESET,
UNAVAILABLE, a timeout) means the call did not get through: the action goes
back to 'pending' in the outbox with a ``not_before`` time and is tried again
after 5 s, 30 s, 2 min (``retry_backoff_s``), through the governor each time.
A risk-control error is never retried; any other error fails the action.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from bot.alerts import Alerter, LogAlerter
from bot.governor import (
    Governor,
    GovernorSettings,
    PacedQueue,
    QueueEntry,
    Refusal,
    RefusalCode,
    short_error,
)
from bot.pause_keeper import KIND_LABELS as KIND_LABELS
from bot.pause_keeper import PauseKeeper
from bot.transport.base import Transport
from bot.vocab.actions import Action, ActionKind, action_name, from_payload, to_payload
from bot.vocab.clock import Clock, first_of
from bot.vocab.effects import ClosePause
from bot.vocab.keys import digest, stamp, time_bucket
from storage.outbox_retry import OutboxRetries
from storage.pauses import PauseStore
from storage.repo import Repository
from storage.types import NewOutboxItem

log = logging.getLogger(__name__)

_DAY = timedelta(hours=24)


def _detail(action: Action) -> dict[str, Any]:
    data = to_payload(action)
    for noise in ("reason", "key", "priority", "not_after"):
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
        ready: asyncio.Event | None = None,
        on_outcome: Callable[[Action, str], Awaitable[None]] | None = None,
        account_id: str = "",
        alerter: Alerter | None = None,
        pauses: PauseStore | None = None,
        retries: OutboxRetries | None = None,
    ) -> None:
        """``account_id``: the bot account (``bot.account``); pauses are stored
        per account.  ``pauses``: where pauses are
        kept (None: in memory only).  ``retries``: where a retry is recorded
        (None: a transient failure is final)."""
        if retries is not None and retries.account_id != repo.account_id:
            raise ValueError("retries must be kept for the repository's own account")
        self.settings = settings or GovernorSettings()
        self.governor = Governor(self.settings, rng or random.Random())
        self.queue = PacedQueue(self.governor)
        self._transport = transport
        self._repo = repo
        self._clock = clock
        self._drain_timeout = drain_timeout
        self._ready = ready
        # Bookkeeping that depends on how an action ended (e.g. "welcomed").
        self._on_outcome = on_outcome
        self._account = account_id
        self._alerter: Alerter = alerter if alerter is not None else LogAlerter()
        self._pauses = pauses
        self._retries = retries
        self._pause_keeper = PauseKeeper(
            self.governor,
            pauses,
            repo,
            self._alerter,
            clock,
            lambda: self.account_id,
            self.settings,
            owners=owners,
            risk_notice=risk_notice,
            bot_name=bot_name,
        )
        # The queued action the pauses were last re-read for before refusing it
        # (a real clock moves on between two turns of the loop: comparing times
        # re-read the database forever and never refused, nor sent, anything).
        self._resynced_for: str | None = None
        self._actions: dict[str, Action] = {}
        self._enqueued_at: dict[str, float] = {}
        self._attempts: dict[str, int] = {}  # tries so far (claims), per key
        # Actions waiting for a retry: (due on the monotonic clock, seq, key).
        self._later: list[tuple[float, int, str]] = []
        self._later_actions: dict[str, Action] = {}
        # Actions waiting for another to finish first (``Action.after``), by that key.
        self._parked: dict[str, list[tuple[str, Action]]] = {}
        self._flying: set[str] = set()  # keys being executed right now
        #: True while the loop sleeps until an action's turn (pacing, a retry):
        #: a test clock may then move; otherwise the executor is working.
        self.waiting_for_time = False
        self._later_seq = 0
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
        """Actions submitted and not yet finished (queued, waiting for a
        retry, or being executed)."""
        parked = sum(len(v) for v in self._parked.values())
        return (
            len(self._actions)
            + len(self._later_actions)
            + parked
            + self._in_flight
            + self._submitting
        )

    @property
    def account_id(self) -> str:
        return self._account

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
        if self.account_id:
            await self._pause_keeper.sync()
        retry_at = await self._retries.not_before() if self._retries is not None else {}
        for item in await self._repo.outbox_pending(now):
            try:
                action = from_payload(item.action, item.payload)
            except (KeyError, TypeError, ValueError) as exc:
                await self._repo.outbox_finish(item.key, "failed", now, error=f"unreadable: {exc}")
                continue
            self._attempts[item.key] = item.attempts
            not_before = retry_at.get(item.key)
            if not_before is not None and not_before > now:
                self._retry_at(item.key, action, mono + (not_before - now).total_seconds())
            else:
                self._enqueue(item.key, action, mono)
        if self._actions or self._later_actions:
            n = len(self._actions) + len(self._later_actions)
            log.info("resuming %d queued action(s) from the outbox", n)
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
            if not action.key:  # not from the doer: keyed by what it says, per minute
                cause = f"{digest(repr(to_payload(action)))}:{time_bucket(now, 60)}"
                action = stamp(action, origin="direct", cause=cause, index=0, at=now)
            keyed.setdefault(action.key, action)
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
            action = keyed[key]
            if action.after and self._unfinished(action.after):
                self._parked.setdefault(action.after, []).append((key, action))
            else:
                self._enqueue(key, action, mono)
        if added:
            self._idle.clear()
            self._wake.set()

    def _unfinished(self, key: str) -> bool:
        return (
            key in self._actions
            or key in self._later_actions
            or key in self._flying
            or any(key == k for waiting in self._parked.values() for k, _ in waiting)
        )

    def _release(self, key: str) -> None:
        """The actions that waited for ``key`` may go now (whatever its outcome)."""
        waiting = self._parked.pop(key, [])
        mono = self._clock.monotonic()
        for child, action in waiting:
            self._enqueue(child, action, mono)
        if waiting:
            self._wake.set()

    def _enqueue(self, key: str, action: Action, mono: float) -> None:
        self._actions[key] = action
        # A retried action keeps the urgency it was first queued with.
        enqueued_at = self._enqueued_at.setdefault(key, mono)
        not_after = None
        if action.not_after is not None:  # the queue drops it then, without a turn
            not_after = mono + (action.not_after - self._clock.now()).total_seconds()
        self.queue.push(
            QueueEntry(
                id=key,
                kind=action.kind,
                room_id=action.room_id,
                priority=action.priority,
                enqueued_at=enqueued_at,
                not_after=not_after,
            )
        )

    def _retry_at(self, key: str, action: Action, due: float) -> None:
        self._later_seq += 1
        heapq.heappush(self._later, (due, self._later_seq, key))
        self._later_actions[key] = action

    def _release_due(self, now: float) -> float | None:
        """Queue the retries that are due; the monotonic time of the next one."""
        while self._later and self._later[0][0] <= now:
            _, _, key = heapq.heappop(self._later)
            action = self._later_actions.pop(key, None)
            if action is not None:
                self._enqueue(key, action, now)
        return self._later[0][0] if self._later else None

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
        left = len(self._actions) + len(self._later_actions)
        if left:
            log.info("%d action(s) stay queued in the outbox for the next start", left)
        self._actions.clear()
        self._later.clear()
        self._later_actions.clear()
        self._parked.clear()  # still pending in the outbox: the next start sends them
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
            waiting = self._actions or self._later_actions
            if self._ready is not None and not self._ready.is_set() and waiting:
                # Disconnected: hold everything, lose nothing (a stop still gets through).
                self._wake.clear()
                await first_of(self._ready.wait(), self._wake.wait())
                continue
            if self._pauses is not None and self._pause_keeper.synced_account != self.account_id:
                await self._pause_keeper.sync()  # before executing anything for this account
            now = self._clock.monotonic()
            next_retry = self._release_due(now)
            decision = self.queue.peek(now)
            if decision is None:
                if next_retry is not None:
                    await self._wait(next_retry - now)
                    continue
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            _, at = decision
            if not isinstance(at, Refusal) and at > now:
                # Or until something new arrives, a retry falls due, or stop.
                await self._wait(min(at, next_retry if next_retry is not None else at) - now)
                continue
            if (
                isinstance(at, Refusal)
                and at.code is RefusalCode.BREAKER
                and self._pauses is not None
                and self._resynced_for != decision[0].id
            ):
                # An owner may have closed it from the command line: ask the
                # database, once per action about to be refused.
                self._resynced_for = decision[0].id
                await self._pause_keeper.sync()
                continue
            taken = self.queue.next(now)
            if taken is None:
                continue
            entry, at = taken
            action = self._actions.pop(entry.id, None)
            if action is None:
                continue
            self._in_flight += 1
            self._flying.add(entry.id)
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
                self._flying.discard(entry.id)

    async def _wait(self, seconds: float) -> None:
        self._wake.clear()
        self.waiting_for_time = True
        try:
            await first_of(self._clock.sleep(seconds), self._wake.wait())
        finally:
            self.waiting_for_time = False

    async def _execute(self, key: str, action: Action) -> None:
        now = self._clock.now()
        if action.not_after is not None and now > action.not_after:
            await self._finish(key, action, "expired", error="no longer valid")
            return
        if not await self._repo.outbox_claim(key, now):
            return  # already handled (e.g. by a previous run)
        attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
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
            error = f"{type(exc).__name__}: {_message(exc)}"
            if await self._retry_later(key, action, error, attempts):
                return
            tripped = self.governor.trip(action.kind, mono, error)  # counts it as failed
            log.warning("%s failed: %s", action_name(action), short_error(error))
            await self._finish(key, action, "failed", error=error)
            if tripped:
                await self._pause_opened(action, error)
            return
        self._attempts.pop(key, None)
        self._enqueued_at.pop(key, None)
        self.governor.record(action.kind, action.room_id, mono)
        self.governor.note(action.kind, "sent")
        await self._finish(key, action, "done", result=result)

    async def _retry_later(self, key: str, action: Action, error: str, attempts: int) -> bool:
        """Put a transiently failed action back for another try; False: it failed."""
        if self._retries is None or not self.governor.is_transient_error(error):
            return False
        delay = self.governor.retry_delay(attempts)
        if delay is None:
            return False
        now = self._clock.now()
        not_before = now + timedelta(seconds=delay)
        if action.not_after is not None and not_before > action.not_after:
            return False  # it would be too late by then
        try:
            if not await self._retries.retry_later(key, now, not_before, error):
                return False
        except Exception:
            log.exception("could not record the retry of %s", key)
            return False
        self.governor.note(action.kind, "failed")
        log.warning(
            "%s failed (%s): try %d of %d in %g s",
            action_name(action),
            short_error(error),
            attempts + 1,
            len(self.settings.retry_backoff_s) + 1,
            delay,
        )
        self._retry_at(key, action, self._clock.monotonic() + delay)
        return True

    async def _refused(self, key: str, action: Action, refusal: Refusal) -> None:
        status = "expired" if str(refusal.code) == "expired" else "refused"
        log.warning("%s not executed: %s", action_name(action), refusal.reason)
        await self._finish(key, action, status, error=refusal.reason)

    # ---------------------------------------------------------------- pauses

    async def _pause_opened(self, action: Action, error: str) -> None:
        owners_notice = await self._pause_keeper.opened(action, error)
        if owners_notice:
            await self.submit(owners_notice)

    async def apply_close_pause(self, decision: ClosePause) -> list[ActionKind]:
        """Close a pause early (an owner asked): the governor, the pauses table,
        one audit row per pause closed.  Returns the kinds that were paused."""
        closed = await self._pause_keeper.close(decision)
        if closed:
            self._wake.set()
        return closed

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
        self._flying.discard(key)
        try:
            await self._repo.outbox_finish(key, status, at, result=result, error=error)
        except Exception:
            log.exception("could not record the outcome of %s", key)
        self._release(key)
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
        if self._on_outcome is not None:
            try:
                await self._on_outcome(action, status)
            except Exception:
                log.exception("could not record the outcome of %s for its sender", key)

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


def _message(exc: BaseException) -> str:
    """What the exception says: a gRPC error's own message (its ``str()`` is a
    tuple repr that turns the gateway's stack trace into one long line)."""
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) and message else str(exc)
