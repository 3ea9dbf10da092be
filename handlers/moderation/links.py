"""Link approval (报备, issue 8 point 6): a member asks, an admin answers.

* ``#报备 链接`` — any member, in a group where moderation is on: the request
  is recorded with its number, every admin of the group (``policy.admins``)
  is asked privately, and the member is told it was handed in.  Asking again
  for the same link while it waits asks nobody twice; a link already approved
  is said to be so.
* ``#同意报备 n`` / ``#拒绝报备 n`` (aliases ``准许报备`` / ``驳回报备``) — an
  admin of the request's group, in a group or privately: the link (or, with
  ``moderation.links.approve_domain``, its whole domain) may be posted in that
  group for ``moderation.links.approval_hours``; the member is told in the
  group either way.  Names distinct from the invites' ``#同意`` / ``#拒绝``
  and the appeals' ``#驳回``.
* The ad check asks :meth:`storage.links.LinkApprovals.approved`.

Audited: the request and each answer as ``Audit`` effects (``recorded``), each
message by the executor.  Admin-ness is checked here against the *request's*
group, by account id, because a private message has no group policy.
"""

from __future__ import annotations

from bot.vocab.actions import Priority, Say
from bot.vocab.effects import Audit
from bot.vocab.keys import action_key, valid_until
from bot.vocab.policy import GroupPolicy
from handlers.base import Context
from handlers.command_router import Reply
from handlers.feature import Feature, Stage
from handlers.moderation.link_policy import LinkPolicy
from handlers.moderation.policy import ModerationPolicy
from handlers.moderation.private_notes import (
    NOTICE_VALID_SECONDS,
    administered_rooms,
    admins_only_text,
    fill,
    member_label,
    parse_number,
    recorded,
    tell_privately,
)
from handlers.parsing import Command
from storage.links import LinkApprovals, LinkRequest, parse_link

feature = Feature("links", stage=Stage.COMMANDS, section=ModerationPolicy)


def _hours(hours: float) -> str:
    return f"{hours:g}"


def _store(ctx: Context) -> LinkApprovals:
    return LinkApprovals(ctx.sessions, account_id=ctx.repo.account_id)


def _section(policy: GroupPolicy | None) -> LinkPolicy:
    return policy.get(ModerationPolicy).links if policy is not None else LinkPolicy()


def _audit(ctx: Context, request: LinkRequest, action: str, by: str, reason: str) -> Audit:
    return recorded(
        ctx,
        action,
        request.id,
        room=request.room_id,
        member=request.member_id,
        by=by,
        reason=reason,
        **request.as_dict(),
    )


@feature.command("报备", "baobei")
async def ask(cmd: Command, ctx: Context) -> Reply | str:
    policy = ctx.policy
    assert policy is not None and cmd.room_id is not None  # not a direct-message command
    t = _section(policy)
    words = cmd.words
    link = parse_link(words[0]) if len(words) == 1 else None
    if link is None:
        return fill(ctx, t.usage_text, policy, cmd.room_id, prefix=cmd.prefix, number="", link="")
    store, now = _store(ctx), ctx.clock.now()
    values = {"prefix": cmd.prefix, "link": link.url, "hours": _hours(t.approval_hours)}
    if await store.approved(cmd.room_id, link.url, now):
        return fill(ctx, t.already_text, policy, cmd.room_id, number="", **values)
    request, new = await store.request(cmd.room_id, cmd.sender_id, link.url, now)
    reply = fill(ctx, t.asked_text, policy, cmd.room_id, number=request.id, **values)
    if not new:
        return reply  # the admins were asked already
    member = await member_label(ctx, cmd.sender_id)
    text = fill(ctx, t.admin_text, policy, cmd.room_id, number=request.id, member=member, **values)
    why = f"link request {request.id} by {cmd.sender_id}: {link.url}"
    asks = tell_privately(policy.admins, text, at=now, reason=why, about=("link-ask", request.id))
    audit = _audit(ctx, request, "link_request", cmd.sender_id, why)
    return Reply(reply, actions=asks, effects=[audit])


@feature.command("同意报备", "准许报备", direct=True)
async def approve(cmd: Command, ctx: Context) -> Reply | str:
    return await _decide(cmd, ctx, approve=True)


@feature.command("拒绝报备", "驳回报备", direct=True)
async def decline(cmd: Command, ctx: Context) -> Reply | str:
    return await _decide(cmd, ctx, approve=False)


async def _decide(cmd: Command, ctx: Context, *, approve: bool) -> Reply | str:
    here = _section(ctx.policy)
    number = parse_number(cmd.words[0]) if len(cmd.words) == 1 else None
    room_here = cmd.room_id or ""
    if number is None:
        return fill(
            ctx,
            here.decide_usage_text,
            ctx.policy,
            room_here,
            prefix=cmd.prefix,
            number="",
            link="",
        )
    store = _store(ctx)
    request = await store.get(number)
    policy = ctx.policies.get(request.room_id) if request is not None else None
    if request is None or policy is None:
        if request is None and not administered_rooms(cmd, ctx):
            return admins_only_text(ctx)
        return fill(
            ctx, here.unknown_text, ctx.policy, room_here, prefix=cmd.prefix, number=number, link=""
        )
    if cmd.sender_id not in policy.admins:
        return admins_only_text(ctx)
    t = _section(policy)
    now = ctx.clock.now()
    hours = t.approval_hours
    decided = await store.decide(
        number,
        approve=approve,
        by=cmd.sender_id,
        at=now,
        hours=hours,
        whole_domain=t.approve_domain,
    )
    values = {"prefix": cmd.prefix, "number": number, "hours": _hours(hours)}
    if decided is None:  # answered already (by another admin, or a moment ago)
        return fill(ctx, t.unknown_text, policy, request.room_id, link=request.url, **values)
    link = t.domain_label.format(domain=decided.domain) if decided.whole_domain else decided.url
    member = await member_label(ctx, decided.member_id)
    told = Say(
        room=decided.room_id,
        text=fill(
            ctx,
            t.approved_text if approve else t.declined_text,
            policy,
            decided.room_id,
            link=link,
            **values,
        ),
        mention_ids=(decided.member_id,),
        priority=Priority.REPLY,
        reason=f"link request {number} {'approved' if approve else 'declined'} by {cmd.sender_id}",
        key=action_key("link-answer", number),
        not_after=valid_until(now, NOTICE_VALID_SECONDS),
    )
    answer = t.admin_approved_text if approve else t.admin_declined_text
    reply = fill(ctx, answer, policy, decided.room_id, link=link, member=member, **values)
    action = "link_approve" if approve else "link_decline"
    audit = _audit(ctx, decided, action, cmd.sender_id, told.reason)
    return Reply(reply, actions=[told], effects=[audit], urgent=True)
