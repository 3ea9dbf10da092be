"""Keep memberships true to the member list the puppet reports.

Join and leave events are hints on real puppets (missing inviters, silent
leaves).  A :class:`~bot.events.RoomSnapshotEvent` says who is in a room now;
the difference with storage is recorded as joins and leaves.  The first
snapshot of a room the bot has never seen records everyone as already there
(not newcomers: no welcome, no reminder).
"""

from __future__ import annotations

import logging

from bot.events import Event, RoomSnapshotEvent
from handlers.base import BaseHandler, Context, Result

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
        return Result(stop=True)
