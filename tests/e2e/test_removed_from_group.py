"""The bot notices it was removed from a group (issue 6.10), against the peer.

The owner removes the bot: the owners get an alert (a local webhook); later
messages there get no reply and the group's member list is not read again,
not even at a replayed login or a reconciliation run.  Invited back by an
owner, the bot answers there again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, BOT, OWNER, ROOM
from tests.e2e.operator import InProcessBot, WebhookSink
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

ROOM2 = "r2@chatroom"


@pytest.fixture
async def sink() -> AsyncIterator[WebhookSink]:
    hook = WebhookSink()
    await hook.start()
    yield hook
    await hook.stop()


def member_list_reads(peer: NodePeer, room: str, since: int = 0) -> int:
    return sum(1 for c in peer.calls_of("roomMemberList", since) if c["args"][0] == room)


async def test_removed_the_bot_alerts_the_owners_goes_quiet_there_and_resumes_when_invited_back(
    peer: NodePeer, tmp_path: Path, sink: WebhookSink
) -> None:
    await peer.cmd(
        "setup",
        user={"id": BOT, "name": "群管家"},
        rooms=[
            {
                "id": ROOM2,
                "topic": "端到端二群",
                "memberIds": [BOT, OWNER, "wxid_a"],
                "ownerId": OWNER,
            }
        ],
    )
    bot = InProcessBot(
        peer,
        tmp_path,
        f"""
        transport: {{kind: wechaty}}
        owners: [{OWNER}]
        admins: [{ADMIN}]
        groups:
          {ROOM}: {{name: 端到端一群, tier: member, welcome: {{window_seconds: 1}}}}
          {ROOM2}: {{name: 端到端二群, tier: member, welcome: {{window_seconds: 1}}}}
        alerts: {{webhooks: [{{format: json, url: '{sink.url}'}}]}}
        governor: {{switch_delay_min: 0, switch_delay_max: 0.5, room_gap_s: 1}}
        """,
    )
    await bot.start()
    try:
        assert member_list_reads(peer, ROOM) == 1  # read once at login
        await peer.cmd("leave", room=ROOM, members=[BOT], remover=OWNER)
        (alert,) = await sink.wait_for(1)
        assert alert["kind"] == "removed_from_group"
        assert ROOM in alert["where"] and "端到端一群" in alert["where"]
        assert "移出" in alert["text"]

        mark = peer.mark()
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#帮助")
        await peer.cmd("join", room=ROOM, members=[{"id": "wxid_n1", "name": "新人一"}])
        await peer.cmd("replay", event="login")  # a replayed login refreshes stale lists
        assert await bot.app.presence.reconcile() == 0  # the periodic check reads nothing there
        await peer.cmd("say", sender="wxid_a", room=ROOM2, text="#帮助")
        await peer.wait_for_call(
            "messageSendText", lambda c: c["args"][0] == ROOM2, timeout=20, since=mark
        )
        await bot.app.settle()
        tried = [c for c in peer.calls_of("messageSendText", mark) if c["args"][0] == ROOM]
        assert tried == []  # no reply, no welcome there: not even tried
        assert member_list_reads(peer, ROOM, mark) == 0
        assert len(sink.posts) == 1  # one alert for one removal

        await peer.cmd("room_invite", inviter=OWNER, room={"id": ROOM, "topic": "端到端一群"})
        await peer.wait_for_call("roomInvitationAccept", timeout=20, since=mark)
        await peer.wait_for_call(
            "roomMemberList", lambda c: c["args"][0] == ROOM, timeout=20, since=mark
        )
        back = peer.mark()
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#规则")
        reply = await peer.wait_for_call(  # (after the bot's hello to the group)
            "messageSendText",
            lambda c: c["args"][0] == ROOM and c["args"][2] == ["wxid_a"],
            timeout=30,
            since=back,
        )
        assert reply["error"] is None and "1. " in reply["args"][1]
    finally:
        await bot.stop()
