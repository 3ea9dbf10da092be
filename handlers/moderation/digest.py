"""The shadow-mode digest: once a day, admins hear what moderation would have done.

An hourly job; a group's digest goes out in the hour its ``digest_hour``
names (local time), to each of its admins privately, when it has shadow
cases from the last 24 hours.  Its key carries the group and the local date,
so a restart or a re-run never sends it twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.vocab.actions import Action, Priority, Say
from bot.vocab.keys import action_key
from handlers.base import Context
from handlers.moderation.ads import ACTION_WORDS, feature
from handlers.moderation.policy import ModerationPolicy
from handlers.moderation.runtime import runtime

MAX_LINES = 10


def _hourly(tz: Any, config: Any) -> CronTrigger:
    return CronTrigger(minute=0, timezone=tz)


@feature.job("shadow-digest", _hourly)
async def shadow_digest(ctx: Context, at: datetime) -> list[Action]:
    rt = runtime(ctx)
    out: list[Action] = []
    for room_id in ctx.policies.managed_rooms():
        policy = ctx.policies.get(room_id)
        if policy is None or not feature.enabled(policy):
            continue
        local = at.astimezone(ZoneInfo(policy.timezone))
        if local.hour != policy.get(ModerationPolicy).digest_hour:
            continue
        since = at - timedelta(hours=24)
        cases = await rt.store.cases(room_id=room_id, since=since, mode="shadow")
        if not cases:
            continue
        counts = Counter(ACTION_WORDS.get(c.action, c.action) for c in cases)
        lines = [
            f"【{policy.name}】观察模式日报：过去 24 小时有 {len(cases)} 条判定，未处理任何成员。",
            "若开启管理将会：" + "，".join(f"{k} {n} 次" for k, n in counts.items()) + "。",
        ]
        for case in cases[:MAX_LINES]:
            reasons = "；".join(r["reason"] for r in case.reasons if r.get("hit")) or "—"
            lines.append(f"案件 {case.id}：{case.member_id}「{case.text[:40]}」— {reasons}")
        if len(cases) > MAX_LINES:
            lines.append(f"……另有 {len(cases) - MAX_LINES} 条，可用 qunbot cases 查看。")
        lines.append(f"确认无误后，可发送「{policy.command_prefix}开启管理」开始处理。")
        text = "\n".join(lines)
        out += [
            Say(
                room=None,
                to_contact=admin,
                text=text,
                priority=Priority.BROADCAST,
                reason=f"shadow-mode digest of {room_id}",
                key=action_key("mod-digest", room_id, local.date().isoformat(), admin),
                rule="digest",
            )
            for admin in sorted(policy.admins)
        ]
    return out
