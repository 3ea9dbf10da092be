"""Moderation's per-app state: the detector, the flood watch, modes and exemptions.

One per app (``services.shared["moderation"]``): the detector learns the
admins' stored verdicts once, at first use; the flood watch keeps the last
minutes of messages in memory; a group's mode (enforce or shadow) and the
exempted members are read from storage once and kept up to date by the
effects that change them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.vocab.actions import Action
from bot.vocab.policy import GroupPolicy
from handlers.moderation.detector.flood import FloodWatch
from handlers.moderation.detector.verdict import Detector
from handlers.moderation.policy import RULES, ModerationPolicy
from storage.moderation import ModerationStore
from storage.types import MembershipState

if TYPE_CHECKING:
    from handlers.base import Context
    from handlers.services import Services

log = logging.getLogger(__name__)

KEY = "moderation"


class ModerationRuntime:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = ModerationStore(services.sessions, account_id=services.account_id)
        self.detector = Detector()
        self.flood = FloodWatch()
        self._modes: dict[str, str] | None = None  # room -> mode an owner set
        self._since: dict[str, datetime] = {}  # room -> when the bot began managing it
        # (room, member, joined_at) of stays past probation: their message count is not
        # read again (a rejoin is a new stay; counts and ages only grow)
        self.past_probation: set[tuple[str, str, datetime | None]] = set()
        self._allowed: set[tuple[str, str]] | None = None
        self._learned = asyncio.Lock()
        self._ready = False

    async def ready(self) -> None:
        """Load what storage knows, once: modes, exemptions, the admins' verdicts."""
        if self._ready:
            return
        async with self._learned:
            if self._ready:
                return
            self._modes = await self.store.modes()
            verdicts = await self.store.verdicts()
            for text, is_ad in verdicts:
                self.detector.learn(text, is_ad)
            if verdicts:
                log.info("the ad classifier learned %d verdict(s) of this account", len(verdicts))
            self._ready = True

    # ----------------------------------------------------------------- modes

    async def mode(self, policy: GroupPolicy, rule: str, now: datetime) -> str:
        """``enforce`` or ``shadow`` for ``rule`` in the group, now.

        An owner's #开启管理 / #关闭管理 wins; otherwise a group runs in shadow
        for its first ``shadow_days``; a rule in ``shadow_rules`` always does."""
        await self.ready()
        mod = policy.get(ModerationPolicy)
        if rule in mod.shadow_rules:
            return "shadow"
        assert self._modes is not None
        chosen = self._modes.get(policy.room_id)
        if chosen is not None:
            return chosen
        since = await self._managed_since(policy.room_id, now)
        return "shadow" if now - since < timedelta(days=mod.shadow_days) else "enforce"

    def mode_set(self, room_id: str, mode: str) -> None:
        if self._modes is not None:
            self._modes[room_id] = mode

    async def _managed_since(self, room_id: str, now: datetime) -> datetime:
        since = self._since.get(room_id)
        if since is None:
            group = await self.services.repo.get_group(room_id)
            since = group.joined_at if group is not None else now
            self._since[room_id] = since
        return since

    async def shadow(self, policy: GroupPolicy, action: Action) -> bool:
        """The doer's switch: is this action of moderation only to be recorded?

        Only the bot's own rules are shadowed; an admin's command (``manual``),
        an undo and the digest itself are always done."""
        if action.rule not in RULES:
            return False
        return await self.mode(policy, action.rule, self.services.clock.now()) == "shadow"

    # ------------------------------------------------------------ exemptions

    async def exempt(
        self, policy: GroupPolicy, member_id: str, membership: MembershipState | None
    ) -> bool:
        """Owners, admins, the section's allowlist and #白名单: never acted on
        (``membership``: the member's, read once by the caller)."""
        if member_id in policy.admins or member_id in policy.get(ModerationPolicy).allowlist:
            return True
        if self._allowed is None:
            self._allowed = set()
            rows = await self.store.allowed()
            self._allowed.update(rows)
        if (policy.room_id, member_id) in self._allowed:
            return True
        return membership is not None and membership.role in ("owner", "admin")

    def allowed(self, room_id: str, member_id: str) -> None:
        if self._allowed is not None:
            self._allowed.add((room_id, member_id))


def runtime(ctx_or_services: Context | Services) -> ModerationRuntime:
    """The app's moderation runtime (made at first use)."""
    services = getattr(ctx_or_services, "services", None) or ctx_or_services
    shared = services.shared  # type: ignore[union-attr]
    found = shared.get(KEY)
    if found is None:
        found = shared[KEY] = ModerationRuntime(services)  # type: ignore[arg-type]
    return found
