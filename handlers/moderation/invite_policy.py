"""``moderation.invites``: who may bring people in, and how fast a group may grow."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.sections import Model

JoinPolicy = Literal["allow", "review", "remove"]


class InvitePolicy(Model):
    enabled: bool = True
    approval_hours: float = Field(
        default=24, gt=0, le=720, description="An admin's #同意 holds this long."
    )
    qr_joins: JoinPolicy = Field(
        default="review", description="Joins by QR code (no inviter): allow, review or remove."
    )
    unknown_inviter: JoinPolicy = Field(
        default="review", description="Joins whose inviter the gateway did not say."
    )
    reconciled_joins: JoinPolicy = Field(
        default="review", description="Members found only by a member-list read (no join event)."
    )
    size_cap: int = Field(default=500, ge=3, le=500, description="Most members the group may have.")
    joins_per_hour: int = Field(
        default=30, ge=1, le=500, description="More joins than this in an hour is a raid."
    )
    raid_lock_minutes: float = Field(
        default=60, gt=0, le=1440, description="How long a raid keeps the group locked."
    )
    raid_action: Literal["review", "remove"] = Field(
        default="review", description="What happens to joiners while the group is locked."
    )
