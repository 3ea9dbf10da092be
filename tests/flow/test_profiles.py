"""A group's profile reaches the handlers: its commands section, its tags."""

from __future__ import annotations

from pathlib import Path

from tests.flow.harness import ROOM, ROOM2, Harness

# ROOM follows `super`, ROOM2 `member` (tests.flow.harness).
PROFILES = """
profiles:
  super:
    commands:
      disabled: [群规]          # any name turns the command off: 规则, 群规, rules
      no_rules: 无
  member:
    commands:
      unknown: 二群没有这个指令
"""


async def test_a_command_disabled_in_a_groups_profile_is_silent_there_only(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path, PROFILES)
    await bot.start()
    try:
        await bot.puppet.member_says(ROOM, "wxid_a", "#规则")
        await bot.puppet.member_says(ROOM2, "wxid_b", "#规则")
        await bot.settle()
        assert bot.sent(ROOM) == []  # turned off in the super group: ordinary chat
        (reply,) = bot.sent(ROOM2)
        assert "1. " in reply.args["message"]  # the member group's rules

        await bot.puppet.member_says(ROOM2, "wxid_b", "#签个到")
        await bot.settle()
        assert "二群没有这个指令" in bot.sent(ROOM2)[-1].args["message"]
    finally:
        await bot.stop()


async def test_handlers_see_the_groups_tags_and_profile(tmp_path: Path) -> None:
    bot = Harness(tmp_path)
    await bot.start()
    try:
        one, two = bot.app.policies.get(ROOM), bot.app.policies.get(ROOM2)
        assert one is not None and two is not None
        assert (one.profile, one.tags) == ("super", ("brandA", "上海"))
        assert (two.profile, two.tags) == ("member", ())
        assert (await bot.repo.get_group(ROOM)).profile == "super"  # stored by name
    finally:
        await bot.stop()
