"""Small helpers shared by moderation's request-and-answer commands (报备, 申诉).

Texts about a group are filled from that group's policy even when the command
came privately; a private message to each admin gets a key that names what it
is about, so a replayed command or two admins answering at once tell nobody twice.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.vocab.actions import Priority, Say
from bot.vocab.effects import Audit
from bot.vocab.keys import action_key, valid_until
from bot.vocab.policy import GroupPolicy
from handlers.base import Context
from handlers.parsing import Command

#: How long a private notice is worth sending (the governor may pace it).
NOTICE_VALID_SECONDS = 6 * 3600.0


def fill(
    ctx: Context, template: str, policy: GroupPolicy | None, room_id: str, **values: object
) -> str:
    """``template`` with the group's name and the bot's (from ``policy``, else
    the room id and the configured name), and ``values``."""
    group = policy.name if policy is not None else room_id
    name = policy.bot_name if policy is not None else ctx.config.bot.name
    return template.format(group=group, bot_name=name, **values).strip()


def recorded(
    ctx: Context,
    action: str,
    number: int,
    *,
    room: str,
    member: str,
    by: str,
    reason: str,
    **detail: Any,
) -> Audit:
    """The audit row of an answer to a numbered request or case (报备, 申诉)."""
    return Audit(
        at=ctx.clock.now(),
        action=action,
        kind="moderation",
        status="recorded",
        room=room,
        target_id=member,
        key=action_key(action, number),
        reason=reason,
        detail={"number": number, "by": by, **detail},
    )


def parse_number(word: str) -> int | None:
    """A request or case number as people type it: ``12``, ``#12``, ``１２``, ``No.12``."""
    text = unicodedata.normalize("NFKC", word).strip().lstrip("#").removeprefix("No.")
    for label in ("案件", "编号", "号"):
        text = text.removeprefix(label)
    text = text.removesuffix("号")
    return int(text) if text.isdigit() and len(text) <= 18 else None


async def member_label(ctx: Context, member_id: str) -> str:
    """The member's name and account id (the id is what counts: names can be faked)."""
    name = await ctx.repo.contact_name(member_id)
    return f"{name}（{member_id}）" if name and name != member_id else member_id


def admins_only_text(ctx: Context) -> str:
    return (ctx.policy.commands if ctx.policy is not None else ctx.config.commands).admins_only


def tell_privately(
    contacts: Iterable[str],
    text: str,
    *,
    at: datetime,
    reason: str,
    about: tuple[object, ...],
    priority: Priority = Priority.MODERATION,
) -> list[Say]:
    """The same private message to each contact, keyed by ``about`` and the contact."""
    return [
        Say(
            room=None,
            to_contact=contact,
            text=text,
            priority=priority,
            reason=reason,
            key=action_key(*about, contact),
            not_after=valid_until(at, NOTICE_VALID_SECONDS),
        )
        for contact in dict.fromkeys(contacts)
    ]


def administered_rooms(cmd: Command, ctx: Context) -> set[str]:
    """The groups the sender is an admin of (by account id): this one, or,
    in a private message, every group the bot manages."""
    if ctx.policy is not None:
        return {ctx.policy.room_id} if cmd.sender_id in ctx.policy.admins else set()
    return {
        room
        for room in ctx.policies.managed_rooms()
        if (p := ctx.policies.get(room)) is not None and cmd.sender_id in p.admins
    }
