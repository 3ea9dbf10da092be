"""Welcome batches: send the due ones, record how they ended (the doing side).

The welcome feature (``handlers.welcome``) decides who is a newcomer;
``bot.doer`` puts them in the room's pending batch (``storage.welcome``).
:class:`WelcomeScheduler`, owned by the app on the injected clock, sends the
batches that are due, drops what is past ``valid_minutes`` (audited), records
"welcomed" from the send's outcome (not when it was queued) and, after a
restart, finishes what a crash interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bot.vocab.actions import Action, Priority, Say
from bot.vocab.clock import Clock, first_of
from bot.vocab.texts import render
from storage.welcome import PendingWelcomeRow, WelcomeStore

if TYPE_CHECKING:
    from bot.policies import PolicyBook
    from bot.vocab.policy import GroupPolicy
    from storage.repo import Repository

log = logging.getLogger(__name__)

KEY_PREFIX = "welcome:"
_RETRY_SECONDS = 5.0  # after a failed round, before the next one
Submit = Callable[[Sequence[Action]], Awaitable[None]]


class WelcomeScheduler:
    """Sends the due welcome batches; records their outcome.  One per app.

    Not a timer per batch: one loop sleeps (on the injected clock) until the
    earliest due time in the database, or until :meth:`wake` says a batch was
    added.  Nothing is kept in memory that a crash could lose.
    """

    def __init__(
        self,
        store: WelcomeStore,
        repo: Repository,
        policies: PolicyBook,
        clock: Clock,
        submit: Submit,
        account: str,
    ) -> None:
        self._store = store
        self._repo = repo
        self._policies = policies
        self._clock = clock
        self._submit = submit
        self._account = account
        self._wake = asyncio.Event()
        self._parked = asyncio.Event()
        self._parked.set()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._task is None:
            self._parked.clear()
            self._task = asyncio.create_task(self._run(), name="welcomes")

    def wake(self) -> None:
        if self._task is not None:
            self._parked.clear()
            self._wake.set()

    async def join(self) -> None:
        """Wait until the loop has acted on everything it was woken for."""
        await self._parked.wait()

    async def close(self, *, send_now: bool = True) -> None:
        """Stop the loop; with ``send_now``, send every pending batch now rather
        than leave it for the next start (the window is cut short)."""
        await self.abort()
        if send_now:
            try:
                await self.run_due(everything=True)
            except Exception:
                log.exception("could not send the pending welcomes at shutdown")

    async def abort(self) -> None:
        """Stop the loop, sending nothing (what is pending stays in the database)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._parked.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            delay: float | None = _RETRY_SECONDS
            try:
                # Every round, not once per process: a submit that failed
                # after its rows were marked 'submitted' is finished here.
                await self.recover(self._account)
                await self.run_due()
                due = await self._store.next_due(self._account)
                delay = None if due is None else (due - self._clock.now()).total_seconds()
                if delay is not None and delay <= 0:
                    delay = _RETRY_SECONDS  # due but not sent: something failed
            except Exception:
                log.exception("welcome round failed; retrying in %g s", _RETRY_SECONDS)
            if not self._wake.is_set():
                self._parked.set()
            if delay is None:
                await self._wake.wait()
            else:
                await first_of(self._clock.sleep(delay), self._wake.wait())
            self._parked.clear()

    # --------------------------------------------------------------- sending

    async def run_due(self, *, everything: bool = False) -> int:
        """Submit the welcomes of every due batch; returns how many members."""
        account = self._account
        now = self._clock.now()
        by_room: dict[str, list[PendingWelcomeRow]] = defaultdict(list)
        for row in await self._store.due(account, now, everything=everything):
            by_room[row.room_id].append(row)
        sent = 0
        for room_id, rows in by_room.items():
            policy = self._policies.get(room_id)
            if policy is None or not policy.welcome.enabled:
                await self._store.settle(
                    account, [r.id for r in rows], "dropped", now, "welcome off in this group"
                )
                continue
            left = [r for r in rows if not r.current]
            expired = [r for r in rows if r.current and r.expires_at < now]
            sendable = [r for r in rows if r.current and r.expires_at >= now]
            await self._expire(account, room_id, expired, policy)
            if left:
                await self._store.settle(
                    account, [r.id for r in left], "dropped", now, "left before the welcome"
                )
            sent += await self._send(account, room_id, sendable, policy)
        return sent

    async def _send(
        self, account: str, room_id: str, rows: Sequence[PendingWelcomeRow], policy: GroupPolicy
    ) -> int:
        if not rows:
            return 0
        welcome = policy.welcome
        text = render(welcome.template, policy)
        actions: list[Action] = []
        size = max(1, welcome.max_mentions)
        sent = 0
        for group in (rows[i : i + size] for i in range(0, len(rows), size)):
            key = f"{KEY_PREFIX}{group[0].id}"  # the same batch gets the same key after a crash
            # Recorded before it goes to the outbox, so its outcome always finds it.
            # Only the rows still pending now are mentioned: a member who left
            # since the batch was read has been dropped from it meanwhile.
            marked = await self._store.mark_submitted(
                account, [r.id for r in group], key, self._clock.now()
            )
            kept = [r for r in group if r.id in marked]
            if kept:
                actions.append(_say(room_id, text, kept, key))
                sent += len(kept)
        await self._submit(actions)
        return sent

    async def _expire(
        self, account: str, room_id: str, rows: Sequence[PendingWelcomeRow], policy: GroupPolicy
    ) -> None:
        if not rows:
            return
        now = self._clock.now()
        minutes = policy.welcome.valid_minutes
        reason = f"not sent within {minutes:g} min of the join (the bot was away)"
        await self._store.settle(account, [r.id for r in rows], "expired", now, reason)
        for r in rows:
            log.warning("welcome of %s in %s dropped: %s", r.contact_id, room_id, reason)
            await self._repo.write_audit(
                at=now,
                action="welcome",
                kind="message",
                status="expired",
                room_id=room_id,
                target_id=r.contact_id,
                reason=reason,
                detail={"stay": r.stay, "joined_at": r.joined_at.isoformat()},
            )

    # --------------------------------------------------------------- outcome

    async def on_outcome(self, action: Action, status: str) -> None:
        """The executor's outcome hook: record "welcomed" when the Say is done."""
        if not (isinstance(action, Say) and is_welcome(action)):
            return
        account = self._account
        welcomed = await self._store.record_outcome(
            account,
            action.key,
            status,
            self._clock.now(),
            room_id=action.room,
            contact_ids=action.mention_ids,
        )
        if welcomed:
            log.info("welcomed %d newcomer(s) in %s", len(welcomed), action.room)

    async def recover(self, account: str) -> None:
        """Finish the welcomes left between queue and outcome (by a crash, or by a
        submit that failed after its rows were marked): run at every round.

        A Say that never reached the outbox is submitted again (same key, so
        never twice); one the outbox finished while the outcome was not yet
        recorded gets its outcome now; one still in the outbox is left alone.
        Pending batches are simply due.  Cheap when nothing is in flight: one
        query for the submitted rows, and one outbox lookup per Say in flight.
        """
        for key, rows in (await self._store.submitted(account)).items():
            item = await self._repo.outbox_get(key) if key else None
            room_id = rows[0].room_id
            if item is None:
                policy = self._policies.get(room_id)
                if policy is None or not key:
                    # Its group is no longer managed: nothing to send it with.
                    ids = [r.contact_id for r in rows]
                    now = self._clock.now()
                    await self._store.record_outcome(
                        account, key, "skipped", now, room_id=room_id, contact_ids=ids
                    )
                    continue
                text = render(policy.welcome.template, policy)
                await self._submit([_say(room_id, text, rows, key)])
            elif item.status not in ("pending", "sending"):
                action = Say(room=room_id, text="", key=key, priority=Priority.WELCOME)
                await self.on_outcome(action, item.status)


def is_welcome(action: Say) -> bool:
    return action.priority == Priority.WELCOME and action.key.startswith(KEY_PREFIX)


def _say(room_id: str, text: str, rows: Sequence[PendingWelcomeRow], key: str) -> Say:
    return Say(
        room=room_id,
        text=text,
        mention_ids=tuple(r.contact_id for r in rows),
        priority=Priority.WELCOME,
        reason=f"welcome {len(rows)} newcomer(s)",
        key=key,
        not_after=min(r.expires_at for r in rows),
    )
