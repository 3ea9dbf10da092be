"""The ``lurkers`` feature: commands, the sweep kind, the tick, capacity alerts.

Admins' commands (by account id; the router refuses others):
``#潜水`` lists the group's lurkers with days silent; ``#潜水检查`` runs the
sweep now; ``#确认清理 <batch>`` confirms a removal batch; ``#恢复 @x``
re-invites a removed member (through the governor) and clears their lurker
state.  The calendar runs sweeps with the ``lurker_sweep`` kind; the
``tick`` job finishes warnings whose grace is over.  A join that brings a
group to its capacity mark alerts the admins once per crossing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.vocab.actions import Action, AddMember, Priority
from bot.vocab.effects import Audit, Effect
from bot.vocab.events import Event, FriendshipEvent, JoinEvent, LeaveEvent
from bot.vocab.keys import action_key
from bot.vocab.texts import render
from handlers.base import Context, Result
from handlers.command_router import Reply
from handlers.feature import Feature, Stage
from handlers.lurkers.policy import LurkersPolicy
from handlers.lurkers.sweep import (
    RULE,
    CreateBatch,
    SpareWarnings,
    WarnLurkers,
    _audit,
    _tell_admins,
    batch_notice,
    finish_due,
    group_view,
    last_active,
    lines,
    removal_actions,
    store_of,
    sweep,
    warning_actions,
)
from handlers.parsing import Command
from handlers.services import Services
from sop.calendar import every
from sop.kinds import Run

feature = Feature("lurkers", stage=Stage.CHAT, section=LurkersPolicy)

WHO = "请 @ 要恢复的成员，例如：{prefix}恢复 @某人"


class LurkerSweepContent(BaseModel):
    """``lurker_sweep: {report_only: true}``: list to the admins whatever the group's mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_only: bool = False


# ------------------------------------------------------------------ commands


@feature.command("潜水", admin_only=True)
async def list_lurkers(cmd: Command, ctx: Context) -> str:
    assert ctx.policy is not None
    section = ctx.policy.get(LurkersPolicy)
    view = await group_view(ctx, ctx.policy, ctx.clock.now())
    found = view.candidates
    values = {"prefix": cmd.prefix, "days": str(section.silent_days)}
    if not found:
        return render(section.none_text, ctx.policy, **values)
    shown = found[: section.list_top]
    return render(
        section.list_text,
        ctx.policy,
        **values,
        count=str(len(found)),
        shown=str(len(shown)),
        lines=lines(section, shown),
    )


@feature.command("潜水检查", admin_only=True)
async def sweep_now(cmd: Command, ctx: Context) -> Reply:
    assert ctx.policy is not None
    section = ctx.policy.get(LurkersPolicy)
    result, view = await sweep(ctx, ctx.policy, ctx.clock.now())
    warned = sum(len(e.via) for e in result.effects if isinstance(e, WarnLurkers))
    text = render(
        section.sweep_text,
        ctx.policy,
        prefix=cmd.prefix,
        count=str(len(view.candidates)),
        warned=str(warned),
    )
    return Reply(text, actions=result.actions, effects=result.effects)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmBatch(Effect):
    batch_id: int
    room: str
    by: str


