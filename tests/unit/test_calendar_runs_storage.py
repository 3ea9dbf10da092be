"""Calendar run keys: claimed at most once, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage.calendar_runs import CalendarRuns, RunKey
from storage.repo import Repository
from tests.unit.conftest import Store

AT = datetime(2026, 1, 5, 1, 10, tzinfo=UTC)
KEY = RunKey("remind-newcomers", "", AT)


def _runs(store: Store, account: str = "default") -> CalendarRuns:
    return CalendarRuns(store.sessions, account_id=account)


async def test_a_run_is_claimed_once(store: Store) -> None:
    runs = _runs(store)
    assert await runs.claim(KEY, AT) is True
    assert await runs.claim(KEY, AT + timedelta(seconds=5)) is False  # a restart, a 2nd process
    await runs.finish(KEY, AT + timedelta(seconds=1))
    [record] = await runs.runs("remind-newcomers")
    assert (record.status, record.started_at, record.finished_at) == (
        "done",
        AT,
        AT + timedelta(seconds=1),
    )


async def test_concurrent_claims_of_one_run_let_exactly_one_through(store: Store) -> None:
    # Two processes sharing the database, each with its own session factory use.
    claims = await asyncio.gather(*(_runs(store).claim(KEY, AT) for _ in range(8)))
    assert sorted(claims) == [False] * 7 + [True]


async def test_each_group_time_and_account_is_its_own_run(store: Store) -> None:
    runs = _runs(store)
    assert await runs.claim(KEY, AT)
    assert await runs.claim(RunKey("remind-newcomers", "r1@chatroom", AT), AT)
    assert await runs.claim(RunKey("remind-newcomers", "", AT + timedelta(minutes=10)), AT)
    assert await _runs(store, "other").claim(KEY, AT)
    assert await runs.last_scheduled("remind-newcomers") == AT + timedelta(minutes=10)
    assert await runs.last_scheduled("remind-newcomers", "r1@chatroom") == AT
    assert await _runs(store, "other").last_scheduled("remind-newcomers") == AT
    assert await runs.last_scheduled("reconcile-members") is None


async def test_a_failed_run_keeps_its_error_and_is_not_claimed_again(store: Store) -> None:
    runs = _runs(store)
    assert await runs.claim(KEY, AT)
    await runs.finish(KEY, AT, error="RuntimeError: boom")
    assert await runs.claim(KEY, AT) is False
    [record] = await runs.runs("remind-newcomers")
    assert (record.status, record.error) == ("failed", "RuntimeError: boom")


async def test_a_missed_run_is_recorded_once_and_blocks_a_late_claim(store: Store) -> None:
    runs = _runs(store)
    assert await runs.record_missed(KEY, AT + timedelta(hours=2), "2 run(s) missed") is True
    assert await runs.record_missed(KEY, AT + timedelta(hours=2), "again") is False
    assert await runs.claim(KEY, AT + timedelta(hours=2)) is False
    [record] = await runs.runs("remind-newcomers")
    assert (record.status, record.error) == ("missed", "2 run(s) missed")


async def test_naive_scheduled_times_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        await _runs(store).claim(RunKey("x", "", datetime(2026, 1, 5, 1, 10)), AT)  # noqa: DTZ001


async def test_the_audit_log_accepts_missed(store: Store) -> None:
    repo = Repository(store.sessions, account_id="default")
    await repo.write_audit(at=AT, action="calendar", kind="remind-newcomers", status="missed")
    [entry] = await repo.recent_audit(5)
    assert entry.status == "missed"
