"""China's day rules: workdays, days off, public holidays and make-up workdays (调休).

The data comes from the ``chinesecalendar`` package, which knows each year
only once the State Council has published it (late in the year before) and
raises ``NotImplementedError`` for later years.  ``bot.yaml`` may add days
itself (``calendar.holidays`` / ``calendar.workdays``); they win over the
package.  For a date the package does not cover and ``bot.yaml`` says nothing
about, Monday–Friday are workdays (:meth:`DayBook.is_fallback` says so, so
the runtime can tell the owners once and ``config check`` can warn ahead).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import chinese_calendar

_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def weekday_zh(d: date) -> str:
    """``周一`` … ``周日``."""
    return _WEEKDAYS_ZH[d.weekday()]


def _year(value: int | date) -> int:
    return value.year if isinstance(value, date) else value


def _chinese_name(english: str) -> str:
    try:
        return str(chinese_calendar.Holiday(english).chinese)
    except ValueError:
        return english


class DayBook:
    """Which days are workdays in China, with ``bot.yaml``'s own additions.

    ``holidays`` are days off and ``workdays`` make-up workdays written in
    ``bot.yaml``; both override the package.  Cheap to call in a loop: every
    answer is a set or dict lookup (the package's own functions scan all
    their keys on every call).
    """

    def __init__(self, holidays: Iterable[date] = (), workdays: Iterable[date] = ()) -> None:
        self.holidays: frozenset[date] = frozenset(holidays)
        self.workdays: frozenset[date] = frozenset(workdays)
        self._extra_years = frozenset(d.year for d in self.holidays | self.workdays)
        self._years: dict[int, bool] = {}

    def __reduce__(self) -> tuple[type[DayBook], tuple[tuple[date, ...], tuple[date, ...]]]:
        return (DayBook, (tuple(sorted(self.holidays)), tuple(sorted(self.workdays))))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DayBook)
            and self.holidays == other.holidays
            and self.workdays == other.workdays
        )

    def __hash__(self) -> int:
        return hash((self.holidays, self.workdays))

    def has_data(self, year: int) -> bool:
        """Whether the holiday package covers ``year``."""
        known = self._years.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(date(year, 6, 1))
            except NotImplementedError:
                known = False
            else:
                known = True
            self._years[year] = known
        return known

    def is_fallback(self, d: date) -> bool:
        """True when ``d`` is judged by Monday–Friday alone (no data, nothing in bot.yaml)."""
        return not self.has_data(d.year) and d not in self.holidays and d not in self.workdays

    def is_workday(self, d: date) -> bool:
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        if not self.has_data(d.year):
            return d.weekday() < 5
        return d in chinese_calendar.workdays or (
            d.weekday() < 5 and d not in chinese_calendar.holidays
        )

    def is_day_off(self, d: date) -> bool:
        return not self.is_workday(d)

    def is_makeup_workday(self, d: date) -> bool:
        """A Saturday or Sunday that is a workday (调休上班)."""
        return d.weekday() >= 5 and self.is_workday(d)

    def holiday_name(self, d: date) -> str:
        """The public holiday's Chinese name (``国庆节``), or ``""``.

        A day off added in ``bot.yaml`` has no name (``""``); so has a weekend.
        """
        if d in self.workdays or d in self.holidays or not self.has_data(d.year):
            return ""
        english = chinese_calendar.holidays.get(d)
        return _chinese_name(english) if english else ""

    def years_without_data(self, start: int | date, end: int | date) -> list[int]:
        """Years in ``[start, end]`` the package does not cover (bot.yaml or not)."""
        first, last = _year(start), _year(end)
        return [y for y in range(first, last + 1) if not self.has_data(y)]

    def fallback_years(self, start: int | date, end: int | date) -> list[int]:
        """Years in ``[start, end]`` (years or dates) judged by Monday–Friday
        alone: no package data and no day of that year in ``bot.yaml``."""
        return [y for y in self.years_without_data(start, end) if y not in self._extra_years]

    def adds_days_in(self, year: int) -> bool:
        """Whether ``bot.yaml`` names any holiday or make-up workday in ``year``."""
        return year in self._extra_years

    def __repr__(self) -> str:
        return f"DayBook(holidays={len(self.holidays)}, workdays={len(self.workdays)})"
