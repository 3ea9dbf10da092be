"""The supervisor on an injected clock: backoff, watchdog, ding, teardown."""

from __future__ import annotations

import asyncio

from bot.transport.supervisor import BACKOFF, Supervisor, backoff_delay
from bot.vocab.clock import ManualClock


def test_backoff_steps_and_cap() -> None:
    assert [backoff_delay(i) for i in range(8)] == [1, 2, 5, 10, 30, 60, 60, 60]
    assert BACKOFF[-1] == 60


class FakeLink:
    """A connection whose stream ends when told to; counts connects."""

    def __init__(self) -> None:
        self.connects = 0
        self.ends: list[asyncio.Future[None]] = []
        self.dings = 0
        self.teardowns = 0

    async def connect(self) -> None:
        self.connects += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ends.append(fut)
        await fut

    def drop(self) -> None:
        self.ends[-1].set_result(None)

    async def ding(self) -> None:
        self.dings += 1

    async def teardown(self) -> None:
        self.teardowns += 1


async def test_a_lost_stream_is_reconnected_with_growing_backoff() -> None:
    clock, link, states = ManualClock(), FakeLink(), []
    sup = Supervisor(
        link.connect, clock=clock, on_state=lambda s, d: states.append(s), watchdog_timeout=1e9
    )
    sup.start()
    await clock.advance(0)
    assert link.connects == 1
    for expected_delay in (1, 2, 5):
        link.drop()
        await clock.advance(expected_delay - 0.5)
        connects = link.connects
        await clock.advance(0.5)
        assert link.connects == connects + 1  # reconnected exactly after the backoff
    assert states.count("disconnected") == 3
    # a connection that stays up resets the backoff
    await clock.advance(60)
    link.drop()
    await clock.advance(1)
    assert link.connects == 5
    await sup.stop()


async def test_a_silent_stream_is_pinged_then_torn_down_and_reconnected() -> None:
    clock, link, states = ManualClock(), FakeLink(), []
    sup = Supervisor(
        link.connect,
        clock=clock,
        ding=link.ding,
        teardown=link.teardown,
        on_state=lambda s, d: states.append(s),
        watchdog_timeout=60,
        ding_timeout=15,
    )
    sup.start()
    await clock.advance(0)
    for _ in range(5):  # events keep arriving: nothing happens
        await clock.advance(30)
        sup.feed()
    assert link.dings == 0 and link.connects == 1
    await clock.advance(61)  # silence: a ding goes out
    assert link.dings == 1 and "stalled" in states
    await clock.advance(16)  # nobody answered: torn down, reconnect after 1 s
    assert link.teardowns == 1
    await clock.advance(1)
    assert link.connects == 2
    await sup.stop()


async def test_an_answer_to_the_ding_keeps_the_connection() -> None:
    clock, link = ManualClock(), FakeLink()
    sup: Supervisor

    async def ding() -> None:
        link.dings += 1
        sup.feed()  # the dong arrives

    sup = Supervisor(link.connect, clock=clock, ding=ding, watchdog_timeout=60, ding_timeout=15)
    sup.start()
    await clock.advance(0)
    await clock.advance(200)
    assert link.dings >= 3 and link.connects == 1 and link.teardowns == 0
    await sup.stop()
