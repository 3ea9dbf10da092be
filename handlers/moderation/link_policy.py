"""``moderation.links``: link approval (报备)."""

from __future__ import annotations

from pydantic import Field

from bot.config.sections import Model


class LinkPolicy(Model):
    approval_hours: float = Field(
        default=24,
        gt=0,
        le=720,
        description="An approved link (or domain) may be posted this long.",
    )
    approve_domain: bool = Field(
        default=False, description="Approve the whole domain of a link, not only the link."
    )
