"""The ``flash_group`` calendar kind (快闪群): a group created for one event.

The entry's run only records a campaign (``storage.flash_campaigns``); the
feature's tick (every minute) moves each campaign along, one claimed step at a
time: create the group (``CreateRoom``; its id is read back from the action's
outcome, by its key) -> adopt it with the ``flash`` profile, welcome, invite
the rest (``AddMember``, paced by the governor) -> the schedule's posts at
their times -> after the end, thanks and (optionally) friend requests -> at
``dissolve_after_hours`` remove the members (never an owner or admin), then
quit.  Every step is claimed with a conditional UPDATE before it is done and
its actions have deterministic keys, so a restart resumes at the right step
and never does one twice; every step is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.vocab.actions import (
    Action,
    AddFriend,
    AddMember,
    CreateRoom,
    Priority,
    QuitRoom,
    RemoveMember,
    Say,
)
from bot.vocab.effects import AdoptGroup, Audit, Effect
from handlers.base import Context, Result
from handlers.feature import Feature
from sop.calendar import every
from sop.flash_groups.content import FlashGroupContent
from sop.flash_groups.plan import (
    CREATE_TIMEOUT,
    MAX_REMOVE_ROUNDS,
    ROUND_GAP,
    campaign_times,
    fill,
    key,
    local_label,
    next_step,
    posts,
)
from sop.kinds import Run
from storage.flash_campaigns import Campaign, FlashCampaigns, NewCampaign

log = logging.getLogger(__name__)

FLASH_PROFILE = "flash"
#: ``services.shared[FRIENDS]``: the bot's friends' ids, where something knows
#: them.  Storage keeps no friend list today, so friend requests are skipped
#: (and the audit says why) unless it is set.
FRIENDS = "flash_groups.friends"
_UNFINISHED = ("pending", "sending")

feature = Feature("flash_groups")


class _Step:
    """What one tick decided for one campaign."""

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.effects: list[Effect] = []


def _tz(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _store(ctx: Context) -> FlashCampaigns:
    return FlashCampaigns(ctx.sessions, account_id=ctx.repo.account_id)


def _audit(c: Campaign, step: str, status: str, now: datetime, reason: str, **detail: Any) -> Audit:
    return Audit(
        at=now,
        action=f"flash_{step}",
        kind="flash_group",
        status=status,
        room=c.room_id,
        key=key(c.id, step, "audit", detail.pop("n", "")),
        reason=reason,
        detail={"campaign": c.id, "entry": c.entry_id, "topic": c.topic, **detail},
    )


# ------------------------------------------------------------------ the run


@feature.kind(
    "flash_group",
    FlashGroupContent,
    per_group=False,
    description="A flash group: created before an event, used, thanked and dissolved.",
)
async def run_flash_group(ctx: Context, run: Run) -> Result | None:
    """Record the campaign; the tick does the rest (at its times)."""
    content: FlashGroupContent = run.content
    tz_name = run.entry.timezone or ctx.config.calendar.timezone or ctx.config.bot.timezone
    times = campaign_times(content, _tz(tz_name), run.scheduled_at)
    now = ctx.clock.now()
    sources = tuple(dict.fromkeys((*run.rooms, *content.invite.groups)))
    opened = await _store(ctx).open(
        NewCampaign(
            entry_id=run.entry.id,
            run_key=run.key,
            topic=content.topic,
            content={"tz": tz_name, "content": content.model_dump(mode="json")},
            sources=sources,
            create_at=times.create_at,
            event_start=times.event_start,
            event_end=times.event_end,
            dissolve_at=times.dissolve_at,
        ),
        now,
    )
    if not opened:
        return None
    campaign = await _store(ctx).by_run(run.key)
    assert campaign is not None
    return Result(
        effects=[
            _audit(
                campaign,
                "planned",
                "recorded",
                now,
                f"flash group «{content.topic}» planned: created at {times.create_at.isoformat()}",
                sources=list(sources),
            )
        ]
    )


# ------------------------------------------------------------------ the tick


@feature.job("tick", lambda tz, config: every(1, tz))
async def tick(ctx: Context, scheduled_at: datetime) -> Result | None:
    """Advance every active campaign by the steps that are due."""
    store = _store(ctx)
    out = _Step()
    for campaign in await store.active():
        try:
            await advance(ctx, store, campaign, out)
        except Exception:
            log.exception("flash campaign %s: a step failed", campaign.id)
    if not out.actions and not out.effects:
        return None
    return Result(out.actions, effects=out.effects)


async def advance(ctx: Context, store: FlashCampaigns, c: Campaign, out: _Step) -> None:
    """Do the steps of ``c`` that are due now (each claimed first)."""
    for _ in range(len(c.content["content"].get("schedule", ())) + 8):
        content = FlashGroupContent.model_validate(c.content["content"])
        tz = _tz(c.content["tz"])
        now = ctx.clock.now()
        step = next_step(
            c.status,
            now=now,
            create_at=c.create_at,
            event_end=c.event_end,
            dissolve_at=c.dissolve_at,
            schedule=posts(content, tz),
            posts_done=c.posts_done,
        )
        if step is None:
            return
        moved = await _STEPS[step](ctx, store, c, content, tz, now, out)
        if not moved:
            return
        fresh = await store.get(c.id)
        if fresh is None or fresh == c:
            return
        c = fresh


def _labels(c: Campaign, tz: ZoneInfo) -> dict[str, str]:
    return {
        "topic": c.topic,
        "start": local_label(c.event_start, tz),
        "end": local_label(c.event_end, tz),
    }


async def _create(
    ctx: Context,
    store: FlashCampaigns,
    c: Campaign,
    content: FlashGroupContent,
    tz: ZoneInfo,
    now: datetime,
    out: _Step,
) -> bool:
    members = await invitees(ctx, c, content, now)
    if len(members) < 2:
        if await store.claim(c, "failed", now, members=members):
            out.effects.append(
                _audit(
                    c,
                    "create",
                    "failed",
                    now,
                    f"only {len(members)} member(s) to invite: WeChat needs 2 to create a group",
                )
            )
        return False
    if not await store.claim(c, "creating", now, members=members):
        return False
    first = tuple(members[: content.create_with])
    out.actions.append(
        CreateRoom(
            topic=c.topic,
            member_ids=first,
            ref=c.run_key,
            key=key(c.id, "create"),
            not_after=now + CREATE_TIMEOUT,
            priority=Priority.BROADCAST,
            reason=f"flash group «{c.topic}» ({c.entry_id})",
        )
    )
    out.effects.append(
        _audit(c, "create", "done", now, "group creation queued", members=len(members))
    )
    return True


async def _await_room(
    ctx: Context,
    store: FlashCampaigns,
    c: Campaign,
    content: FlashGroupContent,
    tz: ZoneInfo,
    now: datetime,
    out: _Step,
) -> bool:
    item = await ctx.repo.outbox_get(key(c.id, "create"))
    if item is None or item.status in _UNFINISHED:
        if now - c.step_at <= CREATE_TIMEOUT + timedelta(minutes=5):
            return False  # not created yet
        if await store.claim(c, "failed", now):
            out.effects.append(_audit(c, "room", "failed", now, "the group was never created"))
        return False
    if item.status != "done" or not item.result:
        if await store.claim(c, "failed", now):
            why = f"creating the group ended {item.status}: {item.error or ''}".strip()
            out.effects.append(_audit(c, "room", "failed", now, why))
        return False
    room = item.result
    if not await store.claim(c, "open", now, room_id=room):
        return False
    labels = _labels(c, tz)
    out.effects.append(AdoptGroup(room=room, topic=c.topic, profile=FLASH_PROFILE, at=now))
    out.effects.append(_audit(c, "room", "done", now, f"group {room} created", room=room))
    out.actions.append(
        Say(
            room=room,
            text=fill(content.welcome_text, **labels),
            key=key(c.id, "welcome"),
            not_after=now + timedelta(hours=1),
            priority=Priority.BROADCAST,
            reason=f"flash group «{c.topic}»: welcome",
        )
    )
    for member in c.members[content.create_with :]:
        out.actions.append(
            AddMember(
                room=room,
                member_id=member,
                key=key(c.id, "invite", member),
                not_after=max(c.event_end, now + timedelta(hours=1)),
                priority=Priority.BROADCAST,
                reason=f"flash group «{c.topic}»: invited",
            )
        )
    return True


async def _post(
    ctx: Context,
    store: FlashCampaigns,
    c: Campaign,
    content: FlashGroupContent,
    tz: ZoneInfo,
    now: datetime,
    out: _Step,
) -> bool:
    n = c.posts_done
    post = posts(content, tz)[n]
    if not await store.claim(c, "open", now, posts_done=n + 1):
        return False
    not_after = post.at + timedelta(minutes=content.post_valid_minutes)
    if now > not_after:
        out.effects.append(
            _audit(c, "post", "missed", now, f"post {n + 1} was due at {post.at.isoformat()}", n=n)
        )
        return True
    assert c.room_id is not None
    out.actions.append(
        Say(
            room=c.room_id,
            text=fill(post.text, **_labels(c, tz)),
            key=key(c.id, "post", n),
            not_after=not_after,
            priority=Priority.BROADCAST,
            reason=f"flash group «{c.topic}»: post {n + 1}",
        )
    )
    return True


async def _thank(
    ctx: Context,
    store: FlashCampaigns,
    c: Campaign,
    content: FlashGroupContent,
    tz: ZoneInfo,
    now: datetime,
    out: _Step,
) -> bool:
    if not await store.claim(c, "ended", now):
        return False
    assert c.room_id is not None
    out.actions.append(
        Say(
            room=c.room_id,
            text=fill(content.thank_you, **_labels(c, tz)),
            key=key(c.id, "thanks"),
            not_after=now + timedelta(hours=2),
            priority=Priority.BROADCAST,
            reason=f"flash group «{c.topic}»: thanks",
        )
    )
    out.effects.append(_audit(c, "thanks", "done", now, "the event is over: thanked"))
    if content.add_friends:
        await _friend_requests(ctx, c, content, now, out)
    return True


async def _friend_requests(
    ctx: Context, c: Campaign, content: FlashGroupContent, now: datetime, out: _Step
) -> None:
    friends = ctx.services.shared.get(FRIENDS) if ctx.services is not None else None
    if friends is None:
        out.effects.append(
            _audit(
                c,
                "friends",
                "skipped",
                now,
                "friend requests not sent: the bot's friend list is not stored, so who is "
                "already a friend is unknown",
            )
        )
        return
    budget = ctx.config.governor.friend_requests_per_day
    strangers = [m for m in await _present(ctx, c, content) if m not in set(friends)]
    for member in strangers[:budget]:
        out.actions.append(
            AddFriend(
                contact_id=member,
                hello=content.friend_hello,
                room=c.room_id,
                key=key(c.id, "friend", member),
                not_after=now + timedelta(days=2),
                priority=Priority.BROADCAST,
                reason=f"flash group «{c.topic}»: friend request",
            )
        )
    out.effects.append(
        _audit(
            c,
            "friends",
            "done",
            now,
            f"{min(len(strangers), budget)} friend request(s) queued",
            left_out=max(0, len(strangers) - budget),
        )
    )


async def _dissolve(
    ctx: Context,
    store: FlashCampaigns,
    c: Campaign,
    content: FlashGroupContent,
    tz: ZoneInfo,
    now: datetime,
    out: _Step,
) -> bool:
    thanks = await ctx.repo.outbox_get(key(c.id, "thanks"))
    queued = thanks is None and now - c.step_at < timedelta(hours=1)  # submitted after this tick
    if queued or (thanks is not None and thanks.status in _UNFINISHED):
        return False  # the thanks go out before anyone is removed
    if not await store.claim(c, "dissolving", now, remove_round=1):
        return False
    members = await _present(ctx, c, content)
    out.actions += _removals(c, members, 1, now)
    out.effects.append(
        _audit(c, "dissolve", "done", now, f"removing {len(members)} member(s)", n=1)
    )
    return True


def _removals(c: Campaign, members: Iterable[str], round_: int, now: datetime) -> list[Action]:
    assert c.room_id is not None
    return [
        RemoveMember(
            room=c.room_id,
            member_id=m,
            key=key(c.id, "remove", m, round_),
            not_after=now + ROUND_GAP,
            priority=Priority.BROADCAST,
            reason=f"flash group «{c.topic}» dissolved",
        )
        for m in members
    ]


async def _remove(
    ctx: Context,
    store: FlashCampaigns,
    c: Campaign,
    content: FlashGroupContent,
    tz: ZoneInfo,
    now: datetime,
    out: _Step,
) -> bool:
    """Wait for the round's removals; another round for those left (a day's
    budget may refuse some), at most MAX_REMOVE_ROUNDS; then quit."""
    remaining = []
    for member in await _present(ctx, c, content):
        item = await ctx.repo.outbox_get(key(c.id, "remove", member, c.remove_round))
        if item is not None and item.status in _UNFINISHED:
            return False  # the round is still going
        if item is None or item.status != "done":
            remaining.append(member)
    if remaining and c.remove_round < MAX_REMOVE_ROUNDS:
        if now - c.step_at < ROUND_GAP:
            return False
        n = c.remove_round + 1
        if not await store.claim(c, "dissolving", now, remove_round=n):
            return False
        out.actions += _removals(c, remaining, n, now)
        out.effects.append(
            _audit(c, "dissolve", "done", now, f"removing {len(remaining)} member(s) again", n=n)
        )
        return True
    if not await store.claim(c, "quitting", now):
        return False
    assert c.room_id is not None
    out.actions.append(
        QuitRoom(
            room=c.room_id,
            key=key(c.id, "quit"),
            not_after=now + timedelta(hours=6),
            priority=Priority.BROADCAST,
            reason=f"flash group «{c.topic}» dissolved",
        )
    )
    reason = "the bot quits the group"
    if remaining:
        reason += f"; {len(remaining)} member(s) could not be removed"
    out.effects.append(_audit(c, "quit", "done", now, reason, left=list(remaining)))
    return True


async def _await_quit(
    ctx: Context,
    store: FlashCampaigns,
    c: Campaign,
    content: FlashGroupContent,
    tz: ZoneInfo,
    now: datetime,
    out: _Step,
) -> bool:
    item = await ctx.repo.outbox_get(key(c.id, "quit"))
    waiting = item is None or item.status in _UNFINISHED
    if waiting and now - c.step_at <= timedelta(hours=6, minutes=5):
        return False
    status = "done" if item is not None and item.status == "done" else "failed"
    if await store.claim(c, status, now):
        why = "dissolved" if status == "done" else f"quitting ended {getattr(item, 'status', '')}"
        out.effects.append(_audit(c, "done", status, now, why))
    return False


_STEPS = {
    "create": _create,
    "await_room": _await_room,
    "post": _post,
    "thank": _thank,
    "dissolve": _dissolve,
    "remove": _remove,
    "await_quit": _await_quit,
}


# ------------------------------------------------------------------ members


async def invitees(
    ctx: Context, c: Campaign, content: FlashGroupContent, now: datetime
) -> list[str]:
    """Members of the source groups (the entry's targets, ``invite.groups``)
    and of the groups with ``invite.tags``, optionally only the recently
    active, without the bot; in a stable order."""
    sources = list(dict.fromkeys((*c.sources, *content.invite.groups)))
    if content.invite.tags:
        wanted = set(content.invite.tags)
        for room in sorted(ctx.policies.managed_rooms()):
            policy = ctx.policies.get(room)
            if policy is not None and wanted & set(policy.tags) and room not in sources:
                sources.append(room)
    since = None
    if content.invite.active_within_days is not None:
        since = now - timedelta(days=content.invite.active_within_days)
    found: dict[str, None] = {}
    for room in sources:
        for member in sorted(await ctx.repo.current_members(room)):
            if member == ctx.bot_id or member in found:
                continue
            if since is not None:
                stats = await ctx.repo.member_stats(room, member)
                if stats is None or stats.last_spoke_at is None or stats.last_spoke_at < since:
                    continue
            found[member] = None
    return list(found)


async def _present(ctx: Context, c: Campaign, content: FlashGroupContent) -> list[str]:
    """Who is in the campaign's group now and may be removed: never the bot,
    an owner or an admin (bot.yaml's, or by their role in the group).  The
    first members (put in at creation, before the group was managed) count
    as present unless they are known to have left."""
    assert c.room_id is not None
    room = c.room_id
    policy = ctx.policies.get(room)
    protected = set(policy.admins) if policy is not None else set(ctx.config.owners)
    protected.add(ctx.bot_id)
    present = set(await ctx.repo.current_members(room))
    present.update(c.members[: content.create_with])
    out = []
    order = {m: i for i, m in enumerate(c.members)}
    for member in sorted(present, key=lambda m: (order.get(m, len(order)), m)):
        if member in protected:
            continue
        state = await ctx.repo.get_membership(room, member)
        if state is not None and (state.left_at is not None or state.role in ("owner", "admin")):
            continue
        out.append(member)
    return out
