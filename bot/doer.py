"""Decide, then do: the one place where handlers' and jobs' decisions take effect.

A handler, a command or a calendar job returns a
:class:`~handlers.base.Result`: effects (records to write) and actions (things
to do in WeChat).  :meth:`Doer.do` applies the effects in order — the audit
row of a refusal, adopting a group, the welcome batch, the connection log, an
owner closing a pause, and whatever a feature registers for its own effect
types — and then hands the actions to the executor (outbox, governor,
transport, audit).  Switches live here, not in handlers:

* **shadow mode**: a feature with a ``shadow`` predicate that holds for an
  action in its group has that action audited as ``shadow`` and not done
  (its effects, which are records, still apply);
* **dry-run** is the governor's, one step further down.

An effect's applier may answer with a follow-up Result (a case opened gets
its number, then the warning that quotes it): it is done like the first,
with the same origin, so the same switches hold.  An effect that fails
raises to the caller (the dispatcher's error hook counts
and alerts it), and the actions of that result are not queued: nothing is
done on a decision whose record could not be written.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot.policies import PolicyBook
from bot.vocab.actions import Action, action_name, to_payload
from bot.vocab.clock import Clock
from bot.vocab.effects import (
    AdoptGroup,
    Audit,
    ClosePause,
    DropWelcome,
    Effect,
    LogConnection,
    QueueWelcome,
)
from bot.vocab.events import Event, room_of
from bot.vocab.keys import event_key, stamp
from bot.vocab.policy import GroupPolicy
from handlers.base import Result
from storage.repo import Repository
from storage.welcome import WelcomeStore

log = logging.getLogger(__name__)

Apply = Callable[[Any], Awaitable[object]]
Submit = Callable[[Sequence[Action]], Awaitable[None]]
ShadowCheck = Callable[[GroupPolicy, Action], "bool | Awaitable[bool]"]


class Doer:
    def __init__(
        self,
        repo: Repository,
        policies: PolicyBook,
        clock: Clock,
        submit: Submit,
        *,
        welcomes: WelcomeStore,
        wake_welcomes: Callable[[], None],
        close_pause: Callable[[ClosePause], Awaitable[object]],
        shadow: Mapping[str, ShadowCheck] | None = None,
    ) -> None:
        self._repo = repo
        self._policies = policies
        self._clock = clock
        self._submit = submit
        self._welcomes = welcomes
        self._wake_welcomes = wake_welcomes
        self._close_pause = close_pause
        self._shadow = dict(shadow or {})
        self._appliers: dict[type[Effect], Apply] = {
            Audit: self._audit,
            AdoptGroup: self._adopt,
            QueueWelcome: self._queue_welcome,
            DropWelcome: self._drop_welcome,
            LogConnection: self._log_connection,
            ClosePause: close_pause,
        }
        self.shadowed = 0

    def register(self, kind: type[Effect], apply: Apply) -> None:
        """How a feature's own effect type is applied."""
        known = self._appliers.get(kind)
        if known is not None and known is not apply:
            raise ValueError(f"{kind.__name__} already has an applier")
        self._appliers[kind] = apply

    def set_shadow(self, feature: str, shadow: ShadowCheck) -> None:
        self._shadow[feature] = shadow

    async def do(self, result: Result, origin: str = "", cause: Event | str = "") -> None:
        """Apply ``result``'s effects, then queue its actions.

        ``origin``: the feature that decided (its shadow switch, its keys);
        ``cause``: the event or the calendar run key that led to it.  Every
        action without a key or a window gets them here (:func:`stamp`)."""
        if isinstance(cause, str):
            why, at = cause, self._clock.now()
        else:
            why, at = event_key(cause), getattr(cause, "at", None) or self._clock.now()
        follow: list[Result] = []
        for effect in result.effects:
            apply = self._appliers.get(type(effect))
            if apply is None:
                raise TypeError(f"no applier for the effect {type(effect).__name__}")
            answer = await apply(effect)
            if isinstance(answer, Result):
                follow.append(answer)
        for n, more in enumerate(follow):
            # Keyed apart from the first result's actions: the same cause, a later step.
            then = [
                stamp(a, origin=origin, cause=f"{why}>{n}", index=i, at=at)
                for i, a in enumerate(more.actions)
            ]
            await self.do(Result(then, more.stop, more.effects), origin, cause)
        if not result.actions:
            return
        actions = [
            stamp(a, origin=origin, cause=why, index=i, at=at) for i, a in enumerate(result.actions)
        ]
        shadow = self._shadow.get(origin)
        if shadow is not None:
            room = None if isinstance(cause, str) else room_of(cause)
            actions = await self._shadow_out(actions, origin, shadow, room)
        if actions:
            await self._submit(actions)

    async def _shadow_out(
        self, actions: list[Action], origin: str, shadow: ShadowCheck, room: str | None
    ) -> list[Action]:
        """``room``: the group of the cause, for actions without one (a private
        notice about something that happened there)."""
        kept: list[Action] = []
        for action in actions:
            where = action.room_id or room
            policy = self._policies.get(where) if where else None
            verdict = shadow(policy, action) if policy is not None else False
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if not verdict:
                kept.append(action)
                continue
            self.shadowed += 1
            log.info("shadow mode in %s: %s not done (%s)", action.room_id, origin, action.reason)
            await self._repo.write_audit(
                at=self._clock.now(),
                action=action_name(action),
                kind=str(action.kind),
                status="shadow",
                room_id=where,
                target_id=getattr(action, "member_id", None) or getattr(action, "to_contact", None),
                key=action.key or None,
                reason=action.reason,
                detail={"feature": origin, "rule": action.rule, **to_payload(action)},
            )
        return kept

    # ------------------------------------------------------ core effects

    async def _audit(self, e: Audit) -> None:
        await self._repo.write_audit(
            at=e.at,
            action=e.action,
            kind=e.kind,
            status=e.status,
            room_id=e.room,
            target_id=e.target_id,
            key=e.key or None,
            reason=e.reason,
            detail=dict(e.detail),
        )

    async def _adopt(self, e: AdoptGroup) -> None:
        self._policies.adopt(e.room, e.profile, e.topic)
        await self._repo.upsert_group(e.room, e.topic, e.profile, e.at)

    async def _queue_welcome(self, e: QueueWelcome) -> None:
        if await self._welcomes.queue(
            self._repo.account_id,
            e.room,
            e.member_id,
            stay=e.stay,
            joined_at=e.joined_at,
            now=self._clock.now(),
            window=timedelta(seconds=e.window_seconds),
            expires_at=e.expires_at,
        ):
            self._wake_welcomes()

    async def _drop_welcome(self, e: DropWelcome) -> None:
        reason = "left before the welcome"
        if await self._welcomes.drop_member(
            self._repo.account_id, e.room, e.member_id, e.at, reason
        ):
            log.info("%s left %s before the welcome: dropped from it", e.member_id, e.room)

    async def _log_connection(self, e: LogConnection) -> None:
        await self._repo.log_connection(e.state, e.wechat_id, e.at, e.detail)
