"""One member cannot drown the bot, over real gRPC against the Node peer (issue 6.5)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ADMIN, ROOM, LiveBot
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

FLOOD = 60


def replies_to(peer: NodePeer, member: str, since: int = 0) -> list[dict]:
    return [
        c
        for c in peer.calls_of("messageSendText", since)
        if c["args"][0] == ROOM and c["args"][2] == [member] and not c["error"]
    ]


async def test_a_flood_of_help_gets_one_reply_and_a_newcomer_is_still_welcomed(
    live: LiveBot,
) -> None:
    mark = live.peer.mark()
    for _ in range(FLOOD):
        await live.peer.cmd("say", sender="wxid_a", room=ROOM, text="#帮助")
    await live.peer.cmd("join", room=ROOM, members=[{"id": "wxid_n1", "name": "新人一"}])

    welcome = await live.peer.wait_for_call(
        "messageSendText", lambda c: c["args"][2] == ["wxid_n1"], timeout=30, since=mark
    )
    assert "@新人一" in welcome["args"][1]
    # A later command from someone else is answered after everything queued
    # before it (same priority, older first): once it is, the flood is done.
    await live.peer.cmd("say", sender=ADMIN, room=ROOM, text="#规则")
    await live.peer.wait_for_call(
        "messageSendText", lambda c: c["args"][2] == [ADMIN], timeout=30, since=mark
    )
    assert len(replies_to(live.peer, "wxid_a", mark)) == 1  # not 60
