"""The dispatcher: order per room, rooms in parallel, groups with stop, failures isolated."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.actions import Say
from bot.dispatcher import Dispatcher
from bot.events import Event, MessageEvent, MessageKind
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
    async def submit(actions: Any) -> None:
        submitted.extend(actions)

    return Dispatcher(groups, lambda e: object(), submit)  # type: ignore[arg-type,return-value]


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
