"""Name-card compliance: members whose group alias (群昵称) does not match the
group's format are reminded once, folded into one message per group, and
listed for admins by ``#名片检查``.

Aliases come with member lists (``RoomSnapshotEvent.member_aliases``, read by
the transport with the list) and are kept in ``name_cards``.  A reminder is
claimed per member and alias before it is sent (a conditional UPDATE), so a
member is reminded again only after changing to another alias that still
does not match.  Nobody is removed for a name card: ``enforce_by_removal``
is an opt-in the admins act on themselves.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from bot.vocab.actions import Action, Priority, Say
from bot.vocab.events import Event, RoomSnapshotEvent
from bot.vocab.keys import action_key
from bot.vocab.policy import GroupPolicy
from bot.vocab.texts import chunks, render
from handlers.base import Context, Result
from handlers.parsing import Command
from handlers.reports.base import feature
from handlers.reports.policy import (
    ReportsPolicy,
    compliant,
    name_card_pattern,
)
from sop.calendar import daily
from storage.reports import NameCardRow, ReportStore

REMIND_AT = time(10, 0)  # local time of the daily reminder run


def _store(ctx: Context) -> ReportStore:
    return ReportStore(ctx.sessions, account_id=ctx.repo.account_id)


@feature.on(RoomSnapshotEvent)
async def record_aliases(event: Event, ctx: Context) -> None:
    """Keep the aliases a member list brought (observe only: membership stores the list)."""
    assert isinstance(event, RoomSnapshotEvent)
    aliases = getattr(event, "member_aliases", ())
    if not aliases:
        return None
    pairs = dict(zip(event.member_ids, aliases, strict=False))
    pairs.pop(ctx.bot_id, None)
    await _store(ctx).record_aliases(event.room_id, pairs, event.at)
    return None


def noncompliant(rows: list[NameCardRow], policy: GroupPolicy, bot_id: str) -> list[NameCardRow]:
    """The present members (not the bot, owners or admins) whose alias does not match."""
    pattern = name_card_pattern(policy)
    return [
        r
        for r in rows
        if r.member_id != bot_id
        and r.member_id not in policy.admins
        and not compliant(r.alias, pattern)
    ]


@feature.command("名片检查", "昵称检查", admin_only=True)
async def check_name_cards(cmd: Command, ctx: Context) -> str:
    """The members whose group alias does not match the format (admins)."""
    policy = ctx.policy
    assert policy is not None
    section = policy.get(ReportsPolicy).name_card
    store = _store(ctx)
    bad = noncompliant(await store.name_cards(policy.room_id), policy, ctx.bot_id)
    if not bad:
        return render(section.all_ok_text, policy)
    names = await store.names(policy.room_id, [r.member_id for r in bad])
    lines = [
        f"{i}. {r.alias or '（未设置）'}" + ("" if r.alias else f"（{names[r.member_id]}）")
        for i, r in enumerate(bad, 1)
    ]
    return render(
        section.list_text,
        policy,
        count=str(len(bad)),
        members="\n".join(lines),
    )


async def reminders(ctx: Context, policy: GroupPolicy, now: datetime) -> list[Action]:
    """The group's name-card reminder (one message per ``max_mentions`` members),
    for members not yet reminded about their current alias; claims them."""
    section = policy.get(ReportsPolicy).name_card
    if not section.remind:
        return []
    store = _store(ctx)
    due = [
        r
        for r in noncompliant(await store.name_cards(policy.room_id), policy, ctx.bot_id)
        if r.reminded_alias != r.alias
    ]
    claimed = {
        r.member_id: r.alias
        for r in due
        if await store.claim_reminder(policy.room_id, r.member_id, r.alias, now)
    }
    text = render(section.remind_text, policy)
    actions: list[Action] = []
    for group in chunks(list(claimed), section.max_mentions):
        actions.append(
            Say(
                room=policy.room_id,
                text=text,
                mention_ids=tuple(group),
                priority=Priority.BROADCAST,
                key=action_key(
                    "name_card", policy.room_id, "|".join(f"{m}={claimed[m]}" for m in group)
                ),
                rule="name_card",
                reason=f"remind {len(group)} member(s) of the name-card format",
            )
        )
    return actions


def _trigger(tz: Any, config: Any) -> Any:
    return daily(REMIND_AT, tz)


@feature.job("name-cards", _trigger)
async def remind_name_cards(ctx: Context, at: datetime) -> Result:
    """Daily: each managed group where the feature is on reminds its new non-compliant members."""
    now = ctx.clock.now()
    actions: list[Action] = []
    for room_id in ctx.policies.managed_rooms():
        policy = ctx.policies.get(room_id)
        if policy is None or not feature.enabled(policy):
            continue
        actions += await reminders(ctx, policy, now)
    return Result(actions)
