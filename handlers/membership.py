"""Keep memberships true to the member list the puppet reports; learn the bot's role.

Join and leave events are hints on real puppets (missing inviters, silent
leaves).  A :class:`~bot.events.RoomSnapshotEvent` says who is in a room now;
the difference with storage is recorded as joins and leaves.  The first
snapshot of a room the bot has never seen records everyone as already there
(not newcomers: no welcome, no reminder).

The snapshot also says who owns and administers the room: only an owner or
admin can remove members, so where the bot is neither, the features that
remove people are degraded to notices, and the owners are told once.
"""

from __future__ import annotations

import logging

from bot.actions import Action, Priority, Say
from bot.events import Event, RoomSnapshotEvent
from handlers.base import BaseHandler, Context, Result
from handlers.texts import notice

log = logging.getLogger(__name__)


class MembershipSync(BaseHandler):
    name = "membership"

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if not isinstance(event, RoomSnapshotEvent):
            return None
        repo, room = ctx.repo, event.room_id
        present = {m for m in event.member_ids if m and m != ctx.bot_id}
        names = dict(zip(event.member_ids, event.member_names, strict=False))
        await repo.upsert_contacts(((i, names[i]) for i in present if names.get(i)), event.at)
        known = await repo.current_members(room)
        for member in sorted(present - known):
            await repo.record_join(room, member, event.at, None)
        for member in sorted(known - present):
            await repo.record_leave(room, member, event.at, None)
        if known and (present ^ known):
            log.info(
                "room %s: %d join(s) and %d leave(s) found by the member list",
                room,
                len(present - known),
                len(known - present),
            )
        return Result(await self._learn_role(event, ctx), stop=True)

    async def _learn_role(self, event: RoomSnapshotEvent, ctx: Context) -> list[Action]:
        if event.owner_id == ctx.bot_id:
            role = "owner"
        elif ctx.bot_id in event.admin_ids:
            role = "admin"
        elif event.owner_id:
            role = "member"
        else:
            return []  # the puppet does not say who owns the room: nothing learned
        group = await ctx.repo.get_group(event.room_id)
        if group is None or group.bot_role == role:
            return []
        await ctx.repo.set_bot_role(event.room_id, role, event.at)
        if role != "member" or ctx.policy is None:
            return []
        log.warning("the bot cannot remove members in %s: it is not owner or admin", event.room_id)
        bot = ctx.config.bot
        text = notice(
            bot.degraded_notice, bot_name=bot.name, group=ctx.policy.name or event.topic, role=role
        )
        return [
            Say(
                room=None,
                to_contact=owner,
                text=text,
                priority=Priority.REPLY,
                reason=f"the bot cannot remove members in {event.room_id}",
            )
            for owner in ctx.config.owners
        ]
