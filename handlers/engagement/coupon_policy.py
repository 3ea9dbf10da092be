"""``engagement.coupons``: coupon types, transfers, redemption, expiry."""

from __future__ import annotations

from pydantic import Field

from bot.config.fields import ContactId
from bot.config.sections import Model


class CouponType(Model):
    name: str = Field(default="优惠券", min_length=1, max_length=40)
    value: str = Field(default="", max_length=40, description="What it is worth, as shown.")
    valid_days: float = Field(default=30, gt=0, le=3650)
    transferable: bool = True
    per_member_limit: int = Field(default=1, ge=1, le=1000)


class CouponPolicy(Model):
    enabled: bool = True
    types: dict[str, CouponType] = Field(default_factory=dict, description="By type id.")
    transfer_accept_minutes: float = Field(default=60, gt=0, le=10_080)
    expiry_reminder_hours: float = Field(default=24, ge=0, le=720)
    merchants: tuple[ContactId, ...] = Field(
        default=(), description="Members who may redeem (#核销) besides admins."
    )