@feature.command("确认清理", admin_only=True)
async def confirm(cmd: Command, ctx: Context) -> Reply | str:
    assert ctx.policy is not None and cmd.room_id is not None
    section = ctx.policy.get(LurkersPolicy)
    word = cmd.args.strip().lstrip("#")
    values = {"prefix": cmd.prefix, "batch": word or "?"}
    if not word.isdigit():
        return f"用法：{cmd.prefix}确认清理 名单号"
    batch = await store_of(ctx).batch(int(word))
    if batch is None or batch.room_id != cmd.room_id or batch.status != "pending":
        return render(section.no_batch_text, ctx.policy, **values)
    return Reply(
        render(section.confirmed_text, ctx.policy, **values, count=str(len(batch.members))),
        effects=[
            ConfirmBatch(batch_id=batch.id, room=cmd.room_id, by=cmd.sender_id, reason="#确认清理")
        ],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteFriend(Effect):
    contact_id: str
    at: datetime


@feature.on(FriendshipEvent, direct=True)
async def friendship(event: FriendshipEvent, ctx: Context) -> Result | None:
    """A confirmed friendship: that member's 冒泡提醒 and goodbye go privately."""
    if event.kind != "confirm" or not event.contact_id:
        return None
    return Result(effects=[NoteFriend(contact_id=event.contact_id, at=event.at)])


@feature.effect(NoteFriend)
async def _note_friend(effect: NoteFriend, services: Services) -> None:
    await store_of(services).add_friend(effect.contact_id, effect.at)


@dataclass(frozen=True, slots=True, kw_only=True)
class Restore(Effect):
    room: str
    member_id: str
    by: str


@feature.command("恢复成员", admin_only=True)  # and #恢复 @x (sop.commands dispatches)
async def restore(cmd: Command, ctx: Context) -> Reply | str:
    assert ctx.policy is not None and cmd.room_id is not None
    if len(cmd.mentions) != 1:
        return WHO.format(prefix=cmd.prefix)
    member = cmd.mentions[0]
    name = await ctx.repo.contact_name(member) or member
    section = ctx.policy.get(LurkersPolicy)
    return Reply(
        render(section.restored_text, ctx.policy, prefix=cmd.prefix, member=name),
        effects=[Restore(room=cmd.room_id, member_id=member, by=cmd.sender_id, reason="#恢复")],
    )


# ------------------------------------------------------- calendar and the tick


@feature.kind(
    "lurker_sweep",
    LurkerSweepContent,
    description="A lurker sweep: 冒泡提醒, then removal batches (or a report to the admins).",
)
async def run_sweep(ctx: Context, run: Run) -> Result | None:
    if ctx.policy is None or not ctx.policy.get(LurkersPolicy).enabled:
        return None
    content = run.content
    report_only = bool(getattr(content, "report_only", False))
    result, _ = await sweep(ctx, ctx.policy, ctx.clock.now(), report_only=report_only)
    return result


def _tick_trigger(tz: Any, config: Any) -> Any:
    return every(10, tz)


@feature.job("tick", _tick_trigger)
async def tick(ctx: Context, at: datetime) -> Result:
    """Finish the warnings whose grace is over (every group)."""
    return await finish_due(ctx, ctx.clock.now())


# ------------------------------------------------------------------ capacity


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityAlert(Effect):
    room: str
    members: int
    text: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityClear(Effect):
    room: str


@feature.on(JoinEvent, LeaveEvent)
async def capacity(event: Event, ctx: Context) -> Result | None:
    assert isinstance(event, JoinEvent | LeaveEvent) and ctx.policy is not None
    section = ctx.policy.get(LurkersPolicy)
    mark = section.capacity.mark
    if not mark:
        return None
    store = store_of(ctx)
    count = len(await ctx.repo.current_members(event.room_id))
    alerted = await store.capacity_alerted(event.room_id)
    if count < mark:
        return Result(effects=[CapacityClear(room=event.room_id)]) if alerted else None
    if alerted:
        return None
    now = ctx.clock.now()
    view = await group_view(ctx, ctx.policy, now)
    found = view.candidates
    text = render(
        section.capacity_text,
        ctx.policy,
        prefix=ctx.policy.command_prefix,
        members=str(count),
        cap=str(section.capacity.size_cap),
        count=str(len(found)),
        lines=lines(section, found[: section.capacity.top]) or "（暂无）",
    )
    return Result(
        effects=[
            CapacityAlert(
                room=event.room_id, members=count, text=text, at=now, reason="near capacity"
            )
        ]
    )


# ------------------------------------------------------------------- doing


@feature.effect(WarnLurkers)
async def _warn(effect: WarnLurkers, services: Services) -> Result | None:
    policy = services.policies.get(effect.room)
    if policy is None:
        return None
    section = policy.get(LurkersPolicy)
    written = await store_of(services).add_warnings(
        effect.room, effect.via, effect.at, effect.at + timedelta(hours=section.grace_hours)
    )
    if not written:
        return None
    audit = _audit(
        effect.at,
        "lurker_warn",
        effect.room,
        f"冒泡提醒 to {len(written)} lurker(s)",
        members=[w.member_id for w in written],
        due_at=written[0].due_at.isoformat(),
    )
    return Result(warning_actions(policy, written, effect.silent_days), effects=[audit])


@feature.effect(SpareWarnings)
async def _spare(effect: SpareWarnings, services: Services) -> Result | None:
    n = await store_of(services).set_status(effect.ids, effect.status, effect.at, was=("warned",))
    if not n:
        return None
    why = "active since the warning" if effect.status == "spared" else "left the group"
    return Result(
        effects=[
            _audit(
                effect.at, f"lurker_{effect.status}", effect.room, why, warnings=list(effect.ids)
            )
        ]
    )


async def _names(services: Services, members: tuple[str, ...]) -> dict[str, str]:
    return {m: await services.repo.contact_name(m) or "" for m in members}


@feature.effect(CreateBatch)
async def _create_batch(effect: CreateBatch, services: Services) -> Result | None:
    policy = services.policies.get(effect.room)
    if policy is None:
        return None
    store = store_of(services)
    batch = await store.create_batch(
        effect.room, effect.warning_ids, automatic=effect.automatic, now=effect.at
    )
    if batch is None:
        return None
    actions: list[Action] = list(
        batch_notice(policy, batch, await _names(services, batch.members), effect.at)
    )
    if batch.automatic:
        friends = await store.friends(batch.members)
        actions += removal_actions(policy, batch.id, batch.members, friends, effect.at)
    audit = _audit(
        effect.at,
        "lurker_batch",
        effect.room,
        f"removal batch {batch.id} ({'automatic' if batch.automatic else 'to confirm'})",
        batch=batch.id,
        members=list(batch.members),
    )
    return Result(actions, effects=[audit])


@feature.effect(ConfirmBatch)
async def _confirm(effect: ConfirmBatch, services: Services) -> Result | None:
    policy = services.policies.get(effect.room)
    if policy is None:
        return None
    store = store_of(services)
    now = services.clock.now()
    members = await store.confirm_batch(effect.batch_id, effect.room, effect.by, now)
    if members is None:
        return None
    # Whoever spoke (or became an admin, or left) since the warning is spared still.
    view = await group_view(services, policy, now)
    present = {t.member_id: t for t in view.ranked}
    warned = {
        w.member_id: w.warned_at
        for w in await store.warnings_of(effect.room)
        if w.batch_id == effect.batch_id
    }
    section = policy.get(LurkersPolicy)
    keep = []
    for m in members:
        t = present.get(m)
        if t is None or m in view.exempt or m in policy.admins:
            continue
        seen = last_active(t.row, section.activity)
        if seen is not None and seen > warned.get(m, now):
            continue
        keep.append(m)
    await store.drop_from_batch(effect.batch_id, set(members) - set(keep), now)
    friends = await store.friends(keep)
    audit = _audit(
        now,
        "lurker_confirm",
        effect.room,
        f"removal batch {effect.batch_id} confirmed by {effect.by}",
        batch=effect.batch_id,
        by=effect.by,
        removing=keep,
        spared=sorted(set(members) - set(keep)),
    )
    return Result(removal_actions(policy, effect.batch_id, keep, friends, now), effects=[audit])


@feature.effect(Restore)
async def _restore(effect: Restore, services: Services) -> Result:
    now = services.clock.now()
    cleared = await store_of(services).restore(effect.room, effect.member_id, now)
    back = AddMember(
        room=effect.room,
        member_id=effect.member_id,
        priority=Priority.MODERATION,
        reason=f"#恢复 by {effect.by}: invite a removed lurker back",
        key=action_key("lurk-restore", effect.room, effect.member_id, now),
        rule=RULE,
    )
    audit = _audit(
        now,
        "lurker_restore",
        effect.room,
        f"#恢复 by {effect.by}",
        member=effect.member_id,
        by=effect.by,
        cleared=cleared,
    )
    return Result([back], effects=[audit])


@feature.effect(CapacityAlert)
async def _capacity(effect: CapacityAlert, services: Services) -> Result | None:
    policy = services.policies.get(effect.room)
    if policy is None:
        return None
    if not await store_of(services).mark_capacity(effect.room, effect.members, effect.at):
        return None
    audit: Audit = _audit(
        effect.at,
        "lurker_capacity",
        effect.room,
        f"{effect.members} members: near capacity",
        members=effect.members,
    )
    return Result(
        _tell_admins(policy, effect.text, ("lurk-cap", effect.room, effect.at), effect.at),
        effects=[audit],
    )


@feature.effect(CapacityClear)
async def _capacity_clear(effect: CapacityClear, services: Services) -> None:
    await store_of(services).clear_capacity(effect.room)
