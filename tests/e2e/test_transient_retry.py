"""A transient send failure is retried (issue 6.7), over real gRPC against the peer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ROOM, LiveBot
from tests.e2e.operator import replies
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e


async def test_a_connection_reset_on_a_reply_is_retried_and_the_member_gets_exactly_one_reply(
    peer: NodePeer, tmp_path: Path
) -> None:
    bot = LiveBot(peer, tmp_path, "governor: {retry_backoff_s: [1]}\n")
    await bot.start()
    try:
        await peer.cmd("fail", method="messageSendText", times=1, error="read ECONNRESET")
        mark = peer.mark()
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#规则")

        reply = await peer.wait_for_call(
            "messageSendText", lambda c: c["error"] is None, timeout=30, since=mark
        )
        await bot.app.settle()
        tries = [c["error"] for c in peer.calls_of("messageSendText", mark)]
        assert tries == ["read ECONNRESET", None]  # refused once, then sent
        assert [c["args"][2] for c in replies(peer, ROOM, mark)] == [["wxid_a"]]
        assert "1. " in reply["args"][1]  # the rules, once
    finally:
        await bot.stop()
