"""The elimination sequence: sweep, 冒泡提醒, grace, removal batch, paced removal.

Decide, then do.  A sweep (the calendar's ``lurker_sweep``, ``#潜水检查`` or
``qunbot``'s CLI) reads one group's rollups, ranks members into tiers and
finds the silent ones who are not exempt; in ``report`` mode the admins get
the list privately and nothing happens to anyone; in ``warn_then_remove``
mode :class:`WarnLurkers` records a warning per member and comes back with
the folded @-messages (or private ones to friends).  The feature's ``tick``
job (:func:`finish_due`) finds warnings whose grace is over: a member active
since the warning is spared, the rest form removal batches
(:class:`CreateBatch`) that admins confirm with ``#确认清理 <batch>`` (or that
start at once in ``automatic`` groups).  Removals are RemoveMember actions,
each after the goodbye that tells the member how to come back; the governor
paces them.  State lives in ``storage.lurkers``; a step is claimed there
before it is done, so nothing is done twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.vocab.actions import Action, Priority, RemoveMember, Say
from bot.vocab.effects import Audit, Effect
from bot.vocab.keys import action_key
from bot.vocab.policy import GroupPolicy
from bot.vocab.texts import chunks, render
from handlers.base import Result
from handlers.lurkers.policy import LurkersPolicy
from handlers.lurkers.tiers import MemberTier, exempt_reason, last_active, silent_members, tiers
from storage.lurkers import BatchInfo, LurkerStore, WarningRow

RULE = "lurkers"
#: How long a removal batch's actions stay worth doing (the governor allows
#: ~30 removals a day; a big batch takes a while).
REMOVAL_VALID = timedelta(days=3)
NOTICE_VALID = timedelta(hours=12)


def store_of(services_or_ctx: Any) -> LurkerStore:
    sessions = services_or_ctx.sessions
    return LurkerStore(sessions, account_id=services_or_ctx.repo.account_id)


# ------------------------------------------------------------------ the view


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group's members ranked, and its silent ones split into candidates and exempt."""

    ranked: list[MemberTier]
    candidates: list[MemberTier]
    exempt: dict[str, str] = field(default_factory=dict)  # member -> reason


async def group_view(owner: Any, policy: GroupPolicy, now: datetime) -> GroupView:
    """``owner``: a Context or Services (repo, sessions, policies)."""
    section = policy.get(LurkersPolicy)
    store = store_of(owner)
    tz = owner.repo.tz
    today = now.astimezone(tz).date()
    rows = await store.member_rows(
        policy.room_id,
        day_7=(today - timedelta(days=section.active_days - 1)).isoformat(),
        day_30=(today - timedelta(days=29)).isoformat(),
        since=now - timedelta(days=30),
    )
    ranked = tiers(rows, now, section)
    silent = silent_members(ranked, section)
    allowlisted = await store.allowlisted(policy.room_id) if section.exempt_allowlisted else set()
    elsewhere: dict[str, datetime] = {}
    if section.same_tag_activity and silent and policy.tags:
        rooms = [
            r
            for r in owner.policies.managed_rooms()
            if r != policy.room_id
            and (other := owner.policies.get(r)) is not None
            and set(other.tags) & set(policy.tags)
        ]
        elsewhere = await store.last_spoke_elsewhere(rooms, [t.member_id for t in silent])
    candidates: list[MemberTier] = []
    exempt: dict[str, str] = {}
    for t in silent:
        why = exempt_reason(
            t,
            now,
            section,
            admins=policy.admins,
            allowlisted=allowlisted,
            active_elsewhere=elsewhere,
        )
        if why is None:
            candidates.append(t)
        else:
            exempt[t.member_id] = why
    return GroupView(ranked, candidates, exempt)


def lines(section: LurkersPolicy, members: Sequence[MemberTier]) -> str:
    out = []
    for i, t in enumerate(members, 1):
        days = (
            section.never_spoke_text
            if t.last_active is None
            else section.silent_days_text.format(days=t.silent_days)
        )
        out.append(
            section.line_text.format(
                rank=i, name=t.row.name or t.member_id, member=t.member_id, days=days
            )
        )
    return "\n".join(out)


def _tell_admins(
    policy: GroupPolicy, text: str, key: tuple[object, ...], now: datetime
) -> list[Say]:
    return [
        Say(
            room=None,
            to_contact=admin,
            text=text,
            priority=Priority.REPLY,
            reason=f"lurkers: tell the admins of {policy.room_id}",
            key=action_key(*key, admin),
            not_after=now + NOTICE_VALID,
            rule=RULE,
        )
        for admin in sorted(policy.admins)
    ]


