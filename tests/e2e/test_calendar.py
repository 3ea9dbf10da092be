"""The SOP calendar over real gRPC: a post reaches the groups its entry targets
and no others."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, BOT, OWNER, ROOM, LiveBot
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

ROOM2 = "r2@chatroom"
ROOM3 = "r3@chatroom"
CALENDAR = f"""
  {ROOM2}: {{name: 端到端二群, profile: member, tags: [早安]}}
  {ROOM3}: {{name: 端到端三群, profile: super}}
calendar:
  entries:
    - id: morning
      kind: post
      cron: "30 9 * * *"
      profiles: [member]
      post: {{text: "早安，{{group}}！"}}
"""


@pytest.fixture
async def three_rooms() -> AsyncIterator[NodePeer]:
    def room(room_id: str, topic: str) -> dict[str, object]:
        members = [BOT, OWNER, ADMIN, "wxid_a"]
        return {
            "id": room_id,
            "topic": topic,
            "memberIds": members,
            "ownerId": OWNER,
            "adminIds": [BOT],
        }

    async with NodePeer() as node:
        await node.cmd(
            "setup",
            user={"id": BOT, "name": "群管家"},
            contacts=[
                {"id": OWNER, "name": "群主"},
                {"id": ADMIN, "name": "管理员"},
                {"id": "wxid_a", "name": "阿甲"},
            ],
            rooms=[room(ROOM, "端到端一群"), room(ROOM2, "端到端二群"), room(ROOM3, "端到端三群")],
        )
        await node.cmd("login")
        yield node


async def test_a_morning_post_reaches_the_member_groups_and_no_other(
    three_rooms: NodePeer, tmp_path: Path
) -> None:
    bot = LiveBot(three_rooms, tmp_path, CALENDAR)
    await bot.start()
    try:
        mark = three_rooms.mark()
        assert await bot.app.sop.run_now("morning") == 2
        await bot.app.settle()
        posts = [
            (c["args"][0], c["args"][1]) for c in three_rooms.calls_of("messageSendText", mark)
        ]
        assert sorted(posts) == [(ROOM, "早安，端到端一群！"), (ROOM2, "早安，端到端二群！")]
    finally:
        await bot.stop()
