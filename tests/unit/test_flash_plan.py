"""The flash group campaign's step planning, as pure functions of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sop.flash_groups.content import FlashGroupContent
from sop.flash_groups.plan import campaign_times, key, next_step, posts

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def content(**extra: object) -> FlashGroupContent:
    return FlashGroupContent.model_validate(
        {
            "topic": "快闪",
            "event_start": "2026-12-12 20:00",
            "event_end": "2026-12-12 22:00",
            "create_days_before": 2,
            "dissolve_after_hours": 12,
            "schedule": [
                {"offset_minutes": 30, "text": "第二条"},
                {"at": "2026-12-12 19:00", "text": "第一条"},
            ],
            **extra,
        }
    )


def test_times_are_local_and_creation_comes_days_before() -> None:
    t = campaign_times(content(), SH, T0)
    assert t.event_start == datetime(2026, 12, 12, 12, 0, tzinfo=UTC)
    assert t.create_at == datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    assert t.dissolve_at == datetime(2026, 12, 13, 2, 0, tzinfo=UTC)


def test_a_run_that_fires_late_creates_at_once() -> None:
    late = datetime(2026, 12, 11, 0, 0, tzinfo=UTC)
    assert campaign_times(content(), SH, late).create_at == late


def test_the_schedule_is_in_time_order_whatever_the_file_order() -> None:
    assert [p.text for p in posts(content(), SH)] == ["第一条", "第二条"]


def test_each_status_has_its_step_at_its_time() -> None:
    c = content()
    t = campaign_times(c, SH, T0)
    sched = posts(c, SH)

    def step(status: str, now: datetime, done: int = 0) -> str | None:
        return next_step(
            status,
            now=now,
            create_at=t.create_at,
            event_end=t.event_end,
            dissolve_at=t.dissolve_at,
            schedule=sched,
            posts_done=done,
        )

    assert step("planned", t.create_at - timedelta(seconds=1)) is None
    assert step("planned", t.create_at) == "create"
    assert step("creating", t.create_at) == "await_room"
    assert step("open", sched[0].at - timedelta(minutes=1)) is None
    assert step("open", sched[0].at) == "post"
    assert step("open", sched[1].at, done=1) == "post"
    assert step("open", t.event_end, done=1) == "post"  # every post before the thanks
    assert step("open", t.event_end, done=2) == "thank"
    assert step("ended", t.dissolve_at - timedelta(minutes=1)) is None
    assert step("ended", t.dissolve_at) == "dissolve"
    assert step("dissolving", t.dissolve_at) == "remove"
    assert step("quitting", t.dissolve_at) == "await_quit"
    assert step("done", t.dissolve_at) is None


def test_keys_are_deterministic_per_campaign_and_step() -> None:
    assert key(7, "post", 0) == key(7, "post", 0) == "flash:7:post:0"
    assert key(7, "remove", "wxid_a", 2) != key(7, "remove", "wxid_a", 1)


@pytest.mark.parametrize(
    "bad",
    [
        {"event_end": "2026-12-12 19:00"},  # before the start
        {"schedule": [{"text": "无时间"}]},
        {"schedule": [{"offset_minutes": 600, "text": "活动结束后"}]},
        {"create_with": 1},
    ],
)
def test_content_mistakes_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        content(**bad)
