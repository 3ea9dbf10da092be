"""The SOP calendar running: bot.yaml's entries as calendar jobs, per group.

Each enabled entry becomes one job per target group (``sop:<entry id>`` in
that room; one app-wide job for a kind that is not per group) on the
:class:`~sop.calendar.Calendar`, whose run keys make every run happen at most
once across restarts and whose catch-up does a run missed while the bot was
down once within the entry's grace, else records it as missed (the group's
admins are told).  The trigger applies day rules, quiet hours and jitter
(:mod:`sop.triggers`).

When it fires, the kind's runner (:mod:`sop.kinds`) decides with the group's
context and the doer does it, keyed by the run: the same run never sends
twice.  An entry paused in a group (``#暂停``) is skipped there.

:meth:`CalendarRuntime.reload` replaces the calendar by a new config's
(``#重载``, SIGHUP, a changed file): jobs whose schedule or targets changed
are replaced, removed entries stop, new ones start; an entry whose content
alone changed keeps its job and says the new content at its next run.  The
change is logged and audited.  :meth:`sync` does the same for groups adopted
while running.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from bot.alerts import Alert, AlertKind
from bot.vocab.actions import Priority, say_to_each
from handlers.base import Result
from handlers.feature import as_result
from sop.calendar import Calendar, fire_times
from sop.days import DayBook
from sop.entries import CalendarConfig, Entry
from sop.kinds import JOB_PREFIX, KINDS, Run
from sop.targets import target_rooms
from sop.triggers import day_book, entry_schedule, entry_trigger
from storage.calendar_pauses import CalendarPauses
from storage.calendar_runs import CalendarRuns, RunKey

if TYPE_CHECKING:  # pragma: no cover
    from bot.alerts import Alerter
    from bot.config import BotConfig
    from bot.policies import PolicyBook
    from handlers.base import Context
    from storage.repo import Repository

log = logging.getLogger(__name__)

#: How far ahead the holiday data is checked (the owners are told once per year).
HOLIDAY_LOOKAHEAD = timedelta(days=45)

Do = Callable[[Result, str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Planned:
    """One entry's job in one group (``room_id`` "" for an app-wide kind)."""

    entry: Entry
    room_id: str
    trigger: BaseTrigger
    schedule: str  # what, when changed, needs a new job (trigger and targets)
    rooms: tuple[str, ...] = ()

    @property
    def job_id(self) -> str:
        return JOB_PREFIX + self.entry.id


@dataclass(frozen=True, slots=True)
class Change:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def text(self) -> str:
        parts = [
            f"{label} {len(ids)} 项（{'、'.join(ids)}）"
            for label, ids in (("新增", self.added), ("删除", self.removed), ("修改", self.changed))
            if ids
        ]
        return "，".join(parts) if parts else "日程没有变化"


def entry_changes(old: CalendarConfig, new: CalendarConfig) -> Change:
    """Entries added, removed and changed (by id) between two calendars."""
    before = {e.id: e for e in old.entries}
    after = {e.id: e for e in new.entries}
    shared = _shared(old) != _shared(new)
    return Change(
        added=tuple(i for i in after if i not in before),
        removed=tuple(i for i in before if i not in after),
        changed=tuple(
            i for i in after if i in before and (shared or _dump(before[i]) != _dump(after[i]))
        ),
    )


def _dump(entry: Entry) -> str:
    content = entry.content.model_dump(mode="json") if entry.content is not None else None
    return json.dumps([entry.model_dump(mode="json"), content], sort_keys=True, default=str)


def _shared(cal: CalendarConfig) -> str:
    return json.dumps(cal.model_dump(mode="json", exclude={"entries"}), sort_keys=True)


