"""The ``lottery`` kind (周二抽奖): open, enter, draw — provably fair.

* The calendar's run opens a draw in the group (once per run key) with a fresh
  secret seed, and posts the seed's SHA-256 hash with how to enter.
* While it is open a member enters by sending the keyword (``抽奖``) or, with
  ``by_checkin``, by checking in (``#签到``); eligibility is checked then
  (staff, silence, a recent win) and kept with the entry.  Nobody gets a reply
  of their own: the ``tick`` job (every minute) posts one folded confirmation
  per draw naming who entered since the last one.
* At the draw time the ``tick`` job claims the draw (a conditional UPDATE),
  numbers the entrants and draws the winners (:mod:`sop.lottery.fair`), gives
  each winner one prize coupon (exactly once: the coupon and its record commit
  together), and posts the winners, the seed, the list's hash and the
  numbered list.  A run that died after its claim is taken over a minute
  later; every post is keyed by the draw, so nothing is said twice.
* ``#开奖`` (admins): draw the group's open lottery now.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.vocab.actions import Action, Priority, Say
from bot.vocab.effects import Audit
from bot.vocab.events import Event, MessageEvent, MessageKind
from bot.vocab.keys import action_key, valid_until
from bot.vocab.policy import GroupPolicy
from handlers.base import Context, Result
from handlers.engagement import points
from handlers.engagement.coupons.common import kind_of
from handlers.engagement.policy import EngagementPolicy, scope_of
from handlers.feature import Feature, Stage
from handlers.parsing import Command, parse_command
from handlers.services import Services
from sop.calendar import every
from sop.kinds import Run
from sop.lottery import fair
from sop.lottery.content import LotteryContent, normalize_keyword
from sop.lottery.runtime import OpenDraws, open_draws_of
from sop.lottery.store import Draw, Entrant, LotteryStore, stale_before
from storage.coupons import CouponKind
from storage.models import LotteryDraw, LotteryEntrant

log = logging.getLogger(__name__)

# Before the command router (which ends the chain at a command such as #签到)
# and before the chat stage (where points for speaking answer every message):
# the entry handler only records and never answers, so it disturbs nothing.
feature = Feature(
    "lottery",
    stage=Stage.WELCOME,
    section=EngagementPolicy,
    tables=(LotteryDraw.__table__, LotteryEntrant.__table__),  # type: ignore[arg-type]
)

#: A folded confirmation is worth sending this long.
CONFIRM_VALID_SECONDS = 600.0
#: The result is worth posting this long after the draw (a restart within it still posts).
RESULT_VALID_SECONDS = 6 * 3600.0
#: A claim older than this belongs to a run that died: it is taken over.
STALE_MINUTES = 1.0
BOT_ACTOR = "bot"


def _services(ctx: Context | Services) -> Services | None:
    return ctx if isinstance(ctx, Services) else ctx.services


def cache_of(ctx: Context | Services) -> OpenDraws | None:
    """The app's cache of each group's open draws (None without an app)."""
    services = _services(ctx)
    return None if services is None else open_draws_of(services.shared)


def store_of(ctx: Context | Services) -> LotteryStore:
    """The account's lottery store, telling the app's cache what opens and closes."""
    return LotteryStore(ctx.sessions, account_id=ctx.repo.account_id, watcher=cache_of(ctx))


async def open_draws(
    ctx: Context, room_id: str, at: datetime, wanted: Callable[[Draw], bool] | None = None
) -> list[Draw]:
    """The group's open draws (``wanted`` ones only matter): no query where the
    cache knows of none."""
    store, cache = store_of(ctx), cache_of(ctx)
    if cache is None:
        return await store.open_draws(room_id, at)
    return await cache.open_draws(store, room_id, at, wanted)


def content_of(draw: Draw) -> LotteryContent:
    """The content as it was when the draw opened."""
    return LotteryContent.model_validate_json(draw.content)


def prize_of(draw: Draw) -> CouponKind | None:
    return None if draw.prize is None else CouponKind(**json.loads(draw.prize))


def _fill(template: str, policy: GroupPolicy | None, **values: object) -> str:
    base = {
        "group": policy.name if policy else "",
        "bot_name": policy.bot_name if policy else "",
        "prefix": policy.command_prefix if policy else "#",
    }
    return template.format(**(base | values)).strip()


def _clock_time(at: datetime, policy: GroupPolicy | None) -> str:
    tz = ZoneInfo(policy.timezone) if policy is not None else None
    return at.astimezone(tz).strftime("%H:%M")


def _how(content: LotteryContent, policy: GroupPolicy) -> str:
    if content.keyword and content.by_checkin:
        return _fill(content.how_both_text, policy, keyword=content.keyword)
    if content.keyword:
        return _fill(content.how_keyword_text, policy, keyword=content.keyword)
    return _fill(content.how_checkin_text, policy)


def _prize_name(content: LotteryContent, kind: CouponKind | None, policy: GroupPolicy) -> str:
    if content.prize:
        return content.prize
    if kind is not None:
        return f"{kind.name}{kind.value}"
    return _fill(content.prize_default_text, policy)


# ----------------------------------------------------------------- opening


@feature.kind("lottery", LotteryContent, description="A provably fair lottery (周二抽奖).")
async def run_lottery(ctx: Context, run: Run) -> Result | None:
    """Open the run's draw in its group and announce it with the seed's hash."""
    policy = ctx.policy
    if policy is None or not run.room_id or not feature.enabled(policy):
        return None  # engagement is off in this group: nobody could enter
    content: LotteryContent = run.content
    kind: CouponKind | None = None
    problems: list[str] = []
    if content.coupon_type:
        spec = policy.get(EngagementPolicy).coupons.types.get(content.coupon_type)
        if spec is None:
            problems.append(f"coupon type {content.coupon_type!r} is not in this group's types")
            log.warning("lottery %s in %s: %s", run.entry.id, run.room_id, problems[-1])
        else:
            kind = kind_of(content.coupon_type, spec)
    now = ctx.clock.now()
    draw, new = await store_of(ctx).open(
        run_key=run.key,
        entry_id=run.entry.id,
        room_id=run.room_id,
        scope=scope_of(policy),
        winners=content.winners,
        content=content.model_dump_json(),
        prize=None if kind is None else json.dumps(asdict(kind), ensure_ascii=False),
        at=now,
        draws_at=now + timedelta(minutes=content.open_minutes),
    )
    text = _fill(
        content.open_text,
        policy,
        how=_how(content, policy),
        draw_time=_clock_time(draw.draws_at, policy),
        minutes=f"{content.open_minutes:g}",
        winners=draw.winners,
        prize=_prize_name(content, kind, policy),
        hash=draw.seed_hash,
        draw_id=draw.id,
    )
    say = Say(
        room=run.room_id,
        text=text,
        priority=Priority.BROADCAST,
        reason=f"lottery {draw.id} opens ({run.entry.id})",
        key=action_key("lottery-open", draw.id),
        not_after=run.not_after,
    )
    audit = Audit(
        at=now,
        action="lottery_open",
        kind="lottery",
        status="recorded",
        room=run.room_id,
        key=action_key("lottery-opened", draw.id),
        reason=f"draw {draw.id} of {run.entry.id}: seed hash {draw.seed_hash}",
        detail={
            "draw": draw.id,
            "run": run.key,
            "seed_hash": draw.seed_hash,
            "draws_at": draw.draws_at.isoformat(),
            "winners": draw.winners,
            "coupon_type": content.coupon_type,
            "problems": problems,
        },
    )
    return Result([say], effects=[audit] if new else [])


# ---------------------------------------------------------------- entering


def _checkin_names() -> frozenset[str]:
    for spec in points.feature.commands:
        if spec.fn is points.check_in:
            return frozenset(spec.names)
    return frozenset({"签到"})


CHECKIN_NAMES = _checkin_names()


def _entry_words(event: MessageEvent, policy: GroupPolicy) -> tuple[frozenset[str], bool]:
    """(what the message says as a keyword, whether it is a check-in): cheap, no I/O.
    ``#抽奖`` counts as ``抽奖`` too."""
    command = parse_command(event, policy.command_prefix)
    if command is not None and command.name in CHECKIN_NAMES:
        return frozenset(), policy.get(EngagementPolicy).checkin.enabled
    if len(event.text) > 40:
        return frozenset(), False
    words = {normalize_keyword(event.text)}
    if command is not None and not command.args:
        words.add(normalize_keyword(command.name))
        if command.name in COMMAND_NAMES:
            words.add(ANY_KEYWORD)
    return frozenset(w for w in words if w), False


