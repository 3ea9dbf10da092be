"""Friend requests: who the bot accepts (``friends`` in a profile).

WeChat lets a member write to the bot privately only once they are friends,
and the bot's private paths need it: a removed member's ``#申诉``, a lurker's
冒泡提醒 with ``warn_via: private``, an admin's commands to the bot.  So a
friend request is accepted when its sender is a member of a managed group
whose profile allows it (``accept: members``), or was one within
``recent_days`` (``accept: members_and_recent``: a member removed by
moderation can still appeal); never from a blocklisted account or a
stranger.  The decision is audited either way; accepting is paced by the
governor's ``accept`` budget like a room invitation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field

from bot.config.sections import Model, register_section
from bot.vocab.actions import AcceptFriendship, Priority
from bot.vocab.effects import Audit
from bot.vocab.events import FriendshipEvent
from handlers.base import Context, Result
from handlers.feature import Feature, Stage
from storage.moderation import ModerationStore


@register_section
class FriendsPolicy(Model):
    section: ClassVar[str] = "friends"

    accept: Literal["members", "members_and_recent", "nobody"] = Field(
        default="members_and_recent",
        description="Whose friend requests the bot accepts: present members of this group; "
        "also those who left or were removed within recent_days (so they can appeal); nobody.",
    )
    recent_days: float = Field(default=30, gt=0, le=365)


feature = Feature("friends", stage=Stage.RECORD, section=FriendsPolicy)


@feature.on(FriendshipEvent, direct=True)
async def request(event: FriendshipEvent, ctx: Context) -> Result | None:
    """Accept a member's friend request; leave a stranger's unanswered."""
    if event.kind != "receive" or not event.contact_id or not event.friendship_id:
        return None
    why = await _why_accept(event, ctx)
    if why.startswith("member"):
        accept = AcceptFriendship(
            friendship_id=event.friendship_id,
            contact_id=event.contact_id,
            priority=Priority.REPLY,
            reason=why,
        )
        return Result([accept])  # the executor audits the acceptance
    refused = Audit(
        at=event.at,
        action="accept_friendship",
        kind="accept",
        target_id=event.contact_id,
        key=f"friendship:{event.friendship_id}",
        status="refused",
        reason=why,
        detail={"hello": event.hello[:200]},
    )
    return Result(effects=[refused])


async def _why_accept(event: FriendshipEvent, ctx: Context) -> str:
    """Why the request is accepted ("member of …") or not."""
    who = event.contact_id
    store = ModerationStore(ctx.sessions, account_id=ctx.repo.account_id)
    if await store.is_blocked(who):
        return "blocklisted"
    for stay in await ctx.repo.stays_of(who, event.at - timedelta(days=365)):
        policy = ctx.policies.get(stay.room_id)
        if policy is None:
            continue
        friends = policy.get(FriendsPolicy)
        if friends.accept == "nobody":
            continue
        if stay.left_at is None:
            return f"member of {stay.room_id}"
        recent = event.at - stay.left_at <= timedelta(days=friends.recent_days)
        if friends.accept == "members_and_recent" and recent:
            return f"member of {stay.room_id} until {stay.left_at.isoformat()}"
    return "not a member of any group that accepts friend requests"
