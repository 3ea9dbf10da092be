"""Asking to invite: ``#邀请 <name or @someone>``, ``#同意 <n>``, ``#拒绝 <n>``.

A member asks in the group; each admin of the group is asked privately with
the request's number.  An admin of that group (by account id: owners, global
admins and the group's admins) answers in the group or privately to the bot;
anyone else is politely refused.  An approval holds ``approval_hours``; a
request nobody answers lapses after ``request_hours``.  The requester is told
in the group either way (of a lapse by the ``lapse`` job).  The request is written when asked (its number is
in the admins' message); answers are conditional updates, so two admins
answering at once decide it once.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from datetime import timedelta

from bot.vocab.actions import Priority, Say, say_to_each
from bot.vocab.effects import Audit
from bot.vocab.policy import GroupPolicy
from bot.vocab.texts import render
from handlers.base import Context, Result
from handlers.command_router import Reply, reply_to
from handlers.moderation.invite_policy import InvitePolicy
from handlers.moderation.invites.feature import feature, invite_policy
from handlers.parsing import Command
from storage.invites import InviteRequestState, InviteStore

#: An account id typed as the invitee (``wxid_…``); other words are a name.
_ACCOUNT_ID = re.compile(r"^wxid_[0-9A-Za-z_-]{2,60}$")
_NUMBER = re.compile(r"\d{1,12}")
STATUS_LABELS = {
    "approved": "已同意",
    "declined": "已拒绝",
    "used": "已入群",
    "lapsed": "无人处理，已失效",
    "expired": "已同意但未按时入群，已过期",
}


def _store(ctx: Context) -> InviteStore:
    return InviteStore(ctx.sessions, account_id=ctx.repo.account_id)


def _fill(template: str, policy: GroupPolicy | None, ctx: Context, **extra: str) -> str:
    """A text with its placeholders; in a direct message with no group at hand,
    the group's own are left empty."""
    if policy is not None:
        return render(template, policy, prefix=policy.command_prefix, **extra)
    values = {"group": "", "bot_name": ctx.config.bot.name, "prefix": ctx.config.commands.prefix}
    return template.format(**values, **extra).strip()


def _values(req: InviteRequestState, invites: InvitePolicy, requester: str) -> dict[str, str]:
    return {
        "n": str(req.id),
        "requester": requester,
        "invitee": req.invitee_name,
        "hours": f"{invites.approval_hours:g}",
    }


@feature.command("邀请")
async def ask(cmd: Command, ctx: Context) -> str | Result | None:
    policy = ctx.policy
    invites = invite_policy(policy) if policy is not None else None
    if policy is None or invites is None or cmd.room_id is None:
        return None
    if cmd.sender_id in policy.admins:
        return _fill(invites.request_admin_self_text, policy, ctx)
    invitee_id = cmd.mentions[0] if cmd.mentions else None
    name = cmd.args
    if invitee_id is None and _ACCOUNT_ID.match(name):
        invitee_id = name
    if not name and invitee_id is not None:
        name = await ctx.repo.contact_name(invitee_id) or invitee_id
    if not name:
        return _fill(invites.request_usage_text, policy, ctx)
    now = ctx.clock.now()
    n = await _store(ctx).request(
        cmd.room_id,
        cmd.sender_id,
        invitee_id,
        name,
        now,
        now + timedelta(hours=invites.request_hours),
    )
    req = await _store(ctx).get(n)
    assert req is not None
    values = _values(req, invites, cmd.message.sender_name or cmd.sender_id)
    # The asker first (a reply is worth little late); the admins' question holds
    # as long as the request does.
    cfg = policy.commands
    ack = _fill(invites.request_ack_text, policy, ctx, **values)
    asked = [
        dataclasses.replace(say, not_after=req.expires_at)
        for say in say_to_each(
            sorted(policy.admins - {ctx.bot_id}),
            _fill(invites.request_admin_text, policy, ctx, **values),
            priority=Priority.REPLY,
            reason=f"ask the admins about invite request {n}",
        )
    ]
    reply = reply_to(cmd, ack, cfg.reply_valid_seconds, cfg.repeat_window_seconds)
    return Result([reply, *asked])


@feature.command("同意", direct=True)
async def approve(cmd: Command, ctx: Context) -> str | Reply:
    return await _answer(cmd, ctx, approve=True)


@feature.command("拒绝", direct=True)
async def decline(cmd: Command, ctx: Context) -> str | Reply:
    return await _answer(cmd, ctx, approve=False)


