"""``#广告`` as a quote reply: an admin marks a member's message an ad.

The admin long-presses a message in WeChat, chooses 引用 and sends ``#广告``;
the transport hands the command its :class:`~bot.vocab.events.Quote`.  The
quoted message's sender is found by account id, never by display name alone:

1. the id the puppet gave (the raw appmsg's ``chatusr``);
2. the activity log of this group (its last :data:`RECENT_QUOTABLE`
   messages): the quoted message's id, else its text;
3. the group's open cases with that text;
4. only when all that leaves nobody, or several: the display name, when it
   is the group alias or WeChat name of exactly one present member.

padlocal and wechat4u give only the display name and the text, so (2) does
the work there: a message is found once the activity log has it (it is
written within a fraction of a second).  A text found from several members,
a name shared by several, an id and a name that disagree, a quoted image
(no text) from a member nobody can tell: the admin is asked, politely, for
``#广告 <case>`` or ``#踢 @x``.  Owners, admins and the bot itself are never
acted on.  Not supported by text: a quoted link, file or card (the log keeps
its URL beside the title) and a quoted image (no text) are found by id or by
a unique name only; messages older than the last :data:`RECENT_QUOTABLE`
of the group, by a unique name only.

Then, like a detected ad: a case (rule ``manual``, the admin's own) with the
quoted text and the member's id, the ladder's rung for the member's strikes
(warn, remove, remove and block), the admins told; the case confirmed and the
classifier taught (:class:`ConfirmQuoted`), as ``#广告 <case>`` does.  A
case the bot already acted on for that very message is only confirmed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from bot.vocab.effects import Effect
from bot.vocab.events import Quote
from handlers.base import Context
from handlers.command_router import Reply
from handlers.moderation.ads import RECENT_QUOTABLE, OpenCase, feature
from handlers.moderation.detector.results import CheckResult, Decision, Verdict
from handlers.moderation.policy import ModerationPolicy
from handlers.moderation.runtime import runtime
from handlers.parsing import Command
from handlers.services import Services
from storage.models import Contact
from storage.moderation import CaseState
from storage.reports import ReportStore

log = logging.getLogger(__name__)

#: Case texts are stored cut to this (storage.moderation.EVIDENCE_MAX_LENGTH).
_CASE_TEXT = 500
_ACTED = ("warn", "remove", "remove_and_block")

NOT_ON_ADMINS = "不能对群主或群管执行这个操作。"
NOT_ON_BOT = "这是机器人自己的消息，无需标记。"
ASK_FOR_CASE = (
    "抱歉，无法确定被引用消息的发送者{why}。请用 {prefix}广告 案件号，或 {prefix}踢 @某人 处理。"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmQuoted(Effect):
    """Confirm a case (by number, else the room's open case of ``message_id``)
    and teach the classifier with its text: once, however often it is applied."""

    room: str
    by: str
    case_id: int | None = None
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class Found:
    member_id: str
    how: str  # for the case's reason: "id", "message", "text", "case", "name"


async def mark_quoted(cmd: Command, ctx: Context) -> Reply | str:
    """``#广告`` quoting a message: open (or confirm) its case and act."""
    assert ctx.policy is not None and ctx.services is not None
    quote = cmd.message.quote
    room = cmd.room_id
    assert quote is not None and room is not None
    found = await quoted_sender(quote, room, ctx)
    if isinstance(found, str):
        log.info("#广告 by %s in %s: quoted sender unknown %s", cmd.sender_id, room, found)
        return ASK_FOR_CASE.format(why=found, prefix=cmd.prefix)
    member = found.member_id
    if member == ctx.bot_id:
        return NOT_ON_BOT
    if await _is_admin(member, room, ctx):
        return NOT_ON_ADMINS
    existing = await _case_of(quote, member, room, ctx)
    if existing is not None and existing.status == "confirmed":
        return f"案件 {existing.id} 已确认为广告。"
    confirm_existing = (
        []
        if existing is None
        else [ConfirmQuoted(room=room, case_id=existing.id, by=cmd.sender_id)]
    )
    if existing is not None and (
        existing.rule == "manual" or (existing.action in _ACTED and existing.mode == "enforce")
    ):  # the member was already dealt with for this message: only confirmed
        return Reply(f"已确认案件 {existing.id} 为广告，识别会据此改进。", effects=confirm_existing)
    rt = runtime(ctx)
    mod = ctx.policy.get(ModerationPolicy)
    since = ctx.clock.now() - timedelta(hours=mod.strike_window_hours)
    strikes = await rt.store.strikes(room, member, since)
    rung = mod.ladder[min(strikes, len(mod.ladder) - 1)]
    # Keyed by the quoted message when it has no case yet (a second admin
    # quoting it, a replayed command: nothing twice), else by this command.
    if quote.message_id and existing is None:
        message_id = quote.message_id
    else:
        message_id = cmd.message.message_id
    reason = "群管引用标记为广告"  # shown in the group: no account id
    case = OpenCase(
        room=room,
        member_id=member,
        member_name=quote.sender_name,
        message_id=message_id,
        rule="manual",
        verdict=Verdict(1.0, Decision.AD, (CheckResult("admin", True, 1.0, reason),)),
        text=quote.text,
        rung=rung,
        by=cmd.sender_id,
        reason=f"admin {cmd.sender_id}: quoted ad (sender by {found.how})",
    )
    # An earlier review case of the message teaches; else the new one does.
    teach = confirm_existing or [ConfirmQuoted(room=room, message_id=message_id, by=cmd.sender_id)]
    return Reply("好的，已标记为广告并按群规处理。", effects=[case, *teach])


async def quoted_sender(quote: Quote, room_id: str, ctx: Context) -> Found | str:
    """Who sent the quoted message (an account id), or why it cannot be told."""
    if quote.sender_id:
        return Found(quote.sender_id, "id")
    text = quote.text.strip()
    by_text: set[str] = set()
    for row in await ctx.repo.recent_activity(room_id, RECENT_QUOTABLE):
        if row.kind != "message":
            continue
        if quote.message_id and row.message_id == quote.message_id:
            return Found(row.contact_id, "message")
        if text and _same_text(row.text or "", text):
            by_text.add(row.contact_id)
    how = "text"
    if not by_text and text:
        cases = await runtime(ctx).store.cases(room_id=room_id, limit=200)
        by_text = {c.member_id for c in cases if _same_text(c.text, text, _CASE_TEXT)}
        how = "case"
    by_name = await _named(quote.sender_name, room_id, ctx) if quote.sender_name else set()
    if len(by_text) == 1:
        (member,) = by_text
        if by_name and member not in by_name:
            return "（消息与昵称对不上）"
        return Found(member, how)
    if by_text:
        both = by_text & by_name
        if len(both) == 1:
            return Found(next(iter(both)), f"{how}+name")
        return "（多人发过这段文字）"
    if len(by_name) == 1:
        return Found(next(iter(by_name)), "name")
    if len(by_name) > 1:
        return "（群里有多人叫这个名字）"
    return ""


def _same_text(stored: str, quoted: str, cut: int | None = None) -> bool:
    """The same message: equal after trimming; a stored text cut short matches its start."""
    stored = stored.strip()
    if stored == quoted:
        return True
    if cut is not None and len(stored) >= cut - 1:
        return quoted.startswith(stored)
    return False


async def _named(name: str, room_id: str, ctx: Context) -> set[str]:
    """Present members whose group alias or WeChat name is ``name``."""
    members = await ctx.repo.current_members(room_id)
    if not members:
        return set()
    cards = await ReportStore(ctx.sessions, account_id=ctx.repo.account_id).name_cards(room_id)
    found = {c.member_id for c in cards if c.alias == name and c.member_id in members}
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(Contact.contact_id).where(
                Contact.contact_id.in_(sorted(members)), Contact.name == name
            )
        )
        found.update(str(r[0]) for r in rows.all())
    return found


