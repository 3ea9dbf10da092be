"""A flash group over real gRPC against the peer: created from a source
group's members, used (a schedule post reaches it) and dissolved (members
removed, never the owner or admin, and the bot quits)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from handlers.feature import as_result
from sop.entries import Entry
from sop.flash_groups import run_flash_group, tick
from sop.kinds import Run
from storage.flash_campaigns import FlashCampaigns
from tests.e2e.conftest import ADMIN, BOT, OWNER, ROOM, LiveBot

pytestmark = pytest.mark.e2e


async def test_a_flash_group_is_created_used_and_dissolved(live: LiveBot) -> None:
    app, peer = live.app, live.peer
    tz = ZoneInfo(app.config.bot.timezone)
    now = app.clock.now()
    local = now.astimezone(tz).replace(tzinfo=None, microsecond=0)
    fmt = "%Y-%m-%d %H:%M:%S"
    entry = Entry.model_validate(
        {
            "id": "flash-e2e",
            "kind": "flash_group",
            "at": local.strftime("%Y-%m-%d %H:%M"),
            "groups": [ROOM],
            "flash_group": {
                "topic": "端到端快闪群",
                "event_start": (local - timedelta(seconds=30)).strftime(fmt),
                "event_end": (local + timedelta(seconds=5)).strftime(fmt),
                "create_with": 3,
                "schedule": [{"offset_minutes": 0, "text": "{topic}：福利来啦"}],
                "dissolve_after_hours": 0,
            },
        }
    )
    run = Run(entry, "", now, now + timedelta(hours=1), (ROOM,))
    result = await run_flash_group(app.context_for_job(), run)
    assert result is not None
    await app.doer.do(result, "flash_groups", run.key)
    store = FlashCampaigns(app.services.sessions, account_id=app.repo.account_id)
    mark = peer.mark()

    async def step() -> str:
        at = app.clock.now()
        done = as_result(await tick(app.context_for_job(), at))
        if done is not None:
            await app.doer.do(done, "flash_groups", f"e2e-tick@{at.isoformat()}")
        c = await store.by_run(run.key)
        assert c is not None
        return c.status

    deadline = asyncio.get_running_loop().time() + 120
    while await step() not in ("done", "failed"):
        assert asyncio.get_running_loop().time() < deadline, "the campaign did not finish"
        await asyncio.sleep(0.5)
    assert await step() == "done"

    [created] = peer.calls_of("roomCreate", since=mark)
    room = created["result"]
    assert "@chatroom" in room
    texts = [c["args"][1] for c in peer.calls_of("messageSendText", since=mark)
             if c["args"][0] == room]  # fmt: skip
    assert any("端到端快闪群：福利来啦" in t for t in texts)  # used
    assert any("活动圆满结束" in t for t in texts)
    removed = [c["args"][1] for c in peer.calls_of("roomDel", since=mark)]
    assert removed == ["wxid_a"]  # never the owner or an admin
    await peer.wait_for_call("roomQuit", lambda c: c["args"][0] == room, since=mark)
    members = (await peer.state())["rooms"][room]["memberIds"]
    assert BOT not in members and set(members) == {OWNER, ADMIN}
