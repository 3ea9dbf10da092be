"""Joins: gather the facts (storage), decide (``decide``), say what to do.

One join event gives at most: the removals, one note in the group per kind
of removal (the inviter of an unapproved invite @-mentioned and told how to
ask), one private message to each admin listing what was not simply let in,
one raid message to each admin when the group locks, and the records as
effects (the joins for the pace, approvals used, strikes, the lock, an audit
row per joiner).  A case is opened for each removal so admins can quote it
(``#误判 <case>``); the case is the invitee's, its reasons name the inviter,
whose strike points at it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import timedelta

from bot.vocab.actions import Action, Priority, RemoveMember, Say, say_to_each
from bot.vocab.effects import Audit, Effect
from bot.vocab.events import Event, JoinEvent
from bot.vocab.keys import action_key
from bot.vocab.policy import GroupPolicy
from bot.vocab.texts import render
from handlers.base import Context, Result
from handlers.moderation.invite_policy import InvitePolicy
from handlers.moderation.invites.decide import (
    RULE_LABELS,
    VERDICT_LABELS,
    Decisions,
    InviterKind,
    JoinDecision,
    Joiner,
    RoomFacts,
    decide,
)
from handlers.moderation.invites.effects import AddStrike, LockGroup, RecordJoins, UseApproval
from handlers.moderation.invites.feature import feature, invite_policy
from handlers.moderation.runtime import runtime
from storage.invites import InviteStore, JoinRow, best_approval
from storage.moderation import ModerationStore, NewCase

PACE_WINDOW = timedelta(hours=1)
PROTECTED_ROLES = ("owner", "admin")


@feature.on(JoinEvent)
async def joiners(event: Event, ctx: Context) -> Result | None:
    assert isinstance(event, JoinEvent) and ctx.policy is not None
    invites = invite_policy(ctx.policy)
    if invites is None:
        return None
    members = [
        (m, name)
        for m, name in itertools.zip_longest(event.member_ids, event.member_names, fillvalue="")
        if m and m != ctx.bot_id
    ]
    if not members:
        return None
    store = InviteStore(ctx.sessions, account_id=ctx.repo.account_id)
    room = await _room_facts(event, ctx, store, [m for m, _ in members])
    people = await _joiners(event, ctx, store, members)
    decisions = decide(people, room, invites)
    return await _outcome(event, ctx, invites, decisions)


# ------------------------------------------------------------------- facts


async def _protected(ctx: Context, room_id: str, member_id: str) -> bool:
    """Owners and admins by account id, or by their stored role in the group."""
    assert ctx.policy is not None
    if member_id in ctx.policy.admins:
        return True
    membership = await ctx.repo.get_membership(room_id, member_id)
    return membership is not None and membership.role in PROTECTED_ROLES


async def _inviter_kind(event: JoinEvent, ctx: Context) -> InviterKind:
    inviter = event.inviter_id
    if inviter is None:
        return "none"
    if not inviter:
        return "unknown"
    if inviter == ctx.bot_id or await _protected(ctx, event.room_id, inviter):
        return "trusted"
    membership = await ctx.repo.get_membership(event.room_id, inviter)
    if membership is None or membership.left_at is not None:
        return "unknown"
    return "member"


async def _room_facts(
    event: JoinEvent, ctx: Context, store: InviteStore, member_ids: list[str]
) -> RoomFacts:
    present = await ctx.repo.current_members(event.room_id)
    since = event.at - PACE_WINDOW
    ended = await store.lock_ended(event.room_id, event.at)
    if ended is not None and ended > since:  # the raid's joins do not count again
        since = ended
    paced_before = await store.paced_joins(event.room_id, since, besides=member_ids, at=event.at)
    return RoomFacts(
        inviter=await _inviter_kind(event, ctx),
        reconciled=event.found_by_reconciliation,
        locked=await store.locked_until(event.room_id, ctx.clock.now()) is not None,
        paced_before=paced_before,
        present_before=len(present.difference(member_ids, (ctx.bot_id,))) + 1,  # + the bot
    )


async def _joiners(
    event: JoinEvent, ctx: Context, store: InviteStore, members: list[tuple[str, str]]
) -> list[Joiner]:
    blocklist = ModerationStore(ctx.sessions, account_id=ctx.repo.account_id)
    approvals = await store.approvals(event.room_id, ctx.clock.now())
    out = []
    for member_id, name in members:
        approval = best_approval(approvals, member_id, name)
        if approval is not None:
            approvals.remove(approval)  # one approval lets one joiner in
        out.append(
            Joiner(
                member_id=member_id,
                name=name or await ctx.repo.contact_name(member_id) or member_id,
                protected=await _protected(ctx, event.room_id, member_id),
                blocked=await blocklist.is_blocked(member_id),
                approval=approval.id if approval is not None else None,
            )
        )
    return out


# ----------------------------------------------------------------- outcome


async def _outcome(
    event: JoinEvent, ctx: Context, invites: InvitePolicy, decisions: Decisions
) -> Result:
    policy = ctx.policy
    assert policy is not None
    shadow = await runtime(ctx).mode(policy, "invites", ctx.clock.now()) == "shadow"
    inviter_name = await _inviter_name(event, ctx)
    cases = await _open_cases(event, ctx, decisions.removed, inviter_name, shadow)
    actions: list[Action] = [
        RemoveMember(
            room=event.room_id,
            member_id=d.member_id,
            priority=Priority.MODERATION,
            reason=f"invites: {d.rule} ({RULE_LABELS[d.rule]})",
        )
        for d in decisions.removed
    ]
    actions += _notes(event, policy, invites, decisions.removed, inviter_name)
    admins = sorted(policy.admins - {ctx.bot_id})
    if decisions.raid:
        raid = _raid_text(policy, invites)
        actions += say_to_each(
            admins, raid, priority=Priority.MODERATION, reason="a raid locked the group"
        )
    if decisions.noteworthy:
        lines = [_line(d, inviter_name, cases.get(d.member_id)) for d in decisions.noteworthy]
        text = _render(invites.admin_text, policy, lines="\n".join(lines))
        actions += say_to_each(
            admins, text, priority=Priority.MODERATION, reason="tell the admins about joins"
        )
    effects = _records(event, ctx, invites, decisions, cases, shadow)
    blocked = {d.member_id for d in decisions.removed if d.rule == "blocklist"}
    actions = [  # the rule the doer's shadow switch reads
        dataclasses.replace(
            a, rule="blocklist" if getattr(a, "member_id", None) in blocked else "invites"
        )
        for a in actions
    ]
    everyone_removed = len(decisions.removed) == len(decisions.joins)
    # In shadow mode nobody is removed: the welcome still greets them.
    return Result(actions, stop=everyone_removed and not shadow, effects=effects)


async def _inviter_name(event: JoinEvent, ctx: Context) -> str:
    if not event.inviter_id:
        return ""
    return await ctx.repo.contact_name(event.inviter_id) or event.inviter_id


def _render(template: str, policy: GroupPolicy, **extra: str) -> str:
    return render(template, policy, prefix=policy.command_prefix, **extra)


def _notes(
    event: JoinEvent,
    policy: GroupPolicy,
    invites: InvitePolicy,
    removed: Sequence[JoinDecision],
    inviter_name: str,
) -> list[Action]:
    """One polite note in the group per kind of removal (none for the blocklist)."""
    templates = {
        "unapproved": invites.unapproved_text,
        "size_cap": invites.full_text,
        "raid": invites.locked_text,
        "reconciled": invites.not_approved_text,
        "qr": invites.not_approved_text,
        "unknown_inviter": invites.not_approved_text,
    }
    notes: list[Action] = []
    by_template: dict[str, list[str]] = {}
    for d in removed:
        if d.rule in templates:
            by_template.setdefault(templates[d.rule], []).append(d.name)
    for template, names in by_template.items():
        mention = template == invites.unapproved_text and bool(event.inviter_id)
        text = _render(
            template,
            policy,
            members="、".join(names),
            inviter=inviter_name,
            cap=str(invites.size_cap),
        )
        notes.append(
            Say(
                room=event.room_id,
                text=text,
                mention_ids=(event.inviter_id,) if mention and event.inviter_id else (),
                priority=Priority.MODERATION,
                reason="tell the group why a joiner was removed",
            )
        )
    return notes


def _raid_text(policy: GroupPolicy, invites: InvitePolicy) -> str:
    action = "交给群管查看" if invites.raid_action == "review" else "会被移出"
    return _render(
        invites.raid_text,
        policy,
        limit=str(invites.joins_per_hour),
        minutes=f"{invites.raid_lock_minutes:g}",
        action=action,
    )


def _line(d: JoinDecision, inviter_name: str, case: int | None) -> str:
    who = f"{d.name}（{d.member_id}）" if d.name != d.member_id else d.member_id
    by = f"，邀请人 {inviter_name}" if inviter_name else ""
    tail = f"（案件 {case}）" if case is not None else ""
    return f"· {who}{by}：{RULE_LABELS[d.rule]}，{VERDICT_LABELS[d.verdict]}{tail}"


async def _open_cases(
    event: JoinEvent,
    ctx: Context,
    removed: Sequence[JoinDecision],
    inviter_name: str,
    shadow: bool,
) -> dict[str, int]:
    """A case per removal (member -> case number); a replayed join opens none."""
    store = ModerationStore(ctx.sessions, account_id=ctx.repo.account_id)
    cases: dict[str, int] = {}
    for d in removed:
        reasons = [{"name": d.rule, "hit": True, "reason": RULE_LABELS[d.rule]}]
        if event.inviter_id:
            reasons.append({"name": "inviter", "hit": d.strike, "reason": event.inviter_id})
        case = await store.open_case(
            NewCase(
                room_id=event.room_id,
                member_id=d.member_id,
                message_id=action_key("join", d.member_id, event.at),
                rule="blocklist" if d.rule == "blocklist" else "invites",
                decision=d.verdict,
                score=1.0,
                reasons=reasons,
                text=f"{d.name} 入群，邀请人 {inviter_name or '不明'}",
                action="remove",
                mode="shadow" if shadow else "enforce",
                at=event.at,
            )
        )
        if case is not None:
            cases[d.member_id] = case
    return cases


def _records(
    event: JoinEvent,
    ctx: Context,
    invites: InvitePolicy,
    decisions: Decisions,
    cases: dict[str, int],
    shadow: bool,
) -> list[Effect]:
    now = ctx.clock.now()
    rows = tuple(
        JoinRow(
            event.room_id,
            d.member_id,
            event.at,
            event.inviter_id,
            not event.found_by_reconciliation,
            d.verdict,
            d.rule,
        )
        for d in decisions.joins
    )
    effects: list[Effect] = [RecordJoins(rows=rows, at=now)]
    for d in decisions.joins:
        effects.append(_audit(event, d, cases.get(d.member_id)))
        if d.approval is not None:
            effects.append(UseApproval(request_id=d.approval, member_id=d.member_id, at=now))
        if d.strike and event.inviter_id and not shadow and d.member_id in cases:
            effects.append(
                AddStrike(
                    room=event.room_id,
                    member_id=event.inviter_id,
                    case_id=cases[d.member_id],
                    at=now,
                )
            )
    if decisions.raid:
        assert ctx.policy is not None
        effects.append(
            LockGroup(
                room=event.room_id,
                at=now,
                until=now + timedelta(minutes=invites.raid_lock_minutes),
                what=f"一小时内入群超过 {invites.joins_per_hour} 人，"
                f"已锁定入群 {invites.raid_lock_minutes:g} 分钟",
                where=f"{ctx.policy.name}（{event.room_id}）",
                reason="joins beyond joins_per_hour",
            )
        )
    return effects


def _audit(event: JoinEvent, d: JoinDecision, case: int | None) -> Audit:
    return Audit(
        at=event.at,
        action="join_decision",
        kind="moderation",
        status="recorded",
        room=event.room_id,
        target_id=d.member_id,
        key=action_key("join-decision", event.room_id, d.member_id, event.at),
        reason=f"invites: {d.rule}",
        detail={
            "verdict": d.verdict,
            "inviter": event.inviter_id,
            "source": event.source,
            "found_by_reconciliation": event.found_by_reconciliation,
            "case": case,
            "approval": d.approval,
            "strike": d.strike,
        },
    )
