"""One bad row does not stop the activity log (issue 6, item 12)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.clock import ManualClock
from bot.events import JoinEvent, MessageEvent, MessageKind
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

    async def down(rows: Any) -> int:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    with monkeypatch.context() as m:
        m.setattr(store.repo, "_write_activity", down)
        with pytest.raises(ActivityNotStored):
            await recorder.flush()
    await recorder.flush()  # the database is back
    assert await count(store, "SELECT count(*) FROM activity_events") == 5