async def _ineligible(
    ctx: Context, store: LotteryStore, draw: Draw, content: LotteryContent, member: str
) -> str | None:
    """Why ``member`` may not enter (a text), or None."""
    policy = ctx.policy
    assert policy is not None
    rules = content.eligibility
    if not rules.include_admins:
        staff = member in policy.admins
        if not staff:
            membership = await ctx.repo.get_membership(draw.room_id, member)
            staff = membership is not None and membership.role in ("owner", "admin")
        if staff:
            return _fill(content.reason_staff, policy)
    if rules.spoke_within_days is not None:
        since = draw.opened_at - timedelta(days=rules.spoke_within_days)
        if not await store.spoke_between(draw.room_id, member, since, draw.opened_at):
            days = f"{rules.spoke_within_days:g}"
            return _fill(content.reason_silent, policy, days=days)
    last = rules.not_won_last_draws
    if last and await store.won_recently(draw.room_id, member, before=draw, last=last):
        return _fill(content.reason_recent_winner, policy, draws=last)
    return None


@feature.on(MessageEvent)
async def enter(event: Event, ctx: Context) -> None:
    """A member enters the group's open lottery by its keyword or by checking in.

    Records only: the confirmation is folded into the ``tick`` job's next
    message, so 300 entrants do not make 300 replies.  Never answers, so the
    command router and later stages still see the message."""
    assert isinstance(event, MessageEvent)
    policy, room = ctx.policy, event.room_id
    if policy is None or room is None or event.kind is not MessageKind.TEXT:
        return None
    if event.sender_id == ctx.bot_id:
        return None
    words, checkin = _entry_words(event, policy)
    if not words and not checkin:
        return None
    cache = cache_of(ctx)
    contents = cache.content if cache is not None else content_of

    def by_keyword(draw: Draw) -> bool:
        keyword = contents(draw).keyword
        return bool(keyword and (ANY_KEYWORD in words or normalize_keyword(keyword) in words))

    def enters(draw: Draw) -> bool:
        return by_keyword(draw) or (checkin and contents(draw).by_checkin)

    store = store_of(ctx)
    for draw in await open_draws(ctx, room, event.at, enters):
        content = contents(draw)
        if not enters(draw):
            continue
        if await store.entrant(draw.id, event.sender_id) is not None:
            continue  # once is enough (and a second try is not told again)
        reason = await _ineligible(ctx, store, draw, content, event.sender_id)
        name = event.sender_name or await ctx.repo.contact_name(event.sender_id) or ""
        await store.enter(
            draw.id,
            event.sender_id,
            name=name,
            via="keyword" if by_keyword(draw) else "checkin",
            at=event.at,
            message_id=event.message_id,
            status="ineligible" if reason else "entered",
            reason=reason[:32] if reason else None,
        )
    return None


