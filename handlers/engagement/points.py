"""Check-in and points (issue 9 points 1, 2, 7, 8): ``#签到``, ``#积分``, ``#排行``,
the admins' ``#加分`` / ``#扣分``, and points for speaking.

* ``#签到`` (``qd``, ``checkin``): once a day per member and scope, the day
  in the group's time zone (``policy.timezone``) at the time the member
  sent it.  The streak continues from yesterday or starts again; the points
  are ``base_points + min(streak_bonus * (streak - 1), bonus_cap)``; the reply
  gives the streak and the member's place among today's check-ins in the
  group.  In a busy group (a batch pending, or another check-in less than
  ``fold_seconds`` ago), or when the account already confirmed
  ``immediate_per_minute`` check-ins at once in the last minute (across its
  groups: the send budget is the account's), the confirmation is *folded*: a pending row in the
  database, sent with the others by the ``fold`` job (every minute) in one
  message that @-mentions up to ``fold_max_mentions`` members.  Nobody's
  check-in waits for the message: the points are paid at once.
* ``#积分`` (``jf``): the member's balance and this week's points (the week
  starts on Monday, in the group's time zone).  ``#排行`` (``排行榜``,
  ``phb``): this week's and the all-time top 10.
* ``#加分 @x n 原因`` / ``#扣分 @x n 原因``: admins only (the router refuses
  others politely); keyed by the command's message, so a retried command pays
  once; a deduction beyond the balance is refused unless
  ``points.allow_negative``.  Audited.
* With ``points.per_message`` > 0, a message spoken in the group earns points
  (at most ``message_daily_cap`` a day): the handler only returns an effect;
  its applier writes the ledger row, keyed by the message.

The ledger (``storage.points``) keeps every change; points live in
``engagement.scope_of(policy)``.
"""

from __future__ import annotations

import contextlib
import logging
import unicodedata
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.vocab.actions import Action, Priority, Say
from bot.vocab.effects import Audit, Effect
from bot.vocab.events import Event, MessageEvent, MessageKind
from bot.vocab.keys import action_key, valid_until
from bot.vocab.policy import GroupPolicy
from handlers.base import Context, Result
from handlers.command_router import Reply
from handlers.engagement.checkin_policy import CheckinPolicy, PointsPolicy
from handlers.engagement.policy import EngagementPolicy, scope_of
from handlers.feature import Feature, Stage
from handlers.parsing import Command
from handlers.services import Services
from sop.calendar import every
from storage.checkin_folds import Fold
from storage.points import PointsStore, points_key

log = logging.getLogger(__name__)

feature = Feature("points", stage=Stage.CHAT, section=EngagementPolicy)

FOLD_KEY = "checkin-fold"
#: A folded confirmation is worth sending this long after its batch was due.
FOLD_VALID_SECONDS = 3600.0
BOARD_SIZE = 10


def store_of(ctx: Context | Services) -> PointsStore:
    return PointsStore(ctx.sessions, account_id=ctx.repo.account_id)


def local_day(at: datetime, policy: GroupPolicy) -> date:
    """The day ``at`` falls on in the group's time zone."""
    return at.astimezone(ZoneInfo(policy.timezone)).date()


def week_start(at: datetime, policy: GroupPolicy) -> datetime:
    """Monday 00:00 of ``at``'s week in the group's time zone (an aware instant)."""
    tz = ZoneInfo(policy.timezone)
    day = at.astimezone(tz).date()
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=tz)


def _fill(template: str, policy: GroupPolicy, prefix: str, **values: object) -> str:
    return template.format(
        group=policy.name, bot_name=policy.bot_name, prefix=prefix, **values
    ).strip()


def _sections(policy: GroupPolicy) -> tuple[CheckinPolicy, PointsPolicy]:
    eng = policy.get(EngagementPolicy)
    return eng.checkin, eng.points


