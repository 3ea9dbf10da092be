"""The coupons' sweep: a job every minute on the injected clock.

In order: drops opened outside the bot (the CLI) are announced in their
group; transfers not accepted by their time go back to the giver (both are
told, @-mentioned, where it was offered); coupons past their date expire (and
the unclaimed coupons of closed drops); holders of coupons expiring within
their group's ``expiry_reminder_hours`` are reminded once, folded into one
message per group of at most ``max_mentions`` mentions.

Each message's key names what it is about, so a re-run after a crash sends
nothing twice; "announced" and "reminded" are effects the doer applies.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.vocab.actions import Action, Priority, Say
from bot.vocab.effects import Effect
from bot.vocab.keys import action_key, digest
from bot.vocab.texts import chunks
from handlers.base import Context, Result
from handlers.engagement.coupons.commands import announce
from handlers.engagement.coupons.common import (
    coupon_values,
    enabled,
    feature,
    fill,
    label,
    section,
    store,
)
from handlers.services import Services
from sop.calendar import every
from storage.coupons import CouponStore

log = logging.getLogger(__name__)

SWEEP_MINUTES = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkDropAnnounced(Effect):
    drop_id: int
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkCouponsReminded(Effect):
    room: str
    coupon_ids: tuple[int, ...]
    at: datetime


def _store(services: Services) -> CouponStore:
    return CouponStore(services.sessions, account_id=services.account_id)


@feature.effect(MarkDropAnnounced)
async def _mark_announced(effect: MarkDropAnnounced, services: Services) -> None:
    await _store(services).mark_announced(effect.drop_id, effect.at)


@feature.effect(MarkCouponsReminded)
async def _mark_reminded(effect: MarkCouponsReminded, services: Services) -> None:
    await _store(services).mark_reminded(effect.coupon_ids, effect.at)


def _trigger(tz: Any, config: Any) -> Any:
    return every(SWEEP_MINUTES, tz)


@feature.job("sweep", _trigger)
async def sweep(ctx: Context, at: datetime) -> Result:
    now = ctx.clock.now()
    coupons = store(ctx)
    actions: list[Action] = []
    effects: list[Effect] = []

    for opened in await coupons.unannounced(now):
        policy = ctx.policies.get(opened.room_id)
        if policy is None or not enabled(policy):
            continue
        why = f"drop {opened.id} opened by {opened.opened_by}: announced"
        actions.append(announce(opened, policy, section(policy), reason=why))
        effects.append(MarkDropAnnounced(drop_id=opened.id, at=now, reason=why))

    for h in await coupons.return_lapsed(now):
        room = h.room_id or h.coupon.room_id
        policy = ctx.policies.get(room)
        if policy is None:
            continue  # returned all the same; nowhere to tell
        t = section(policy)
        text = fill(
            t.returned_text,
            policy,
            giver=await label(ctx, h.giver),
            recipient=await label(ctx, h.recipient),
            minutes=f"{t.transfer_accept_minutes:g}",
            **coupon_values(h.coupon, policy),
        )
        actions.append(
            Say(
                room=room,
                text=text,
                mention_ids=(h.giver, h.recipient),
                priority=Priority.REPLY,
                reason=f"coupon {h.coupon.code}: not accepted by {h.recipient}, back to {h.giver}",
                key=action_key("coupon-returned", h.coupon.id, h.coupon.updated_at),
                not_after=now + timedelta(hours=1),
            )
        )

    expired = await coupons.expire(now)
    if expired:
        log.info("%d coupon(s) expired", len(expired))

    reminders, marks = await _reminders(ctx, coupons, now)
    return Result([*actions, *reminders], effects=[*effects, *marks])


async def _reminders(
    ctx: Context, coupons: CouponStore, now: datetime
) -> tuple[list[Action], list[Effect]]:
    hours: dict[str, float] = {}
    for room in ctx.policies.managed_rooms():
        policy = ctx.policies.get(room)
        if policy is not None and enabled(policy) and section(policy).expiry_reminder_hours > 0:
            hours[room] = section(policy).expiry_reminder_hours
    if not hours:
        return [], []
    due = await coupons.due_for_reminder(now, now + timedelta(hours=max(hours.values())))
    by_room: dict[str, list[int]] = defaultdict(list)
    holders: dict[str, list[str]] = defaultdict(list)
    for coupon in due:
        window = hours.get(coupon.room_id)
        if window is None or coupon.expires_at - timedelta(hours=window) > now:
            continue
        by_room[coupon.room_id].append(coupon.id)
        if coupon.owner_id not in holders[coupon.room_id]:
            holders[coupon.room_id].append(coupon.owner_id)
    actions: list[Action] = []
    effects: list[Effect] = []
    for room, ids in by_room.items():
        policy = ctx.policies.get(room)
        assert policy is not None
        t = section(policy)
        text = fill(t.reminder_text, policy, hours=f"{t.expiry_reminder_hours:g}")
        for index, group in enumerate(chunks(holders[room], t.max_mentions)):
            actions.append(
                Say(
                    room=room,
                    text=text,
                    mention_ids=tuple(group),
                    priority=Priority.BROADCAST,
                    reason=f"remind {len(group)} holder(s) of coupons about to expire",
                    key=action_key("coupon-remind", room, digest(repr(sorted(ids))), index),
                    not_after=now + timedelta(hours=1),
                )
            )
        effects.append(
            MarkCouponsReminded(room=room, coupon_ids=tuple(ids), at=now, reason="reminded")
        )
    return actions, effects
