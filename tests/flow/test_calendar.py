"""The calendar runs its jobs on the app's clock: advance it and the jobs happen.

Nothing here calls a job by hand.  A probe job (added like any job, before the
app starts) counts its runs, so the restart tests can see "at most once" and
"late, within grace" directly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.vocab.clock import ManualClock
from sop.calendar import Calendar, every
from storage.calendar_runs import CalendarRuns
from storage.db import create_engine, session_factory
from tests.flow.harness import ADMIN, ROOM, Harness

SH = ZoneInfo("Asia/Shanghai")  # bot.timezone's default
NEWCOMER = "wxid_c"
GRACE = timedelta(minutes=30)


def _mentions(bot: Harness) -> list[list[str]]:
    return [list(c.args["mention_ids"]) for c in bot.sent(ROOM)]


def _local(bot: Harness) -> str:
    return bot.clock.now().astimezone(SH).strftime("%H:%M")


async def test_the_calendar_reminds_a_silent_newcomer_a_day_later(tmp_path: Path) -> None:
    bot = Harness(tmp_path, "bot: {reminder_check_minutes: 60}\n")
    await bot.start()
    await bot.puppet.join(ROOM, [NEWCOMER], ADMIN)
    await bot.advance(11)
    assert _mentions(bot) == [[NEWCOMER]]  # the welcome

    await bot.advance(23 * 3600)
    assert _mentions(bot) == [[NEWCOMER]]  # not yet

    await bot.advance(3600)
    assert _mentions(bot) == [[NEWCOMER], [NEWCOMER]]
    assert "自我介绍" in bot.sent(ROOM)[-1].args["message"]

    await bot.advance(3 * 3600)
    assert _mentions(bot) == [[NEWCOMER], [NEWCOMER]]  # once only
    runs = await bot.app.calendar_runs.runs("welcome.remind-newcomers")
    assert [r.status for r in runs] == ["done"] * 27  # 10:00 to 12:00 the next day
    await bot.stop()


async def test_the_calendar_reconciles_member_lists(bot: Harness) -> None:
    bot.puppet.leave_silently(ROOM, "wxid_a")  # no event: only the member list tells
    await bot.advance(6 * 3600 + 3600)  # the cached list is stale, then a round runs
    assert "wxid_a" not in await bot.repo.current_members(ROOM)
    runs = await bot.app.calendar_runs.runs("reconcile-members")
    assert [r.status for r in runs] == ["done"] * 7


class Probe:
    """A job that notes the local time of each of its runs."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.ran: list[str] = []

    async def __call__(self, scheduled_at: datetime) -> None:
        self.ran.append(self.clock.now().astimezone(SH).strftime("%H:%M"))


async def _start(tmp_path: Path, clock: ManualClock | None = None) -> tuple[Harness, Probe]:
    harness = Harness(tmp_path, clock=clock)
    probe = Probe(harness.clock)
    harness.app.calendar.add("probe", every(60, SH), probe, grace=GRACE)  # hourly
    await harness.start()
    return harness, probe


async def _first_run_then_crash(tmp_path: Path) -> tuple[Harness, Probe]:
    first, probe = await _start(tmp_path)
    assert _local(first) == "09:00"
    await first.advance(3600)
    assert probe.ran == ["10:00"]
    await first.crash()  # the lease's ttl passes too: 10:00:30
    return first, probe


async def _scheduled(bot: Harness) -> list[tuple[str, str]]:
    return [
        (r.key.scheduled_at.astimezone(SH).strftime("%H:%M"), r.status)
        for r in await bot.app.calendar_runs.runs("probe")
    ]


async def test_a_run_done_before_a_crash_is_not_done_again_after_the_restart(
    tmp_path: Path,
) -> None:
    first, _ = await _first_run_then_crash(tmp_path)
    second, probe = await _start(tmp_path, first.clock)  # 10:00 is still within its grace
    await second.advance(600)
    assert probe.ran == []
    assert await _scheduled(second) == [("10:00", "done")]
    await second.stop()


async def test_a_run_missed_while_down_is_done_once_late_within_its_grace(
    tmp_path: Path,
) -> None:
    first, _ = await _first_run_then_crash(tmp_path)
    await first.clock.advance(70 * 60)  # down at 11:00; back at 11:10, within 30 min
    second, probe = await _start(tmp_path, first.clock)
    await second.advance(600)
    assert probe.ran == ["11:10"]  # 11:00's run, late
    await second.advance(3600)
    assert probe.ran == ["11:10", "12:00"]
    assert await _scheduled(second) == [("10:00", "done"), ("11:00", "done"), ("12:00", "done")]
    assert [a for a in await second.repo.recent_audit(50) if a.kind == "probe"] == []
    await second.stop()


async def test_a_run_missed_beyond_its_grace_is_recorded_as_missed_and_audited(
    tmp_path: Path,
) -> None:
    first, _ = await _first_run_then_crash(tmp_path)
    await first.clock.advance(105 * 60)  # down at 11:00; back at 11:45, past 11:30
    second, probe = await _start(tmp_path, first.clock)
    await second.advance(60)
    assert probe.ran == []
    assert await _scheduled(second) == [("10:00", "done"), ("11:00", "missed")]
    [audit] = [a for a in await second.repo.recent_audit(50) if a.kind == "probe"]
    assert (audit.action, audit.status, audit.room_id) == ("calendar", "missed", None)
    assert "1 run(s) missed since 2026-01-05T11:00:00+08:00" in audit.reason

    await second.advance(15 * 60)  # the schedule goes on
    assert probe.ran == ["12:00"]
    await second.stop()


async def test_a_second_process_on_the_same_database_does_not_repeat_a_run(
    tmp_path: Path,
) -> None:
    # The lease keeps a second bot process out; the run keys hold even without it.
    first, first_probe = await _start(tmp_path)
    await first.advance(3600)
    engine = create_engine(first.app.database_url)  # another connection pool, same file
    other_probe = Probe(first.clock)
    other = Calendar(
        SH, first.clock, CalendarRuns(session_factory(engine), account_id=first.config.bot.account)
    )
    other.add("probe", every(60, SH), other_probe, grace=GRACE)
    other.start()
    await other.settle()
    await first.advance(3600)
    await other.settle()
    assert sorted(first_probe.ran + other_probe.ran) == ["10:00", "11:00"]
    assert await _scheduled(first) == [("10:00", "done"), ("11:00", "done")]
    await other.stop()
    await engine.dispose()
    await first.stop()


def test_reminder_and_reconciliation_are_app_wide_calendar_jobs(tmp_path: Path) -> None:
    bot = Harness(tmp_path)
    assert {
        ("welcome.remind-newcomers", ""),
        ("reconcile-members", ""),
    } <= set(bot.app.calendar.jobs)
