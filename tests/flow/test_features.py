"""A feature is one module: the toy feature adds a command and a daily job.

The toy (tests/flow/toy_feature.py) is handed to the app in its feature
list; the dispatcher, the command router, the calendar and the config learn
of it from there.  Its section is off by default and on in the ``super``
profile here, so only ROOM (super) has it.
"""

from __future__ import annotations

from pathlib import Path

from bot.vocab.actions import Priority, Say
from bot.vocab.events import Event, MessageEvent
from bot.vocab.keys import action_key
from handlers.base import Context, Result
from handlers.feature import Feature, Stage
from handlers.features import FEATURES
from handlers.parsing import Command
from tests.flow.expect import Has, Like
from tests.flow.harness import ADMIN, ROOM, ROOM2, Harness
from tests.flow.toy_feature import toy

TOY_ON_IN_SUPER = """
profiles:
  super:
    toy: {enabled: true, morning: "早安，{group}"}
"""


def _toy_bot(tmp_path: Path) -> Harness:
    return Harness(tmp_path, TOY_ON_IN_SUPER, features=[*FEATURES, toy])


async def test_the_toy_command_answers_where_its_section_is_on(tmp_path: Path) -> None:
    bot = _toy_bot(tmp_path)
    await bot.start()
    bot.actions.new()  # what the start did is not this test's business
    await bot.puppet.member_says(ROOM, "wxid_a", "＃打卡")  # full-width prefix
    await bot.puppet.member_says(ROOM2, "wxid_b", "#daka")  # the toy is off there: chat
    await bot.settle()
    bot.actions.expect(
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("wxid_a 打卡成功")),
    )
    await bot.stop()


async def test_the_toy_job_posts_each_morning_once_and_not_again_after_a_restart(
    tmp_path: Path,
) -> None:
    bot = _toy_bot(tmp_path)
    await bot.start()  # 09:00 in Shanghai: what was due before the start is not run
    bot.actions.new()
    await bot.advance(24 * 3600)
    bot.actions.expect(Like(Say, room=ROOM, text="早安，测试一群"))
    await bot.stop()

    again = Harness(tmp_path, TOY_ON_IN_SUPER, clock=bot.clock, features=[*FEATURES, toy])
    await again.start()  # the same morning: its run is recorded, not repeated
    again.actions.new()
    await again.advance(3600)
    again.actions.nothing()
    await again.advance(23 * 3600)
    again.actions.expect(Like(Say, room=ROOM, text="早安，测试一群"))
    await again.stop()


async def test_without_the_toy_in_the_list_its_command_is_an_unknown_one(bot: Harness) -> None:
    bot.actions.new()
    await bot.puppet.member_says(ROOM, "wxid_a", "#打卡 今天")  # arguments: still answered
    await bot.settle()
    bot.actions.expect(Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("#帮助")))


# ------------------------------------------------------------ shadow mode

watch = Feature(
    "watch", stage=Stage.MODERATION, shadow=lambda policy, action, services: "brandA" in policy.tags
)


@watch.on(MessageEvent)
async def warn_ads(event: Event, ctx: Context) -> Result | None:
    assert isinstance(event, MessageEvent) and event.room_id is not None
    if "加微信" not in event.text:
        return None
    warning = Say(
        room=event.room_id,
        text="请勿发广告",
        mention_ids=(event.sender_id,),
        priority=Priority.MODERATION,
        reason="an ad",
        key=action_key("warn", event.room_id, event.message_id),
    )
    return Result([warning], stop=True)


async def test_a_feature_in_shadow_mode_is_audited_and_does_nothing(tmp_path: Path) -> None:
    others = [f for f in FEATURES if f.name != "moderation"]  # it would judge the ad first
    bot = Harness(tmp_path, features=[*others, watch])
    await bot.start()
    bot.actions.new()
    await bot.puppet.member_says(ROOM, "wxid_a", "加微信领红包")  # ROOM is tagged brandA
    await bot.puppet.member_says(ROOM2, "wxid_b", "加微信领红包")
    await bot.settle()
    bot.actions.expect(Like(Say, room=ROOM2, text="请勿发广告", mention_ids=("wxid_b",)))
    shadow = [a for a in await bot.repo.recent_audit(20) if a.status == "shadow"]
    assert [(a.room_id, a.reason) for a in shadow] == [(ROOM, "an ad")]
    await bot.stop()


# ------------------------------------------------------ admin-only commands

admin_toy = Feature("admin-toy", stage=Stage.COMMANDS)


@admin_toy.command("清点", "count", admin_only=True)
async def count(cmd: Command, ctx: Context) -> str:
    return f"清点：{len(cmd.mentions)} 人，参数「{cmd.args}」"


async def test_an_admin_command_answers_admins_and_politely_refuses_members(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path, features=[*FEATURES, admin_toy])
    await bot.start()
    bot.actions.new()
    await bot.puppet.member_says(ROOM, "wxid_a", "#清点")
    await bot.settle()
    await bot.puppet.member_says(ROOM, ADMIN, "#COUNT @阿甲\u2005 今天", mention_ids=["wxid_a"])
    await bot.settle()
    bot.actions.expect(
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("只有群管")),
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text="清点：1 人，参数「今天」"),
    )
    await bot.stop()
