"""Check-in over real gRPC against the peer: a member checks in on two days and
sees the streak.

The LiveBot runs on the system clock, so the second day is a message the puppet
dates 24 hours later (the peer's ``say`` takes a ``timestamp``): the day of a
check-in is the day the member sent it, in the group's time zone, and the
reply is valid from then on.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOM, LiveBot
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

IMMEDIATE = """
profiles:
  member: {engagement: {checkin: {fold_seconds: 0}}}
"""


@pytest.fixture
async def checking_in(peer: NodePeer, tmp_path: Path) -> AsyncIterator[LiveBot]:
    bot = LiveBot(peer, tmp_path, IMMEDIATE)
    await bot.start()
    yield bot
    await bot.stop()


async def test_a_member_checks_in_on_two_days_and_sees_the_streak(checking_in: LiveBot) -> None:
    peer = checking_in.peer
    replies = []
    for days_later in (0, 1):
        mark = peer.mark()
        when = int((time.time() + days_later * 86400) * 1000)
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#签到", timestamp=when)
        reply = await peer.wait_for_call(
            "messageSendText", lambda c: c["args"][0] == ROOM, timeout=30, since=mark
        )
        assert reply["args"][2] == ["wxid_a"]
        replies.append(reply["args"][1])
    assert "已连续签到 1 天，获得 10 积分" in replies[0]
    assert "已连续签到 2 天，获得 12 积分（共 22 分）" in replies[1]
