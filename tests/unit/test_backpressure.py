"""Back-pressure from the dispatcher to the gRPC stream: a bot that is behind
stops reading events instead of queueing them without bound, and loses none."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from bot.transport.adapter import WechatyTransport
from bot.vocab.clock import ManualClock
from bot.vocab.events import Event, LeaveEvent


class StreamPuppet:
    """Only what the transport looks at: a puppet that reads a stream."""

    backpressure = None


def leave(n: int) -> SimpleNamespace:
    return SimpleNamespace(room_id="r1@chatroom", removed_ids=[f"wxid_{n}"], remover_id=None,
                           timestamp=None)  # fmt: skip


async def _yield(times: int = 20) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def test_a_full_backlog_holds_the_stream_until_the_bot_catches_up() -> None:
    puppet = StreamPuppet()
    transport = WechatyTransport(puppet, clock=ManualClock(), max_backlog=2)
    assert puppet.backpressure == transport.room_for_more  # the stream reader awaits it

    delivered: list[Event] = []
    full = asyncio.get_running_loop().create_future()  # the dispatcher is full until set

    def sink(event: Event) -> asyncio.Future[None] | None:
        delivered.append(event)
        return full if not full.done() else None

    transport._sink = sink
    deliverer = asyncio.create_task(transport._deliver())
    for n in range(3):
        transport._on_raw("room-leave", leave(n))
    reader = asyncio.create_task(transport.room_for_more())
    await _yield()
    assert not reader.done()  # the stream is not read while the bot is behind
    assert len(delivered) == 1  # the first event waits for room in the dispatcher

    full.set_result(None)
    await reader
    await transport.drain()
    assert [e.member_ids for e in delivered if isinstance(e, LeaveEvent)] == [
        ("wxid_0",),
        ("wxid_1",),
        ("wxid_2",),
    ]  # nothing lost, in order
    transport._order.put_nowait(None)
    await deliverer


async def test_with_room_in_the_backlog_the_stream_is_read_at_once() -> None:
    transport = WechatyTransport(StreamPuppet(), clock=ManualClock(), max_backlog=2)
    await asyncio.wait_for(transport.room_for_more(), 1)
