"""The welcome ritual: one message that @mentions the newcomers.

Joiners arriving within the room's ``window_seconds`` share one message (at
most ``max_mentions`` mentions each): a burst of 30 joins gives 3 messages,
not 30, which is kinder to the group and to the account's send budget.  The
message carries the rules, asks for a self-introduction and a name card in the
group's format.  The reminder for those who stay silent is a calendar job
(``sop.reminders``), since it is driven by time, not by an event.

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
from datetime import timedelta

from bot.config.sections import WelcomePolicy
from bot.vocab.effects import DropWelcome, Effect, QueueWelcome
from bot.vocab.events import Event, JoinEvent, LeaveEvent
from handlers.base import Context, Result
from handlers.feature import Feature, Stage

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
