"""The invites feature object (its handlers, commands and effects register on it)."""

from __future__ import annotations

from bot.vocab.policy import GroupPolicy
from handlers.feature import Feature, Stage
from handlers.moderation.invite_policy import InvitePolicy
from handlers.moderation.policy import ModerationPolicy


def shadowed(policy: GroupPolicy) -> bool:
    """Whether the group's invites run in shadow mode.  The lead's moderation core
    decides a group's mode (shadow_days, #开启管理, shadow_rules); until it is
    wired, the feature enforces everywhere it is enabled."""
    return False


feature = Feature("invites", stage=Stage.MODERATION, section=ModerationPolicy, shadow=shadowed)


def invite_policy(policy: GroupPolicy) -> InvitePolicy | None:
    """The group's ``moderation.invites`` when moderation and invites are on there."""
    moderation = policy.get(ModerationPolicy)
    if not moderation.enabled or not moderation.invites.enabled:
        return None
    return moderation.invites
