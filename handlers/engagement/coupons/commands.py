"""The coupon commands: #发券, #领券, #我的券, #转赠, #接受, #核销 (see the package docstring).

A command's state change is the store's conditional update, so its answer
says what really happened (a racing claimer told "sold out", a transfer that
lost to another told so); audit rows and messages follow from that result.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta

from bot.vocab.actions import Priority, Say
from bot.vocab.keys import action_key
from bot.vocab.policy import GroupPolicy
from handlers.base import Context, Result
from handlers.command_router import Reply
from handlers.engagement.coupon_policy import CouponPolicy
from handlers.engagement.coupons.common import (
    audit,
    coupon_values,
    enabled,
    feature,
    fill,
    find_type,
    kind_of,
    label,
    section,
    store,
    type_list,
    when,
    worth,
)
from handlers.engagement.policy import scope_of
from handlers.parsing import Command
from storage.coupons import NOTE_MAX_LENGTH, CouponInfo, Drop, normalize_code

MAX_GIVEN_AT_ONCE = 20  # members one #发券 @… may name
MAX_LISTED = 20  # coupons #我的券 lists


def _here(cmd: Command, ctx: Context) -> tuple[GroupPolicy, CouponPolicy] | None:
    policy = ctx.policy
    if cmd.room_id is None or not enabled(policy):
        return None
    assert policy is not None
    return policy, section(policy)


def _count(word: str) -> int | None:
    text = unicodedata.normalize("NFKC", word).removesuffix("张")
    return int(text) if text.isdigit() and len(text) <= 6 else None


def _minutes(word: str) -> float | None:
    text = unicodedata.normalize("NFKC", word).removesuffix("分钟")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value <= 10_080 else None


# ------------------------------------------------------------------ #发券


@feature.command("发券", "faquan", admin_only=True)
async def drop(cmd: Command, ctx: Context) -> Reply | Result | str | None:
    here = _here(cmd, ctx)
    if here is None:
        return None
    policy, t = here
    if not t.types:
        return fill(t.no_types_text, policy)
    usage = fill(t.drop_usage_text, policy, types=type_list(t))
    words = cmd.words
    if not words:
        return usage
    found = find_type(t, words[0])
    if found is None:
        return fill(t.unknown_type_text, policy, type=words[0], types=type_list(t))
    type_id, spec = found
    kind = kind_of(type_id, spec)
    now, room = ctx.clock.now(), policy.room_id
    coupons = store(ctx)
    if cmd.mentions:
        members = [m for m in cmd.mentions if m and m != ctx.bot_id][:MAX_GIVEN_AT_ONCE]
        if not members or len(words) != 1:
            return usage
        actions: list[Say] = []
        effects = []
        for member in members:
            coupon = await coupons.give(
                scope=scope_of(policy),
                room_id=room,
                kind=kind,
                member_id=member,
                by=cmd.sender_id,
                at=now,
            )
            text = fill(
                t.given_text,
                policy,
                member=await label(ctx, member),
                **coupon_values(coupon, policy),
            )
            why = f"coupon {coupon.code} ({type_id}) given to {member} by {cmd.sender_id}"
            actions.append(
                Say(
                    room=room,
                    text=text,
                    mention_ids=(member,),
                    priority=Priority.REPLY,
                    reason=why,
                    key=action_key("coupon-given", coupon.id),
                )
            )
            effects.append(
                audit(
                    ctx,
                    "coupon_give",
                    room=room,
                    target=member,
                    reason=why,
                    key=(coupon.id,),
                    detail=coupon.as_dict(),
                )
            )
        return Result(actions=actions, effects=effects)
    count = _count(words[1]) if len(words) >= 2 else None
    minutes = _minutes(words[2]) if len(words) >= 3 else t.drop_minutes
    if count is None or minutes is None or len(words) > 3 or not 1 <= count <= t.max_drop_count:
        return usage
    opened = await coupons.open_drop(
        scope=scope_of(policy),
        room_id=room,
        kind=kind,
        count=count,
        by=cmd.sender_id,
        at=now,
        closes_at=now + timedelta(minutes=minutes),
    )
    why = f"drop {opened.id}: {count} x {type_id} by {cmd.sender_id} for {minutes:g} min"
    say = announce(opened, policy, t, reason=why)
    record = audit(
        ctx,
        "coupon_drop",
        room=room,
        target=None,
        reason=why,
        key=(opened.id,),
        detail={
            "drop": opened.id,
            "type": type_id,
            "count": count,
            "by": cmd.sender_id,
            "closes_at": opened.closes_at.isoformat(),
        },
    )
    return Result(actions=[say], effects=[record])


def announce(opened: Drop, policy: GroupPolicy, t: CouponPolicy, *, reason: str) -> Say:
    """The message that tells the group a drop is open."""
    text = fill(
        t.drop_text,
        policy,
        name=opened.name,
        value=worth(opened.value),
        count=opened.count,
        limit=opened.per_member_limit,
        until=when(opened.closes_at, policy),
        days=f"{opened.valid_days:g}",
    )
    return Say(
        room=opened.room_id,
        text=text,
        priority=Priority.REPLY,
        reason=reason,
        key=action_key("coupon-drop", opened.id),
    )


# ------------------------------------------------------------------ #领券


@feature.command("领券", "lingquan", "抢券")
async def claim(cmd: Command, ctx: Context) -> Reply | str | None:
    here = _here(cmd, ctx)
    if here is None:
        return None
    policy, t = here
    got = await store(ctx).claim(policy.room_id, cmd.sender_id, ctx.clock.now())
    if got.outcome == "none":
        return fill(t.no_drop_text, policy)
    assert got.drop is not None
    if got.outcome == "limit":
        return fill(t.limit_text, policy, name=got.drop.name, limit=got.drop.per_member_limit)
    if got.outcome == "sold_out":
        return fill(t.sold_out_text, policy, name=got.drop.name)
    coupon = got.coupon
    assert coupon is not None
    why = f"coupon {coupon.code} claimed by {cmd.sender_id} from drop {got.drop.id}"
    record = audit(
        ctx,
        "coupon_claim",
        room=policy.room_id,
        target=cmd.sender_id,
        reason=why,
        key=(coupon.id,),
        detail=coupon.as_dict(),
    )
    return Reply(fill(t.claimed_text, policy, **coupon_values(coupon, policy)), effects=[record])


# ---------------------------------------------------------------- #我的券


@feature.command("我的券", "wodequan", "券包")
async def mine(cmd: Command, ctx: Context) -> str | None:
    here = _here(cmd, ctx)
    if here is None:
        return None
    policy, t = here
    coupons, scope = store(ctx), scope_of(policy)
    held = await coupons.holdings(scope, cmd.sender_id)
    offered = await coupons.incoming(scope, cmd.sender_id, ctx.clock.now())
    if not held and not offered:
        return fill(t.mine_empty_text, policy)
    lines: list[str] = []
    for coupon in offered:
        state = fill(t.state_incoming, policy, giver=await label(ctx, coupon.owner_id))
        lines.append(_line(t, policy, coupon, state))
    for coupon in held:
        if coupon.status == "pending_transfer" and coupon.pending_to:
            state = fill(t.state_pending, policy, recipient=await label(ctx, coupon.pending_to))
        else:
            state = fill(t.state_claimed, policy)
        lines.append(_line(t, policy, coupon, state))
    shown = lines[:MAX_LISTED] + (["……"] if len(lines) > MAX_LISTED else [])
    return fill(t.mine_text, policy, count=len(held), lines="\n".join(shown))


def _line(t: CouponPolicy, policy: GroupPolicy, coupon: CouponInfo, state: str) -> str:
    return fill(t.mine_line_text, policy, state=state, **coupon_values(coupon, policy))


# ------------------------------------------------------------------ #转赠


@feature.command("转赠", "送券")
async def transfer(cmd: Command, ctx: Context) -> Reply | str | None:
    here = _here(cmd, ctx)
    if here is None:
        return None
    policy, t = here
    recipients = [m for m in cmd.mentions if m and m != ctx.bot_id]
    if len(recipients) != 1:
        return fill(t.transfer_usage_text, policy)
    [recipient] = recipients
    if recipient == cmd.sender_id:
        return fill(t.transfer_self_text, policy)
    coupons, scope, now = store(ctx), scope_of(policy), ctx.clock.now()
    held = [c for c in await coupons.holdings(scope, cmd.sender_id) if c.status == "claimed"]
    words = list(cmd.words)
    chosen: CouponInfo | None = None
    if words and (code := normalize_code(words[0])) is not None:
        words.pop(0)
        chosen = next((c for c in held if c.code == code), None)
        if chosen is None:
            return fill(t.transfer_busy_text, policy, code=code)
    elif words and (found := find_type(t, words[0])) is not None:
        words.pop(0)
        of_type = [c for c in held if c.type_id == found[0]]
        chosen = next((c for c in of_type if c.transferable), of_type[0] if of_type else None)
        if chosen is None:
            return fill(t.transfer_none_text, policy)
    else:
        chosen = next((c for c in held if c.transferable), held[0] if held else None)
        if chosen is None:
            return fill(t.transfer_none_text, policy)
    if not chosen.transferable:
        return fill(t.not_transferable_text, policy, name=chosen.name)
    note = " ".join(words)[:NOTE_MAX_LENGTH]
    minutes = t.transfer_accept_minutes
    offered = await coupons.offer(
        chosen.id,
        giver=cmd.sender_id,
        recipient=recipient,
        room_id=policy.room_id,
        at=now,
        until=now + timedelta(minutes=minutes),
        note=note,
    )
    if offered is None:  # another transfer (or redemption) of it won a moment ago
        return fill(t.transfer_busy_text, policy, code=chosen.code)
    values = coupon_values(offered, policy) | {"minutes": f"{minutes:g}"}
    giver_name, recipient_name = await label(ctx, cmd.sender_id), await label(ctx, recipient)
    why = f"coupon {offered.code} offered by {cmd.sender_id} to {recipient}"
    tell = Say(
        room=policy.room_id,
        text=fill(
            t.transfer_offer_text,
            policy,
            giver=giver_name,
            note=t.transfer_note_text.format(note=note) if note else "",
            **values,
        ),
        mention_ids=(recipient,),
        priority=Priority.REPLY,
        reason=why,
        key=action_key("coupon-offer", offered.id, offered.updated_at),
    )
    record = audit(
        ctx,
        "coupon_offer",
        room=policy.room_id,
        target=recipient,
        reason=why,
        key=(offered.id, offered.updated_at),
        detail=offered.as_dict(),
    )
    reply = fill(t.transfer_sent_text, policy, recipient=recipient_name, **values)
    return Reply(reply, actions=[tell], effects=[record])


# ------------------------------------------------------------------ #接受


@feature.command("接受", "jieshou", "收下")
async def accept(cmd: Command, ctx: Context) -> Reply | str | None:
    here = _here(cmd, ctx)
    if here is None:
        return None
    policy, t = here
    code = cmd.words[0] if len(cmd.words) == 1 else None
    handovers = await store(ctx).accept(
        scope_of(policy), cmd.sender_id, room_id=policy.room_id, at=ctx.clock.now(), code=code
    )
    if not handovers:
        return fill(t.accept_none_text, policy)
    lines, actions, effects = [], [], []
    me = await label(ctx, cmd.sender_id)
    for h in handovers:
        values = coupon_values(h.coupon, policy)
        lines.append(fill(t.accepted_text, policy, giver=await label(ctx, h.giver), **values))
        why = f"coupon {h.coupon.code} accepted by {h.recipient} from {h.giver}"
        actions.append(
            Say(
                room=h.room_id or policy.room_id,
                text=fill(t.accepted_giver_text, policy, recipient=me, **values),
                mention_ids=(h.giver,),
                priority=Priority.REPLY,
                reason=why,
                key=action_key("coupon-accepted", h.coupon.id, h.coupon.updated_at),
            )
        )
        effects.append(
            audit(
                ctx,
                "coupon_accept",
                room=policy.room_id,
                target=h.giver,
                reason=why,
                key=(h.coupon.id, h.coupon.updated_at),
                detail=h.coupon.as_dict(),
            )
        )
    return Reply("\n".join(lines), actions=actions, effects=effects)


# ------------------------------------------------------------------ #核销


@feature.command("核销", "hexiao")
async def redeem(cmd: Command, ctx: Context) -> Reply | str | None:
    here = _here(cmd, ctx)
    if here is None:
        return None
    policy, t = here
    if cmd.sender_id not in policy.admins and cmd.sender_id not in t.merchants:
        return fill(t.redeem_refused_text, policy)
    if len(cmd.words) != 1:
        return fill(t.redeem_usage_text, policy)
    typed = cmd.words[0]
    code = normalize_code(typed)
    if code is None:
        return fill(t.redeem_unknown_text, policy, code=typed)
    done = await store(ctx).redeem(
        code,
        by=cmd.sender_id,
        room_id=policy.room_id,
        scope=scope_of(policy),
        at=ctx.clock.now(),
    )
    coupon = done.coupon
    if done.outcome == "unknown" or coupon is None:
        return fill(t.redeem_unknown_text, policy, code=code)
    values = coupon_values(coupon, policy)
    if done.outcome == "redeemed":
        holder = await label(ctx, coupon.owner_id)
        why = f"coupon {coupon.code} of {coupon.owner_id} redeemed by {cmd.sender_id}"
        record = audit(
            ctx,
            "coupon_redeem",
            room=policy.room_id,
            target=coupon.owner_id,
            reason=why,
            key=(coupon.id,),
            detail=coupon.as_dict(),
        )
        return Reply(fill(t.redeemed_text, policy, holder=holder, **values), effects=[record])
    if done.outcome == "already":
        assert coupon.redeemed_at is not None and coupon.redeemed_by is not None
        room = coupon.redeemed_room or ""
        where = ctx.policies.get(room)
        return fill(
            t.already_redeemed_text,
            policy,
            when=when(coupon.redeemed_at, policy),
            by=await label(ctx, coupon.redeemed_by),
            where=where.name if where is not None else room,
            **values,
        )
    texts = {
        "expired": t.redeem_expired_text,
        "pending": t.redeem_pending_text,
        "elsewhere": t.redeem_elsewhere_text,
        "not_claimed": t.redeem_unclaimed_text,
    }
    return fill(texts[done.outcome], policy, **values)
