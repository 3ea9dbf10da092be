"""The bot stays connected: the peer is killed and restarted, or frozen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOM, LiveBot, eventually
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e


@pytest.fixture
async def quick(peer: NodePeer, tmp_path: Path) -> AsyncIterator[LiveBot]:
    """A live bot whose watchdog gives up on a silent stream after ~5 s."""
    bot = LiveBot(peer, tmp_path, watchdog_timeout=3.0, ding_timeout=2.0)
    await bot.start()
    yield bot
    await bot.stop()


async def back_online(bot: LiveBot) -> None:
    """Reconnected and logged in again (messages sent while away are lost by the gateway)."""
    supervisor = bot.transport.supervisor
    assert supervisor is not None

    async def online() -> bool:
        return supervisor.reconnects >= 1 and bot.transport.logged_in.is_set()

    await eventually(online, within=40)


async def said_and_stored(bot: LiveBot, text: str, expected: int) -> None:
    await bot.peer.cmd("say", sender="wxid_a", room=ROOM, text=text)

    async def stored() -> bool:
        await bot.app.settle(send=False)
        return await bot.repo.count_activity(ROOM) == expected

    await eventually(stored, within=30)


async def test_the_peer_is_killed_and_restarted_and_the_bot_comes_back(quick: LiveBot) -> None:
    await said_and_stored(quick, "before", 1)
    await quick.peer.kill()
    await quick.peer.restart()
    await back_online(quick)
    await said_and_stored(quick, "after", 2)
    supervisor = quick.transport.supervisor
    assert supervisor is not None and supervisor.reconnects >= 1
    log = await quick.repo.status_report()
    assert "disconnect" in str(log) and "reconnect" in str(log)


async def test_a_frozen_peer_is_noticed_and_the_bot_recovers(quick: LiveBot) -> None:
    await said_and_stored(quick, "before", 1)
    quick.peer.freeze()
    supervisor = quick.transport.supervisor
    assert supervisor is not None

    async def noticed() -> bool:
        return supervisor.reconnects >= 1

    await eventually(noticed, within=30)  # watchdog 3 s + ding 2 s, then a teardown
    quick.peer.thaw()
    await back_online(quick)
    await said_and_stored(quick, "after", 2)
    # Reconnecting never logged the account out (defect 10: upstream calls Stop()).
    assert quick.peer.calls_of("stop") == [] and quick.peer.calls_of("logout") == []
    assert len(quick.peer.calls_of("start")) >= 2