#: ``#抽奖`` enters whatever the keyword (the command router answers it, below).
COMMAND_NAMES = ("抽奖", "choujiang")
ANY_KEYWORD = "\0any"


@feature.command(*COMMAND_NAMES)
async def enter_command(cmd: Command, ctx: Context) -> str | None:
    """``#抽奖``: the entry handler has recorded it (confirmed with the others,
    folded); the router only needs to know it is a command, not an unknown one."""
    policy, room = ctx.policy, cmd.room_id
    if policy is None or room is None:
        return None
    if await open_draws(ctx, room, cmd.message.at):
        return None
    return _fill(LotteryContent().none_open_text, policy)


# ----------------------------------------------------------------- #开奖


@feature.command("开奖", "抽奖开奖", admin_only=True)
async def draw_now(cmd: Command, ctx: Context) -> str | None:
    """An admin draws the group's open lottery now (at the next tick)."""
    policy, room = ctx.policy, cmd.room_id
    if policy is None or room is None:
        return None
    store = store_of(ctx)
    now = ctx.clock.now()
    for draw in await open_draws(ctx, room, now):
        if await store.draw_now(draw.id, now):
            return _fill(content_of(draw).draw_now_text, policy, draw_id=draw.id)
    return _fill(LotteryContent().none_open_text, policy)


