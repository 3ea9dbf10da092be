"""Joining groups: accept an owner's invitation, introduce the bot.

Only owners listed in ``bot.yaml`` may bring the bot into a group; anyone
else's invitation is not accepted (WeChat has no "decline": it simply lapses)
and the refusal is audited.  Decide, then do: the refusal's audit row and
the adoption of a new group are effects, applied by ``bot.doer``.
"""

from __future__ import annotations

import logging

from bot.vocab.actions import AcceptRoomInvitation, Priority, Say
from bot.vocab.effects import AdoptGroup, Audit
from bot.vocab.events import BotJoinedRoomEvent, Event, RoomInviteEvent
from bot.vocab.texts import render
from handlers.base import BaseHandler, Context, Result
from handlers.feature import Feature, Stage

log = logging.getLogger(__name__)


class JoiningGroups(BaseHandler):
    name = "joining"

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if isinstance(event, RoomInviteEvent):
            return await self._invited(event, ctx)
        if isinstance(event, BotJoinedRoomEvent):
            return await self._joined(event, ctx)
        return None

    async def _invited(self, event: RoomInviteEvent, ctx: Context) -> Result:
        if event.inviter_id in ctx.config.owners:
            return Result(
                [
                    AcceptRoomInvitation(
                        invitation_id=event.invitation_id,
                        inviter_id=event.inviter_id,
                        priority=Priority.MODERATION,
                        reason=f"owner {event.inviter_id} invited the bot into «{event.room_topic}»",
                    )
                ],
                stop=True,
            )
        log.info(
            "not accepting an invitation into «%s» from %s: not an owner",
            event.room_topic,
            event.inviter_id,
        )
        refused = Audit(
            at=ctx.clock.now(),
            action="accept_room_invitation",
            kind="accept",
            target_id=event.inviter_id,
            key=f"invite:{event.invitation_id}",
            status="refused",
            reason="the inviter is not an owner listed in bot.yaml",
            detail={"topic": event.room_topic, "invitation_id": event.invitation_id},
        )
        return Result(stop=True, effects=[refused])

    async def _joined(self, event: BotJoinedRoomEvent, ctx: Context) -> Result:
        configured = ctx.policies.configured_profile(event.room_id)
        by_owner = event.inviter_id in ctx.config.owners
        if configured is None and not by_owner:
            log.warning(
                "the bot is in room %s, which nobody allowed: not managing it", event.room_id
            )
            return Result(stop=True)
        profile = configured or "member"
        # The members already there arrive as a snapshot right after this event
        # (handlers.membership): recorded as present, not welcomed as newcomers.
        adopt = AdoptGroup(room=event.room_id, topic=event.topic, profile=profile, at=event.at)
        policy = ctx.policies.preview(event.room_id, profile, event.topic)
        if policy is None:
            return Result(stop=True, effects=[adopt])
        intro = Say(
            room=event.room_id,
            text=render(ctx.config.bot.intro, policy),
            priority=Priority.WELCOME,
            reason="introduce the bot after joining",
        )
        return Result([intro], stop=True, effects=[adopt])


feature = Feature("joining", stage=Stage.SYSTEM, setup=lambda services: [JoiningGroups()])
