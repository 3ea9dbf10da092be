"""The calendar's trigger math, as pure functions: no scheduler, no clock, no waiting."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.date import DateTrigger

from sop.calendar import daily, every, fire_times, next_fire, next_fire_after, plan_catchup

SH = ZoneInfo("Asia/Shanghai")


def _sh(h: int, m: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 1, day, h, m, tzinfo=SH)


def test_intervals_fall_on_local_boundaries_whenever_the_process_started() -> None:
    # Two processes (or a restart) compute the same times, so the same run keys.
    trigger = every(10, SH)
    assert next_fire(trigger, _sh(9, 3)) == _sh(9, 10)
    assert next_fire(every(10, SH), _sh(9, 7)) == _sh(9, 10)
    assert next_fire(trigger, _sh(9, 10)) == _sh(9, 10)  # at or after
    assert next_fire_after(trigger, _sh(9, 10)) == _sh(9, 20)  # strictly after


def test_daily_fires_at_local_time_in_the_configured_zone() -> None:
    trigger = daily(time(9, 30), SH)
    fire = next_fire_after(trigger, datetime(2026, 1, 5, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    assert fire == _sh(9, 30, day=6)
    assert fire is not None and fire.astimezone(UTC).hour == 1


def test_fire_times_lists_the_window_oldest_first_and_bounded() -> None:
    trigger = every(10, SH)
    assert fire_times(trigger, _sh(9), _sh(9, 30)) == [_sh(9, 10), _sh(9, 20), _sh(9, 30)]
    assert fire_times(trigger, _sh(9), _sh(9, 30), limit=2) == [_sh(9, 10), _sh(9, 20)]
    assert fire_times(trigger, _sh(9), _sh(9, 9)) == []


def test_a_one_off_date_fires_once() -> None:
    trigger = DateTrigger(_sh(12), timezone=SH)
    assert next_fire_after(trigger, _sh(9)) == _sh(12)
    assert next_fire_after(trigger, _sh(12)) is None
    assert fire_times(trigger, _sh(9), _sh(23)) == [_sh(12)]


def test_nothing_due_when_the_next_fire_time_is_ahead() -> None:
    plan = plan_catchup(every(10, SH), _sh(9, 10), _sh(9, 15), timedelta(minutes=5))
    assert (plan.run, plan.missed, plan.cursor) == (None, None, _sh(9, 10))


def test_a_run_due_now_is_run() -> None:
    plan = plan_catchup(every(10, SH), _sh(9, 10), _sh(9, 20), timedelta(minutes=5))
    assert (plan.run, plan.missed, plan.cursor) == (_sh(9, 20), None, _sh(9, 20))


def test_a_run_late_within_its_grace_is_run_late() -> None:
    plan = plan_catchup(every(60, SH), _sh(9), _sh(10, 4), timedelta(minutes=5))
    assert (plan.run, plan.missed) == (_sh(10), None)


def test_runs_past_their_grace_are_missed_and_the_newest_within_grace_runs() -> None:
    plan = plan_catchup(every(60, SH), _sh(9), _sh(13, 2), timedelta(minutes=5))
    assert plan.run == _sh(13)
    assert (plan.missed, plan.missed_count, plan.missed_since) == (_sh(12), 3, _sh(10))
    assert plan.cursor == _sh(13)


def test_runs_all_past_their_grace_leave_nothing_to_run() -> None:
    plan = plan_catchup(daily(time(9), SH), _sh(8, day=2), _sh(12), timedelta(hours=1))
    assert plan.run is None
    assert (plan.missed, plan.missed_count, plan.missed_since) == (_sh(9), 4, _sh(9, day=2))
    assert plan.cursor == _sh(9)


def test_several_runs_within_grace_are_done_as_one() -> None:
    plan = plan_catchup(every(10, SH), _sh(9), _sh(9, 35), timedelta(hours=1))
    assert (plan.run, plan.coalesced, plan.missed) == (_sh(9, 30), 2, None)


def test_a_long_outage_is_counted_up_to_the_limit_without_walking_past_it() -> None:
    plan = plan_catchup(every(1, SH), _sh(0, day=1), _sh(0, day=8), timedelta(0), limit=100)
    assert plan.missed_count == 100 and plan.capped and plan.run == _sh(0, day=8)
    assert plan.cursor == _sh(0, day=8)