class ImmediateReplies:
    """How many check-ins the account confirmed at once in the last minute (per
    app, in memory: only a hint for folding; the confirmations are in storage).
    A slot is taken before the check-in's transaction, so the groups' lanes
    checking in at the same moment cannot all see room for one more."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def take(self, now: float, limit: int) -> bool:
        """Take a slot for an immediate reply; False when the minute is full."""
        while self._times and self._times[0] <= now - 60:
            self._times.popleft()
        if len(self._times) >= limit:
            return False
        self._times.append(now)
        return True

    def give_back(self, now: float) -> None:
        """The slot was not used (the confirmation folded, or no check-in)."""
        with contextlib.suppress(ValueError):
            self._times.remove(now)


def _immediate(ctx: Context) -> ImmediateReplies:
    shared = ctx.services.shared if ctx.services is not None else {}
    found = shared.get(feature.name)
    if found is None:
        found = shared[feature.name] = ImmediateReplies()
    return found


async def _name(ctx: Context, member_id: str) -> str:
    name = await ctx.repo.contact_name(member_id)
    return name or member_id


# ---------------------------------------------------------------- #签到


@feature.command("签到", "qd", "checkin")
async def check_in(cmd: Command, ctx: Context) -> Result | str | None:
    policy, room = ctx.policy, cmd.room_id
    assert policy is not None and room is not None  # not a direct-message command
    c, _ = _sections(policy)
    if not c.enabled:
        return None
    message = cmd.message
    day = local_day(message.at, policy)
    immediate, tick = _immediate(ctx), ctx.clock.monotonic()
    slot = c.fold_seconds <= 0 or immediate.take(tick, c.immediate_per_minute)
    done = await store_of(ctx).check_in(
        scope_of(policy),
        room,
        cmd.sender_id,
        day,
        message.at,
        rule=(c.base_points, c.streak_bonus, c.bonus_cap),
        message_id=message.message_id,
        member_name=message.sender_name,
        fold_seconds=c.fold_seconds,
        now=ctx.clock.now(),
        account_busy=not slot,
    )
    values: dict[str, object] = {
        "streak": done.streak,
        "points": done.points,
        "balance": done.balance,
        "rank": done.rank,
    }
    if slot and (done.folded or not done.new) and c.fold_seconds > 0:
        immediate.give_back(tick)
    if not done.new and done.message_id != message.message_id:
        return _fill(c.already_text, policy, cmd.prefix, **values)
    # The check-in that counted (or a replay of its message): confirmed once.
    if done.folded:
        return None  # the group's next folded message carries it
    reply_seconds = policy.commands.reply_valid_seconds
    say = Say(
        room=room,
        text=_fill(c.checked_in_text, policy, cmd.prefix, **values),
        mention_ids=(cmd.sender_id,),
        priority=Priority.REPLY,
        reason=f"check-in of {cmd.sender_id} on {done.local_date}",
        key=action_key("checkin", room, cmd.sender_id, done.local_date),
        not_after=valid_until(message.at, reply_seconds),
    )
    return Result([say])


# ------------------------------------------------------------- folding


def _fold_trigger(tz: Any, config: Any) -> Any:
    return every(1, tz)


@feature.job("fold", _fold_trigger)
async def fold_checkins(ctx: Context, at: datetime) -> None:
    """Send the folded check-in confirmations whose batch is due."""
    await send_folds(store_of(ctx), ctx, ctx.submit)


async def send_folds(
    store: PointsStore, ctx: Context, submit: Any, *, everything: bool = False
) -> int:
    """Submit the due batches (and any a crash left submitted but not marked
    sent, under the same keys: the outbox drops what it has already).
    Returns how many confirmations went out."""
    now = ctx.clock.now()
    actions: list[Action] = []
    keys: list[str] = []
    for key, rows in (await store.submitted_folds()).items():
        policy = ctx.policies.get(rows[0].room_id)
        if policy is not None:
            actions.append(_folded_say(policy, rows, key, now))
        keys.append(key)
    count = sum(1 for a in actions for _ in getattr(a, "mention_ids", ()))
    by_room: dict[str, list[Fold]] = defaultdict(list)
    for row in await store.due_folds(now, everything=everything):
        by_room[row.room_id].append(row)
    for room_id, rows in by_room.items():
        policy = ctx.policies.get(room_id)
        size = policy.get(EngagementPolicy).checkin.fold_max_mentions if policy else len(rows)
        for group in (rows[i : i + size] for i in range(0, len(rows), size)):
            key = action_key(FOLD_KEY, room_id, group[0].id)
            marked = await store.mark_submitted([r.id for r in group], key, now)
            kept = [r for r in group if r.id in marked]
            if kept and policy is not None:
                actions.append(_folded_say(policy, kept, key, now))
                count += len(kept)
            keys.append(key)
    if actions:
        await submit(actions)
    if keys:
        await store.mark_sent(keys, now)
    return count


def _folded_say(policy: GroupPolicy, rows: Sequence[Fold], key: str, now: datetime) -> Say:
    c = policy.get(EngagementPolicy).checkin
    lines = "\n".join(
        c.folded_line.format(
            name=r.member_name, streak=r.streak, points=r.points, rank=r.rank, balance=""
        )
        for r in rows
    )
    text = _fill(c.folded_text, policy, policy.command_prefix, count=len(rows), lines=lines)
    return Say(
        room=policy.room_id,
        text=text,
        mention_ids=tuple(dict.fromkeys(r.member_id for r in rows)),
        priority=Priority.REPLY,
        reason=f"{len(rows)} check-in confirmation(s), folded",
        key=key,
        not_after=valid_until(max(now, max(r.due_at for r in rows)), FOLD_VALID_SECONDS),
    )


# ------------------------------------------------------- #积分, #排行


@feature.command("积分", "jf", "我的积分")
async def balance(cmd: Command, ctx: Context) -> str:
    policy = ctx.policy
    assert policy is not None
    _, p = _sections(policy)
    store, scope = store_of(ctx), scope_of(policy)
    have = await store.balance(scope, cmd.sender_id)
    week = await store.earned_since(scope, cmd.sender_id, week_start(cmd.message.at, policy))
    return _fill(p.balance_text, policy, cmd.prefix, balance=have, week=week)


@feature.command("排行", "排行榜", "phb")
async def board(cmd: Command, ctx: Context) -> str:
    policy = ctx.policy
    assert policy is not None
    _, p = _sections(policy)
    store, scope = store_of(ctx), scope_of(policy)
    week = await store.top(scope, since=week_start(cmd.message.at, policy), limit=BOARD_SIZE)
    ever = await store.top(scope, limit=BOARD_SIZE)
    names = {m: await _name(ctx, m) for m in {m for m, _ in [*week, *ever]}}

    def lines(rows: list[tuple[str, int]]) -> str:
        if not rows:
            return p.board_empty
        return "\n".join(
            p.board_line.format(rank=i, name=names[m], points=n) for i, (m, n) in enumerate(rows, 1)
        )

    return _fill(p.board_text, policy, cmd.prefix, week=lines(week), all=lines(ever))


# ------------------------------------------------------- #加分, #扣分


def parse_amount(word: str) -> int | None:
    """A positive whole number as people type it: ``5``, ``５``, ``+5``, ``5分``."""
    text = unicodedata.normalize("NFKC", word).strip().lstrip("+").removesuffix("分")
    return int(text) if text.isdigit() and len(text) <= 9 and int(text) > 0 else None


@feature.command("加分", "jiafen", admin_only=True)
async def add_points(cmd: Command, ctx: Context) -> Reply | str:
    return await _adjust(cmd, ctx, sign=1)


@feature.command("扣分", "koufen", admin_only=True)
async def take_points(cmd: Command, ctx: Context) -> Reply | str:
    return await _adjust(cmd, ctx, sign=-1)


async def _adjust(cmd: Command, ctx: Context, *, sign: int) -> Reply | str:
    policy, room = ctx.policy, cmd.room_id
    assert policy is not None and room is not None
    _, p = _sections(policy)
    words = cmd.words
    amount = parse_amount(words[0]) if words else None
    if len(cmd.mentions) != 1 or amount is None or amount > p.max_adjustment:
        return _fill(p.adjust_usage_text, policy, cmd.prefix)
    member = cmd.mentions[0]
    reason = " ".join(words[1:]) or "管理员调整"
    now, scope = ctx.clock.now(), scope_of(policy)
    change = await store_of(ctx).change(
        scope,
        member,
        sign * amount,
        kind="admin",
        reason=reason,
        key=points_key("admin", scope, cmd.message.message_id),
        at=now,
        reference=cmd.message.message_id,
        room_id=room,
        by=cmd.sender_id,
        allow_negative=p.allow_negative,
    )
    label = await _name(ctx, member)
    if change.refused:
        values = {"member": label, "amount": amount, "balance": change.balance}
        return _fill(p.refused_text, policy, cmd.prefix, **values)
    word = f"{'加' if sign > 0 else '扣'} {amount}"
    values = {"member": label, "amount": word, "reason": reason, "balance": change.balance}
    text = _fill(p.adjusted_text, policy, cmd.prefix, **values)
    audit = Audit(
        at=now,
        action="points_add" if sign > 0 else "points_take",
        kind="engagement",
        status="recorded",
        room=room,
        target_id=member,
        key=action_key("points-admin", scope, cmd.message.message_id),
        reason=f"{cmd.sender_id}: {sign * amount:+d} ({reason})",
        detail={
            "scope": scope,
            "amount": sign * amount,
            "by": cmd.sender_id,
            "balance": change.balance,
            "duplicate": change.duplicate,
        },
    )
    return Reply(text, effects=[] if change.duplicate else [audit])


# ------------------------------------------------------ points for speaking


@dataclass(frozen=True, slots=True, kw_only=True)
class EarnActivity(Effect):
    """A message spoken earns points, within the day's cap."""

    room: str
    scope: str
    member_id: str
    message_id: str
    local_date: str
    amount: int
    daily_cap: int  # 0: no cap
    at: datetime


@feature.on(MessageEvent)
async def spoke(event: Event, ctx: Context) -> Result | None:
    assert isinstance(event, MessageEvent)
    policy = ctx.policy
    if policy is None or event.room_id is None:
        return None
    p = policy.get(EngagementPolicy).points
    if p.per_message <= 0 or event.sender_id == ctx.bot_id or event.kind is MessageKind.RECALLED:
        return None
    earn = EarnActivity(
        room=event.room_id,
        scope=scope_of(policy),
        member_id=event.sender_id,
        message_id=event.message_id,
        local_date=local_day(event.at, policy).isoformat(),
        amount=p.per_message,
        daily_cap=p.message_daily_cap,
        at=event.at,
    )
    return Result(effects=[earn])


@feature.effect(EarnActivity)
async def _earn(effect: EarnActivity, services: Services) -> None:
    await store_of(services).earn_activity(
        effect.scope,
        effect.member_id,
        effect.amount,
        cap=effect.daily_cap,
        local_date=effect.local_date,
        key=points_key("activity", effect.scope, effect.message_id),
        at=effect.at,
        room_id=effect.room,
    )
