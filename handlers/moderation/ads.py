"""Ads in every form: judge each message, escalate, tell the admins (issue 8).

For every message of a member who is not exempt (owners, admins, the
allowlists) in a group where moderation is on, the detector weighs every
check — text, links, ids, cards, mini programs, QR codes in images, flooding,
a newcomer's probation — into a verdict.  ``review`` opens a case and tells
the admins; ``ad`` opens a case, adds a strike and takes the ladder's rung
for the member's strikes within ``strike_window_hours``: warn, remove, or
remove and block.  Decide, then do: the handler returns an :class:`OpenCase`
effect; its applier records the case (a replayed message has one already:
nothing again) and answers with the actions that quote the case number,
which the doer does — or, in shadow mode, only records.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.vocab.actions import Action, Priority, RemoveMember, Say
from bot.vocab.effects import Effect
from bot.vocab.events import Event, MessageEvent, MessageKind
from bot.vocab.keys import action_key
from bot.vocab.policy import GroupPolicy
from bot.vocab.texts import render
from handlers.base import Context, Result
from handlers.feature import Feature, Stage
from handlers.moderation.detector.flood import FloodLimit
from handlers.moderation.detector.probation import boost_of, probation
from handlers.moderation.detector.qr import check_qr
from handlers.moderation.detector.results import CheckResult, Decision, Verdict
from handlers.moderation.detector.verdict import Sample, decision_for
from handlers.moderation.policy import ModerationPolicy
from handlers.moderation.runtime import ModerationRuntime, runtime
from handlers.parsing import parse_command
from handlers.services import Services
from storage.links import LinkApprovals, parse_link
from storage.moderation import NewCase
from storage.types import MembershipState

log = logging.getLogger(__name__)

ACTION_WORDS = {
    "warn": "警告",
    "remove": "移出群聊",
    "remove_and_block": "移出并拉黑",
    "notify": "提醒群管复核",
    "none": "仅记录",
}


def _shadow(policy: GroupPolicy, action: Action, services: Services) -> Any:
    return runtime(services).shadow(policy, action)


feature = Feature("moderation", stage=Stage.MODERATION, section=ModerationPolicy, shadow=_shadow)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenCase(Effect):
    """Record a case; its applier answers with what to do about it."""

    room: str
    member_id: str
    member_name: str
    message_id: str | None
    rule: str
    verdict: Verdict
    text: str
    rung: str  # warn, remove, remove_and_block, notify, none
    by: str = ""  # an admin's own case (#警告, #踢, #拉黑, #广告)


# ------------------------------------------------------------------ judging


@feature.on(MessageEvent)
async def judge(event: Event, ctx: Context) -> Result | None:
    assert isinstance(event, MessageEvent) and ctx.policy is not None
    policy, services = ctx.policy, ctx.services
    if event.room_id is None or services is None or event.sender_id == ctx.bot_id:
        return None
    if event.kind is MessageKind.RECALLED:
        return None
    cmd = parse_command(event, policy.command_prefix)
    if cmd is not None and cmd.name in services.commands:
        return None  # a command the bot answers (#报备 a link is not an ad)
    rt = runtime(services)
    membership = await ctx.repo.get_membership(event.room_id, event.sender_id)
    if await rt.exempt(policy, event.sender_id, membership):
        return None
    text = await judged_text(event, ctx)
    verdict = await _verdict(event, text, membership, ctx)
    if verdict.decision is Decision.OK:
        log.debug("%s in %s: ok (%s)", event.message_id, event.room_id, verdict.score)
        return None
    mod = policy.get(ModerationPolicy)
    rule = "flood" if _flood_only(verdict) else "ads"
    if verdict.decision is Decision.REVIEW:
        rung = "notify" if mod.review_action == "notify" else "none"
    else:
        since = ctx.clock.now() - timedelta(hours=mod.strike_window_hours)
        strikes = await rt.store.strikes(event.room_id, event.sender_id, since)
        rung = mod.ladder[min(strikes, len(mod.ladder) - 1)]
    case = OpenCase(
        room=event.room_id,
        member_id=event.sender_id,
        member_name=event.sender_name,
        message_id=event.message_id,
        rule=rule,
        verdict=verdict,
        text=text or (event.attachment.title if event.attachment else ""),
        rung=rung,
        reason=f"{rule}: {verdict.decision} {verdict.score:.2f}",
    )
    return Result(effects=[case], stop=verdict.decision is Decision.AD)


#: A stay past probation, not read again (its figures are not shown to admins).
PAST_PROBATION = CheckResult("probation", False, 0.0, "不在新成员观察期")
PAST_PROBATION_KEPT = 200_000

#: How far back a quoted message is looked for in the group's activity log.
RECENT_QUOTABLE = 1_000


async def judged_text(event: MessageEvent, ctx: Context) -> str:
    """The text the detector reads: a quote reply's own text when the quoted message
    is one the group really saw; otherwise the quoted text too, since the text form
    of a quote (「name：text」 and a separator) can be typed by hand, and an ad must
    not hide inside a made-up quote."""
    q = event.quote
    quoted = q.text.strip() if q is not None else ""
    if q is None or not quoted or event.room_id is None:
        return event.text
    for row in await ctx.repo.recent_activity(event.room_id, RECENT_QUOTABLE):
        if row.kind != "message":
            continue
        if (q.message_id and row.message_id == q.message_id) or (row.text or "").strip() == quoted:
            return event.text
    return f"{quoted}\n{event.text}"


async def _verdict(
    event: MessageEvent, text: str, membership: MembershipState | None, ctx: Context
) -> Verdict:
    assert ctx.policy is not None and ctx.services is not None and event.room_id is not None
    mod = ctx.policy.get(ModerationPolicy)
    rt = runtime(ctx.services)
    await rt.ready()
    extra: list[CheckResult] = list(
        rt.flood.observe(
            group_id=event.room_id,
            member_id=event.sender_id,
            now=ctx.clock.monotonic(),
            text=text or None,
            limit=FloodLimit(mod.flood_messages, mod.flood_seconds),
        )
    )
    if event.kind is MessageKind.IMAGE and ctx.services.fetch_image is not None:
        extra.append(await _qr(event.message_id, ctx, mod))
    on_probation = await _probation(event, membership, mod, rt, ctx)
    approved = await _approved_domains(event, ctx)
    sample = Sample(
        text=text,
        kind=event.kind,
        attachment=event.attachment,
        allowed_domains=frozenset(mod.allowed_domains) | approved,
        allowed_app_ids=frozenset(mod.allowed_app_ids),
        allowed_contacts=frozenset(mod.allowed_contacts),
        room_id=event.room_id,
        sender_id=event.sender_id,
    )
    verdict = rt.detector.judge(sample, [*extra, on_probation])
    score = min(1.0, verdict.score * boost_of(on_probation)) if on_probation.hit else verdict.score
    decision = decision_for(score, verdict.checks, mod.review_threshold, mod.ad_threshold)
    return Verdict(round(score, 4), decision, verdict.checks)


async def _probation(
    event: MessageEvent,
    membership: MembershipState | None,
    mod: ModerationPolicy,
    rt: ModerationRuntime,
    ctx: Context,
) -> CheckResult:
    """The newcomer check; a stay once past probation is not read again."""
    assert event.room_id is not None
    joined_at = membership.joined_at if membership else None
    stay = (event.room_id, event.sender_id, joined_at)
    if stay in rt.past_probation:
        return PAST_PROBATION
    stats = await ctx.repo.member_stats(event.room_id, event.sender_id)
    result = probation(
        joined_at=joined_at,
        messages_sent=stats.message_count if stats else 0,
        now=ctx.clock.now(),
        hours=mod.probation_hours,
        first_messages=mod.probation_messages,
    )
    if not result.hit:
        if len(rt.past_probation) >= PAST_PROBATION_KEPT:
            rt.past_probation.clear()  # bounded: the next message of each reads again
        rt.past_probation.add(stay)
    return result


async def _approved_domains(event: MessageEvent, ctx: Context) -> frozenset[str]:
    """Domains of the links in ``event`` an admin approved for this group (#报备)."""
    assert event.room_id is not None
    words = [w for w in (event.text or "").split() if "." in w]
    if event.attachment is not None and event.attachment.url:
        words.append(event.attachment.url)
    if not words:
        return frozenset()
    approvals = LinkApprovals(ctx.sessions, account_id=ctx.repo.account_id)
    now = ctx.clock.now()
    found = set()
    for word in words[:5]:
        link = parse_link(word)
        if link is not None and await approvals.approved(event.room_id, word, now):
            found.add(link.domain)
    return frozenset(found)


async def _qr(message_id: str, ctx: Context, mod: ModerationPolicy) -> CheckResult:
    assert ctx.services is not None and ctx.services.fetch_image is not None
    try:
        data = await ctx.services.fetch_image(message_id)
    except Exception as exc:
        log.info("could not read image %s: %s", message_id, exc)
        return CheckResult(
            "qr_code", False, 0.0, f"图片读取失败，未检查二维码（{type(exc).__name__}）"
        )
    return await asyncio.to_thread(check_qr, data, allowed_domains=mod.allowed_domains)


def _flood_only(verdict: Verdict) -> bool:
    names = {c.name for c in verdict.hits if c.score > 0}
    return bool(names) and names <= {"flood", "cross_group_duplicate"}


# ------------------------------------------------------------ doing a case


@feature.effect(OpenCase)
async def open_case(effect: OpenCase, services: Services) -> Result | None:
    rt = runtime(services)
    policy = services.policies.get(effect.room)
    if policy is None:
        return None
    now = services.clock.now()
    mode = await rt.mode(policy, effect.rule, now)
    case_id = await rt.store.open_case(
        NewCase(
            room_id=effect.room,
            member_id=effect.member_id,
            message_id=effect.message_id,
            rule=effect.rule,
            decision=str(effect.verdict.decision),
            score=effect.verdict.score,
            reasons=[
                {"name": c.name, "hit": c.hit, "score": c.score, "reason": c.reason}
                for c in effect.verdict.checks
            ],
            text=effect.text,
            action=effect.rung,
            mode=mode,
            at=now,
        )
    )
    if case_id is None:
        return None  # a replayed message: its case exists, and was acted on
    if effect.rung in ("warn", "remove", "remove_and_block") and mode == "enforce":
        # Shadow mode leaves no strike: switched on, the group starts everyone afresh.
        await rt.store.add_strike(effect.room, effect.member_id, case_id, now)
    if effect.rung == "remove_and_block" and mode == "enforce":
        await rt.store.block(effect.member_id, effect.by or "qunbot", effect.text, now, case_id)
    return Result(case_actions(case_id, effect, policy))


def case_actions(case_id: int, effect: OpenCase, policy: GroupPolicy) -> list[Action]:
    """What a case leads to: the member warned or removed, the admins told."""
    mod = policy.get(ModerationPolicy)
    reasons = "；".join(effect.verdict.reasons) or "群管判定"
    values = {"case": str(case_id), "reasons": reasons, "prefix": policy.command_prefix}
    rule = effect.rule
    out: list[Action] = []
    if effect.rung == "warn":
        out.append(
            Say(
                room=effect.room,
                text=render(mod.warn_text, policy, **values),
                mention_ids=(effect.member_id,),
                priority=Priority.MODERATION,
                reason=f"case {case_id}: warn",
                key=action_key("mod-warn", case_id),
                rule=rule,
            )
        )
    elif effect.rung in ("remove", "remove_and_block") and effect.member_id not in policy.admins:
        out += [
            Say(
                room=effect.room,
                text=render(mod.removed_text, policy, **values),
                mention_ids=(effect.member_id,),
                priority=Priority.MODERATION,
                reason=f"case {case_id}: tell the member",
                key=action_key("mod-told", case_id),
                rule=rule,
            ),
            RemoveMember(
                room=effect.room,
                member_id=effect.member_id,
                priority=Priority.MODERATION,
                reason=f"case {case_id}: {effect.rung}",
                key=action_key("mod-remove", case_id),
                rule=rule,
                after=action_key("mod-told", case_id),  # they read it before they go
            ),
        ]
    if effect.rung != "none":
        notice = render(
            mod.admin_text,
            policy,
            **values,
            member=f"{effect.member_name or effect.member_id}（{effect.member_id}）",
            text=effect.text[:200],
            action=ACTION_WORDS.get(effect.rung, effect.rung),
        )
        out += [
            Say(
                room=None,
                to_contact=admin,
                text=notice,
                priority=Priority.MODERATION,
                reason=f"case {case_id}: tell the admins",
                key=action_key("mod-admin", case_id, admin),
                rule=rule,  # in shadow mode the daily digest tells them instead
            )
            for admin in sorted(policy.admins)
        ]
    return out
