"""Newcomer probation: a member's first messages or first hours are on probation and
the result says by how much the verdict should weigh the other checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.moderation.detector.probation import NAME, Probation, boost_of, probation

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("joined_ago", "sent", "on_probation", "reason"),
    [
        (
            timedelta(minutes=5),
            0,
            True,
            "新成员观察期：入群5分钟（72小时内），第1条消息（前5条），从严判断",
        ),
        (timedelta(hours=3), 10, True, "新成员观察期：入群3.0小时（72小时内），从严判断"),
        (timedelta(days=30), 2, True, "新成员观察期：第3条消息（前5条），从严判断"),
        (timedelta(days=30), 5, False, "不在新成员观察期"),
        (timedelta(hours=72), 5, False, "不在新成员观察期"),
        (
            timedelta(hours=71, minutes=59),
            5,
            True,
            "新成员观察期：入群71小时（72小时内），从严判断",
        ),
        (None, 0, True, "新成员观察期：第1条消息（前5条），从严判断"),
        (None, None, False, "不在新成员观察期"),
        (timedelta(minutes=1), None, True, "新成员观察期：入群1分钟（72小时内），从严判断"),
    ],
)
def test_a_member_is_on_probation_within_the_first_messages_or_hours(
    joined_ago: timedelta | None, sent: int | None, on_probation: bool, reason: str
) -> None:
    joined_at = None if joined_ago is None else NOW - joined_ago
    result = probation(
        joined_at=joined_at, messages_sent=sent, now=NOW, hours=72, first_messages=5, boost=2
    )
    assert result.name == NAME
    assert result.hit is on_probation
    assert result.reason == reason
    assert result.score == 0.0  # being new is no offence in itself
    assert boost_of(result) == (2.0 if on_probation else 1.0)


def test_zero_hours_and_zero_messages_turn_probation_off() -> None:
    rule = Probation(hours=0, first_messages=0)
    assert not rule.check(joined_at=NOW, messages_sent=0, now=NOW).hit


def test_the_rule_object_gives_the_same_result_as_the_function() -> None:
    rule = Probation(hours=24, first_messages=3, boost=1.8)
    joined = NOW - timedelta(hours=2)
    assert rule.check(joined_at=joined, messages_sent=1, now=NOW) == probation(
        joined_at=joined, messages_sent=1, now=NOW, hours=24, first_messages=3, boost=1.8
    )
    assert rule.check(joined_at=joined, messages_sent=1, now=NOW).detail["boost"] == "1.8"


def test_the_detail_says_how_long_ago_and_how_many_messages() -> None:
    result = Probation().check(joined_at=NOW - timedelta(hours=5), messages_sent=2, now=NOW)
    assert result.detail["hours_since_join"] == "5.0"
    assert result.detail["messages_sent"] == "2"


def test_a_join_time_after_now_counts_as_just_joined() -> None:
    result = Probation().check(joined_at=NOW + timedelta(minutes=3), messages_sent=9, now=NOW)
    assert result.hit
    assert result.detail["hours_since_join"] == "0.0"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        Probation().check(joined_at=None, messages_sent=0, now=datetime(2025, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize("kwargs", [{"hours": -1}, {"first_messages": -1}, {"boost": 0.5}])
def test_a_rule_that_makes_no_sense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Probation(**kwargs)  # type: ignore[arg-type]


def test_boost_of_reads_only_a_sane_factor() -> None:
    assert boost_of({}) == 1.0
    assert boost_of({"boost": "nonsense"}) == 1.0
    assert boost_of({"boost": "0.2"}) == 1.0
    assert boost_of({"boost": "2.5"}) == 2.5


@given(
    hours=st.floats(min_value=0, max_value=1000),
    first=st.integers(min_value=0, max_value=100),
    age=st.floats(min_value=0, max_value=5000),
    sent=st.integers(min_value=0, max_value=200),
)
def test_probation_holds_exactly_while_either_limit_is_not_reached(
    hours: float, first: int, age: float, sent: int
) -> None:
    joined = NOW - timedelta(hours=age)
    result = probation(
        joined_at=joined, messages_sent=sent, now=NOW, hours=hours, first_messages=first
    )
    age_h = (NOW - joined).total_seconds() / 3600
    assert result.hit is (age_h < hours or sent < first)
