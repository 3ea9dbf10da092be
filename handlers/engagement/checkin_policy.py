"""``engagement.checkin`` and ``engagement.points``: check-in rewards and the ledger's rules."""

from __future__ import annotations

from pydantic import Field

from bot.config.sections import Model


class CheckinPolicy(Model):
    enabled: bool = True
    base_points: int = Field(default=10, ge=0, le=10_000)
    streak_bonus: int = Field(default=2, ge=0, le=10_000, description="Extra per day of streak.")
    bonus_cap: int = Field(default=20, ge=0, le=100_000, description="Most streak bonus a day.")
    fold_seconds: float = Field(
        default=120,
        ge=0,
        le=3600,
        description="Confirmations are folded into one message every this many seconds (0: each).",
    )


class PointsPolicy(Model):
    scope: str = Field(
        default="group",
        description="'group': points per group; 'tag:<tag>': shared by the groups with that tag.",
        pattern=r"^(group|tag:\S{1,40})$",
    )
    allow_negative: bool = False
    per_message: int = Field(default=0, ge=0, le=1000, description="Points per message spoken.")
    message_daily_cap: int = Field(default=0, ge=0, le=100_000)
