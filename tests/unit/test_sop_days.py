"""China's day rules: the holiday package, bot.yaml's own days, and the Monday–Friday fallback."""

from __future__ import annotations

import pickle
from datetime import date

from sop.days import DayBook, weekday_zh


def test_national_day_is_a_day_off_with_its_chinese_name() -> None:
    days = DayBook()
    assert days.is_day_off(date(2026, 10, 1))
    assert not days.is_workday(date(2026, 10, 5))  # a Monday inside the holiday
    assert days.holiday_name(date(2026, 10, 1)) == "国庆节"
    assert days.holiday_name(date(2026, 9, 28)) == ""  # an ordinary Monday


def test_a_make_up_saturday_is_a_workday_without_a_holiday_name() -> None:
    days = DayBook()
    assert days.is_workday(date(2026, 10, 10))
    assert days.is_makeup_workday(date(2026, 10, 10))
    assert days.holiday_name(date(2026, 10, 10)) == ""
    assert not days.is_makeup_workday(date(2026, 10, 9))  # a Friday is no make-up day


def test_the_package_covers_2026_but_not_2027() -> None:
    days = DayBook()
    assert days.has_data(2026)
    assert not days.has_data(2027)


def test_a_year_without_data_falls_back_to_monday_to_friday() -> None:
    days = DayBook()
    assert days.is_workday(date(2027, 1, 1))  # a Friday: New Year's Day, unknown without data
    assert days.is_day_off(date(2027, 1, 2))  # Saturday
    assert days.is_fallback(date(2027, 1, 1))
    assert not days.is_fallback(date(2026, 12, 31))
    assert days.fallback_years(2026, 2028) == [2027, 2028]


def test_bot_yaml_days_override_the_package_and_end_the_fallback_for_their_year() -> None:
    days = DayBook(holidays=[date(2027, 1, 1), date(2026, 9, 28)], workdays=[date(2027, 2, 7)])
    assert days.is_day_off(date(2027, 1, 1))
    assert days.is_workday(date(2027, 2, 7))  # a Sunday, made a workday
    assert days.is_day_off(date(2026, 9, 28))  # over the package's answer
    assert not days.is_fallback(date(2027, 1, 1))
    assert days.is_fallback(date(2027, 1, 4))  # a day bot.yaml does not name
    assert days.fallback_years(2026, 2028) == [2028]
    assert days.years_without_data(2026, date(2028, 1, 1)) == [2027, 2028]


def test_a_day_book_survives_pickling() -> None:
    days = DayBook(holidays=[date(2027, 1, 1)])
    again = pickle.loads(pickle.dumps(days))
    assert again == days and again.is_day_off(date(2027, 1, 1))


def test_weekdays_in_chinese() -> None:
    assert weekday_zh(date(2026, 10, 10)) == "周六"
    assert weekday_zh(date(2026, 9, 28)) == "周一"