async def _is_admin(member: str, room: str, ctx: Context) -> bool:
    assert ctx.policy is not None
    if member in ctx.policy.admins or member in ctx.config.owners:
        return True
    membership = await ctx.repo.get_membership(room, member)
    return membership is not None and membership.role != "member"


async def _case_of(quote: Quote, member: str, room: str, ctx: Context) -> CaseState | None:
    """This message's case, if there is one: by message id, else by member and text."""
    cases = await runtime(ctx).store.cases(room_id=room, limit=200)
    for case in cases:
        if quote.message_id and case.message_id == quote.message_id:
            return case
    text = quote.text.strip()
    for case in cases:
        if case.member_id == member and text and _same_text(case.text, text, _CASE_TEXT):
            return case
    return None


@feature.effect(ConfirmQuoted)
async def _confirm_quoted(effect: ConfirmQuoted, services: Services) -> None:
    rt = runtime(services)
    now = services.clock.now()
    if effect.case_id is not None:
        case = await rt.store.case(effect.case_id)
    else:
        cases = await rt.store.cases(room_id=effect.room, limit=50)
        case = next((c for c in cases if c.message_id == effect.message_id), None)
    if case is None or case.room_id != effect.room or case.status == "confirmed":
        return  # applied before (a replayed command): taught once
    confirmed = await rt.store.set_status(case.id, "confirmed", now, by=effect.by)
    if confirmed is not None and confirmed.text:
        await rt.store.add_verdict(confirmed.text, True, effect.by, now, confirmed.id)
        rt.detector.learn(confirmed.text, True)
