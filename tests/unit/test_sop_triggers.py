"""The calendar's trigger math as pure functions: day rules, quiet hours, jitter, time zones."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import handlers.features  # noqa: F401  (registers the kinds an entry names)
from sop.calendar import fire_times, next_fire, plan_catchup
from sop.days import DayBook
from sop.entries import CalendarConfig, Entry
from sop.triggers import EntryTrigger, crontab_weekdays, entry_trigger

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def _entry(**fields: Any) -> Entry:
    return Entry.model_validate({"id": "e1", "kind": "post", "post": {"text": "早安"}, **fields})


def _trigger(
    room: str = "r1@chatroom", calendar: CalendarConfig | None = None, **fields: Any
) -> EntryTrigger:
    calendar = calendar or CalendarConfig()
    days = DayBook(calendar.holidays, calendar.workdays)
    return entry_trigger(_entry(**fields), calendar, "Asia/Shanghai", room, days)


def _sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def _days(fires: list[datetime], tz: ZoneInfo = SH) -> list[str]:
    return [f.astimezone(tz).strftime("%m-%d %H:%M") for f in fires]


# ------------------------------------------------------------ base triggers


def test_crontab_weekday_numbers_mean_sunday_zero_as_in_crontab() -> None:
    assert crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_weekdays("0,6") == "sat,sun"
    assert crontab_weekdays("7") == "sun"
    assert crontab_weekdays("*/2") == "tue,thu,sat,sun"
    assert crontab_weekdays("thu") == "thu"


def test_a_weekday_cron_runs_monday_to_friday() -> None:
    trigger = _trigger(cron="0 9 * * 1-5")
    fires = fire_times(trigger, _sh(2026, 11, 15), _sh(2026, 11, 22, 23))  # Sun..Sun
    assert _days(fires) == [f"11-{d} 09:00" for d in (16, 17, 18, 19, 20)]


def test_the_18th_of_each_month() -> None:
    trigger = _trigger(cron="0 10 18 * *")
    fires = fire_times(trigger, _sh(2026, 11, 1), _sh(2027, 2, 1))
    assert _days(fires) == ["11-18 10:00", "12-18 10:00", "01-18 10:00"]


def test_a_one_off_date_is_local_time_in_the_entry_zone() -> None:
    trigger = _trigger(at="2026-12-18 10:00")
    assert next_fire(trigger, _sh(2026, 12, 1)) == datetime(2026, 12, 18, 2, 0, tzinfo=UTC)
    assert fire_times(trigger, _sh(2026, 12, 18, 10), _sh(2027, 1, 1)) == []


def test_every_gives_the_same_times_after_a_restart() -> None:
    first = fire_times(_trigger(every="2h"), _sh(2026, 11, 3, 9, 13), _sh(2026, 11, 3, 20))
    restarted = fire_times(_trigger(every="2h"), _sh(2026, 11, 3, 10, 47), _sh(2026, 11, 3, 20))
    assert _days(first) == [f"11-03 {h:02d}:00" for h in (10, 12, 14, 16, 18, 20)]
    assert restarted == first[1:]


def test_starts_and_ends_bound_the_days() -> None:
    trigger = _trigger(cron="0 9 * * *", starts="2026-11-10", ends="2026-11-12")
    assert _days(fire_times(trigger, _sh(2026, 11, 1), _sh(2026, 12, 1))) == [
        "11-10 09:00",
        "11-11 09:00",
        "11-12 09:00",
    ]
    assert next_fire(trigger, _sh(2026, 11, 13)) is None


# ---------------------------------------------------------------- day rules


def test_workdays_skip_national_day_and_include_the_make_up_saturday() -> None:
    trigger = _trigger(cron="0 9 * * *", days="workdays")
    fires = fire_times(trigger, _sh(2026, 9, 26), _sh(2026, 10, 12))
    assert _days(fires) == [
        "09-28 09:00",
        "09-29 09:00",
        "09-30 09:00",
        "10-08 09:00",
        "10-09 09:00",
        "10-10 09:00",  # Saturday, a make-up workday (调休)
    ]


def test_days_off_run_on_holidays_and_weekends_only() -> None:
    trigger = _trigger(cron="0 10 * * *", days="days_off")
    fires = fire_times(trigger, _sh(2026, 9, 30), _sh(2026, 10, 12))
    assert _days(fires) == [f"10-{d:02d} 10:00" for d in (1, 2, 3, 4, 5, 6, 7, 11)]


def test_a_year_without_holiday_data_falls_back_to_monday_to_friday() -> None:
    trigger = _trigger(cron="0 9 * * *", days="workdays")
    fires = fire_times(trigger, _sh(2026, 12, 30), _sh(2027, 1, 6))
    assert _days(fires) == [
        "12-30 09:00",
        "12-31 09:00",
        "01-01 09:00",
        "01-04 09:00",
        "01-05 09:00",
    ]
    info = [trigger.fire_info(f) for f in fires]
    assert [i.fallback for i in info if i] == [False, False, True, True, True]


def test_bot_yaml_holidays_and_workdays_are_used_where_data_is_missing() -> None:
    calendar = CalendarConfig(holidays=(date(2027, 1, 1),), workdays=(date(2027, 1, 9),))
    trigger = _trigger(calendar=calendar, cron="0 9 * * *", days="workdays")
    fires = fire_times(trigger, _sh(2026, 12, 31, 12), _sh(2027, 1, 10))
    assert _days(fires) == [f"01-{d:02d} 09:00" for d in (4, 5, 6, 7, 8, 9)]
    sat = trigger.fire_info(fires[-1])
    assert sat is not None and not sat.fallback  # bot.yaml named that day


# -------------------------------------------------------------- quiet hours


def test_a_run_in_quiet_hours_is_deferred_to_their_end() -> None:
    trigger = _trigger(cron="30 22 * * *", quiet_hours="22:00-08:00")
    fire = next_fire(trigger, _sh(2026, 11, 3, 12))
    assert fire == _sh(2026, 11, 4, 8)
    info = trigger.fire_info(fire)
    assert info is not None and info.deferred and info.nominal == _sh(2026, 11, 3, 22, 30)


def test_runs_deferred_to_the_same_instant_are_one_run() -> None:
    trigger = _trigger(cron="30 22,23 * * *", quiet_hours="22:00-08:00")
    fires = fire_times(trigger, _sh(2026, 11, 3, 12), _sh(2026, 11, 5, 12))
    assert _days(fires) == ["11-04 08:00", "11-05 08:00"]


def test_the_calendar_wide_quiet_hours_apply_and_an_entry_may_skip_instead() -> None:
    calendar = CalendarConfig(quiet_hours="22:00-08:00")
    deferred = _trigger(calendar=calendar, cron="0 7,12 * * *")
    skipped = _trigger(calendar=calendar, cron="0 7,12 * * *", in_quiet_hours="skip")
    window = (_sh(2026, 11, 3), _sh(2026, 11, 4, 23))
    assert _days(fire_times(deferred, *window)) == [
        "11-03 08:00",
        "11-03 12:00",
        "11-04 08:00",
        "11-04 12:00",
    ]
    assert _days(fire_times(skipped, *window)) == ["11-03 12:00", "11-04 12:00"]


def test_quiet_hours_inside_one_day() -> None:
    trigger = _trigger(cron="0 13 * * *", quiet_hours="12:00-14:00")
    assert next_fire(trigger, _sh(2026, 11, 3)) == _sh(2026, 11, 3, 14)


def test_an_entry_always_in_skipped_quiet_hours_ends_instead_of_looping() -> None:
    trigger = _trigger(cron="0 3 * * *", quiet_hours="22:00-08:00", in_quiet_hours="skip")
    assert next_fire(trigger, _sh(2026, 11, 3)) is None


def test_day_rules_apply_to_the_day_a_deferred_run_happens() -> None:
    # Friday 22:30 would wait until Saturday 08:00: not a workday, so no run.
    trigger = _trigger(cron="30 22 * * *", quiet_hours="22:00-08:00", days="workdays")
    fires = fire_times(trigger, _sh(2026, 11, 19, 12), _sh(2026, 11, 24, 12))
    assert _days(fires) == ["11-20 08:00", "11-23 08:00", "11-24 08:00"]


# ---------------------------------------------------------------- time zones


def test_shanghai_has_no_daylight_saving_a_daily_run_is_24_hours_apart() -> None:
    trigger = _trigger(cron="30 2 * * *")
    fires = fire_times(trigger, _sh(2026, 3, 6), _sh(2026, 3, 10))
    assert {b - a for a, b in pairwise(fires)} == {timedelta(hours=24)}


def test_a_0230_run_on_new_yorks_spring_forward_day_happens_once_at_0330() -> None:
    trigger = _trigger(cron="30 2 * * *", timezone="America/New_York")
    start = datetime(2026, 3, 7, 12, tzinfo=NY)
    fires = fire_times(trigger, start, datetime(2026, 3, 9, 12, tzinfo=NY))
    assert [f.astimezone(NY).strftime("%d %H:%M %Z") for f in fires] == [
        "08 03:30 EDT",  # 02:30 does not exist that day: one hour on
        "09 02:30 EDT",
    ]


# -------------------------------------------------------------------- jitter


def test_jitter_is_the_same_after_a_restart_and_within_its_bounds() -> None:
    window = (_sh(2026, 11, 1), _sh(2026, 12, 1))
    fires = fire_times(_trigger(cron="0 9 * * *", jitter_minutes=10), *window)
    again = fire_times(_trigger(cron="0 9 * * *", jitter_minutes=10), *window)
    assert fires == again and len(fires) == 30
    offsets = [f - f.replace(hour=9, minute=0, second=0) for f in fires]
    assert all(timedelta(0) <= o < timedelta(minutes=10) for o in offsets)
    assert len(set(offsets)) > 20  # spread, not one offset for every day


def test_jitter_differs_between_groups_and_is_the_only_difference() -> None:
    window = (_sh(2026, 11, 1), _sh(2026, 11, 8))
    a = fire_times(_trigger("a@chatroom", cron="0 9 * * *", jitter_minutes=10), *window)
    b = fire_times(_trigger("b@chatroom", cron="0 9 * * *", jitter_minutes=10), *window)
    assert a != b
    assert [f.date() for f in a] == [f.date() for f in b]


def test_jitter_never_carries_a_run_into_quiet_hours() -> None:
    trigger = _trigger(cron="55 21 * * *", jitter_minutes=60, quiet_hours="22:00-08:00")
    fires = fire_times(trigger, _sh(2026, 11, 1), _sh(2026, 12, 1))
    assert len(fires) == 30
    assert all(f.replace(hour=21, minute=55) <= f < f.replace(hour=22, minute=0) for f in fires)


def test_fires_strictly_increase_and_each_is_found_again_from_itself() -> None:
    trigger = _trigger(
        cron="*/20 21-23 * * *", jitter_minutes=30, quiet_hours="22:00-08:00", days="workdays"
    )
    fires = fire_times(trigger, _sh(2026, 9, 25), _sh(2026, 10, 12))
    assert fires == sorted(set(fires))
    assert all(next_fire(trigger, f) == f for f in fires)


def test_a_trigger_pickles() -> None:
    trigger = _trigger(cron="0 9 * * *", days="workdays", jitter_minutes=5)
    again = pickle.loads(pickle.dumps(trigger))
    start = _sh(2026, 9, 26)
    assert next_fire(again, start) == next_fire(trigger, start)


# ------------------------------------------------------- with the calendar


def test_plan_catchup_runs_the_run_due_after_the_holiday_and_misses_nothing_during_it() -> None:
    trigger = _trigger(cron="0 9 * * *", days="workdays")
    plan = plan_catchup(
        trigger, _sh(2026, 9, 30, 9), _sh(2026, 10, 8, 9, 10), timedelta(minutes=30)
    )
    assert (plan.run, plan.missed, plan.coalesced) == (_sh(2026, 10, 8, 9), None, 0)


def test_plan_catchup_counts_the_workday_runs_missed_past_their_grace() -> None:
    trigger = _trigger(cron="0 9 * * *", days="workdays")
    plan = plan_catchup(trigger, _sh(2026, 9, 30, 9), _sh(2026, 10, 9, 12), timedelta(minutes=30))
    assert plan.run is None
    assert (plan.missed_count, plan.missed_since, plan.missed) == (
        2,
        _sh(2026, 10, 8, 9),
        _sh(2026, 10, 9, 9),
    )