class CalendarRuntime:
    """The calendar's entries as jobs; see the module docstring."""

    def __init__(
        self,
        *,
        calendar: Calendar,
        config: BotConfig,
        policies: PolicyBook,
        context_for_room: Callable[[str], Context],
        do: Do,
        repo: Repository,
        runs: CalendarRuns,
        pauses: CalendarPauses,
        alerter: Alerter | None = None,
    ) -> None:
        self.calendar = calendar
        self.config = config
        self.policies = policies
        self._context_for_room = context_for_room
        self._do = do
        self._repo = repo
        self.runs = runs
        self.pauses = pauses
        self._alerter = alerter
        self.days = self._days(config)
        self.planned: dict[tuple[str, str], Planned] = {}
        calendar.on_missed = self._missed

    @staticmethod
    def _days(config: BotConfig) -> DayBook:
        return day_book(config.calendar)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.calendar.timezone or self.config.bot.timezone)

    # ----------------------------------------------------------- planning

    def _known_rooms(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        known: dict[str, tuple[str, tuple[str, ...]]] = {}
        for room in self.policies.managed_rooms():
            policy = self.policies.get(room)
            if policy is not None:
                known[room] = (policy.profile, tuple(policy.tags))
        return known

    def plan(self) -> dict[tuple[str, str], Planned]:
        """The jobs the current config asks for, by (job id, room)."""
        cal, known = self.config.calendar, self._known_rooms()
        out: dict[tuple[str, str], Planned] = {}
        for entry in cal.entries:
            spec = KINDS.get(entry.kind)
            if not entry.enabled or spec is None:
                continue
            rooms = tuple(r for r in target_rooms(entry, self.config, known) if r in known)
            schedule = json.dumps(
                [entry.model_dump(mode="json"), _shared(cal), self.config.bot.timezone],
                sort_keys=True,
                default=str,
            )
            places = rooms if spec.per_group else ("",)
            if spec.per_group and not rooms:
                continue
            tz = self.config.bot.timezone
            shared = entry_schedule(entry, cal, tz, self.days)  # the same in every group
            for room in places:
                trigger = entry_trigger(entry, cal, tz, room, self.days, schedule=shared)
                planned = Planned(entry, room, trigger, f"{schedule}|{rooms}", rooms)
                out[(planned.job_id, room)] = planned
        return out

    def install(self) -> None:
        """Add the planned jobs (before the calendar starts, or to a running one)."""
        self.sync()

    def sync(self) -> tuple[int, int]:
        """Bring the calendar's jobs in line with the plan; (added, removed)."""
        desired = self.plan()
        removed = 0
        for key, old in list(self.planned.items()):
            new = desired.get(key)
            if new is None or new.schedule != old.schedule:
                self.calendar.discard(*key)
                del self.planned[key]
                removed += new is None
        added = 0
        for key, planned in desired.items():
            if key in self.planned:
                self.planned[key] = planned  # new content, same schedule: same job
                continue
            self.planned[key] = planned
            fire = functools.partial(self._fire, key)
            grace = timedelta(minutes=planned.entry.grace_minutes)
            self.calendar.add(planned.job_id, planned.trigger, fire, room_id=key[1], grace=grace)
            added += 1
        return added, removed

    async def reload(self, config: BotConfig, *, by: str = "") -> Change:
        """Replace the calendar by ``config``'s; logged and audited."""
        change = entry_changes(self.config.calendar, config.calendar)
        self.config = config
        self.days = self._days(config)
        self.sync()
        now = self.calendar.clock.now()
        log.info("calendar reloaded%s: %s", f" by {by}" if by else "", change.text())
        await self._repo.write_audit(
            at=now,
            action="calendar",
            kind="reload",
            status="done",
            key=f"calendar:reload:{now.isoformat()}",
            reason=change.text(),
            detail={
                "added": list(change.added),
                "removed": list(change.removed),
                "changed": list(change.changed),
                "by": by,
            },
        )
        await self.check_holiday_data()
        return change

    def next_runs(
        self, room_id: str, *, days: int = 7, limit: int = 10
    ) -> list[tuple[datetime, Entry]]:
        """The group's next runs (of every entry targeting it), soonest first."""
        now = self.calendar.clock.now()
        found: list[tuple[datetime, Entry]] = []
        for (_, room), planned in self.planned.items():
            if room != room_id and not (room == "" and room_id in planned.rooms):
                continue
            for at in fire_times(planned.trigger, now, now + timedelta(days=days), limit):
                found.append((at, planned.entry))
        found.sort(key=lambda x: (x[0], x[1].id))
        return found[:limit]

    def entry_for(self, room_id: str, entry_id: str) -> Planned | None:
        """The entry's job in this group (or its app-wide job targeting it)."""
        planned = self.planned.get((JOB_PREFIX + entry_id, room_id))
        if planned is None:
            planned = self.planned.get((JOB_PREFIX + entry_id, ""))
            if planned is not None and room_id not in planned.rooms:
                return None
        return planned

    # ------------------------------------------------------------ running

    async def run_now(self, entry_id: str) -> int:
        """Run an entry now in each of its groups, outside the schedule (no run
        key is claimed: its actions are keyed by this minute).  Returns how many
        runs were made."""
        now = self.calendar.clock.now().replace(second=0, microsecond=0)
        keys = [k for k in self.planned if k[0] == JOB_PREFIX + entry_id]
        for key in keys:
            await self._fire(key, now)
        return len(keys)

    async def _fire(self, key: tuple[str, str], scheduled_at: datetime) -> None:
        planned = self.planned.get(key)
        if planned is None:
            return  # removed by a reload meanwhile
        entry, room = planned.entry, key[1]
        spec = KINDS[entry.kind]
        if room and await self.pauses.is_paused(room, entry.id):
            log.info(
                "calendar entry %s paused in %s: run at %s skipped", entry.id, room, scheduled_at
            )
            return
        not_after = scheduled_at + timedelta(minutes=entry.valid_minutes)
        run = Run(entry, room, scheduled_at, not_after, planned.rooms)
        ctx = self._context_for_room(room)
        result = as_result(await spec.run(ctx, run))
        if result is None:
            return
        actions = [
            a if a.not_after is not None else dataclasses.replace(a, not_after=not_after)
            for a in result.actions
        ]
        if len(planned.rooms) > 1 and room:
            log.info(
                "calendar entry %s: run in %s (1 of %d groups)", entry.id, room, len(planned.rooms)
            )
        await self._do(Result(actions, result.stop, result.effects), spec.feature, run.key)

    async def _missed(self, job_id: str, room_id: str, at: datetime, reason: str) -> None:
        """A run past its grace: the group's admins are told privately."""
        if not job_id.startswith(JOB_PREFIX) or not room_id:
            return
        policy = self.policies.get(room_id)
        if policy is None:
            return
        entry_id = job_id.removeprefix(JOB_PREFIX)
        local = at.astimezone(self.tz).strftime("%m月%d日 %H:%M")
        text = (
            f"日程「{entry_id}」在群「{policy.name or room_id}」{local} 的一次没有发出："
            "机器人当时不在线，已超过补发时限，这次不再补发。"
        )
        admins = [a for a in policy.admins if a]
        actions = say_to_each(admins, text, priority=Priority.REPLY, reason="calendar run missed")
        await self._do(Result(actions), "calendar", f"missed:{job_id}:{room_id}:{at.isoformat()}")

    async def check_holiday_data(self) -> list[int]:
        """Tell the owners once (per year) when entries with day rules will run
        on the Monday–Friday fallback for lack of holiday data."""
        if self._alerter is None:
            return []
        today = self.calendar.clock.now().astimezone(self.tz).date()
        uses = [e.id for e in self.config.calendar.entries if e.enabled and e.days != "every"]
        if not uses:
            return []
        told = []
        for year in self.days.fallback_years(today, today + HOLIDAY_LOOKAHEAD):
            first = datetime(year, 1, 1, tzinfo=self.tz)
            key, now = RunKey("holiday-data", "", first), self.calendar.clock.now()
            if not await self.runs.claim(key, now):
                continue  # told already (once per year, across restarts)
            await self.runs.finish(key, now)
            self._alerter.alert(
                Alert(
                    kind=AlertKind.HOLIDAY_DATA,
                    what=f"没有 {year} 年的法定节假日数据：日程 {'、'.join(uses)} "
                    "按周一到周五为工作日运行（调休、节假日不会自动识别）",
                    where="bot.yaml calendar",
                    account_id=self.config.bot.account,
                    key=str(year),
                )
            )
            told.append(year)
        return told