def _audit(now: datetime, action: str, room: str, reason: str, **detail: Any) -> Audit:
    return Audit(
        at=now, action=action, kind=RULE, status="done", room=room, reason=reason, detail=detail
    )


# ------------------------------------------------------------------ the sweep


@dataclass(frozen=True, slots=True, kw_only=True)
class WarnLurkers(Effect):
    """Record a 冒泡提醒 for these members (member -> group|private)."""

    room: str
    via: dict[str, str]
    silent_days: dict[str, int]
    at: datetime


async def sweep(
    owner: Any, policy: GroupPolicy, now: datetime, *, report_only: bool = False
) -> tuple[Result, GroupView]:
    """One group's sweep (see the module docstring); also finishes its due warnings."""
    section = policy.get(LurkersPolicy)
    view = await group_view(owner, policy, now)
    found = view.candidates
    values = {"prefix": policy.command_prefix}
    if section.mode == "report" or report_only:
        audit = _audit(
            now,
            "lurker_report",
            policy.room_id,
            f"{len(found)} lurker(s) reported to the admins",
            members=[t.member_id for t in found],
            exempt=view.exempt,
        )
        if not found:
            return Result(effects=[audit]), view
        text = render(
            section.admin_report_text,
            policy,
            **values,
            count=str(len(found)),
            lines=lines(section, found[: section.list_top]),
            days=str(section.silent_days),
        )
        key = ("lurk-report", policy.room_id, now.date().isoformat())
        return Result(_tell_admins(policy, text, key, now), effects=[audit]), view
    store = store_of(owner)
    warned = await store.open_warnings(policy.room_id)
    new = [t for t in found if t.member_id not in warned]
    effects: list[Effect] = []
    if new:
        friends = (
            await store.friends(t.member_id for t in new)
            if section.warn_via == "private"
            else set()
        )
        effects.append(
            WarnLurkers(
                room=policy.room_id,
                via={t.member_id: "private" if t.member_id in friends else "group" for t in new},
                silent_days={t.member_id: t.silent_days for t in new},
                at=now,
                reason=f"warn {len(new)} lurker(s)",
            )
        )
    due = await finish_room(owner, policy, [w for w in warned.values() if _due(w, now)], now)
    return Result(due.actions, effects=[*effects, *due.effects]), view


def _due(w: WarningRow, now: datetime) -> bool:
    return w.status == "warned" and w.due_at <= now


def warning_actions(
    policy: GroupPolicy, written: Sequence[WarningRow], silent_days: dict[str, int]
) -> list[Action]:
    """The folded @-messages (at most ``max_mentions`` each) and private warnings."""
    section = policy.get(LurkersPolicy)
    if not written:
        return []
    days = str(min(silent_days.get(w.member_id, section.silent_days) for w in written))
    hours = f"{section.grace_hours:g}"
    values = {"prefix": policy.command_prefix, "hours": hours, "days": days}
    out: list[Action] = []
    group = [w for w in written if w.via == "group"]
    for part in chunks([w.member_id for w in group], section.max_mentions):
        first = next(w.id for w in group if w.member_id == part[0])
        out.append(
            Say(
                room=policy.room_id,
                text=render(section.warn_text, policy, **values),
                mention_ids=tuple(part),
                priority=Priority.BROADCAST,
                reason=f"冒泡提醒: {len(part)} lurker(s)",
                key=action_key("lurk-warn", policy.room_id, first),
                rule=RULE,
            )
        )
    for w in written:
        if w.via == "private":
            out.append(
                Say(
                    room=None,
                    to_contact=w.member_id,
                    text=render(section.private_warn_text, policy, **values),
                    priority=Priority.BROADCAST,
                    reason=f"冒泡提醒 in {policy.room_id} (private)",
                    key=action_key("lurk-warn-dm", w.id),
                    rule=RULE,
                )
            )
    return out


# ------------------------------------------------------------- after the grace


@dataclass(frozen=True, slots=True, kw_only=True)
class SpareWarnings(Effect):
    room: str
    ids: tuple[int, ...]
    at: datetime
    status: str = "spared"  # or "dropped": the member left meanwhile


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateBatch(Effect):
    room: str
    warning_ids: tuple[int, ...]
    automatic: bool
    at: datetime


