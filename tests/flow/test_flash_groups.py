"""A flash group's whole life on the sandbox: created before the event with
the source groups' members, welcomed, its schedule posted, thanked, its
members removed (never an owner or admin) and left; a restart mid-way
resumes at the right step and does nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.alerts import AlertKind
from sop.entries import Entry
from sop.flash_groups import run_flash_group
from sop.kinds import Run
from storage.flash_campaigns import FlashCampaigns
from tests.flow.harness import ADMIN, BOT, OWNER, ROOM, ROOM2, Harness

SH = ZoneInfo("Asia/Shanghai")


def _entry(start: datetime, **extra: Any) -> Entry:
    fmt = "%Y-%m-%d %H:%M"
    return Entry.model_validate(
        {
            "id": "flash1",
            "kind": "flash_group",
            "at": start.strftime(fmt),
            "groups": [ROOM, ROOM2],
            "flash_group": {
                "topic": "双十二快闪群",
                "event_start": start.strftime(fmt),
                "event_end": (start + timedelta(hours=1)).strftime(fmt),
                "create_days_before": 0.01,  # ~14 minutes before
                "schedule": [{"offset_minutes": 10, "text": "{topic} 福利第一波开始啦"}],
                "dissolve_after_hours": 0.5,
                **extra,
            },
        }
    )


async def _start_campaign(bot: Harness, **extra: Any) -> Run:
    """What the calendar runtime will do when the entry fires (called by hand
    until it exists): the kind's runner, then the doer."""
    local_now = bot.clock.now().astimezone(SH).replace(tzinfo=None, second=0, microsecond=0)
    entry = _entry(local_now + timedelta(minutes=30), **extra)
    now = bot.clock.now()
    run = Run(entry, "", now, now + timedelta(hours=1), (ROOM, ROOM2))
    result = await run_flash_group(bot.app.context_for_job(), run)
    assert result is not None
    await bot.app.doer.do(result, "flash_groups", run.key)
    return run


def _calls(bot: Harness, method: str) -> list[Any]:
    return [c for c in bot.puppet.calls if c.method == method and c.ok]


def _room_texts(bot: Harness, room: str) -> list[str]:
    return [c.args["message"] for c in bot.sent(room)]


async def _campaign(bot: Harness) -> Any:
    store = FlashCampaigns(bot.app.services.sessions, account_id=bot.repo.account_id)
    [c] = await store.active() or [await store.get(1)]
    return c


async def test_a_flash_group_is_created_used_thanked_and_dissolved(tmp_path: Path) -> None:
    bot = Harness(tmp_path)
    await bot.start()
    await _start_campaign(bot)
    await bot.advance(10 * 60)
    assert _calls(bot, "room_create") == []  # not before its time

    await bot.advance(10 * 60)
    [created] = _calls(bot, "room_create")
    room = created.result
    assert "@chatroom" in room and created.args["topic"] == "双十二快闪群"
    await bot.advance(5 * 60)
    state = bot.puppet.room_state(room)
    # Everyone from both source groups is in: two at creation, the rest invited.
    assert set(state.member_ids) == {BOT, OWNER, ADMIN, "wxid_a", "wxid_b"}
    assert bot.app.policies.get(room) is not None
    assert bot.app.policies.get(room).profile == "flash"  # managed as a flash group
    assert any("欢迎来到「双十二快闪群」" in t for t in _room_texts(bot, room))

    await bot.advance(20 * 60)  # 10 minutes after the start
    assert any("双十二快闪群 福利第一波开始啦" in t for t in _room_texts(bot, room))

    await bot.advance(60 * 60)  # past the end
    assert any("活动圆满结束" in t for t in _room_texts(bot, room))
    assert BOT in bot.puppet.room_state(room).member_ids

    await bot.advance(60 * 60)  # past dissolve_after_hours, removals paced 10-30 s
    state = bot.puppet.room_state(room)
    assert BOT not in state.member_ids  # the bot quit
    assert set(state.member_ids) == {OWNER, ADMIN}  # never an owner or an admin
    removed = {c.args["contact_id"] for c in _calls(bot, "room_delete")}
    assert removed == {"wxid_a", "wxid_b"}
    assert len(_calls(bot, "room_quit")) == 1
    # Leaving on purpose is no news for the owners (a removal would be).
    assert not [a for a in bot.app.alerter.sent if a.kind is AlertKind.REMOVED_FROM_GROUP]
    c = await _campaign(bot)
    assert c.status == "done"
    audit = [r.action for r in await bot.repo.recent_audit(limit=500)]
    for step in ("flash_planned", "flash_create", "flash_room", "flash_thanks", "flash_done"):
        assert step in audit
    await bot.stop()


async def test_friend_requests_are_skipped_and_said_so_when_friends_are_unknown(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path)
    await bot.start()
    await _start_campaign(bot, add_friends=True)
    await bot.advance(2 * 3600)
    assert _calls(bot, "friendship_add") == []
    rows = [r for r in await bot.repo.recent_audit(limit=500) if r.action == "flash_friends"]
    assert [r.status for r in rows] == ["skipped"]
    assert "friend list is not stored" in rows[0].reason
    await bot.stop()


async def test_friend_requests_go_to_members_who_are_not_friends(tmp_path: Path) -> None:
    bot = Harness(tmp_path)
    bot.app.services.shared["flash_groups.friends"] = {"wxid_a"}
    await bot.start()
    await _start_campaign(bot, add_friends=True)
    await bot.advance(2 * 3600)
    asked = [c.args["contact_id"] for c in _calls(bot, "friendship_add")]
    assert asked == ["wxid_b"]  # wxid_a is a friend; owners and admins are never asked
    await bot.stop()


async def test_a_restart_mid_campaign_resumes_without_doing_anything_twice(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path)
    await bot.start()
    await _start_campaign(bot)
    await bot.advance(25 * 60)  # created, welcomed, invited
    [created] = _calls(bot, "room_create")
    room = created.result
    world = bot.puppet
    await bot.crash()

    again = Harness(tmp_path, clock=bot.clock)
    again.puppet = world  # the same WeChat: the group created before the crash exists
    again.transport._puppet = world
    await again.start()
    await again.advance(3 * 3600)
    calls = world.calls
    assert len([c for c in calls if c.method == "room_create" and c.ok]) == 1
    texts = [
        c.args["message"]
        for c in calls
        if c.method == "message_send_text" and c.ok and c.args["conversation_id"] == room
    ]
    assert sum("活动时间" in t for t in texts) == 1  # the campaign's own welcome
    assert sum("福利第一波" in t for t in texts) == 1
    assert sum("活动圆满结束" in t for t in texts) == 1
    assert len([c for c in calls if c.method == "room_quit" and c.ok]) == 1
    assert BOT not in world.room_state(room).member_ids
    await again.stop()
