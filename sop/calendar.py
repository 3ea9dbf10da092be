"""The calendar: APScheduler jobs tied to the app's lifespan.

The scheduler only decides *when*; each job is a plain async function that
reads the injected clock and returns or submits actions, so jobs are tested by
calling them and triggers are tested as pure functions
(``trigger.get_next_fire_time(None, now)``), never by waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


def every(minutes: float, tz: tzinfo) -> IntervalTrigger:
    return IntervalTrigger(seconds=max(1, int(minutes * 60)), timezone=tz)


def next_fire(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """When ``trigger`` fires next after ``now`` (pure: no scheduler needed)."""
    return trigger.get_next_fire_time(None, now)


class Calendar:
    def __init__(self, tz: tzinfo) -> None:
        self._tz = tz
        self._scheduler = AsyncIOScheduler(timezone=tz)
        self.jobs: dict[str, tuple[BaseTrigger, Job]] = {}

    def add(self, job_id: str, trigger: BaseTrigger, job: Job) -> None:
        self.jobs[job_id] = (trigger, job)

    async def run_job(self, job_id: str) -> object:
        """Run one job now, logging (not raising) its failure like the scheduler would."""
        _, job = self.jobs[job_id]
        try:
            return await job()
        except Exception:
            log.exception("calendar job %s failed", job_id)
            return None

    def start(self) -> None:
        for job_id, (trigger, _) in self.jobs.items():
            self._scheduler.add_job(
                self.run_job,
                trigger,
                args=[job_id],
                id=job_id,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=300,
            )
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