async def finish_room(
    owner: Any, policy: GroupPolicy, due: Sequence[WarningRow], now: datetime
) -> Result:
    """Due warnings of one group: spared (active since, or exempt now), dropped
    (gone), or put into removal batches of ``batch_size``."""
    if not due:
        return Result()
    section = policy.get(LurkersPolicy)
    view = await group_view(owner, policy, now)
    present = {t.member_id: t for t in view.ranked}
    spared, dropped, listed = [], [], []
    for w in due:
        t = present.get(w.member_id)
        if t is None:
            dropped.append(w.id)
        elif (
            (seen := last_active(t.row, section.activity)) is not None and seen > w.warned_at
        ) or w.member_id in view.exempt:
            spared.append(w.id)
        else:
            listed.append(w.id)
    effects: list[Effect] = []
    if spared:
        effects.append(SpareWarnings(room=policy.room_id, ids=tuple(spared), at=now))
    if dropped:
        effects.append(
            SpareWarnings(room=policy.room_id, ids=tuple(dropped), at=now, status="dropped")
        )
    if section.mode == "warn_then_remove":
        for part in chunks([str(i) for i in listed], section.batch_size):
            effects.append(
                CreateBatch(
                    room=policy.room_id,
                    warning_ids=tuple(int(i) for i in part),
                    automatic=section.automatic,
                    at=now,
                    reason=f"removal batch of {len(part)} lurker(s)",
                )
            )
    return Result(effects=effects)


async def finish_due(owner: Any, now: datetime) -> Result:
    """Every group's due warnings (the feature's tick)."""
    by_room: dict[str, list[WarningRow]] = defaultdict(list)
    for w in await store_of(owner).due_warnings(now):
        by_room[w.room_id].append(w)
    actions: list[Action] = []
    effects: list[Effect] = []
    for room, due in sorted(by_room.items()):
        policy = owner.policies.get(room)
        if policy is None or not policy.get(LurkersPolicy).enabled:
            continue
        done = await finish_room(owner, policy, due, now)
        actions += done.actions
        effects += done.effects
    return Result(actions, effects=effects)


def batch_notice(
    policy: GroupPolicy, batch: BatchInfo, names: dict[str, str], now: datetime
) -> list[Say]:
    section = policy.get(LurkersPolicy)
    text = render(
        section.admin_auto_text if batch.automatic else section.admin_batch_text,
        policy,
        prefix=policy.command_prefix,
        batch=str(batch.id),
        count=str(len(batch.members)),
        lines="\n".join(f"{i}. {names.get(m) or m}（{m}）" for i, m in enumerate(batch.members, 1)),
    )
    return _tell_admins(policy, text, ("lurk-batch", batch.id), now)


def removal_actions(
    policy: GroupPolicy, batch_id: int, members: Sequence[str], friends: set[str], now: datetime
) -> list[Action]:
    """Goodbyes (privately to friends, else one folded @-message in the group),
    then each removal after its goodbye; the governor paces the removals."""
    section = policy.get(LurkersPolicy)
    values = {"prefix": policy.command_prefix}
    until = now + REMOVAL_VALID
    out: list[Action] = []
    told: dict[str, str] = {}
    for m in members:
        if m in friends:
            key = action_key("lurk-bye", batch_id, m)
            told[m] = key
            out.append(
                Say(
                    room=None,
                    to_contact=m,
                    text=render(section.goodbye_text, policy, **values),
                    priority=Priority.BROADCAST,
                    reason=f"lurker batch {batch_id}: how to come back",
                    key=key,
                    not_after=until,
                    rule=RULE,
                )
            )
    others = [m for m in members if m not in friends]
    for n, part in enumerate(chunks(others, section.max_mentions)):
        key = action_key("lurk-bye", batch_id, "group", n)
        told.update(dict.fromkeys(part, key))
        out.append(
            Say(
                room=policy.room_id,
                text=render(section.removing_text, policy, **values, count=str(len(part))),
                mention_ids=tuple(part),
                priority=Priority.BROADCAST,
                reason=f"lurker batch {batch_id}: how to come back",
                key=key,
                not_after=until,
                rule=RULE,
            )
        )
    for m in members:
        if m in policy.admins:  # never, whatever happens
            continue
        out.append(
            RemoveMember(
                room=policy.room_id,
                member_id=m,
                priority=Priority.BROADCAST,
                reason=f"lurker batch {batch_id}: silent after the 冒泡提醒",
                key=action_key("lurk-remove", batch_id, m),
                after=told[m],
                not_after=until,
                rule=RULE,
            )
        )
    return out
