"""The invites feature object (its handlers, commands and effects register on it)."""

from __future__ import annotations

from typing import Any

from bot.vocab.actions import Action
from bot.vocab.policy import GroupPolicy
from handlers.feature import Feature, Stage
from handlers.moderation.invite_policy import InvitePolicy
from handlers.moderation.policy import ModerationPolicy
from handlers.moderation.runtime import runtime
from handlers.services import Services


def shadowed(policy: GroupPolicy, action: Action, services: Services) -> Any:
    """The doer's switch: the group's moderation mode for the action's rule
    (``invites`` or ``blocklist``): shadow_days, #开启管理, shadow_rules."""
    return runtime(services).shadow(policy, action)


feature = Feature("invites", stage=Stage.MODERATION, section=ModerationPolicy, shadow=shadowed)


def invite_policy(policy: GroupPolicy) -> InvitePolicy | None:
    """The group's ``moderation.invites`` when moderation and invites are on there."""
    moderation = policy.get(ModerationPolicy)
    if not moderation.enabled or not moderation.invites.enabled:
        return None
    return moderation.invites
