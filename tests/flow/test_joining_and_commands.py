"""Joining groups, member commands and the executor's safety switches."""

from __future__ import annotations

from bot.vocab.actions import ActionKind
from tests.flow.harness import BOT, OWNER, ROOM, Harness


async def test_an_owner_invites_the_bot_it_accepts_and_introduces_itself(bot: Harness) -> None:
    invitation = await bot.puppet.invite_bot(OWNER, "r9@chatroom", "新品快闪群", [OWNER, "wxid_a"])
    await bot.settle()
    await bot.settle()  # the accept makes the puppet emit the bot's own join

    accepts = bot.puppet.calls_to("room_invitation_accept")
    assert [c.args["room_invitation_id"] for c in accepts] == [invitation]
    intro = bot.sent("r9@chatroom")
    assert len(intro) == 1 and "群管家" in intro[0].args["message"]
    group = await bot.repo.get_group("r9@chatroom")
    assert group is not None and group.profile == "member"
    # the members already there are known, and are not treated as newcomers
    assert await bot.repo.current_members("r9@chatroom") == {OWNER, "wxid_a"}
    assert (await bot.repo.get_membership("r9@chatroom", "wxid_a")).welcomed_at is None  # type: ignore[union-attr]
    # the new group is managed from now on
    await bot.puppet.member_says("r9@chatroom", "wxid_a", "#帮助")
    await bot.settle()
    assert len(bot.sent("r9@chatroom")) == 2


async def test_an_invitation_from_a_stranger_is_not_accepted(bot: Harness) -> None:
    invitation = await bot.puppet.invite_bot(
        "wxid_stranger", "r7@chatroom", "陌生群", ["wxid_stranger"]
    )
    await bot.settle()
    assert bot.puppet.calls_to("room_invitation_accept") == []
    audit = await bot.repo.recent_audit(5)
    assert [(a.status, a.key, a.target_id) for a in audit] == [
        ("refused", f"invite:{invitation}", "wxid_stranger")
    ]


async def test_help_and_rules_answer_the_asker(bot: Harness) -> None:
    await bot.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await bot.puppet.member_says(ROOM, "wxid_a", "  #规则 ")
    await bot.settle()
    help_reply, rules_reply = bot.sent(ROOM)
    assert list(help_reply.args["mention_ids"]) == ["wxid_a"]
    assert "#规则" in help_reply.args["message"]
    assert rules_reply.args["message"].startswith("@阿甲")
    assert "1. " in rules_reply.args["message"] and "2. " in rules_reply.args["message"]


async def test_chat_that_merely_starts_with_the_prefix_is_not_a_command(bot: Harness) -> None:
    await bot.puppet.member_says(ROOM, "wxid_a", "#今日话题# 大家周末都去哪玩了")
    await bot.puppet.member_says(ROOM, "wxid_a", "#拼车")
    await bot.settle()
    replies = bot.sent(ROOM)
    assert len(replies) == 1  # only the short unknown command gets a hint
    assert "#帮助" in replies[0].args["message"]


async def test_a_message_pause_alerts_the_owners_without_messaging_them(bot: Harness) -> None:
    bot.puppet.fail_next("message_send_text", 1, "操作过于频繁")
    await bot.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await bot.settle()
    # The failed reply paused messages: the owners hear of it by alert, and
    # no notice is even tried through the paused account.
    assert bot.sent() == []
    audit = await bot.repo.recent_audit(10)
    assert [(a.action, a.status) for a in audit] == [("say", "failed")]
    alerts = bot.app.executor._alerter.sent  # type: ignore[attr-defined]
    assert [a.kind for a in alerts] == ["pause_opened"]
    assert "「发消息」" in alerts[0].what and "qunbot pause clear message" in alerts[0].owner_can
    assert "Traceback" not in alerts[0].text() and " at " not in alerts[0].what
    assert bot.app.executor.governor.is_open(ActionKind.MESSAGE, bot.clock.monotonic())

    await bot.puppet.member_says(ROOM, "wxid_a", "#规则")
    await bot.settle()
    assert bot.sent() == []  # still paused
    await bot.clock.advance(24 * 3600 + 1)
    await bot.puppet.member_says(ROOM, "wxid_a", "#规则")
    await bot.settle()
    assert len(bot.sent(ROOM)) == 1  # the breaker closed after 24 h
    assert BOT not in {c.args.get("conversation_id") for c in bot.sent()}


async def test_failed_removals_open_the_breaker_until_it_closes(bot: Harness) -> None:
    from bot.vocab.actions import RemoveMember

    bot.puppet.fail_next("room_delete", 1, "操作过于频繁")
    await bot.app.executor.submit([RemoveMember(room=ROOM, member_id="wxid_a", reason="test")])
    await bot.settle()
    # the owner is told, in a direct message
    notices = [c for c in bot.sent() if c.args["conversation_id"] == OWNER]
    assert len(notices) == 1 and "暂停" in notices[0].args["message"]
    assert "移出群成员" in notices[0].args["message"]

    # no further removal is attempted while the breaker is open
    await bot.clock.advance(3600)
    await bot.app.executor.submit([RemoveMember(room=ROOM, member_id="wxid_a", reason="again")])
    await bot.settle()
    assert len(bot.puppet.calls_to("room_delete")) == 1
    refused = [a for a in await bot.repo.recent_audit(10) if a.status == "refused"]
    assert [a.action for a in refused] == ["remove_member"]

    # 24 h after the error it closes, and removals work again
    await bot.clock.advance(23 * 3600)
    await bot.app.executor.submit([RemoveMember(room=ROOM, member_id="wxid_a", reason="later")])
    await bot.settle()
    deletes = bot.puppet.calls_to("room_delete")
    assert len(deletes) == 2 and deletes[-1].error is None
    assert "wxid_a" not in await bot.puppet.room_members(ROOM)
