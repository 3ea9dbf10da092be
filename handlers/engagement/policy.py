"""``engagement``: the section every profile and group may set (issue 9)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from bot.config.sections import Model, register_section
from bot.vocab.policy import GroupPolicy
from handlers.engagement.checkin_policy import CheckinPolicy, PointsPolicy
from handlers.engagement.coupon_policy import CouponPolicy


class EngagementPolicy(Model):
    section: ClassVar[str] = "engagement"

    enabled: bool = True
    checkin: CheckinPolicy = Field(default_factory=CheckinPolicy)
    points: PointsPolicy = Field(default_factory=PointsPolicy)
    coupons: CouponPolicy = Field(default_factory=CouponPolicy)


register_section(EngagementPolicy)


def scope_of(policy: GroupPolicy) -> str:
    """Where the group's points and coupons live: ``room:<id>``, or ``tag:<tag>``
    when the group shares them with the other groups of that tag."""
    scope = policy.get(EngagementPolicy).points.scope
    if scope.startswith("tag:") and scope[4:] in policy.tags:
        return scope
    return f"room:{policy.room_id}"
