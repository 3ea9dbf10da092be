"""Requests past their time: closed, and their requester told once.

A job every few minutes finds the account's ``#邀请`` requests nobody answered
within ``request_hours`` and approvals nobody joined on within
``approval_hours``.  It decides, per request, what to tell the requester (in
the group, @-mentioned) and what to audit, and returns that as one
:class:`CloseLapsed` effect: its applier closes each request with a conditional
update (``lapsed`` / ``expired``) and answers with the telling and the audit
row of only the ones it closed, so of two processes, or a run repeated after a
restart, one tells.  The telling's key names the request, so if the process
died between closing and queueing, the next run sends it (from
``closed_at``, within :data:`TELL_VALID`) and never twice.

A request whose group is no longer managed, or has invites off, is closed and
audited without a word.  Telling is never shadowed (as for the other replies
of ``#邀请``): it does nothing to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.vocab.actions import Action, Priority, Say
from bot.vocab.effects import Audit, Effect
from bot.vocab.keys import action_key
from bot.vocab.texts import render
from handlers.base import Context, Result
from handlers.moderation.invites.effects import invite_store
from handlers.moderation.invites.feature import feature, invite_policy
from handlers.services import Services
from sop.calendar import every
from storage.invites import LAPSES_TO, InviteRequestState, InviteStore

#: How often the job looks (a requester hears within this of the lapse).
SWEEP_MINUTES = 5
#: How long after the lapse telling the requester is still worth it.
TELL_VALID = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Closing:
    """One request to close (if it is still ``was``), what to say and record if so."""

    request_id: int
    was: str  # pending or approved
    tell: Say | None
    audit: Audit


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseLapsed(Effect):
    closings: tuple[Closing, ...]
    at: datetime


@feature.effect(CloseLapsed)
async def _close_lapsed(effect: CloseLapsed, services: Services) -> Result | None:
    store = invite_store(services)
    actions: list[Action] = []
    effects: list[Effect] = []
    for closing in effect.closings:
        if not await store.close(closing.request_id, closing.was, effect.at):
            continue  # answered or used meanwhile, or closed by another run
        effects.append(closing.audit)
        if closing.tell is not None:
            actions.append(closing.tell)
    return Result(actions, effects=effects) if effects else None


def tell_key(req: InviteRequestState, status: str) -> str:
    """The telling's key: one per request and outcome, whichever run sends it."""
    return action_key("invite-lapse", req.id, status)


def _trigger(tz: Any, config: Any) -> Any:
    return every(SWEEP_MINUTES, tz)


@feature.job("lapse", _trigger)
async def sweep(ctx: Context, at: datetime) -> Result | None:
    now = ctx.clock.now()
    store = InviteStore(ctx.sessions, account_id=ctx.repo.account_id)
    closings = []
    for req in await store.due(now):
        status = LAPSES_TO[req.status]
        tell = await _tell(ctx, req, status, now)
        closings.append(Closing(req.id, req.status, tell, _audit(req, status, now, tell)))
    # Closed by a run that died before its telling was queued: queue it now.
    again: list[Action] = []
    for req in await store.closed_since(now - TELL_VALID):
        if await ctx.repo.outbox_get(tell_key(req, req.status)) is not None:
            continue
        assert req.closed_at is not None
        tell = await _tell(ctx, req, req.status, req.closed_at)
        if tell is not None:
            again.append(tell)
    if not closings and not again:
        return None
    effects: list[Effect] = []
    if closings:
        effects.append(
            CloseLapsed(
                closings=tuple(closings),
                at=now,
                reason=f"{len(closings)} invite request(s) past their time",
            )
        )
    return Result(again, effects=effects)


async def _tell(
    ctx: Context, req: InviteRequestState, status: str, closed_at: datetime
) -> Say | None:
    """What the requester is told in the group, if the group still has invites on."""
    policy = ctx.policies.get(req.room_id)
    invites = invite_policy(policy) if policy is not None else None
    if policy is None or invites is None:
        return None
    lapsed = status == "lapsed"
    hours = invites.request_hours if lapsed else invites.approval_hours
    requester = await ctx.repo.contact_name(req.requester_id) or req.requester_id
    text = render(
        invites.lapsed_text if lapsed else invites.expired_text,
        policy,
        prefix=policy.command_prefix,
        n=str(req.id),
        requester=requester,
        invitee=req.invitee_name,
        hours=f"{hours:g}",
    )
    return Say(
        room=req.room_id,
        text=text,
        mention_ids=(req.requester_id,),
        priority=Priority.REPLY,
        reason=f"tell the requester that invite request {req.id} {status}",
        key=tell_key(req, status),
        not_after=closed_at + TELL_VALID,
    )


def _audit(req: InviteRequestState, status: str, now: datetime, tell: Say | None) -> Audit:
    deadline = req.deadline
    return Audit(
        at=now,
        action="invite_request",
        kind="moderation",
        status="recorded",
        room=req.room_id,
        target_id=req.requester_id,
        key=action_key("invite-lapse-record", req.id, status),
        reason=status,
        detail={
            "request": req.id,
            "invitee": req.invitee_name,
            "was": req.status,
            "deadline": deadline.isoformat() if deadline is not None else None,
            "told": tell is not None,
        },
    )
