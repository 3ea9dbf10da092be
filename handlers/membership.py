"""Keep memberships true to the member list the puppet reports; learn the roles.

Join and leave events are hints on real puppets (missing inviters, silent
leaves).  A :class:`~bot.vocab.events.RoomSnapshotEvent` says who is in a room now.
The first snapshot of a room the bot has never seen stores everyone as
already there (not newcomers: no welcome, no reminder), as one bulk write.
After that, the difference with storage flows as :class:`~bot.vocab.events.JoinEvent`
and :class:`~bot.vocab.events.LeaveEvent` marked ``found_by_reconciliation``, so the
activity log, the welcome and the leave counts see them like any other.

The snapshot also says who owns and administers the room: their roles are
stored in ``memberships.role`` (so no feature takes an owner or admin for a
lurker or an ad poster), and the bot's own role is learnt: only an owner or
admin can remove members, so where the bot is neither, the features that
remove people are degraded to notices, and the owners are told once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from bot.vocab.actions import Action, Priority, say_to_each
from bot.vocab.events import Event, JoinEvent, LeaveEvent, RoomSnapshotEvent
from bot.vocab.texts import notice
from handlers.base import BaseHandler, Context, Result
from handlers.feature import Feature, Stage
from sop.calendar import every
from storage.membership import MembershipStore, StoredList, member_roles

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]


class MembershipSync(BaseHandler):
    """``emit`` queues the joins and leaves a snapshot reveals (after the snapshot,
    in the same room's order); ``store`` writes each list (names, memberships,
    roles, the bot's role) in one transaction."""

    name = "membership"

    def __init__(self, store: MembershipStore, emit: Emit) -> None:
        self._store = store
        self._emit = emit
        # room -> {member: role} of the owner and admins in the last snapshot, for
        # members the snapshot found but whose row the join event creates later.
        self._special: dict[str, dict[str, str]] = {}
        self._listed: set[str] = set()  # rooms whose list this process has stored

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if isinstance(event, JoinEvent):
            await self._role_of_joiners(event, ctx)
            return None  # observe only: the welcome still sees the join
        if not isinstance(event, RoomSnapshotEvent):
            return None
        if not event.member_ids:
            log.warning("room %s: an empty member list ignored", event.room_id)
            return Result(stop=True)
        room = event.room_id
        present = [m for m in dict.fromkeys(event.member_ids) if m and m != ctx.bot_id]
        names = dict(zip(event.member_ids, event.member_names, strict=False))
        roles = member_roles(present, event.owner_id, event.admin_ids)
        self._special[room] = {m: r for m, r in roles.items() if r != "member"}
        # One transaction: names, memberships, roles and the bot's role in the group.
        stored = await self._store.store_member_list(
            room,
            present,
            event.at,
            account_id=ctx.repo.account_id,
            bot_id=ctx.bot_id,
            names={i: names[i] for i in present if names.get(i)},
            owner_id=event.owner_id,
            admin_ids=event.admin_ids,
            listed_before=room in self._listed,
        )
        joined, left = stored.joined, stored.left
        if joined:
            self._emit(
                JoinEvent(
                    room,
                    tuple(joined),
                    None,
                    event.at,
                    tuple(names.get(m, "") for m in joined),
                    source="reconcile",
                    found_by_reconciliation=True,
                )
            )
        if left:
            self._emit(
                LeaveEvent(
                    room, tuple(left), None, event.at, "reconcile", found_by_reconciliation=True
                )
            )
        if joined or left:
            log.info(
                "room %s: %d join(s) and %d leave(s) found by the member list",
                room,
                len(joined),
                len(left),
            )
        self._listed.add(room)
        return Result(self._degraded(event, ctx, stored), stop=True)

    def forget_room(self, room_id: str) -> None:
        """The room has been silent for a day (the dispatcher evicts it): drop what
        is kept for it here.  Its next snapshot learns it all again."""
        self._special.pop(room_id, None)
        self._listed.discard(room_id)

    async def _role_of_joiners(self, event: JoinEvent, ctx: Context) -> None:
        """An owner or admin seen in the last list who joins now gets their role
        (the activity recorder, earlier in this group, has created the row)."""
        special = self._special.get(event.room_id)
        if not special:
            return
        for member in event.member_ids:
            role = special.get(member)
            if role is not None:
                await ctx.repo.set_member_role(event.room_id, member, role)

    def _degraded(
        self, event: RoomSnapshotEvent, ctx: Context, stored: StoredList
    ) -> Sequence[Action]:
        """A list shows the bot has become a plain member (it cannot remove anyone
        there; the new role is already stored): the group waits in the fold, so
        that the lists read at login make one notice to each owner, not one per group."""
        role = stored.bot_role_changed_to
        if role != "member" or ctx.policy is None or ctx.services is None:
            return []
        log.warning("the bot cannot remove members in %s: it is not owner or admin", event.room_id)
        fold = _fold(ctx)
        fold.rooms[event.room_id] = ctx.policy.name or event.topic
        fold.last = ctx.clock.now()
        fold.first = fold.first or fold.last
        return []


@dataclass
class DegradedFold:
    """Groups where the bot has become a plain member, not told yet."""

    rooms: dict[str, str] = field(default_factory=dict)  # room -> name
    first: datetime | None = None
    last: datetime | None = None


#: The fold is told once no group has joined it for this long (member lists are
#: read paced, one after another) or once its first group has waited ``FOLD_MAX``.
FOLD_QUIET = timedelta(minutes=2)
FOLD_MAX = timedelta(minutes=30)
FOLD_NAMES = 20


def _fold(ctx: Context) -> DegradedFold:
    assert ctx.services is not None
    found = ctx.services.shared.get(FOLD_KEY)
    if found is None:
        found = ctx.services.shared[FOLD_KEY] = DegradedFold()
    return cast(DegradedFold, found)


def degraded_notice(ctx: Context, now: datetime) -> Sequence[Action]:
    """One notice to each owner for the groups folded so far, when the fold is due."""
    fold = _fold(ctx)
    if not fold.rooms or fold.first is None or fold.last is None:
        return []
    if now - fold.last < FOLD_QUIET and now - fold.first < FOLD_MAX:
        return []
    rooms = sorted(fold.rooms)
    names = [fold.rooms[r] for r in rooms]
    group = "」「".join(names[:FOLD_NAMES])
    if len(names) > FOLD_NAMES:
        group += f"」等 {len(names)} 个群「"
    bot = ctx.config.bot
    text = notice(bot.degraded_notice, bot_name=bot.name, group=group, role="member")
    fold.rooms.clear()
    fold.first = fold.last = None
    return say_to_each(
        ctx.config.owners,
        text,
        priority=Priority.REPLY,
        reason=f"the bot cannot remove members in {len(rooms)} group(s): {', '.join(rooms[:5])}",
    )


# Records what WeChat says about who is in a group (facts, like the activity
# log), so it writes its rows itself; what it decides (a role notice) is a result.
feature = Feature(
    "membership",
    stage=Stage.RECORD,
    setup=lambda services: [MembershipSync(MembershipStore(services.sessions), services.feed)],
)
FOLD_KEY = "membership.degraded"


@feature.job("degraded-notice", lambda tz, config: every(1, tz))
async def tell_degraded(ctx: Context, at: datetime) -> Sequence[Action]:
    return degraded_notice(ctx, ctx.clock.now())
