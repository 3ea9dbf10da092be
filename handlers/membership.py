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
from typing import TYPE_CHECKING

from bot.vocab.actions import Action, Priority, say_to_each
from bot.vocab.events import Event, JoinEvent, LeaveEvent, RoomSnapshotEvent
from bot.vocab.texts import notice
from handlers.base import BaseHandler, Context, Result
from handlers.feature import Feature, Stage
from storage.membership import MembershipStore, member_roles
from storage.types import GroupState

if TYPE_CHECKING:
    from storage.repo import Repository

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]


class MembershipSync(BaseHandler):
    """``emit`` queues the joins and leaves a snapshot reveals (after the snapshot,
    in the same room's order); ``store`` writes a first snapshot in bulk."""

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
        repo, room = ctx.repo, event.room_id
        present = [m for m in dict.fromkeys(event.member_ids) if m and m != ctx.bot_id]
        names = dict(zip(event.member_ids, event.member_names, strict=False))
        await repo.upsert_contacts(((i, names[i]) for i in present if names.get(i)), event.at)
        known = await repo.current_members(room)
        roles = member_roles(present, event.owner_id, event.admin_ids)
        self._special[room] = {m: r for m, r in roles.items() if r != "member"}
        owner, admins = event.owner_id, event.admin_ids
        # Read once: whether this is the room's first list, and the bot's stored role.
        group = await ctx.repo.get_group(room)
        if not known or self._first_list(room, group):
            # The first list of this room: everyone was there before the bot looked.
            # Only someone whose earlier stay had ended comes back as a join.
            inserted = await self._store.store_snapshot(
                room, present, event.at, owner_id=owner, admin_ids=admins
            )
            joined = [m for m in present if m not in inserted and m not in known]
            left = await _gone_before(repo, event, known.difference(present))
        else:
            await self._store.store_snapshot(
                room, present, event.at, owner_id=owner, admin_ids=admins, add_missing=False
            )
            joined = [m for m in present if m not in known]
            left = await _gone_before(repo, event, known.difference(present))
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
        return Result(await self._learn_role(event, ctx, group), stop=True)

    def forget_room(self, room_id: str) -> None:
        """The room has been silent for a day (the dispatcher evicts it): drop what
        is kept for it here.  Its next snapshot learns it all again."""
        self._special.pop(room_id, None)
        self._listed.discard(room_id)

    def _first_list(self, room: str, group: GroupState | None) -> bool:
        """Has this room's member list never been stored?  Join events can store a
        few members before the first list (login reads lists in the background);
        until a list is stored the bot's role in the room is unknown."""
        if room in self._listed:
            return False
        return group is None or group.bot_role == "unknown"

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

    async def _learn_role(
        self, event: RoomSnapshotEvent, ctx: Context, group: GroupState | None
    ) -> Sequence[Action]:
        if event.owner_id == ctx.bot_id:
            role = "owner"
        elif ctx.bot_id in event.admin_ids:
            role = "admin"
        elif event.owner_id:
            role = "member"
        else:
            return []  # the puppet does not say who owns the room: nothing learned
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
        return say_to_each(
            ctx.config.owners,
            text,
            priority=Priority.REPLY,
            reason=f"the bot cannot remove members in {event.room_id}",
        )


async def _gone_before(repo: Repository, event: RoomSnapshotEvent, gone: set[str]) -> list[str]:
    """The members missing from the list who were there when it was read.  The
    list is read while events flow: a member whose current stay began at or
    after ``read_at`` joined during (or after) the read, so the list could not
    show them; that is not a leave."""
    left = []
    for member in sorted(gone):
        membership = await repo.get_membership(event.room_id, member)
        if membership is not None and membership.joined_at >= event.at:
            log.debug(
                "room %s: %s joined while the list was read: not a leave", event.room_id, member
            )
            continue
        left.append(member)
    return left


# Records what WeChat says about who is in a group (facts, like the activity
# log), so it writes its rows itself; what it decides (a role notice) is a result.
feature = Feature(
    "membership",
    stage=Stage.RECORD,
    setup=lambda services: [MembershipSync(MembershipStore(services.sessions), services.feed)],
)
