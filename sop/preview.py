"""What the calendar will do: every upcoming run per group, before it happens.

:func:`preview` lists the runs of ``bot.yaml``'s calendar in a window, after
holidays, make-up workdays, quiet hours, day rules and jitter, in time order —
what an admin checks before saving (``qunbot schedule preview``).
:func:`broadcast_estimates` says how long a run into many groups takes under
the governor's pace; :func:`holiday_warnings` is what ``config check`` says
about years the holiday data does not cover.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.config.errors import Problem
from sop.days import DayBook
from sop.kinds import KINDS
from sop.targets import KnownRoom, target_rooms
from sop.triggers import (
    FireInfo,
    day_book,
    entry_schedule,
    entry_trigger,
    planned_between,
)

if TYPE_CHECKING:  # pragma: no cover
    from bot.config.schema import BotConfig
    from sop.entries import Entry

#: How far ahead ``config check`` looks for years without holiday data.
HOLIDAY_LOOKAHEAD_DAYS = 400


@dataclass(frozen=True, slots=True)
class PreviewRun:
    """One upcoming run of an entry in one group (``room_id`` ``""``: app-wide)."""

    at: datetime  # in the calendar's time zone
    entry: str
    kind: str
    room_id: str
    group: str  # the group's name (or its id); for an app-wide kind: "全部 N 个群"
    nominal: datetime
    deferred: bool
    fallback: bool
    notes: tuple[str, ...] = ()
    rooms: tuple[str, ...] = field(default=())  # an app-wide kind's groups

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": self.at.isoformat(),
            "entry": self.entry,
            "kind": self.kind,
            "group": self.room_id,
            "group_name": self.group,
            "nominal": self.nominal.isoformat(),
            "deferred": self.deferred,
            "fallback": self.fallback,
            "notes": list(self.notes),
        }
        if not self.room_id:
            out["rooms"] = list(self.rooms)
        return out


def calendar_tz(cfg: BotConfig) -> ZoneInfo:
    return ZoneInfo(cfg.calendar.timezone or cfg.bot.timezone)


def _group_name(cfg: BotConfig, room_id: str) -> str:
    group = cfg.groups.get(room_id)
    return group.name if group is not None and group.name else room_id


def _notes(fire: FireInfo, days: DayBook, tz: ZoneInfo, shown_tz: ZoneInfo) -> tuple[str, ...]:
    notes: list[str] = []
    local = fire.at.astimezone(tz)
    d = local.date()
    if days.is_makeup_workday(d):
        notes.append("调休上班")
    name = days.holiday_name(d)
    if name:
        notes.append(f"节假日：{name}")
    if fire.deferred:
        nominal = fire.nominal.astimezone(tz)
        when = nominal.strftime("%H:%M") if nominal.date() == d else nominal.strftime("%m-%d %H:%M")
        notes.append(f"免打扰时段顺延（原定 {when}）")
    if fire.fallback:
        notes.append(f"{d.year} 年无节假日数据，按周一至周五")
    if tz.key != shown_tz.key:
        notes.append(f"当地 {local:%H:%M} {tz.key}")
    return tuple(notes)


def preview(
    cfg: BotConfig,
    start: date,
    days: int = 14,
    *,
    group: str | None = None,
    known_rooms: Mapping[str, KnownRoom] | None = None,
) -> list[PreviewRun]:
    """Every run in ``days`` days from ``start`` (00:00, calendar time zone), in time order.

    ``group``: only the runs in that group (an app-wide run that includes it too).
    """
    shown_tz = calendar_tz(cfg)
    window_start = datetime.combine(start, time(0), tzinfo=shown_tz)
    window_end = datetime.combine(start + timedelta(days=days), time(0), tzinfo=shown_tz)
    book = day_book(cfg.calendar)
    runs: list[PreviewRun] = []
    for entry in cfg.calendar.entries:
        if not entry.enabled:
            continue
        rooms = target_rooms(entry, cfg, known_rooms)
        spec = KINDS.get(entry.kind)
        per_group = spec.per_group if spec is not None else True
        if group is not None and group not in rooms:
            continue
        schedule = entry_schedule(entry, cfg.calendar, cfg.bot.timezone, book)
        reach = timedelta(seconds=int(entry.jitter_minutes * 60))
        planned = planned_between(schedule, window_start - reach, window_end)
        if not planned:
            continue
        where = ([r for r in rooms if group is None or r == group]) if per_group else [""]
        for room_id in where:
            trigger = entry_trigger(
                entry, cfg.calendar, cfg.bot.timezone, room_id, book, schedule=schedule
            )
            for fire in trigger.fires(window_start, window_end, planned):
                runs.append(
                    PreviewRun(
                        at=fire.at.astimezone(shown_tz),
                        entry=entry.id,
                        kind=entry.kind,
                        room_id=room_id,
                        group=_group_name(cfg, room_id) if room_id else f"全部 {len(rooms)} 个群",
                        nominal=fire.nominal,
                        deferred=fire.deferred,
                        fallback=fire.fallback,
                        notes=_notes(fire, book, schedule.tz, shown_tz),
                        rooms=() if room_id else rooms,
                    )
                )
    runs.sort(key=lambda r: (r.at, r.entry, r.room_id))
    return runs


# ------------------------------------------------------- broadcast pace


@dataclass(frozen=True, slots=True)
class BroadcastEstimate:
    """How long one run of an entry into all its groups takes under the governor."""

    entry: str
    groups: int
    messages_per_group: int
    rich_per_group: int  # of which images, links, mini programs (their own, slower lane)
    minutes: float
    over_rich_day: bool  # one run needs more rich messages than a day's budget

    @property
    def messages(self) -> int:
        return self.groups * self.messages_per_group


def messages_per_run(entry: Entry) -> tuple[int, int]:
    """(messages, of which rich) one run sends into one group (an estimate by kind)."""
    content = entry.content
    if entry.kind == "post" and content is not None:
        rich = sum(1 for name in ("image", "link", "mini_program") if getattr(content, name, None))
        text = 1 if (getattr(content, "text", "") or getattr(content, "texts", ())) else 0
        return max(1, text + rich), rich
    return 1, 0


def broadcast_estimates(cfg: BotConfig, min_groups: int = 2) -> list[BroadcastEstimate]:
    """For each enabled entry with at least ``min_groups`` target groups."""
    gov = cfg.governor
    out: list[BroadcastEstimate] = []
    for entry in cfg.calendar.entries:
        if not entry.enabled:
            continue
        groups = len(target_rooms(entry, cfg))
        if groups < min_groups:
            continue
        per_group, rich = messages_per_run(entry)
        # The sustained rate bounds all messages, the rich lane its own; switching
        # groups costs a pause of switch_delay_min..max seconds each time.
        switch = (gov.switch_delay_min + gov.switch_delay_max) / 2 * max(0, groups - 1) / 60
        minutes = max(
            groups * per_group / gov.messages_per_min,
            groups * rich / gov.rich_per_min,
            switch,
        )
        out.append(
            BroadcastEstimate(
                entry=entry.id,
                groups=groups,
                messages_per_group=per_group,
                rich_per_group=rich,
                minutes=minutes,
                over_rich_day=groups * rich > gov.rich_per_day,
            )
        )
    return out


# ------------------------------------------------------ holiday data


def holiday_warnings(
    cfg: BotConfig, today: date, lookahead_days: int = HOLIDAY_LOOKAHEAD_DAYS
) -> list[Problem]:
    """Entries with day rules that will run in a year without holiday data.

    One per entry and year, unless ``bot.yaml`` names days of that year
    (``calendar.holidays`` / ``calendar.workdays``): Monday–Friday would be
    assumed, public holidays and make-up workdays ignored.
    """
    book = day_book(cfg.calendar)
    last = today + timedelta(days=lookahead_days)
    years = book.fallback_years(today.year, last.year)
    out: list[Problem] = []
    if not years:
        return out
    for i, entry in enumerate(cfg.calendar.entries):
        if not entry.enabled or entry.days == "every":
            continue
        schedule = entry_schedule(entry, cfg.calendar, cfg.bot.timezone, book)
        for year in years:
            begin = max(today, date(year, 1, 1))
            start = datetime.combine(begin, time(0), tzinfo=schedule.tz)
            first = next(iter(schedule.planned(start)), None)
            if first is None:
                break
            runs_on = first.at.astimezone(schedule.tz).date()
            if runs_on.year != year or runs_on > last:
                continue
            rule = "workdays" if entry.days == "workdays" else "days off"
            out.append(
                (
                    ("calendar", "entries", i, "days"),
                    f"warning: entry {entry.id!r} runs on {rule} in {year}, a year the holiday "
                    f"data (chinesecalendar) does not cover: Monday–Friday will be assumed, "
                    f"public holidays and make-up workdays ignored; add {year}'s days off to "
                    f"calendar.holidays and its make-up workdays to calendar.workdays",
                )
            )
    return out


def format_minutes(minutes: float) -> str:
    if minutes < 1:
        return "不到 1 分钟"
    return f"约 {math.ceil(minutes)} 分钟"