# ---------------------------------------------------------------- the tick


def _tick_trigger(tz: Any, config: Any) -> Any:
    return every(1, tz)


@feature.job("tick", _tick_trigger)
async def tick(ctx: Context, at: datetime) -> Result | None:
    """Confirm new entrants (folded) and finish the draws that are due."""
    store = store_of(ctx)
    await confirm_entries(store, ctx)
    audits = await finish_due(store, ctx)
    return Result(effects=audits) if audits else None


async def confirm_entries(store: LotteryStore, ctx: Context) -> int:
    """One message per open draw naming who entered (or may not) since the
    last one; rows keyed before the message is submitted, marked after it is
    in the outbox, so a crash in between resubmits under the same key."""
    now = ctx.clock.now()
    actions: list[Action] = []
    keys: list[str] = []
    confirmed = 0
    for draw_id, rows in (await store.unconfirmed()).items():
        draw = await store.get(draw_id)
        if draw is None:
            continue
        by_key: dict[str, list[Entrant]] = {}
        fresh = [r for r in rows if r.confirm_key is None]
        for r in rows:
            if r.confirm_key is not None:
                by_key.setdefault(r.confirm_key, []).append(r)
        if fresh:
            key = action_key("lottery-entered", draw_id, fresh[0].id)
            took = set(await store.assign_confirmation([r.id for r in fresh], key))
            by_key.setdefault(key, []).extend(r for r in fresh if r.id in took)
        policy = ctx.policies.get(draw.room_id)
        for key, group in by_key.items():
            keys.append(key)
            if policy is not None and group:
                actions.append(_confirmation(draw, group, key, policy, now))
                confirmed += len(group)
    if actions:
        await ctx.submit(actions)
    if keys:
        await store.mark_confirmed(keys, now)
    return confirmed


def _names(content: LotteryContent, rows: list[Entrant], policy: GroupPolicy) -> tuple[str, str]:
    shown = rows[: content.confirm_max_names]
    names = "、".join(r.name or r.member_id for r in shown)
    more = len(rows) - len(shown)
    return names, (_fill(content.more_text, policy, more=len(rows)) if more > 0 else "")


def _confirmation(
    draw: Draw, rows: list[Entrant], key: str, policy: GroupPolicy, now: datetime
) -> Say:
    content = content_of(draw)
    lines: list[str] = []
    entered = [r for r in rows if r.status == "entered"]
    if entered:
        names, more = _names(content, entered, policy)
        lines.append(
            _fill(
                content.entered_text,
                policy,
                names=names,
                more=more,
                count=draw.entrant_count,
                draw_time=_clock_time(draw.draws_at, policy),
            )
        )
    by_reason: dict[str, list[Entrant]] = {}
    for r in rows:
        if r.status == "ineligible":
            by_reason.setdefault(r.reason or "", []).append(r)
    for reason, group in by_reason.items():
        names, more = _names(content, group, policy)
        lines.append(_fill(content.ineligible_text, policy, names=names + more, reason=reason))
    return Say(
        room=draw.room_id,
        text="\n".join(lines),
        mention_ids=(),
        priority=Priority.REPLY,
        reason=f"lottery {draw.id}: {len(rows)} entry confirmation(s), folded",
        key=key,
        not_after=valid_until(now, CONFIRM_VALID_SECONDS),
    )