def _number(args: str) -> int | None:
    found = _NUMBER.search(unicodedata.normalize("NFKC", args))
    return int(found.group()) if found else None


async def _answer(cmd: Command, ctx: Context, *, approve: bool) -> str | Reply:
    n = _number(cmd.args)
    req = await _store(ctx).get(n) if n is not None else None
    room_policy = ctx.policies.get(req.room_id) if req is not None else None
    policy = room_policy or ctx.policy
    # Only an admin of the request's group (or, for a number nobody knows, of
    # this group) may answer; anyone else learns nothing about it.
    admins = policy.admins if policy is not None else frozenset(ctx.config.owners)
    if cmd.sender_id not in admins:
        refusal = policy.commands.admins_only if policy else ctx.config.commands.admins_only
        return _fill(refusal, policy, ctx)
    invites = invite_policy(room_policy) if room_policy is not None else None
    if req is None or room_policy is None or invites is None:
        texts = invites or InvitePolicy()
        return _fill(texts.unknown_request_text, policy, ctx, n=str(n or ""))
    requester = await ctx.repo.contact_name(req.requester_id) or req.requester_id
    values = _values(req, invites, requester)
    now = ctx.clock.now()
    lapse = req.lapse_status(now)
    if lapse is not None:
        return _lapsed_reply(req, lapse, invites, room_policy, ctx, values, approve=approve)
    if req.status != "pending":
        status = STATUS_LABELS.get(req.status, req.status)
        return _fill(invites.closed_request_text, room_policy, ctx, status=status, **values)
    until = now + timedelta(hours=invites.approval_hours)
    decided = await _store(ctx).decide(req.id, approve, cmd.sender_id, now, until)
    if decided is None:  # answered (or lapsed) a moment ago
        again = await _store(ctx).get(req.id)
        lapse = again.lapse_status(now) if again is not None else None
        if again is not None and lapse is not None:
            return _lapsed_reply(again, lapse, invites, room_policy, ctx, values, approve=approve)
        status = STATUS_LABELS.get(again.status, again.status) if again is not None else ""
        return _fill(invites.closed_request_text, room_policy, ctx, status=status, **values)
    told = Say(
        room=req.room_id,
        text=_fill(
            invites.approved_text if approve else invites.declined_text,
            room_policy,
            ctx,
            **values,
        ),
        mention_ids=(req.requester_id,),
        priority=Priority.REPLY,
        reason=f"tell the requester of invite request {req.id}",
    )
    audit = Audit(
        at=now,
        action="invite_request",
        kind="moderation",
        status="recorded",
        room=req.room_id,
        target_id=req.requester_id,
        reason="approved" if approve else "declined",
        detail={"request": req.id, "by": cmd.sender_id, "invitee": req.invitee_name},
    )
    decision = "同意" if approve else "拒绝"
    text = _fill(invites.decided_text, room_policy, ctx, decision=decision, **values)
    return Reply(text, actions=[told], effects=[audit])


def _lapsed_reply(
    req: InviteRequestState,
    lapse: str,
    invites: InvitePolicy,
    policy: GroupPolicy,
    ctx: Context,
    values: dict[str, str],
    *,
    approve: bool,
) -> str:
    """#同意 / #拒绝 on a request past its time: it lapsed unanswered, or its
    approval expired unused (whether or not the lapse job has closed it yet)."""
    lapsed = lapse == "lapsed"
    hours = invites.request_hours if lapsed else invites.approval_hours
    template = invites.expired_request_text if lapsed else invites.expired_approval_text
    return _fill(
        template,
        policy,
        ctx,
        **{**values, "hours": f"{hours:g}", "decision": "同意" if approve else "拒绝"},
    )


@feature.command("解锁", "解除锁定", admin_only=True)
async def unlock(cmd: Command, ctx: Context) -> Result | str:
    """An admin ends a raid lock early (the lock's own end otherwise)."""
    room = cmd.room_id
    if room is None:
        return "请在被锁定的群里发送这条命令。"
    now = ctx.clock.now()
    if not await _store(ctx).unlock(room, now):
        return "本群目前没有入群锁定。"
    record = Audit(
        at=now,
        action="join_unlock",
        kind="invites",
        status="done",
        room=room,
        target_id=cmd.sender_id,
        key=f"join-unlock:{room}:{now.isoformat()}",
        reason=f"raid lock ended early by {cmd.sender_id}",
    )
    return Result(
        [reply_to(cmd, "已解除本群的入群锁定，新成员入群恢复按平常的规则处理。", 300, 0)],
        effects=[record],
    )
