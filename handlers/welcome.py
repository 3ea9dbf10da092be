"""The welcome ritual: one message that @mentions the newcomers.

Joiners arriving within the room's ``window_seconds`` share one message (at
most ``max_mentions`` mentions each): a burst of 30 joins gives 3 messages,
not 30, which is kinder to the group and to the account's send budget.  The
message carries the rules, asks for a self-introduction and a name card in the
group's format.  The reminder for those who stay silent is a calendar job
(:func:`remind_newcomers`, this feature's job), since it is driven by time,
not by an event.

Decide, then do, with the state in the database (``storage.welcome``):

- this feature's handlers decide who is a newcomer and return a
  :class:`~bot.vocab.effects.QueueWelcome` effect (``bot.doer`` adds them to
  the room's pending batch).  A newcomer is a member whose current stay
  began with this very join event: a replayed event finds the stay queued
  already; a member present before (since login, by a member-list snapshot)
  is not one.  A leaver is taken out of the batch (``DropWelcome``).
- ``bot.welcome_batches.WelcomeScheduler`` (owned by the app, on the injected clock) sends
  the batches that are due, drops what is past ``valid_minutes`` (audited)
  and, after a restart, finishes what a crash interrupted.
- ``WelcomeScheduler.on_outcome`` (the executor's outcome hook) records
  "welcomed" from the send's outcome, not when it was queued.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config.sections import WelcomePolicy
from bot.vocab.actions import Action, Priority, Say
from bot.vocab.effects import DropWelcome, Effect, QueueWelcome
from bot.vocab.events import Event, JoinEvent, LeaveEvent
from bot.vocab.texts import chunks, render
from handlers.base import Context, Result
from handlers.feature import Feature, Stage
from handlers.services import Services
from sop.calendar import every

log = logging.getLogger(__name__)

feature = Feature("welcome", stage=Stage.WELCOME, section=WelcomePolicy)


def found_by_reconciliation(event: JoinEvent) -> bool:
    return event.found_by_reconciliation or event.source == "reconcile"


@feature.on(JoinEvent)
async def newcomers(event: Event, ctx: Context) -> Result | None:
    assert isinstance(event, JoinEvent) and ctx.policy is not None
    welcome = ctx.policy.get(WelcomePolicy)
    if not ctx.bot_id:
        return None
    now = ctx.clock.now()
    valid_from = event.at
    if found_by_reconciliation(event):
        hours = welcome.welcome_found_within_hours
        if hours <= 0 or now - event.at > timedelta(hours=hours):
            log.info(
                "%d member(s) found by the member list of %s: not welcomed (policy)",
                len(event.member_ids),
                event.room_id,
            )
            return Result()
        valid_from = now  # found just now; the policy bounded how late that is
    window = timedelta(seconds=welcome.window_seconds)
    expires_at = valid_from + window + timedelta(minutes=welcome.valid_minutes)
    queued: list[Effect] = []
    for member in dict.fromkeys(event.member_ids):
        if not member or member == ctx.bot_id:
            continue
        membership = await ctx.repo.get_membership(event.room_id, member)
        if membership is None or membership.left_at is not None:
            continue  # not recorded (the activity handler failed) or gone again
        if membership.joined_at != event.at:
            # The current stay began before this event: the member was
            # already there (a snapshot at login, an earlier join).
            log.debug("join of %s in %s: already present, no welcome", member, event.room_id)
            continue
        if expires_at < now:
            log.info("join of %s in %s is too old to welcome", member, event.room_id)
            continue
        queued.append(
            QueueWelcome(
                room=event.room_id,
                member_id=member,
                stay=membership.join_count,
                joined_at=event.at,
                window_seconds=welcome.window_seconds,
                expires_at=expires_at,
            )
        )
    return Result(effects=queued)


@feature.on(LeaveEvent)
async def leavers(event: Event, ctx: Context) -> Result | None:
    assert isinstance(event, LeaveEvent)
    drops: list[Effect] = []
    for member in event.member_ids:
        membership = await ctx.repo.get_membership(event.room_id, member)
        if (
            membership is not None
            and membership.left_at is None
            and membership.joined_at > event.at
        ):
            # A leave older than the member's current stay (a replay, or a
            # member list read before they joined): it ends nothing.
            continue
        drops.append(DropWelcome(room=event.room_id, member_id=member, at=ctx.clock.now()))
    return Result(effects=drops) if drops else None


# ------------------------------------------------------------- the reminder


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkReminded(Effect):
    """A newcomer got their one reminder."""

    room: str
    member_id: str
    at: datetime


@feature.effect(MarkReminded)
async def _mark_reminded(effect: MarkReminded, services: Services) -> None:
    await services.repo.mark_reminded(effect.room, effect.member_id, effect.at)


def _reminder_trigger(tz: Any, config: Any) -> Any:
    return every(config.bot.reminder_check_minutes, tz)


@feature.job("remind-newcomers", _reminder_trigger)
async def remind_newcomers(ctx: Context, at: datetime) -> Result:
    """Remind, once, the newcomers who have not spoken since their welcome: one
    message per room (at most ``max_mentions`` each).  Storage says who is due
    (memberships and the per-member rollup, no scan of the activity log)."""
    now = ctx.clock.now()
    rooms_by_hours: dict[float, set[str]] = defaultdict(set)
    for room_id in ctx.policies.managed_rooms():
        policy = ctx.policies.get(room_id)
        if policy and policy.welcome.enabled and policy.welcome.reminder_after_hours > 0:
            rooms_by_hours[policy.welcome.reminder_after_hours].add(room_id)
    actions: list[Action] = []
    effects: list[Effect] = []
    for hours, rooms in rooms_by_hours.items():
        due: dict[str, list[str]] = defaultdict(list)
        for room_id, contact_id in await ctx.repo.due_for_reminder(now, timedelta(hours=hours)):
            if room_id in rooms:
                due[room_id].append(contact_id)
        for room_id, members in due.items():
            policy = ctx.policies.get(room_id)
            assert policy is not None
            text = render(policy.welcome.reminder_template, policy)
            for group in chunks(members, policy.welcome.max_mentions):
                actions.append(
                    Say(
                        room=room_id,
                        text=text,
                        mention_ids=tuple(group),
                        priority=Priority.WELCOME,
                        reason=f"remind {len(group)} silent newcomer(s) to introduce themselves",
                    )
                )
            effects += [MarkReminded(room=room_id, member_id=m, at=now) for m in members]
    return Result(actions, effects=effects)
