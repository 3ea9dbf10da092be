"""The calendar: scheduled jobs on the injected clock, each run at most once.

APScheduler (3.x) supplies the trigger math — cron, date and interval
triggers with an explicit time zone — but not the loop: its
``AsyncIOScheduler`` waits on the event loop's wall clock, so no test could
drive it (removing the line that started it left CI green).  Instead each job
gets one small task here that asks its trigger for the next fire time
(:func:`next_fire_after`, a pure function), sleeps on the app's
:class:`~bot.vocab.clock.Clock` until then (a ``ManualClock`` in tests), and runs
the job.  That is all the scheduler did for us, and now a flow test can
advance the clock and see the job's effect.

Every run has a key — (job, group or ``""`` for an app-wide job, scheduled
time) — claimed in the database before the job runs
(:class:`storage.calendar_runs.CalendarRuns`), so a run happens at most once
across restarts and across two processes.  Interval triggers are anchored at a
fixed local midnight, not at start-up, so every process and every restart
computes the same scheduled times (and so the same keys).

Catching up (at start-up, or after a run or a suspended machine made the loop
late) is :func:`plan_catchup`, also pure: of the fire times since the job's
last recorded run, the newest one still within the job's grace is run late,
once (older ones within grace are coalesced into it, as APScheduler's
``coalesce=True`` did); those past their grace are recorded as one ``missed``
run (the newest, its error saying how many and since when) and audited.  A job
with no recorded run has missed nothing: what was due before its first start
is not its business.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.vocab.clock import Clock
from storage.calendar_runs import CalendarRuns, RunKey
from storage.repo import Repository

log = logging.getLogger(__name__)

#: A job is called with its run's scheduled time (what its actions' keys carry).
Job = Callable[[datetime], Awaitable[object]]

DEFAULT_GRACE = timedelta(minutes=5)
#: At most this many fire times are enumerated per catch-up (a one-minute job
#: down for a week is 10 080); beyond it the count says "at least".
CATCHUP_LIMIT = 10_000
_TICK = timedelta(microseconds=1)


# ----------------------------------------------------------- trigger math


def every(minutes: float, tz: tzinfo) -> IntervalTrigger:
    """Every ``minutes``, on boundaries counted from a fixed local midnight.

    The fixed anchor (not "now", APScheduler's default, read off the wall
    clock) makes the fire times the same in every process and after every
    restart.
    """
    anchor = datetime(2020, 1, 1, tzinfo=tz)
    return IntervalTrigger(seconds=max(1, int(minutes * 60)), start_date=anchor, timezone=tz)


def daily(at: time, tz: tzinfo) -> CronTrigger:
    """Every day at local time ``at``."""
    return CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=tz)


def next_fire(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """When ``trigger`` fires next at or after ``now`` (pure: no scheduler needed)."""
    return trigger.get_next_fire_time(None, now)


def next_fire_after(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after``; None if the trigger is done."""
    fire = trigger.get_next_fire_time(None, after + _TICK)
    return fire if fire is not None and fire > after else None


def fire_times(
    trigger: BaseTrigger, after: datetime, until: datetime, limit: int = CATCHUP_LIMIT
) -> list[datetime]:
    """Fire times in ``(after, until]``, oldest first, at most ``limit`` of them."""
    found: list[datetime] = []
    fire = next_fire_after(trigger, after)
    while fire is not None and fire <= until and len(found) < limit:
        found.append(fire)
        fire = next_fire_after(trigger, fire)
    return found


@dataclass(frozen=True, slots=True)
class Catchup:
    """What to do about the fire times between a job's last run and now."""

    run: datetime | None  # the one to run now (late, within its grace)
    coalesced: int  # older fire times within grace, covered by ``run``
    missed: datetime | None  # the newest fire time past its grace
    missed_count: int  # how many are past their grace (at most the limit)
    missed_since: datetime | None  # the oldest of them
    cursor: datetime  # every fire time up to here is dealt with
    capped: bool = False  # more were missed than were counted


