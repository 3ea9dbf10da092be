"""#广告 as a quote reply (引用): an admin marks a member's message an ad.

The sandbox delivers quotes in both forms a real gateway does: the text form
padlocal and wechat4u make (display name and text only) and the raw appmsg
XML (with the quoted sender's account id).  ROOM enforces at once.
"""

from __future__ import annotations

import pytest

from bot.transport.quotes import render_text_form
from bot.vocab.actions import RemoveMember, Say
from bot.vocab.events import Quote
from storage.moderation import ModerationStore
from tests.flow.expect import Has, Like
from tests.flow.harness import ACCOUNT, ADMIN, OWNER, ROOM, Harness
from tests.flow.test_moderation import _told_admins, mod  # noqa: F401  (the fixture)

# Not caught by the detector on its own: only an admin can tell it is an ad.
SOFT = "周末来我们店里坐坐，老顾客都知道"


def _store(bot: Harness) -> ModerationStore:
    return ModerationStore(bot.app.services.sessions, account_id=ACCOUNT)


async def _said(bot: Harness, member: str, text: str) -> str:
    """A member speaks and the activity log has written it (as it has long before
    an admin can long-press the message)."""
    message_id: str = await bot.puppet.member_says(ROOM, member, text)
    await bot.settle()
    await bot.clock.advance(1.0)
    await bot.settle()
    assert bot.actions.new() == []  # the detector let it pass
    return message_id


@pytest.mark.parametrize("form", ["text", "xml"])
async def test_an_admin_quoting_a_members_message_opens_a_case_warns_and_teaches(
    mod: Harness,  # noqa: F811
    form: str,
) -> None:
    quoted = await _said(mod, "wxid_a", SOFT)
    await mod.puppet.member_quotes(ROOM, ADMIN, quoted, "#广告", form=form)
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("已标记为广告")),
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("请勿", "群管引用标记为广告")),
        *_told_admins(1, "已警告", SOFT),
        in_order=False,
    )
    [case] = await _store(mod).cases(room_id=ROOM)
    assert (case.member_id, case.text, case.status) == ("wxid_a", SOFT, "confirmed")
    assert case.decided_by == ADMIN
    assert (SOFT, True) in await _store(mod).verdicts()


async def test_a_second_quoted_ad_removes_the_member_per_the_ladder(mod: Harness) -> None:  # noqa: F811
    first = await _said(mod, "wxid_a", SOFT)
    await mod.puppet.member_quotes(ROOM, ADMIN, first, "#广告")
    await mod.settle()
    mod.actions.new()
    second = await _said(mod, "wxid_a", "老地方见，新品到了，私聊我")
    await mod.puppet.member_quotes(ROOM, OWNER, second, "#广告")
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=(OWNER,), text=Has("已标记为广告")),
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("案件 2")),
        Like(RemoveMember, room=ROOM, member_id="wxid_a"),
        *_told_admins(2, "已移出群聊"),
        in_order=False,
    )
    assert "wxid_a" not in await mod.repo.current_members(ROOM)


async def test_quoting_a_message_the_bot_already_warned_only_confirms_its_case(
    mod: Harness,  # noqa: F811
) -> None:
    from tests.flow.test_moderation import AD

    quoted = await mod.puppet.member_says(ROOM, "wxid_a", AD)
    await mod.settle()
    await mod.clock.advance(1.0)
    await mod.settle()
    mod.actions.new()  # warned, case 1
    await mod.puppet.member_quotes(ROOM, ADMIN, quoted, "#广告")
    await mod.settle()
    mod.actions.expect(Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("已确认案件 1")))
    [case] = await _store(mod).cases(room_id=ROOM)
    assert case.status == "confirmed"
    assert (case.text, True) in await _store(mod).verdicts()


async def test_quoting_an_admins_message_is_refused(mod: Harness) -> None:  # noqa: F811
    quoted = await _said(mod, OWNER, "大家周末愉快")
    await mod.puppet.member_quotes(ROOM, ADMIN, quoted, "#广告")
    await mod.settle()
    mod.actions.expect(Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("不能对群主或群管")))
    assert await _store(mod).cases(room_id=ROOM) == []


async def test_a_members_quoted_ad_command_is_refused(mod: Harness) -> None:  # noqa: F811
    await mod.puppet.join(ROOM, ["wxid_b"], OWNER)
    await mod.settle()
    mod.actions.new()
    quoted = await _said(mod, "wxid_b", SOFT)
    await mod.puppet.member_quotes(ROOM, "wxid_a", quoted, "#广告")
    await mod.settle()
    mod.actions.expect(Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("只有群管")))
    assert await _store(mod).cases(room_id=ROOM) == []


async def test_a_quote_nobody_can_tell_the_sender_of_gets_a_polite_ask(
    mod: Harness,  # noqa: F811
) -> None:
    await mod.puppet.join(ROOM, ["wxid_b"], OWNER)
    await mod.settle()
    mod.actions.new()
    for member in ("wxid_a", "wxid_b"):  # the same words from two members
        await _said(mod, member, SOFT)
    # padlocal's text form with a name no member has: the text alone names two.
    quote = Quote(sender_name="改了名的人", text=SOFT)
    await mod.puppet.member_says(ROOM, ADMIN, render_text_form("#广告", quote))
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("无法确定", "#广告 案件号", "#踢"))
    )
    assert await _store(mod).cases(room_id=ROOM) == []


async def test_a_quoted_sender_is_told_by_a_unique_name_when_the_log_has_nothing(
    mod: Harness,  # noqa: F811
) -> None:
    quote = Quote(sender_name="阿甲", text="一条早已不在记录里的消息")
    await mod.puppet.member_says(ROOM, ADMIN, render_text_form("#广告", quote))
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("已标记为广告")),
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("请勿")),
        *_told_admins(1, "已警告"),
        in_order=False,
    )


async def test_ad_without_a_quote_or_a_number_answers_with_the_usage(
    mod: Harness,  # noqa: F811
) -> None:
    await mod.puppet.member_says(ROOM, ADMIN, "#广告")
    await mod.settle()
    mod.actions.expect(Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("用法", "引用")))


async def test_a_member_quoting_an_ad_the_group_saw_is_judged_on_the_reply_only(
    mod: Harness,  # noqa: F811
) -> None:
    from tests.flow.test_moderation import AD

    ad = await _said(mod, ADMIN, AD)  # an admin's text is never judged
    await mod.puppet.member_quotes(ROOM, "wxid_a", ad, "这是广告吧？")
    await mod.settle()
    mod.actions.nothing()


async def test_an_ad_inside_a_made_up_quote_is_judged_with_the_quote(
    mod: Harness,  # noqa: F811
) -> None:
    from tests.flow.test_moderation import AD

    # the text form typed by hand: a quote of a message the group never saw
    quote = Quote(sender_name="路人", text=AD)
    await mod.puppet.member_says(ROOM, "wxid_a", render_text_form("哈哈", quote))
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("请勿")),
        *_told_admins(1, "已警告", AD),
        in_order=False,
    )
