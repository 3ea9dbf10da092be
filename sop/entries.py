"""The SOP calendar as written in ``bot.yaml`` (``calendar:``), validated.

One entry::

    calendar:
      timezone: Asia/Shanghai          # default: bot.timezone
      quiet_hours: "22:00-08:00"       # default for every entry
      holidays: [2027-01-01]           # days off the holiday data does not know (yet)
      workdays: [2027-02-07]           # make-up workdays (调休) likewise
      entries:
        - id: morning-news             # stable: run keys and #暂停 use it
          kind: post                   # post | checkin | lottery | coupon_drop | flash_group | …
          cron: "30 9 * * *"           # or  at: 2026-12-18 10:00  or  every: 2h
          days: workdays               # every | workdays | days_off
          tags: [会员群]                # targets: groups / profiles / tags (any of them)
          jitter_minutes: 5
          post:                        # the kind's content, under the kind's name
            text: "早安！今天是{date} {weekday}……"

The content of each kind is validated by the model its feature registered
(:mod:`sop.kinds`), so a mistake in it is reported at its file:line:field like
any other.  The trigger math (day rules, quiet hours, jitter) is in
:mod:`sop.triggers`; this module only says what was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.config.errors import Problem, duplicate_issues, expand, fail, fail_many, unknown_key
from bot.config.fields import Name, RoomId, check_timezone
from sop.kinds import KINDS

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
_EVERY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$")
_QUIET_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_UNITS = {"m": 1.0, "min": 1.0, "h": 60.0, "d": 1440.0}

DayRule = Literal["every", "workdays", "days_off"]


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        fail(
            f"{value!r} is not an entry id: use letters, digits, '-' and '_' "
            "(up to 48, e.g. 'morning-news'); #暂停 and the run records use it"
        )
    return value


def every_minutes(value: str) -> float:
    """``"90m"``, ``"2h"``, ``"1d"`` -> minutes."""
    m = _EVERY_RE.match(value)
    if not m:
        fail(f"{value!r} is not an interval: write e.g. '30m', '2h' or '1d'")
    minutes = float(m[1]) * _UNITS[m[2]]
    if minutes < 1:
        fail(f"{value!r}: the shortest interval is one minute")
    return minutes


def _check_every(value: str) -> str:
    every_minutes(value)
    return value


def _check_cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    fields = value.split()
    if len(fields) != 5:
        fail(
            f"{value!r} is not a cron line: five fields 'minute hour day month weekday', "
            "e.g. '30 9 * * *' (09:30 every day) or '0 20 * * tue' (Tuesdays 20:00)"
        )
    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        fail(f"{value!r} is not a valid cron line: {exc}")
    return value


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """``"22:00-08:00"`` -> (22:00, 08:00); the span may cross midnight."""
    m = _QUIET_RE.match(value)
    if not m:
        fail(f"{value!r} is not a span of hours: write e.g. '22:00-08:00'")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        fail(f"{value!r}: hours are 00–23, minutes 00–59")
    start, end = time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)
    if start == end:
        fail(f"{value!r}: the quiet hours start and end at the same time")
    return start, end


def _check_quiet(value: str) -> str:
    parse_quiet_hours(value)
    return value


EntryId = Annotated[str, AfterValidator(_check_id)]
Cron = Annotated[str, AfterValidator(_check_cron)]
Every = Annotated[str, AfterValidator(_check_every)]
QuietHours = Annotated[str, AfterValidator(_check_quiet)]
TimeZone = Annotated[str, AfterValidator(check_timezone)]


class Entry(BaseModel):
    """One calendar entry (``calendar.entries[i]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EntryId = Field(description="Stable id: run records, #暂停 and #恢复 use it.")
    kind: str = Field(description="What it does: post, checkin, lottery, coupon_drop, …")
    enabled: bool = Field(default=True, description="false: kept in the file, never run.")
    # -- when
    cron: Cron | None = Field(default=None, description="'minute hour day month weekday'.")
    at: datetime | None = Field(default=None, description="Once, at this local date and time.")
    every: Every | None = Field(default=None, description="Every '30m', '2h', '1d'.")
    timezone: TimeZone | None = Field(
        default=None, description="IANA time zone; default calendar.timezone."
    )
    starts: date | None = Field(default=None, description="First day it may run.")
    ends: date | None = Field(default=None, description="Last day it may run.")
    days: DayRule = Field(
        default="every",
        description="every | workdays (China's, with make-up days) | days_off.",
    )
    quiet_hours: QuietHours | None = Field(
        default=None, description="'22:00-08:00': nothing is posted then (default calendar's)."
    )
    in_quiet_hours: Literal["defer", "skip"] = Field(
        default="defer", description="defer: at the end of the quiet hours; skip: not at all."
    )
    jitter_minutes: float = Field(
        default=0, ge=0, le=120, description="Up to this many minutes later, the same each run."
    )
    valid_minutes: float = Field(
        default=60,
        gt=0,
        le=7 * 1440,
        description="Its messages are still worth sending this long after their time.",
    )
    grace_minutes: float = Field(
        default=30,
        ge=0,
        le=7 * 1440,
        description="A run missed while the bot was down is done late within this time, "
        "else recorded as missed and reported.",
    )
    # -- where
    groups: tuple[RoomId, ...] = Field(default=(), description="Target groups by room id.")
    profiles: tuple[Name, ...] = Field(default=(), description="Target groups by profile.")
    tags: tuple[Name, ...] = Field(default=(), description="Target groups by tag.")
    # -- what: the kind's content, validated by its model (sop.kinds)
    content: Any = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _content(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        kind = data.get("kind")
        if not isinstance(kind, str):
            return data  # the field check says so
        spec = KINDS.get(kind)
        if spec is None:
            fail(unknown_key(kind, sorted(KINDS)).replace("unknown key", "unknown kind"), "kind")
        problems: list[Problem] = []
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key == kind:
                continue
            if key not in cls.model_fields or key == "content":
                problems.append(((key,), unknown_key(key, [*cls.model_fields, kind]), True))
            else:
                out[key] = value
        try:
            out["content"] = spec.content.model_validate(data.get(kind) or {})
        except ValidationError as exc:
            for err in exc.errors():
                problems += expand(err, spec.content, (kind,))
        fail_many(problems)
        return out

    @model_validator(mode="after")
    def _one_trigger(self) -> Entry:
        given = [n for n in ("cron", "at", "every") if getattr(self, n) is not None]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            fail(
                f"entry {self.id!r} needs exactly one of 'cron', 'at' or 'every' ({what} given)",
                "id",
                key=True,
            )
        if self.starts and self.ends and self.ends < self.starts:
            fail("'ends' is before 'starts'", "ends")
        fail_many(
            [
                issue
                for name in ("groups", "profiles", "tags")
                for issue in duplicate_issues(getattr(self, name), name, what=name[:-1])
            ]
        )
        return self

    @property
    def targets_anything(self) -> bool:
        return bool(self.groups or self.profiles or self.tags)


class CalendarConfig(BaseModel):
    """``calendar:``: the entries and what they share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZone | None = Field(default=None, description="Default bot.timezone.")
    quiet_hours: QuietHours | None = Field(
        default=None, description="Default quiet hours of every entry, e.g. '22:00-08:00'."
    )
    holidays: tuple[date, ...] = Field(
        default=(), description="Days off the holiday data does not know (e.g. next year's)."
    )
    workdays: tuple[date, ...] = Field(
        default=(), description="Make-up workdays (调休) the holiday data does not know."
    )
    entries: tuple[Entry, ...] = Field(default=())

    @model_validator(mode="after")
    def _unique_ids(self) -> CalendarConfig:
        seen: dict[str, int] = {}
        problems: list[Problem] = []
        for i, entry in enumerate(self.entries):
            if entry.id in seen:
                first = seen[entry.id]
                problems.append(
                    (
                        ("entries", i, "id"),
                        f"duplicate entry id {entry.id!r} (already at [{first}])",
                    )
                )
            seen.setdefault(entry.id, i)
        both = set(self.holidays) & set(self.workdays)
        for day in sorted(both):
            problems.append((("holidays",), f"{day} is in both 'holidays' and 'workdays'"))
        fail_many(problems)
        return self

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)