def plan_catchup(
    trigger: BaseTrigger,
    last: datetime,
    now: datetime,
    grace: timedelta,
    limit: int = CATCHUP_LIMIT,
) -> Catchup:
    """Sort the fire times in ``(last, now]`` into run late, coalesced and missed.

    A fire time is missed when ``fire + grace < now``.  Pure: the same inputs
    always give the same plan.
    """
    horizon = now - grace
    missed = fire_times(trigger, last, horizon - _TICK, limit)
    # The ones still within grace; found from the horizon, not by walking the gap.
    recent = fire_times(trigger, max(last, horizon - _TICK), now, limit)
    cursor = max([last, *missed[-1:], *recent[-1:]])
    return Catchup(
        run=recent[-1] if recent else None,
        coalesced=max(0, len(recent) - 1),
        missed=missed[-1] if missed else None,
        missed_count=len(missed),
        missed_since=missed[0] if missed else None,
        cursor=cursor,
        capped=len(missed) >= limit,
    )


# ----------------------------------------------------------- the calendar


@dataclass(slots=True)
class _Entry:
    job_id: str
    trigger: BaseTrigger
    job: Job
    room_id: str
    grace: timedelta
    wake_at: datetime | None = None  # set while the loop sleeps
    removed: bool = False  # discarded: its loop ends after the run under way