async def finish_due(store: LotteryStore, ctx: Context) -> list[Audit]:
    """Draw the lotteries whose time has come, give the prizes, post the results."""
    now = ctx.clock.now()
    stale = stale_before(now, STALE_MINUTES)
    audits: list[Audit] = []
    for draw in await store.due(now, stale_before=stale):
        if draw.status in ("open", "drawing"):
            if not await store.claim(draw.id, now, stale_before=stale):
                continue  # someone else has it, or it is done
            draw = await store.record(draw.id, at=now)
        if draw.status != "drawn":
            continue
        audits.append(await announce(store, ctx, draw, now))
    return audits


async def announce(store: LotteryStore, ctx: Context, draw: Draw, now: datetime) -> Audit:
    """Give each winner their coupon (once) and post the result; then mark it announced."""
    entrants = await store.entrants(draw.id, status="entered")
    winners = sorted((e for e in entrants if e.rank is not None), key=lambda e: e.rank or 0)
    kind = prize_of(draw)
    coupons: dict[str, int | None] = {}
    if kind is not None:
        for w in winners:
            coupons[w.member_id] = await store.give_prize(
                w.id, kind=kind, scope=draw.scope, room_id=draw.room_id, by=BOT_ACTOR, at=now
            )
    policy = ctx.policies.get(draw.room_id)
    if policy is not None:
        await ctx.submit(result_messages(draw, entrants, winners, policy, now))
    await store.mark_announced(draw.id, now)
    return Audit(
        at=now,
        action="lottery_draw",
        kind="lottery",
        status="recorded",
        room=draw.room_id,
        key=action_key("lottery-drawn", draw.id),
        reason=f"draw {draw.id}: {len(winners)} winner(s) of {len(entrants)}",
        detail={
            "draw": draw.id,
            "seed": draw.seed,
            "seed_hash": draw.seed_hash,
            "entrants_hash": draw.entrants_hash,
            "entrants": len(entrants),
            "winners": [w.member_id for w in winners],
            "coupons": coupons,
        },
    )


def result_messages(
    draw: Draw,
    entrants: list[Entrant],
    winners: list[Entrant],
    policy: GroupPolicy,
    now: datetime,
) -> list[Action]:
    """The result (winners @-mentioned, the seed, the hashes) and the numbered list."""
    content = content_of(draw)
    kind = prize_of(draw)
    until = valid_until(max(now, draw.draws_at), RESULT_VALID_SECONDS)

    def say(part: str, text: str, mentions: tuple[str, ...] = ()) -> Say:
        return Say(
            room=draw.room_id,
            text=text,
            mention_ids=mentions,
            priority=Priority.BROADCAST,
            reason=f"lottery {draw.id}: {part}",
            key=action_key("lottery-result", draw.id, part),
            not_after=until,
        )

    if not entrants:
        text = _fill(
            content.no_entrants_text, policy, draw_id=draw.id, seed=draw.seed, hash=draw.seed_hash
        )
        return [say("result", text)]
    lines = "\n".join(
        content.winner_line.format(rank=w.rank, number=w.number, name=w.name or w.member_id)
        for w in winners
    )
    if kind is not None:
        prize = _fill(content.prize_coupon_text, policy, name=kind.name, value=kind.value)
    else:
        prize = _fill(content.prize_text, policy, prize=_prize_name(content, None, policy))
    result = _fill(
        content.result_text,
        policy,
        draw_id=draw.id,
        count=len(entrants),
        winners=lines,
        prize=prize,
        seed=draw.seed,
        hash=draw.seed_hash,
        list_hash=draw.entrants_hash or fair.list_hash(e.member_id for e in entrants),
        algorithm=draw.algorithm,
    )
    out: list[Action] = [say("result", result, tuple(w.member_id for w in winners))]
    size = content.list_lines
    chunks = [entrants[i : i + size] for i in range(0, len(entrants), size)]
    for part, chunk in enumerate(chunks, 1):
        body = "\n".join(
            content.list_line.format(number=e.number, name=e.name or e.member_id, id=e.member_id)
            for e in chunk
        )
        text = _fill(
            content.list_text,
            policy,
            draw_id=draw.id,
            count=len(entrants),
            part=part,
            parts=len(chunks),
            lines=body,
        )
        out.append(say(f"list-{part}", text))
    return out
