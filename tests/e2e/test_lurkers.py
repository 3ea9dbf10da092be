"""Lurkers over real gRPC against the peer: three silent members are warned, and
after the grace and an admin's #确认清理 they are told and removed one by one,
paced by the governor.

The 30 silent days and the 48-hour grace cannot pass on the system clock: the
test moves the stored join times and the warnings' grace back instead.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from storage.models import LurkerWarning, Membership
from tests.e2e.conftest import ADMIN, ROOM, STRANGER, LiveBot
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

LURKERS = """
commands: {reply_valid_seconds: 3600}
governor: {remove_gap_min: 1, remove_gap_max: 2}
profiles:
  member:
    welcome: {enabled: false}
    lurkers: {mode: warn_then_remove, silent_days: 30, grace_hours: 48}
"""
THREE = ["wxid_a", "wxid_b", STRANGER]


@pytest.fixture
async def bot(peer: NodePeer, tmp_path: Path) -> AsyncIterator[LiveBot]:
    live = LiveBot(peer, tmp_path, LURKERS)
    await live.start()
    await peer.cmd("join", room=ROOM, members=["wxid_b", STRANGER], inviter=ADMIN)
    yield live
    await live.stop()


async def test_a_batch_of_three_lurkers_is_removed_paced(bot: LiveBot) -> None:
    peer = bot.peer
    sessions = bot.app.services.sessions
    now = bot.app.clock.now()

    async def present() -> bool:
        return set(THREE) <= await bot.repo.current_members(ROOM)

    for _ in range(200):
        if await present():
            break
        await asyncio.sleep(0.05)
    async with sessions.begin() as session:
        await session.execute(
            update(Membership)
            .where(Membership.room_id == ROOM)
            .values(joined_at=now - timedelta(days=40))
        )

    mark = peer.mark()
    await peer.cmd("say", sender=ADMIN, room=ROOM, text="#潜水检查")
    warning = await peer.wait_for_call(
        "messageSendText", lambda c: "【冒泡提醒】" in c["args"][1], timeout=30, since=mark
    )
    assert sorted(warning["args"][2]) == sorted(THREE)

    async with sessions.begin() as session:  # the grace is over
        await session.execute(
            update(LurkerWarning)
            .where(LurkerWarning.room_id == ROOM)
            .values(warned_at=now - timedelta(hours=49), due_at=now - timedelta(hours=1))
        )
    mark = peer.mark()
    await bot.app.calendar.run_job("lurkers.tick")
    await bot.app.settle(send=False)
    listed = await peer.wait_for_call(
        "messageSendText", lambda c: "潜水清理名单 #1" in c["args"][1], timeout=30, since=mark
    )
    assert listed["args"][0] == ADMIN

    mark = peer.mark()
    loop = asyncio.get_running_loop()
    await peer.cmd("say", sender=ADMIN, room=ROOM, text="#确认清理 1")
    removed, times = [], []
    for _ in THREE:
        call = await peer.wait_for_call(
            "roomDel",
            lambda c: c["args"][1] not in removed,
            timeout=60,
            since=mark,
        )
        removed.append(call["args"][1])
        times.append(loop.time())
    assert sorted(removed) == sorted(THREE)
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times))  # remove_gap_min: 1 s
    goodbye = [
        c
        for c in peer.calls_of("messageSendText", mark)
        if c["args"][0] == ROOM and "恢复" in c["args"][1]
    ]
    assert goodbye and sorted(goodbye[0]["args"][2]) == sorted(THREE)
    first_removal = next(c for c in peer.calls[mark:] if c["method"] == "roomDel")
    assert peer.calls.index(goodbye[0]) < peer.calls.index(first_removal)  # told first