class Calendar:
    """Runs each added job on its trigger, on the injected clock.

    ``runs`` records the runs (at most once per key); ``audit`` receives a row
    per missed run.  Without ``runs`` (a bare calendar) :meth:`start` refuses.
    """

    def __init__(
        self,
        tz: tzinfo,
        clock: Clock | None = None,
        runs: CalendarRuns | None = None,
        audit: Repository | None = None,
    ) -> None:
        self._tz = tz
        #: told of each missed run recorded (job id, room, newest missed time, reason)
        self.on_missed: Callable[[str, str, datetime, str], Awaitable[None]] | None = None
        self._clock = clock
        self._runs = runs
        self._audit = audit
        self.jobs: dict[tuple[str, str], _Entry] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._started = False
        self._retiring: set[asyncio.Task[None]] = set()

    def add(
        self,
        job_id: str,
        trigger: BaseTrigger,
        job: Job,
        *,
        room_id: str = "",
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        """Add a job (for one group when ``room_id`` is set); a job added while
        the calendar runs starts at once (a reloaded calendar's new entry)."""
        key = (job_id, room_id)
        if key in self._tasks:
            raise ValueError(f"calendar job {job_id!r} in {room_id!r} is already running")
        entry = self.jobs[key] = _Entry(job_id, trigger, job, room_id, grace)
        if self._started and not self._stopping:
            self._spawn(key, entry)

    def discard(self, job_id: str, room_id: str = "") -> None:
        """Remove a job: asleep, it stops now; running, its run finishes first."""
        key = (job_id, room_id)
        entry = self.jobs.pop(key, None)
        task = self._tasks.pop(key, None)
        if entry is None or task is None:
            return
        entry.removed = True
        if entry.wake_at is not None:
            task.cancel()
        else:  # its run finishes; stop() still waits for it
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    def _spawn(self, key: tuple[str, str], entry: _Entry) -> None:
        self._enter()  # busy until its first sleep
        self._tasks[key] = asyncio.get_running_loop().create_task(
            self._loop(entry), name=f"calendar:{entry.job_id}:{entry.room_id}"
        )

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            raise RuntimeError("a bare calendar has no clock")
        return self._clock

    @property
    def running(self) -> bool:
        return self._started

    async def run_job(self, job_id: str, room_id: str = "") -> object:
        """Run one job now, outside the schedule (no run key), logging its failure."""
        entry = self.jobs[(job_id, room_id)]
        assert self._clock is not None
        try:
            return await entry.job(self._clock.now())
        except Exception:
            log.exception("calendar job %s failed", job_id)
            return None

    def start(self) -> None:
        if self._clock is None or self._runs is None:
            raise RuntimeError("the calendar needs a clock and a run store to start")
        self._stopping = False
        self._started = True
        for key, entry in self.jobs.items():
            self._spawn(key, entry)

    async def stop(self, finish_within: float = 30.0) -> None:
        """Stop scheduling; a run under way may finish (up to ``finish_within`` seconds)."""
        self._stopping = True
        tasks = [*self._tasks.values(), *self._retiring]
        for key, task in self._tasks.items():
            if self.jobs[key].wake_at is not None:  # sleeping: nothing to finish
                task.cancel()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=finish_within)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._reset()

    async def abort(self) -> None:
        """Stop at once, runs under way included (as a killed process would)."""
        self._stopping = True
        tasks = [*self._tasks.values(), *self._retiring]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._reset()

    def _reset(self) -> None:
        # A task cancelled before its first turn never balanced its start.
        self._tasks.clear()
        self._retiring.clear()
        self._started = False
        self._busy = 0
        self._idle.set()
        for entry in self.jobs.values():
            entry.wake_at = None

    async def settle(self) -> None:
        """Wait until every job's loop is asleep until its next fire time."""
        await self._idle.wait()

    def next_wake(self) -> datetime | None:
        """The earliest time a sleeping job wakes (for tests that step the clock)."""
        wakes = [e.wake_at for e in self.jobs.values() if e.wake_at is not None]
        return min(wakes, default=None)

    # ------------------------------------------------------------ the loop

    def _enter(self) -> None:
        self._busy += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    async def _loop(self, entry: _Entry) -> None:
        assert self._clock is not None and self._runs is not None
        clock, runs = self._clock, self._runs
        begun = clock.now()  # before the read: a fire time passing during it is not lost
        try:
            try:
                last = await runs.last_scheduled(entry.job_id, entry.room_id)
            except Exception:
                log.exception("calendar job %s: could not read its last run", entry.job_id)
                last = None
            cursor = last if last is not None else begun
            while not self._stopping and not entry.removed:
                now = clock.now()
                plan = plan_catchup(entry.trigger, cursor, now, entry.grace)
                try:
                    if plan.missed is not None:
                        await self._record_missed(entry, plan, now)
                    if plan.run is not None:
                        await self._run(entry, plan.run, plan.coalesced)
                except Exception:  # storage trouble: logged, the schedule goes on
                    log.exception("calendar job %s: could not record its run", entry.job_id)
                cursor = plan.cursor
                fire = next_fire_after(entry.trigger, cursor)
                if fire is None or self._stopping or entry.removed:
                    return
                entry.wake_at = fire
                self._leave()
                try:
                    await clock.sleep((fire - clock.now()).total_seconds())
                finally:
                    entry.wake_at = None
                    self._enter()
        finally:
            self._leave()

    async def _run(self, entry: _Entry, scheduled_at: datetime, coalesced: int) -> None:
        assert self._clock is not None and self._runs is not None
        key = RunKey(entry.job_id, entry.room_id, scheduled_at)
        if not await self._runs.claim(key, self._clock.now()):
            log.info("calendar run %s at %s: already claimed", entry.job_id, scheduled_at)
            return
        if coalesced:
            log.info("calendar job %s: %d late run(s) done as one", entry.job_id, coalesced + 1)
        try:
            await entry.job(scheduled_at)
        except Exception as exc:
            log.exception("calendar job %s failed", entry.job_id)
            await self._runs.finish(key, self._clock.now(), error=f"{type(exc).__name__}: {exc}")
        else:
            await self._runs.finish(key, self._clock.now())

    async def _record_missed(self, entry: _Entry, plan: Catchup, now: datetime) -> None:
        assert self._runs is not None and plan.missed is not None
        count = f"at least {plan.missed_count}" if plan.capped else str(plan.missed_count)
        assert plan.missed_since is not None
        reason = (
            f"{count} run(s) missed since {plan.missed_since.astimezone(self._tz).isoformat()}: "
            f"the bot was not running within {int(entry.grace.total_seconds())} s of their time"
        )
        key = RunKey(entry.job_id, entry.room_id, plan.missed)
        if not await self._runs.record_missed(key, now, reason):
            return  # another process recorded it
        log.warning("calendar job %s: %s", entry.job_id, reason)
        if self._audit is not None:
            await self._audit.write_audit(
                at=now,
                action="calendar",
                kind=entry.job_id[:64],
                status="missed",
                room_id=entry.room_id or None,
                key=f"calendar:{entry.job_id}:{entry.room_id}:{plan.missed.isoformat()}",
                reason=reason,
                detail={
                    "scheduled_at": plan.missed.isoformat(),
                    "missed_runs": plan.missed_count,
                    "since": plan.missed_since.isoformat(),
                    "grace_seconds": entry.grace.total_seconds(),
                },
            )
        if self.on_missed is not None:
            try:
                await self.on_missed(entry.job_id, entry.room_id, plan.missed, reason)
            except Exception:
                log.exception("calendar job %s: could not report its missed run", entry.job_id)
