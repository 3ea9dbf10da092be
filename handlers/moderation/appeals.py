"""Appeals (申诉, issue 8 point 8): a removed member asks again; an admin answers.

* ``#申诉 案件 说明`` — privately to the bot, by the member of the case only
  (:meth:`storage.moderation.ModerationStore.appeal`; an open or confirmed
  case, once): every admin of the case's group is told privately (case,
  member, the appeal, what was done and why, the evidence); the member gets a
  receipt.  Sent in a group, it only tells the member to write privately.
* ``#驳回 案件`` — an admin of the case's group, in a group or privately:
  an appealed case becomes ``rejected`` and its member is told privately.
  Undoing a case is ``#误判`` (the core's: it re-invites the member).
* ``#申诉列表`` — an admin: the open appeals of this group, or privately of
  every group they administer.

Admin-ness is checked here, by account id, against the *case's* group:
a private message has no group policy for the command router to check.
Audited: each appeal and rejection as an ``Audit`` effect, every message by
the executor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.vocab.actions import Priority
from bot.vocab.effects import Audit
from bot.vocab.policy import GroupPolicy
from handlers.base import Context
from handlers.command_router import Reply
from handlers.feature import Feature, Stage
from handlers.moderation.appeal_policy import AppealPolicy
from handlers.moderation.policy import ModerationPolicy
from handlers.moderation.private_notes import (
    administered_rooms,
    admins_only_text,
    fill,
    member_label,
    parse_number,
    recorded,
    tell_privately,
)
from handlers.parsing import Command
from storage.moderation import APPEAL_MAX_LENGTH, CaseState, ModerationStore

feature = Feature("appeals", stage=Stage.COMMANDS, section=ModerationPolicy)

#: What a case's ``action`` means, for the admins' notice.
ACTION_LABELS = {
    "warn": "警告",
    "remove": "移出群聊",
    "remove_and_block": "移出群聊并拉黑",
    "notify": "通知管理员",
    "none": "仅记录",
}
LIST_LIMIT = 20
LIST_APPEAL_CHARS = 60


def _store(ctx: Context) -> ModerationStore:
    return ModerationStore(ctx.sessions, account_id=ctx.repo.account_id)


def _section(policy: GroupPolicy | None) -> AppealPolicy:
    return policy.get(ModerationPolicy).appeals if policy is not None else AppealPolicy()


def reasons_text(reasons: Sequence[Mapping[str, Any]]) -> str:
    """The reasons of the checks that hit, as admins read them."""
    hits = [str(r["reason"]) for r in reasons if r.get("hit", True) and r.get("reason")]
    return "；".join(hits) or "无"


def _audit(
    ctx: Context, case: CaseState, action: str, by: str, reason: str, **detail: Any
) -> Audit:
    return recorded(
        ctx,
        action,
        case.id,
        room=case.room_id,
        member=case.member_id,
        by=by,
        reason=reason,
        case=case.id,
        **detail,
    )


@feature.command("申诉", "appeal", direct=True)
async def appeal(cmd: Command, ctx: Context) -> Reply | str:
    if cmd.room_id is not None:  # an appeal is private
        t = _section(ctx.policy)
        return fill(ctx, t.private_only_text, ctx.policy, cmd.room_id, prefix=cmd.prefix, case="")
    number_word, _, text = cmd.args.partition(" ")
    number, text = parse_number(number_word), text.strip()
    if number is None or not text:
        return fill(ctx, AppealPolicy().usage_text, None, "", prefix=cmd.prefix, case="")
    store = _store(ctx)
    case = await store.case(number)
    if case is None or case.member_id != cmd.sender_id:  # tell a stranger nothing more
        return fill(ctx, AppealPolicy().not_found_text, None, "", prefix=cmd.prefix, case=number)
    policy = ctx.policies.get(case.room_id)
    t = _section(policy)
    values = {"prefix": cmd.prefix, "case": number}
    now = ctx.clock.now()
    if not await store.appeal(number, cmd.sender_id, text, now):
        return fill(ctx, t.closed_text, policy, case.room_id, **values)
    notice = fill(
        ctx,
        t.admin_text,
        policy,
        case.room_id,
        member=await member_label(ctx, case.member_id),
        appeal=text[:APPEAL_MAX_LENGTH],
        action=ACTION_LABELS.get(case.action, case.action),
        reasons=reasons_text(case.reasons),
        text=case.text,
        **values,
    )
    admins = policy.admins if policy is not None else frozenset(ctx.config.owners)
    why = f"case {number} appealed by {cmd.sender_id}"
    told = tell_privately(admins, notice, at=now, reason=why, about=("appeal", number))
    audit = _audit(ctx, case, "appeal", cmd.sender_id, why, appeal=text[:APPEAL_MAX_LENGTH])
    return Reply(fill(ctx, t.received_text, policy, case.room_id, **values), told, [audit])


@feature.command("驳回", "reject", direct=True)
async def reject(cmd: Command, ctx: Context) -> Reply | str:
    here = _section(ctx.policy)
    number = parse_number(cmd.words[0]) if cmd.words else None
    if number is None:
        return fill(
            ctx, here.reject_usage_text, ctx.policy, cmd.room_id or "", prefix=cmd.prefix, case=""
        )
    store = _store(ctx)
    case = await store.case(number)
    policy = ctx.policies.get(case.room_id) if case is not None else None
    if case is None or policy is None or cmd.sender_id not in policy.admins:
        if case is None and administered_rooms(cmd, ctx):
            return fill(
                ctx,
                here.not_appealed_text,
                ctx.policy,
                cmd.room_id or "",
                prefix=cmd.prefix,
                case=number,
            )
        return admins_only_text(ctx)
    t = _section(policy)
    values = {"prefix": cmd.prefix, "case": number}
    if case.status != "appealed":
        return fill(ctx, t.not_appealed_text, policy, case.room_id, **values)
    now = ctx.clock.now()
    await store.set_status(number, "rejected", now, by=cmd.sender_id)
    why = f"appeal of case {number} rejected by {cmd.sender_id}"
    told = tell_privately(
        [case.member_id],
        fill(ctx, t.rejected_text, policy, case.room_id, **values),
        at=now,
        reason=why,
        about=("appeal-rejected", number),
        priority=Priority.REPLY,
    )
    member = await member_label(ctx, case.member_id)
    reply = fill(ctx, t.admin_rejected_text, policy, case.room_id, member=member, **values)
    audit = _audit(ctx, case, "appeal_reject", cmd.sender_id, why)
    return Reply(reply, told, [audit], urgent=True)


@feature.command("申诉列表", "appeals", direct=True)
async def open_appeals(cmd: Command, ctx: Context) -> str:
    rooms = administered_rooms(cmd, ctx)
    if not rooms:
        return admins_only_text(ctx)
    t = _section(ctx.policy)
    scope = cmd.room_id if cmd.room_id is not None else None
    cases = [
        c
        for c in await _store(ctx).cases(room_id=scope, statuses=["appealed"], limit=500)
        if c.room_id in rooms
    ]
    room_here = cmd.room_id or ""
    if not cases:
        return fill(ctx, t.list_empty_text, ctx.policy, room_here, prefix=cmd.prefix, case="")
    lines = [
        fill(
            ctx,
            t.list_header_text,
            ctx.policy,
            room_here,
            prefix=cmd.prefix,
            case="",
            count=len(cases),
        )
    ]
    for case in list(reversed(cases))[:LIST_LIMIT]:  # the longest waiting first
        policy = ctx.policies.get(case.room_id)
        appeal_text = case.appeal_text or ""
        if len(appeal_text) > LIST_APPEAL_CHARS:
            appeal_text = appeal_text[: LIST_APPEAL_CHARS - 1] + "…"
        lines.append(
            fill(
                ctx,
                _section(policy).list_item_text,
                policy,
                case.room_id,
                prefix=cmd.prefix,
                case=case.id,
                member=await member_label(ctx, case.member_id),
                appeal=appeal_text,
            )
        )
    return "\n".join(lines)
