"""The sandbox console, driven with scripted lines against the whole app (flow harness)."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli import _forget_other_worlds
from bot.console import Console, stdin_lines
from bot.sandbox_clock import OffsetClock, parse_duration
from tests.flow.harness import OWNER, ROOM, Harness


async def session(tmp_path: Path, extra_yaml: str = "") -> tuple[Harness, Console, io.StringIO]:
    bot = Harness(tmp_path, extra_yaml)
    await bot.start()
    out = io.StringIO()
    console = Console(bot.app, bot.puppet, bot.world, out)
    await console.show_audit()  # what was there before is history
    return bot, console, out


async def lines_of(bot: Harness, console: Console, out: io.StringIO, *lines: str) -> list[str]:
    start = len(out.getvalue())
    for line in lines:
        assert await console.execute(line)
        await bot.settle()
        await console.show_audit()
    return out.getvalue()[start:].splitlines()


async def test_members_after_a_failed_invite_answers_in_one_line(tmp_path: Path) -> None:
    bot, console, out = await session(tmp_path)
    try:
        shown = await lines_of(
            bot, console, out, "invite nobody 3@chatroom 新群", "group 3@chatroom", "members"
        )
        assert shown == [
            "! no member called 'nobody'; try 'members'",
            "! no group '3@chatroom'; try 'groups'",
            "  wxid_owner  群主 (owner)",
            "  wxid_admin  管理员",
            "  wxid_a  阿甲",
            "  wxid_bot  群管家 (admin)",
        ]
    finally:
        await bot.stop()


async def test_every_bad_line_gets_one_clear_line(tmp_path: Path) -> None:
    bot, console, out = await session(tmp_path)
    try:
        bad = [
            "say",
            "image wxid_a x",
            "join ,",
            "wait soon",
            "time +soon",
            "frobnicate",
            "card 阿甲",
        ]
        shown = await lines_of(bot, console, out, *bad)
        assert len(shown) == len(bad), shown
        assert all(line.startswith("! ") for line in shown), shown
        text = "\n".join(shown)
        for leak in ("Traceback", "list index out of range", "invalid literal", "IndexError"):
            assert leak not in text
        assert "wxid_" not in {c.args.get("contact_id") for c in bot.puppet.calls}
        assert "" not in {m.name for m in bot.world.members}
        assert all(name for name in console.names.values())
    finally:
        await bot.stop()


async def test_say_keeps_apostrophes_and_the_rest_of_the_line_raw(tmp_path: Path) -> None:
    bot, console, out = await session(tmp_path)
    try:
        await lines_of(bot, console, out, 'say 阿甲 it\'s me,   "really"', 'say "阿甲" hi')
        texts = [m.text for m in (bot.puppet.message_state(i) for i in list(bot.puppet._messages))]
        assert 'it\'s me,   "really"' in texts and "hi" in texts
    finally:
        await bot.stop()


async def test_a_refused_invitation_is_shown(tmp_path: Path) -> None:
    bot, console, out = await session(tmp_path)
    try:
        shown = await lines_of(bot, console, out, "invite wxid_a 3@chatroom 新群")
        assert len(shown) == 1 and "⛔ refused: accept_room_invitation 阿甲 «新群»" in shown[0]
    finally:
        await bot.stop()


async def test_dry_run_actions_are_shown_and_say_nothing_was_sent(tmp_path: Path) -> None:
    bot, console, out = await session(tmp_path, "governor: {dry_run: true}\n")
    try:
        shown = await lines_of(bot, console, out, "say 阿甲 #规则")
        assert any("🧪 dry run (not sent): say [测试一群]" in line for line in shown), shown
        assert not bot.sent(ROOM)
    finally:
        await bot.stop()


async def test_printed_actions_carry_the_sandbox_time(tmp_path: Path) -> None:
    bot, console, out = await session(tmp_path)
    try:
        shown = await lines_of(bot, console, out, "say 阿甲 #帮助")
        stamp = console.stamp(bot.clock.now())[:-3]  # to the minute
        assert shown[0].startswith(stamp) and "🤖 [测试一群] " in shown[0], shown
        assert "群管家，为「测试一群」服务" in out.getvalue()  # not "群管家 … 的群管家"
    finally:
        await bot.stop()


async def test_time_jump_sends_the_newcomer_reminder_now(tmp_path: Path) -> None:
    bot, console, out = await session(tmp_path)
    try:
        await lines_of(bot, console, out, "join 新人 by wxid_admin")
        await bot.advance(15)  # the welcome window
        assert len(bot.sent(ROOM)) == 1
        shown = await lines_of(bot, console, out, "time +25h")
        assert shown[-1].startswith("sandbox time: ")
        reminder = bot.sent(ROOM)[-1]
        assert len(bot.sent(ROOM)) == 2 and "自我介绍" in reminder.args["message"]
    finally:
        await bot.stop()


async def test_links_cards_and_mini_programs_are_logged_with_what_identifies_them(
    tmp_path: Path,
) -> None:
    bot, console, out = await session(tmp_path)
    try:
        await lines_of(
            bot, console, out,
            "link 阿甲 https://example.com/x 限时 优惠", "card 阿甲 wxid_stranger", "mini 阿甲 拼团",
        )  # fmt: skip
        await bot.app.settle()  # handled, and the activity log flushed
        texts = [row.text for row in await bot.repo.recent_activity(ROOM, 10)]
        assert "限时 优惠 https://example.com/x" in texts
        assert any("wxid_stranger" in t for t in texts)
        assert any("appid=wx_sandbox" in t for t in texts)
    finally:
        await bot.stop()


async def test_a_restart_forgets_groups_the_previous_world_had(tmp_path: Path) -> None:
    bot, console, out = await session(tmp_path)
    try:
        await lines_of(bot, console, out, f"invite {OWNER} 3@chatroom 新群")
        assert "3@chatroom" in {g.room_id for g in await bot.repo.active_groups()}
        await _forget_other_worlds(bot.app, bot.world)
        assert "3@chatroom" not in {g.room_id for g in await bot.repo.active_groups()}
    finally:
        await bot.stop()


async def test_ctrl_c_quits_while_waiting_for_a_line(tmp_path: Path) -> None:
    bot, console, _ = await session(tmp_path)

    async def forever() -> AsyncIterator[str]:
        yield "wait 3000"  # a long command is interrupted too
        await asyncio.Event().wait()
        yield ""

    try:
        running = asyncio.ensure_future(console.run(forever(), poll_seconds=3600))
        await asyncio.sleep(0)
        console.interrupt()
        await asyncio.wait_for(running, 5)
    finally:
        await bot.stop()


async def test_stdin_lines_end_at_eof_and_keep_utf8(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.write(write, "say 阿甲 你好\r\nquit".encode())
    os.close(write)
    got = [line async for line in stdin_lines(read)]
    os.close(read)
    assert got == ["say 阿甲 你好", "quit"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("+24h", 86400), ("+30m", 1800), ("90s", 90), ("+1h30m", 5400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


async def test_the_offset_clock_wakes_sleepers_when_moved() -> None:
    clock = OffsetClock()
    before = clock.now()
    sleeper = asyncio.ensure_future(clock.sleep(3600))
    await asyncio.sleep(0)
    clock.advance(3601)
    await asyncio.wait_for(sleeper, 5)
    assert (clock.now() - before).total_seconds() >= 3601
    with pytest.raises(ValueError):
        clock.advance(-1)
