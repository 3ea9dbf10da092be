"""The ``coupon_drop`` kind (会员日): coupons of a configured type, either to
the first N members who send ``#领券`` while the drop is open, or one to each
eligible member (present, not the bot, spoke within N days; admins only if
configured).

Both reuse the coupons feature (``handlers.engagement.coupons``): a drop is a
coupon drop like an admin's ``#发券`` — claimed with ``#领券``, expiring,
reminded, transferable — opened by the calendar run (once per run key).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model
from bot.vocab.actions import Action, Priority, Say
from handlers.base import Context, Result
from handlers.engagement.coupons.commands import announce
from handlers.engagement.coupons.common import (
    audit,
    enabled,
    fill,
    find_type,
    kind_of,
    section,
    store,
)
from handlers.engagement.policy import scope_of
from handlers.feature import Feature
from sop.kinds import Run

_GIVEN = {"group", "bot_name", "prefix", "name", "value", "count"}


class CouponDropContent(Model):
    """``coupon_drop:`` of a calendar entry."""

    type: str = Field(
        min_length=1, max_length=64, description="A type of engagement.coupons.types."
    )
    to: Literal["first", "eligible"] = Field(
        default="first",
        description="first: the first `count` who send #领券 while open; eligible: one each.",
    )
    count: int = Field(default=50, ge=1, le=1000, description="Coupons in a `first` drop.")
    open_minutes: float = Field(default=120, gt=0, le=10_080, description="How long #领券 works.")
    spoke_within_days: int = Field(
        default=30, ge=0, le=3650, description="`eligible`: spoke in the group within (0: anyone)."
    )
    include_admins: bool = False
    given_text: Annotated[str, Template(placeholders=_GIVEN)] = Field(
        default="🎁 会员日福利：已给 {count} 位活跃的伙伴各发一张「{name}」{value}，"
        "发送「{prefix}我的券」查看。",
        max_length=500,
    )


feature = Feature("coupon_drops")


@feature.kind("coupon_drop", CouponDropContent, description="会员日: coupons for members.")
async def run_coupon_drop(ctx: Context, run: Run) -> Result | None:
    content: CouponDropContent = run.content
    policy = ctx.policy
    if policy is None or not enabled(policy):
        return None
    coupons = section(policy)
    found = find_type(coupons, content.type)
    if found is None:
        why = f"calendar {run.entry.id}: no coupon type {content.type!r} in this group"
        return Result(
            effects=[
                audit(
                    ctx,
                    "coupon_drop",
                    room=run.room_id,
                    target=None,
                    reason=why,
                    key=(run.key,),
                    detail={"type": content.type},
                )
            ]
        )
    type_id, spec = found
    kind, now, room = kind_of(type_id, spec), ctx.clock.now(), run.room_id
    members: list[str] = []
    if content.to == "eligible":
        members = await _eligible(ctx, room, content)
        if not members:
            return None
    drop = await store(ctx).open_drop(
        scope=scope_of(policy),
        room_id=room,
        kind=kind,
        count=len(members) if members else content.count,
        by="calendar",
        at=now,
        closes_at=now + timedelta(minutes=content.open_minutes),
    )
    why = f"calendar {run.entry.id}: drop {drop.id} of {type_id} ({content.to})"
    record = audit(
        ctx,
        "coupon_drop",
        room=room,
        target=None,
        reason=why,
        key=(drop.id,),
        detail={"drop": drop.id, "type": type_id, "to": content.to, "run": run.key},
    )
    actions: list[Action]
    if members:
        given = await store(ctx).hand_out(drop, members, now)
        text = fill(
            content.given_text,
            policy,
            name=spec.name,
            value=f"（{spec.value}）" if spec.value else "",
            count=len(given),
        )
        actions = [Say(room=room, text=text, priority=Priority.BROADCAST, reason=why)]
    else:
        actions = [announce(drop, policy, coupons, reason=why)]
    return Result(actions=actions, effects=[record])


async def _eligible(ctx: Context, room: str, content: CouponDropContent) -> list[str]:
    """Present members, not the bot, who spoke within the window (admins if asked)."""
    assert ctx.policy is not None
    present = await ctx.repo.current_members(room)
    admins = set(ctx.policy.admins)
    since = ctx.clock.now() - timedelta(days=content.spoke_within_days)
    out = []
    for member in sorted(present):
        if member == ctx.bot_id or (member in admins and not content.include_admins):
            continue
        if content.spoke_within_days:
            stats = await ctx.repo.member_stats(room, member)
            if stats is None or stats.last_spoke_at is None or stats.last_spoke_at < since:
                continue
        out.append(member)
    return out
