"""The weekly report: the calendar's ``report`` kind, and what the CLI shares.

A run reads the group's last full week (Monday to Sunday before the run,
local time), draws it (:mod:`handlers.reports.chart`) into
``<reports dir>/<room>/<week>.png`` — the same file for a re-run, so a
repeated run overwrites it and the image's sha256 keys the same send — and
returns a SendImage and a short Chinese summary to each admin privately
(default) or into the group.  With ``overview: true`` the owners also get
every group of the entry on one page (drawn once per run: by the run of the
entry's first group).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from bot.config.sections import Model
from bot.vocab.actions import Action, Priority, Say, SendImage
from bot.vocab.policy import GroupPolicy
from bot.vocab.texts import render
from handlers.base import Context, Result
from handlers.reports.base import feature
from handlers.reports.chart import Rendered, render_overview, render_weekly, week_label
from handlers.reports.policy import ReportsPolicy
from sop.kinds import Run
from storage.reports import ReportStore, WeeklyFigures, last_full_week

REPORTS_DIR_ENV = "QUNBOT_REPORTS_DIR"


class ReportContent(Model):
    """``report:`` of a calendar entry."""

    to: Literal["admins", "group"] = Field(
        default="admins",
        description="admins: each admin of the group privately; group: into the group.",
    )
    overview: bool = Field(
        default=False, description="Also send the owners all the entry's groups on one page."
    )


def reports_dir(config: object) -> Path:
    """Where charts are written: ``$QUNBOT_REPORTS_DIR``, else ``reports/`` beside a
    SQLite database file, else ``data/reports`` beside bot.yaml."""
    if os.environ.get(REPORTS_DIR_ENV):
        return Path(os.environ[REPORTS_DIR_ENV])
    from bot.config import effective_database_url

    base = getattr(config, "config_dir", None) or Path.cwd()
    try:
        url = effective_database_url(config, os.environ, base)  # type: ignore[arg-type]
    except Exception:  # an unusable database location: the default folder
        url = ""
    m = re.match(r"^sqlite(?:\+\w+)?:///([^?]*)", url)
    if m and m.group(1) and m.group(1) != ":memory:" and not m.group(1).startswith("file:"):
        return Path(m.group(1)).parent / "reports"
    return Path(base) / "data" / "reports"


def _safe(name: str) -> str:
    return re.sub(r"[^\w.@-]+", "_", name)[:120] or "_"


def weekly_path(directory: Path, room_id: str, first_day: date) -> Path:
    return directory / _safe(room_id) / f"week-{first_day.isoformat()}.png"


def overview_path(directory: Path, first_day: date) -> Path:
    return directory / f"overview-week-{first_day.isoformat()}.png"


async def figures(
    store: ReportStore, room_id: str, first_day: date, tz: ZoneInfo, policy: GroupPolicy | None
) -> WeeklyFigures:
    core = policy.get(ReportsPolicy).core_count if policy is not None else 5
    found = await store.weekly(room_id, first_day, tz, core_count=core)
    if not found.topic and policy is not None and policy.name:
        return _with_topic(found, policy.name)
    return found


def _with_topic(f: WeeklyFigures, topic: str) -> WeeklyFigures:
    from dataclasses import replace

    return replace(f, topic=topic)


async def draw_weekly(f: WeeklyFigures, directory: Path) -> Rendered:
    return await asyncio.to_thread(render_weekly, f, weekly_path(directory, f.room_id, f.first_day))


async def draw_overview(groups: Sequence[WeeklyFigures], directory: Path) -> Rendered:
    first = groups[0].first_day if groups else date.min
    return await asyncio.to_thread(render_overview, list(groups), overview_path(directory, first))


def summary(f: WeeklyFigures, policy: GroupPolicy) -> str:
    section = policy.get(ReportsPolicy)
    return render(
        section.summary_text,
        policy,
        week=week_label(f),
        joined=str(f.joined),
        left=str(f.left),
        members=str(f.members_now),
        active=str(f.active_members),
        ratio=f"{f.active_ratio:.0%}",
        messages=str(f.messages),
        checkins=str(f.checkins),
        coupons_issued=str(f.coupons_issued),
        coupons_transferred=str(f.coupons_transferred),
        coupons_redeemed=str(f.coupons_redeemed),
        ads=str(f.ads_blocked),
        invites=str(f.invites_blocked),
        lurkers_warned=str(f.lurkers_warned),
        lurkers_removed=str(f.lurkers_removed),
        core="、".join(c.name for c in f.core) or "（无）",
    )


def overview_summary(groups: Sequence[WeeklyFigures], template: str) -> str:
    week = week_label(groups[0]) if groups else ""
    return template.format(
        week=week,
        groups=len(groups),
        joined=sum(f.joined for f in groups),
        left=sum(f.left for f in groups),
        messages=sum(f.messages for f in groups),
    )


def _deliver(
    run: Run, room: str | None, to: str | None, image: Rendered, text: str, reason: str
) -> list[Action]:
    """The chart, then its summary, into ``room`` or to ``to`` privately."""
    send = SendImage(
        room=room,
        to_contact=to,
        path=str(image.path),
        sha256=image.sha256,
        not_after=run.not_after,
        priority=Priority.BROADCAST,
        rule="report",
        reason=reason,
    )
    say = Say(
        room=room,
        to_contact=to,
        text=text,
        not_after=run.not_after,
        priority=Priority.BROADCAST,
        rule="report",
        reason=reason,
    )
    return [send, say]


def _recipients(policy: GroupPolicy, bot_id: str) -> list[str]:
    return sorted(a for a in policy.admins if a and a != bot_id)


@feature.kind(
    "report",
    ReportContent,
    description="The weekly report: a chart and a summary to the admins (or the group).",
)
async def run_report(ctx: Context, run: Run) -> Result:
    policy = ctx.policy
    assert policy is not None
    content: ReportContent = run.content
    tz = ZoneInfo(policy.timezone or ctx.config.bot.timezone)
    first_day = last_full_week(run.scheduled_at, tz)
    store = ReportStore(ctx.sessions, account_id=ctx.repo.account_id)
    directory = reports_dir(ctx.config)
    f = await figures(store, run.room_id, first_day, tz, policy)
    image = await draw_weekly(f, directory)
    text = summary(f, policy)
    actions: list[Action] = []
    if content.to == "group":
        actions += _deliver(run, run.room_id, None, image, text, "the weekly report")
    else:
        for admin in _recipients(policy, ctx.bot_id):
            actions += _deliver(
                run, None, admin, image, text, f"the weekly report of {run.room_id}"
            )
    rooms = sorted(run.rooms or (run.room_id,))
    if content.overview and rooms and rooms[0] == run.room_id:
        groups = [
            await figures(store, room, first_day, tz, ctx.policies.get(room)) for room in rooms
        ]
        picture = await draw_overview(groups, directory)
        note = overview_summary(groups, policy.get(ReportsPolicy).overview_text)
        for owner in sorted(o for o in policy.owners if o and o != ctx.bot_id):
            actions += _deliver(
                run, None, owner, picture, note, "the weekly overview of all groups"
            )
    return Result(actions)


def first_day_of(week: str | None, now: datetime, tz: ZoneInfo) -> date:
    """``--week YYYY-MM-DD`` (any day of it) as its Monday; default the last full week."""
    from storage.reports import week_of

    if week:
        return week_of(date.fromisoformat(week))
    return last_full_week(now, tz)
