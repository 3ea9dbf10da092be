"""One bad row does not stop the activity log (issue 6, item 12)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

import storage.activity_store
from bot.vocab.clock import ManualClock
from bot.vocab.events import JoinEvent, MessageEvent, MessageKind
from handlers.activity import ActivityRecorder
from handlers.base import Context
from storage.repo import ActivityNotStored, ActivityRow
from tests.unit.conftest import Store

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
ROOM = "r1@chatroom"
CTX = cast(Context, None)  # the recorder does not look at the context


def message(i: int, sender: str = "wxid_a") -> MessageEvent:
    at = T0 + timedelta(seconds=i)
    return MessageEvent(f"m{i}", ROOM, sender, "阿甲", MessageKind.TEXT, f"text {i}", at)


async def count(store: Store, sql: str, **params: Any) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def test_a_lone_surrogate_sender_does_not_stop_later_messages_or_a_join(
    store: Store,
) -> None:
    recorder = ActivityRecorder(store.repo, ManualClock(T0), max_rows=500)
    await recorder.handle(message(0, sender="wxid_\ud800"), CTX)
    for i in range(1, 1001):
        await recorder.handle(message(i), CTX)
    join = JoinEvent(ROOM, ("wxid_new",), "wxid_a", T0 + timedelta(hours=1), ("新人",))
    await recorder.handle(join, CTX)
    await recorder.close()

    assert (
        await count(store, "SELECT count(*) FROM activity_events WHERE contact_id = 'wxid_a'")
        == 1000
    )
    assert await count(store, "SELECT count(*) FROM activity_events WHERE kind = 'join'") == 1
    # The odd sender is kept too, with the half character made visible.
    assert (
        await count(
            store, "SELECT count(*) FROM activity_events WHERE contact_id = :c", c="wxid_\ufffd"
        )
        == 1
    )
    state = await store.repo.member_stats(ROOM, "wxid_a")
    assert state is not None and state.message_count == 1000
    assert await count(store, "SELECT count(*) FROM memberships WHERE contact_id = 'wxid_new'") == 1


async def test_a_refused_row_is_skipped_and_logged_the_rest_of_its_batch_stored(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [ActivityRow(ROOM, f"wxid_{i}", "message", T0, "text", f"m{i}", "hi") for i in range(3)]
    object.__setattr__(rows[1], "kind", "bogus")  # a row the database refuses (CHECK)
    with caplog.at_level(logging.WARNING, logger="storage.repo"):
        assert await store.repo.record_activity(rows) == 2
    assert await count(store, "SELECT count(*) FROM activity_events") == 2
    skipped = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(skipped) == 1 and "wxid_1" in skipped[0].getMessage()


async def test_rows_wait_while_the_database_is_unreachable(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = ActivityRecorder(store.repo, ManualClock(T0), max_rows=1000)
    for i in range(5):
        await recorder.handle(message(i), CTX)

    async def down(rows: Any, *names: Any) -> int:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    with monkeypatch.context() as m:
        m.setattr(store.repo, "_write_activity", down)
        with pytest.raises(ActivityNotStored):
            await recorder.flush()
    await recorder.flush()  # the database is back
    assert await count(store, "SELECT count(*) FROM activity_events") == 5


async def test_rooms_writing_at_once_share_batches_of_at_least_max_rows(store: Store) -> None:
    recorder = ActivityRecorder(store.repo, ManualClock(T0), max_rows=10)

    async def room(r: int) -> None:
        for i in range(10):
            at = T0 + timedelta(seconds=i)
            event = MessageEvent(
                f"m{r}-{i}", f"r{r}@chatroom", "wxid_a", "阿甲", MessageKind.TEXT, "hi", at
            )
            await recorder.handle(event, CTX)
            await asyncio.sleep(0)  # let the other rooms and the writer run

    await asyncio.gather(*(room(r) for r in range(100)))
    await recorder.close()

    assert await count(store, "SELECT count(*) FROM activity_events") == 1000
    assert await count(store, "SELECT sum(message_count) FROM member_stats") == 1000
    # Rows that come in while a batch is written join the next one: no batch of
    # a handful of rows per waiting room (only the last may be short).
    assert recorder.batches <= 1000 // 10 + 1


async def test_a_rollup_the_database_refuses_leaves_no_activity_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(events: Any) -> list[dict[str, Any]]:
        return [{**row, "message_count": None} for row in real_rollup(events)]  # NOT NULL

    real_rollup = storage.activity_store._rollup
    monkeypatch.setattr(storage.activity_store, "_rollup", refused)
    rows = [ActivityRow(ROOM, "wxid_a", "message", T0, "text", f"m{i}", "hi") for i in range(3)]
    assert await store.repo.record_activity(rows) == 0  # each row's transaction rolled back
    assert await count(store, "SELECT count(*) FROM activity_events") == 0
    assert await count(store, "SELECT count(*) FROM member_stats") == 0


async def test_a_locked_database_keeps_the_batch_for_the_next_flush(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(events: Any) -> list[dict[str, Any]]:
        raise sqlite3.OperationalError("database is locked")

    if store.backend != "sqlite":
        pytest.skip("the driver's own error is SQLite's")
    monkeypatch.setattr(storage.activity_store, "_rollup", locked)
    rows = [ActivityRow(ROOM, "wxid_a", "message", T0, "text", f"m{i}", "hi") for i in range(3)]
    with pytest.raises(ActivityNotStored) as caught:
        await store.repo.record_activity(rows)
    assert caught.value.rows == rows
    assert await count(store, "SELECT count(*) FROM activity_events") == 0


async def test_a_batch_and_its_senders_names_are_written_in_one_transaction(
    store: Store,
) -> None:
    recorder = ActivityRecorder(store.repo, ManualClock(T0), max_rows=1000)
    for i in range(3):
        await recorder.handle(message(i, sender=f"wxid_{i}"), CTX)
    commits: list[int] = []
    event.listen(store.engine.sync_engine, "commit", lambda conn: commits.append(1))
    await recorder.flush()
    assert len(commits) == 1
    assert await count(store, "SELECT count(*) FROM activity_events") == 3
    assert await store.repo.contact_name("wxid_2") == "阿甲"


async def test_messages_stored_before_are_neither_stored_nor_counted_again(store: Store) -> None:
    def rows(*ids: int) -> list[ActivityRow]:
        return [
            ActivityRow(ROOM, "wxid_a", "message", T0 + timedelta(seconds=i), "text", f"m{i}", "hi")
            for i in ids
        ]

    assert await store.repo.record_activity(rows(1, 2)) == 2
    # A replay (or a second account in the group) brings m2 again, with m3 and a join.
    join = ActivityRow(ROOM, "wxid_a", "join", T0)
    assert await store.repo.record_activity([*rows(2, 3), join]) == 2
    assert await count(store, "SELECT count(*) FROM activity_events") == 4
    stats = await store.repo.member_stats(ROOM, "wxid_a")
    assert stats is not None and stats.message_count == 3
    assert stats.first_seen_at == T0 and stats.last_spoke_at == T0 + timedelta(seconds=3)


async def test_messages_are_counted_per_local_day_once_however_often_they_arrive(
    store: Store,
) -> None:
    # 15:59 and 16:00 UTC are 23:59 and 00:00 the next day in Shanghai (the default).
    late = datetime(2026, 1, 5, 15, 59, tzinfo=UTC)

    def row(i: int, at: datetime, sender: str = "wxid_a") -> ActivityRow:
        return ActivityRow(ROOM, sender, "message", at, "text", f"m{i}", "hi")

    first = [row(1, late), row(2, late), row(3, late + timedelta(minutes=1))]
    assert (
        await store.repo.record_activity([*first, ActivityRow(ROOM, "wxid_b", "join", late)]) == 4
    )
    # A second account in the group brings m3 again, with m4 from another member.
    assert await store.repo.record_activity([row(3, late), row(4, late, "wxid_b")]) == 1

    days = await store.repo.member_days(ROOM, "2026-01-05", "2026-01-06")
    assert days == {
        ("wxid_a", "2026-01-05"): 2,
        ("wxid_a", "2026-01-06"): 1,
        ("wxid_b", "2026-01-05"): 1,
    }


async def test_ids_and_texts_with_nul_or_lone_surrogates_are_stored_cleaned(store: Store) -> None:
    row = ActivityRow("r\x001@chatroom", "wxid_\ud800", "message", T0, "text", "m\x001", "a\x00b")
    assert await store.repo.record_activity([row]) == 1
    (stored,) = await store.repo.recent_activity()
    assert (stored.room_id, stored.contact_id, stored.message_id, stored.text) == (
        "r1@chatroom",
        "wxid_\ufffd",
        "m1",
        "ab",
    )
