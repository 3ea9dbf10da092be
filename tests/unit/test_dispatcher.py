"""The dispatcher: order per room, rooms in parallel, groups with stop, failures isolated."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.alerts import AlertKind, LogAlerter
from bot.dispatcher import Dispatcher, HandlerFailureAlarm
from bot.vocab.actions import Say
from bot.vocab.clock import ManualClock
from bot.vocab.events import Event, MessageEvent, MessageKind
from handlers.base import BaseHandler, Context, Result

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def msg(room: str, text: str) -> MessageEvent:
    return MessageEvent(f"{room}:{text}", room, "wxid_a", "阿甲", MessageKind.TEXT, text, T0)


class Recorder(BaseHandler):
    def __init__(self, name: str, result: Result | None = None, gate: asyncio.Event | None = None):
        self.name = name
        self.result = result
        self.gate = gate
        self.seen: list[str] = []

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        assert isinstance(event, MessageEvent)
        if self.gate is not None and event.room_id == "slow@chatroom":
            await self.gate.wait()
        self.seen.append(event.text)
        return self.result


class Boom(BaseHandler):
    name = "boom"

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        raise RuntimeError("handler bug")


def make(groups: list[list[Any]], submitted: list[Any]) -> Dispatcher:
    async def apply(result: Any, origin: str, event: Any) -> None:
        submitted.extend(result.actions)

    return Dispatcher(groups, lambda e: object(), apply)  # type: ignore[arg-type,return-value]


async def test_events_of_one_room_are_handled_in_arrival_order() -> None:
    rec = Recorder("rec")
    d = make([[rec]], [])
    for i in range(200):
        d.feed(msg("r@chatroom", str(i)))
    await d.join()
    assert rec.seen == [str(i) for i in range(200)]
    await d.close()


async def test_a_slow_room_does_not_hold_up_another_room() -> None:
    gate = asyncio.Event()
    rec = Recorder("rec", gate=gate)
    d = make([[rec]], [])
    d.feed(msg("slow@chatroom", "first"))
    d.feed(msg("fast@chatroom", "second"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert rec.seen == ["second"]  # the fast room went past the blocked one
    gate.set()
    await d.join()
    assert rec.seen == ["second", "first"]
    await d.close()


async def test_groups_run_in_order_first_answer_handles_and_stop_ends_the_chain() -> None:
    observer = Recorder("observer")  # returns None: the next in its group still runs
    answer = Recorder("answer", Result([Say(room="r@chatroom", text="hi")]))
    shadowed = Recorder("shadowed", Result())
    stopper = Recorder("stopper", Result(stop=True))
    never = Recorder("never", Result())
    submitted: list[Any] = []
    d = make([[observer, answer, shadowed], [stopper], [never]], submitted)
    d.feed(msg("r@chatroom", "x"))
    await d.join()
    assert (observer.seen, answer.seen, shadowed.seen) == (["x"], ["x"], [])
    assert stopper.seen == ["x"] and never.seen == []
    assert [a.text for a in submitted] == ["hi"]
    await d.close()


async def test_a_failing_handler_is_logged_with_traceback_and_the_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    after = Recorder("after")
    d = make([[Boom()], [after]], [])
    with caplog.at_level(logging.ERROR):
        d.feed(msg("r@chatroom", "x"))
        await d.join()
    assert after.seen == ["x"] and d.failures == 1
    record = next(r for r in caplog.records if "boom" in r.getMessage())
    assert record.exc_info is not None and "handler bug" in str(record.exc_info[1])
    await d.close()


async def test_events_the_context_refuses_reach_no_handler() -> None:
    rec = Recorder("rec")

    async def submit(actions: Any) -> None:
        pass

    d = Dispatcher([[rec]], lambda e: None, submit)
    d.feed(msg("r@chatroom", "x"))
    await d.join()
    assert rec.seen == []
    await d.close()


# --------------------------------------------------------------------------
# Bounded queue, idle rooms, handler-error hook (issue 6, item 12)
# --------------------------------------------------------------------------


class Gated(BaseHandler):
    """Handles nothing until its gate opens."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.seen: list[str] = []
        self.forgotten: list[str] = []

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        await self.gate.wait()
        assert isinstance(event, MessageEvent)
        self.seen.append(event.text)
        return None

    def forget_room(self, room_id: str) -> None:
        self.forgotten.append(room_id)


def bounded(handler: Any, *, clock: Any = None, **kw: Any) -> Dispatcher:
    async def submit(actions: Any) -> None:
        return None

    return Dispatcher([[handler]], lambda e: object(), submit, clock=clock, **kw)  # type: ignore[arg-type,return-value]


