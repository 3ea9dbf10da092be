"""The coupons feature object and what its commands and its sweep share."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.vocab.effects import Audit
from bot.vocab.keys import action_key
from bot.vocab.policy import GroupPolicy
from handlers.base import Context
from handlers.engagement.coupon_policy import CouponPolicy, CouponType
from handlers.engagement.policy import EngagementPolicy
from handlers.feature import Feature, Stage
from storage.coupons import CouponInfo, CouponKind, CouponStore
from storage.models import Coupon, CouponDrop, CouponEvent

feature = Feature(
    "coupons",
    stage=Stage.COMMANDS,
    section=EngagementPolicy,
    tables=(Coupon.__table__, CouponDrop.__table__, CouponEvent.__table__),  # type: ignore[arg-type]
)


def section(policy: GroupPolicy) -> CouponPolicy:
    return policy.get(EngagementPolicy).coupons


def enabled(policy: GroupPolicy | None) -> bool:
    return policy is not None and policy.get(EngagementPolicy).enabled and section(policy).enabled


def store(ctx: Context) -> CouponStore:
    return CouponStore(ctx.sessions, account_id=ctx.repo.account_id)


def fill(template: str, policy: GroupPolicy, **values: object) -> str:
    """``template`` with the group's placeholders (``group``, ``bot_name``, ``prefix``)."""
    return template.format(
        group=policy.name, bot_name=policy.bot_name, prefix=policy.command_prefix, **values
    ).strip()


def when(at: datetime, policy: GroupPolicy) -> str:
    """A time as the group reads it (its time zone)."""
    return at.astimezone(ZoneInfo(policy.timezone)).strftime("%Y-%m-%d %H:%M")


def worth(value: str) -> str:
    """``{value}`` in a text: what a coupon is worth, in brackets, or nothing."""
    return f"（{value}）" if value else ""


def coupon_values(coupon: CouponInfo, policy: GroupPolicy) -> dict[str, Any]:
    """The placeholders every coupon text has: name, value, code, expires."""
    return {
        "name": coupon.name,
        "value": worth(coupon.value),
        "code": coupon.code,
        "expires": when(coupon.expires_at, policy),
    }


def kind_of(type_id: str, spec: CouponType) -> CouponKind:
    return CouponKind(
        type_id=type_id,
        name=spec.name,
        value=spec.value,
        valid_days=spec.valid_days,
        transferable=spec.transferable,
        per_member_limit=spec.per_member_limit,
    )


def find_type(coupons: CouponPolicy, word: str) -> tuple[str, CouponType] | None:
    """A type by its id or its name (as people say it)."""
    folded = word.strip().lower()
    for type_id, spec in coupons.types.items():
        if folded in (type_id.lower(), spec.name.lower()):
            return type_id, spec
    return None


def type_list(coupons: CouponPolicy) -> str:
    return "、".join(f"{t}（{s.name}）" for t, s in coupons.types.items()) or "无"


async def label(ctx: Context, member_id: str) -> str:
    """A member as a text names them: their name, else their account id."""
    if member_id in ("cli", "bot"):
        return "运营"
    name = await ctx.repo.contact_name(member_id)
    return name or member_id


def audit(
    ctx: Context,
    action: str,
    *,
    room: str | None,
    target: str | None,
    reason: str,
    key: tuple[object, ...],
    detail: dict[str, Any],
) -> Audit:
    return Audit(
        at=ctx.clock.now(),
        action=action,
        kind="coupons",
        status="recorded",
        room=room,
        target_id=target,
        key=action_key(action, *key),
        reason=reason,
        detail=detail,
    )
