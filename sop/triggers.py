"""When a calendar entry fires in one group: the base trigger, then the rules.

An entry's fire times are computed in three steps, each a pure function of
the entry (no clock, no state, no randomness):

1. **nominal** times from the base trigger: ``cron`` (a crontab line in the
   entry's time zone), ``at`` (once; a naive time is local) or ``every``
   (an interval counted from a fixed local midnight, as
   :func:`sop.calendar.every`, so every restart computes the same times);
2. **quiet hours** (the entry's, else ``calendar.quiet_hours``; a span may
   cross midnight): a nominal time inside moves to the end of the span
   (``defer``: several moved to the same end are one run) or is dropped
   (``skip``); then the **day rules** on the local date it would run:
   ``starts`` / ``ends`` and ``days`` (``every`` / ``workdays`` /
   ``days_off``, China's calendar, :class:`sop.days.DayBook`).  The result is
   the *planned* time;
3. **jitter**: the planned time plus an offset in ``[0, jitter_minutes)``
   taken from a hash of (entry id, room id, planned time): the same in every
   process and after every restart, so the run key is too.  Two triggers of
   one entry in two rooms differ only in this offset.  An offset that would
   carry a run into the next quiet span is shrunk in proportion to end
   before it (jitter never makes a run skip or wait overnight).

:class:`EntryTrigger` is an APScheduler trigger: ``get_next_fire_time(None,
now)`` is the first fire at or after ``now``, so :func:`sop.calendar.next_fire_after`
and :func:`sop.calendar.plan_catchup` work with it unchanged.  A search looks
at most :data:`HORIZON` ahead of the first nominal time (an entry whose every
time is skipped by quiet hours ends rather than loops).  :meth:`EntryTrigger.fire_info`
tells what happened to a fire (deferred from when, judged by Monday–Friday
for lack of holiday data) for the preview and for the runtime's alert.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from sop.calendar import every as every_trigger
from sop.days import DayBook
from sop.entries import CalendarConfig, DayRule, Entry, every_minutes, parse_quiet_hours

#: How far past its first nominal time a search for the next fire looks.
HORIZON = timedelta(days=400)
_TICK = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_MEMO_SIZE = 512

_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_NUMBERS = {name: i for i, name in enumerate(_DOW_NAMES)}


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field with numbers as names APScheduler reads right.

    In a crontab 0 (and 7) is Sunday and 1 Monday; APScheduler 3's
    ``from_crontab`` passes the field on to its own numbering, where 0 is
    Monday: ``0 9 * * 1-5`` would run Tuesday to Saturday.  Names mean the
    same to both, so numbers become names (``1-5`` -> ``mon,tue,wed,thu,fri``).
    """
    if not any(c.isdigit() for c in field):
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            first, last = 0, 6
        else:
            lo, _, hi = base.partition("-")
            first = _dow_number(lo)
            last = _dow_number(hi) if hi else (6 if step_text else first)
        if step < 1 or first > last:
            return field  # unusual: APScheduler's reading stands (validated already)
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DOW_NAMES[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def _dow_number(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return _DOW_NUMBERS[text[:3]]


def cron_trigger(line: str, tz: ZoneInfo) -> CronTrigger:
    """A crontab line (five fields) read with crontab's weekday numbers."""
    fields = line.split()
    if len(fields) == 5:
        with contextlib.suppress(KeyError, ValueError):  # left to APScheduler, which says why
            fields[4] = crontab_weekdays(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=tz)


def entry_timezone(entry: Entry, calendar: CalendarConfig, default_tz: str) -> ZoneInfo:
    return ZoneInfo(entry.timezone or calendar.timezone or default_tz)


def base_trigger(entry: Entry, tz: ZoneInfo) -> BaseTrigger:
    """The entry's own trigger (cron, at or every), before any rule."""
    if entry.cron is not None:
        return cron_trigger(entry.cron, tz)
    if entry.at is not None:
        at = entry.at if entry.at.tzinfo is not None else entry.at.replace(tzinfo=tz)
        return DateTrigger(run_date=_normal(at, tz), timezone=tz)
    assert entry.every is not None  # Entry insists on exactly one of the three
    return every_trigger(every_minutes(entry.every), tz)


def _normal(t: datetime, tz: ZoneInfo) -> datetime:
    """``t`` as a real instant shown in ``tz`` (a wall time in a DST gap moves on)."""
    return t.astimezone(UTC).astimezone(tz)


def _wall(tz: ZoneInfo, d: date, at: time) -> datetime:
    return _normal(datetime.combine(d, at, tzinfo=tz), tz)


@functools.lru_cache(maxsize=4096)
def _spans(
    tz: ZoneInfo, quiet: tuple[time, time], d: date
) -> tuple[tuple[datetime, datetime], ...]:
    """The quiet spans that may hold a time on local date ``d`` (pure: cached)."""
    qs, qe = quiet
    if qs < qe:
        return ((_wall(tz, d, qs), _wall(tz, d, qe)),)
    # Across midnight: the one that began yesterday evening, and this evening's.
    return (
        (_wall(tz, d - _DAY, qs), _wall(tz, d, qe)),
        (_wall(tz, d, qs), _wall(tz, d + _DAY, qe)),
    )


@dataclass(frozen=True, slots=True)
class Planned:
    """A fire time after quiet hours and day rules, before jitter."""

    at: datetime  # the planned time (jitter is added to it)
    nominal: datetime  # what the base trigger said (the first, when several were deferred)
    deferred: bool  # moved to the end of the quiet hours
    fallback: bool  # the day rule judged by Monday–Friday (no holiday data for the year)


@dataclass(frozen=True, slots=True)
class FireInfo:
    """What happened to one fire of one group (for the preview and the alerts)."""

    at: datetime  # when it fires (the run key's time)
    nominal: datetime
    planned: datetime  # ``at`` without the jitter
    deferred: bool
    fallback: bool

    @property
    def jitter(self) -> timedelta:
        return self.at - self.planned


@dataclass(frozen=True, slots=True)
class Schedule:
    """Steps 1 and 2 of an entry (the same in every group): planned times."""

    base: BaseTrigger
    tz: ZoneInfo
    days: DayRule = "every"
    daybook: DayBook | None = None
    quiet: tuple[time, time] | None = None
    skip_quiet: bool = False
    starts: date | None = None
    ends: date | None = None
    horizon: timedelta = HORIZON
    # Memo of the base trigger's answers (pure, so a cache only saves time):
    # consecutive searches ask again from the same nominal times.
    _memo: dict[datetime, datetime | None] = field(default_factory=dict, compare=False, repr=False)

    # ------------------------------------------------------------ helpers

    def _wall(self, d: date, at: time) -> datetime:
        return _wall(self.tz, d, at)

    def quiet_span(
        self, t: datetime, *, end_inclusive: bool = False
    ) -> tuple[datetime, datetime] | None:
        """The quiet span ``[start, end)`` that holds ``t`` (``end_inclusive``: ``[start, end]``)."""
        if self.quiet is None:
            return None
        for lo, hi in _spans(self.tz, self.quiet, t.astimezone(self.tz).date()):
            if lo <= t < hi or (end_inclusive and t == hi):
                return lo, hi
        return None

    def _day_ok(self, d: date) -> tuple[bool, bool]:
        """(runs on ``d``, judged by Monday–Friday alone)."""
        if self.days == "every" or self.daybook is None:
            return True, False
        workday = self.daybook.is_workday(d)
        ok = workday if self.days == "workdays" else not workday
        return ok, self.daybook.is_fallback(d)

    def _day_start(self, d: date) -> datetime:
        """From here on, nominal times may be planned on ``d`` or later."""
        midnight = self._wall(d, time(0))
        if not self.skip_quiet:
            span = self.quiet_span(midnight)
            if span is not None:  # last evening's quiet times are deferred to ``d``
                return span[0]
        return midnight

    def _nominal(self, t: datetime) -> datetime | None:
        memo = self._memo
        if t in memo:
            return memo[t]
        fire = self.base.get_next_fire_time(None, t)
        # (a DateTrigger answers its date, past or not)
        fire = None if fire is None or fire < t else _normal(fire, self.tz)
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[t] = fire
        return fire

    # ---------------------------------------------------------- planning

    def planned(self, start: datetime) -> Iterator[Planned]:
        """Planned times at or after ``start``, strictly increasing."""
        t = start
        if not self.skip_quiet:
            span = self.quiet_span(start, end_inclusive=True)
            if span is not None:  # times inside it are deferred to its end, >= start
                t = span[0]
        first: datetime | None = None
        last: datetime | None = None
        while True:
            nominal = self._nominal(t)
            if nominal is None:
                return
            if first is None:
                first = nominal
            elif nominal > first + self.horizon:
                return
            span = self.quiet_span(nominal)
            if span is not None:
                if self.skip_quiet:
                    t = max(span[1], nominal + _TICK)
                    continue
                at, deferred, after = span[1], True, span[1]
            else:
                at, deferred, after = nominal, False, nominal + _TICK
            d = at.astimezone(self.tz).date()
            if self.ends is not None and d > self.ends:
                return
            if self.starts is not None and d < self.starts:
                t = max(after, self._day_start(self.starts))
                continue
            ok, fallback = self._day_ok(d)
            if not ok:
                t = max(after, self._day_start(d + _DAY))
                continue
            if at >= start and (last is None or at > last):
                yield Planned(at, nominal, deferred, fallback)
                last = at
            t = after


def jitter_offset(
    entry_id: str, room_id: str, planned: datetime, jitter_minutes: float
) -> timedelta:
    """A whole number of seconds in ``[0, jitter_minutes)`` from a hash: the same everywhere."""
    span = int(jitter_minutes * 60)
    if span <= 0:
        return timedelta(0)
    stamp = int(planned.timestamp())
    digest = hashlib.blake2b(f"{entry_id}\x1f{room_id}\x1f{stamp}".encode(), digest_size=8)
    return timedelta(seconds=int.from_bytes(digest.digest(), "big") % span)


class EntryTrigger(BaseTrigger):
    """An entry's fire times in one group (APScheduler's trigger interface)."""

    __slots__ = ("entry_id", "jitter_minutes", "room_id", "schedule")

    def __init__(self, schedule: Schedule, entry_id: str, room_id: str, jitter_minutes: float = 0):
        self.schedule = schedule
        self.entry_id = entry_id
        self.room_id = room_id
        self.jitter_minutes = jitter_minutes

    def __getstate__(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"<EntryTrigger {self.entry_id} in {self.room_id or '(all)'}>"

    @property
    def _reach(self) -> timedelta:
        return timedelta(seconds=max(0, int(self.jitter_minutes * 60)))

    def final(self, planned: Planned) -> FireInfo:
        """Step 3: the planned time plus this group's jitter."""
        offset = jitter_offset(self.entry_id, self.room_id, planned.at, self.jitter_minutes)
        if offset:
            span = self.schedule.quiet_span(planned.at + offset)
            if span is not None and span[0] > planned.at:
                # Shrunk in proportion to end before the quiet hours start.
                gap = span[0] - planned.at
                offset = timedelta(seconds=int(offset / self._reach * gap.total_seconds()))
        return FireInfo(
            at=planned.at + offset,
            nominal=planned.nominal,
            planned=planned.at,
            deferred=planned.deferred,
            fallback=planned.fallback,
        )

    def _search(self, now: datetime) -> FireInfo | None:
        best: FireInfo | None = None
        reach = self._reach
        for planned in self.schedule.planned(now - reach):
            if best is not None and planned.at >= best.at:
                break
            fire = self.final(planned)
            if fire.at >= now and (best is None or fire.at < best.at):
                best = fire
                if not reach:
                    break
        return best

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first fire at or after ``now`` (``previous_fire_time`` is not needed)."""
        best = self._search(now)
        return best.at if best is not None else None

    def fire_info(self, fire: datetime) -> FireInfo | None:
        """What happened to the fire at ``fire`` (None if this trigger does not fire then)."""
        best = self._search(fire)
        return best if best is not None and best.at == fire else None

    def fires(
        self, start: datetime, end: datetime, planned: Sequence[Planned] | None = None
    ) -> list[FireInfo]:
        """Fires in ``[start, end)``, in time order.  ``planned``: the entry's
        planned times from ``start - jitter`` on, computed once for all groups."""
        source = planned if planned is not None else self._planned_until(start, end)
        out = [self.final(p) for p in source]
        return sorted((f for f in out if start <= f.at < end), key=lambda f: f.at)

    def _planned_until(self, start: datetime, end: datetime) -> list[Planned]:
        return planned_between(self.schedule, start - self._reach, end)


def planned_between(schedule: Schedule, start: datetime, end: datetime) -> list[Planned]:
    """The planned times in ``[start, end)``."""
    out: list[Planned] = []
    for planned in schedule.planned(start):
        if planned.at >= end:
            break
        out.append(planned)
    return out


def entry_schedule(
    entry: Entry, calendar: CalendarConfig, default_tz: str, days: DayBook
) -> Schedule:
    """Steps 1 and 2 of ``entry``: shared by its triggers in every group."""
    tz = entry_timezone(entry, calendar, default_tz)
    quiet_text = entry.quiet_hours or calendar.quiet_hours
    return Schedule(
        base=base_trigger(entry, tz),
        tz=tz,
        days=entry.days,
        daybook=days,
        quiet=parse_quiet_hours(quiet_text) if quiet_text else None,
        skip_quiet=entry.in_quiet_hours == "skip",
        starts=entry.starts,
        ends=entry.ends,
    )


def entry_trigger(
    entry: Entry,
    calendar: CalendarConfig,
    default_tz: str,
    room_id: str,
    days: DayBook,
    *,
    schedule: Schedule | None = None,
) -> EntryTrigger:
    """``entry``'s trigger in the group ``room_id`` (``""``: an app-wide kind).

    Pass ``schedule`` (from :func:`entry_schedule`) to share it between the
    entry's groups.
    """
    if schedule is None:
        schedule = entry_schedule(entry, calendar, default_tz, days)
    return EntryTrigger(schedule, entry.id, room_id, entry.jitter_minutes)


def day_book(calendar: CalendarConfig) -> DayBook:
    """The :class:`DayBook` with ``calendar.holidays`` and ``calendar.workdays``."""
    return DayBook(holidays=calendar.holidays, workdays=calendar.workdays)