async def test_put_holds_the_producer_while_the_queue_is_full_and_loses_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Gated()
    d = bounded(handler, max_queued=10, max_queued_per_room=10)

    async def produce() -> None:
        for i in range(25):
            await d.put(msg("r@chatroom", str(i)))

    with caplog.at_level(logging.WARNING, logger="bot.dispatcher"):
        producer = asyncio.create_task(produce())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not producer.done(), "the producer is held while handlers are stuck"
        assert d.pending == 10
        handler.gate.set()
        await producer
        await d.join()
    assert handler.seen == [str(i) for i in range(25)]
    full = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert full and "event queue full: 10 events pending" in full[0].getMessage()
    assert "new events wait until handlers catch up" in full[0].getMessage()
    await d.close()


async def test_one_flooded_room_is_bounded_on_its_own() -> None:
    handler = Gated()
    d = bounded(handler, max_queued=100, max_queued_per_room=3)
    for i in range(4):  # one being handled, three queued
        await d.put(msg("busy@chatroom", str(i)))
    waiting = asyncio.create_task(d.put(msg("busy@chatroom", "4")))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not waiting.done()
    handler.gate.set()
    await waiting
    await d.join()
    assert handler.seen == ["0", "1", "2", "3", "4"]
    await d.close()


async def test_feed_over_the_bound_keeps_the_event_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Gated()
    handler.gate.set()
    d = bounded(handler, max_queued=2, max_queued_per_room=2)
    with caplog.at_level(logging.WARNING, logger="bot.dispatcher"):
        for i in range(5):
            d.feed(msg("r@chatroom", str(i)))
    await d.join()
    assert handler.seen == ["0", "1", "2", "3", "4"]
    assert any("accepted anyway" in r.getMessage() for r in caplog.records)
    await d.close()


async def test_lanes_of_rooms_silent_for_a_day_are_closed_and_handlers_forget_them() -> None:
    clock = ManualClock(T0)
    handler = Gated()
    handler.gate.set()
    d = bounded(handler, clock=clock)
    d.feed(msg("quiet@chatroom", "hello"))
    d.feed(msg("busy@chatroom", "hello"))
    await d.join()
    await clock.advance(23 * 3600)
    d.feed(msg("busy@chatroom", "still here"))
    await d.join()
    assert sorted(d.rooms) == ["busy@chatroom", "quiet@chatroom"]
    await clock.advance(3600 + 1)
    d.feed(msg("busy@chatroom", "and here"))
    await d.join()
    assert d.rooms == ["busy@chatroom"]
    assert handler.forgotten == ["quiet@chatroom"]
    d.feed(msg("quiet@chatroom", "back"))  # a room that speaks again gets a new lane
    await d.join()
    assert handler.seen[-1] == "back" and sorted(d.rooms) == ["busy@chatroom", "quiet@chatroom"]
    await d.close()


async def test_every_handler_failure_reaches_the_hook_and_is_counted() -> None:
    calls: list[tuple[str, str, str]] = []
    rec = Recorder("rec")

    async def submit(actions: Any) -> None:
        return None

    d = Dispatcher(
        [[Boom()], [rec]],
        lambda e: object(),  # type: ignore[arg-type,return-value]
        submit,
        on_handler_error=lambda name, event, exc: calls.append(
            (name, type(event).__name__, str(exc))
        ),
    )
    for i in range(3):
        d.feed(msg("r@chatroom", str(i)))
    await d.join()
    assert calls == [("boom", "MessageEvent", "handler bug")] * 3
    assert d.failures_by_handler == {"boom": 3}
    assert rec.seen == ["0", "1", "2"]
    await d.close()


async def test_failure_alarm_alerts_once_per_burst() -> None:
    clock = ManualClock(T0)
    alerter = LogAlerter()
    alarm = HandlerFailureAlarm(alerter, clock, threshold=5, window_seconds=600)
    event = msg("r@chatroom", "x")
    for _ in range(4):
        alarm("welcome", event, RuntimeError("db down"))
        await clock.advance(60)
    assert alerter.sent == []
    for _ in range(10):  # the fifth within ten minutes, and more of the same burst
        alarm("welcome", event, RuntimeError("db down"))
        await clock.advance(60)
    assert len(alerter.sent) == 1
    alert = alerter.sent[0]
    assert alert.kind is AlertKind.HANDLER_FAILING
    assert "「welcome」这一步在 10 分钟内失败了 5 次" in alert.what
    assert "RuntimeError：db down" in alert.what and "r@chatroom" in alert.where
    await clock.advance(601)  # quiet for a whole window: the burst is over
    for _ in range(5):
        alarm("welcome", event, RuntimeError("db down again"))
    assert len(alerter.sent) == 2


async def test_scattered_failures_do_not_alert() -> None:
    clock = ManualClock(T0)
    alerter = LogAlerter()
    alarm = HandlerFailureAlarm(alerter, clock, threshold=5, window_seconds=600)
    for _ in range(20):
        alarm("commands", msg("r@chatroom", "x"), ValueError("odd input"))
        await clock.advance(200)  # three per ten minutes at most
    assert alerter.sent == []
