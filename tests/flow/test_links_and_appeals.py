"""Link approval (#报备) and appeals (#申诉, #驳回, #申诉列表), through the whole app.

The ad check itself is the core's; it asks ``LinkApprovals.approved``, which
these tests call directly after the admins' answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.vocab.actions import Say
from handlers.features import FEATURES
from handlers.moderation import appeals, links
from storage.links import LinkApprovals
from storage.moderation import ModerationStore, NewCase
from tests.flow.harness import ACCOUNT, ADMIN, OWNER, ROOM, ROOM2, Harness

# The harness lets time pass while the executor works: on a busy machine a
# two-minute reply window can close before the paced messages ahead are out.
PATIENT = "commands: {reply_valid_seconds: 3600}\n"
REFUSED = "这个指令只有群管可以使用"
MINE = [f for f in (links.feature, appeals.feature) if f not in FEATURES]


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path, PATIENT, features=[*FEATURES, *MINE])
    await harness.start()
    harness.actions.new()
    yield harness
    await harness.stop()


def said(bot: Harness) -> dict[str, list[str]]:
    """What the bot said since the last look, by where (a room, or a contact privately)."""
    out: dict[str, list[str]] = defaultdict(list)
    for action, status in bot.actions.new():
        assert isinstance(action, Say) and status == "done", (action, status)
        where = action.room or action.to_contact
        assert where is not None
        mention = "".join(f"@{m} " for m in action.mention_ids)
        out[where].append(mention + action.text)
    return dict(out)


def approvals(bot: Harness) -> LinkApprovals:
    return LinkApprovals(bot.app.services.sessions, account_id=ACCOUNT)


def moderation(bot: Harness) -> ModerationStore:
    return ModerationStore(bot.app.services.sessions, account_id=ACCOUNT)


# ---------------------------------------------------------------- 报备


async def test_a_link_request_asks_every_admin_privately_with_its_number(bot: Harness) -> None:
    await bot.puppet.member_says(ROOM, "wxid_a", "#报备 https://shop.example.com/spring")
    await bot.settle()
    [request] = await approvals(bot).requests()
    messages = said(bot)
    assert messages[ROOM] == [
        f"@wxid_a 已提交报备（编号 {request.id}），管理员同意后即可在本群发送这个链接。"
    ]
    for admin in (OWNER, ADMIN):
        [ask] = messages[admin]
        assert "【测试一群】阿甲（wxid_a）申请报备链接" in ask
        assert "https://shop.example.com/spring" in ask and f"#同意报备 {request.id}" in ask
    assert set(messages) == {ROOM, OWNER, ADMIN}
    audit = [a for a in await bot.repo.recent_audit(20) if a.action == "link_request"]
    assert [(a.room_id, a.target_id, a.status) for a in audit] == [(ROOM, "wxid_a", "recorded")]


async def test_an_approved_link_may_be_posted_in_that_group_for_its_hours(bot: Harness) -> None:
    url = "https://shop.example.com/spring"
    await bot.puppet.member_says(ROOM, "wxid_a", f"#报备 {url}")
    await bot.settle()
    [request] = await approvals(bot).requests()
    said(bot)
    await bot.puppet.direct_message(ADMIN, f"#同意报备 {request.id}")  # privately
    await bot.settle()
    messages = said(bot)
    assert messages[ROOM] == [
        f"@wxid_a 你报备的链接（编号 {request.id}）已通过：{url}，24 小时内可在本群发送。"
    ]
    assert messages[ADMIN] == [
        f"已同意报备 {request.id}（阿甲（wxid_a））：{url}，24 小时内可在「测试一群」发送。"
    ]
    now = bot.clock.now()
    assert await approvals(bot).approved(ROOM, "shop.example.com/spring", now)
    assert not await approvals(bot).approved(ROOM2, url, now)  # only where it was asked
    assert not await approvals(bot).approved(ROOM, "https://shop.example.com/other", now)
    assert not await approvals(bot).approved(ROOM, url, now + timedelta(hours=24, seconds=1))
    audit = [a for a in await bot.repo.recent_audit(30) if a.action == "link_approve"]
    assert [(a.target_id, a.detail["by"]) for a in audit] == [("wxid_a", ADMIN)]

    await bot.puppet.direct_message(OWNER, f"#同意报备 {request.id}")  # answered already
    await bot.settle()
    assert said(bot) == {OWNER: [f"没有待处理的报备 {request.id}（编号不对，或已处理过）。"]}


async def test_a_domain_is_approved_whole_where_the_group_says_so(tmp_path: Path) -> None:
    bot = Harness(
        tmp_path,
        PATIENT
        + "profiles:\n  super:\n    moderation: {links: {approve_domain: true, approval_hours: 2}}\n",
        features=[*FEATURES, *MINE],
    )
    await bot.start()
    await bot.puppet.member_says(ROOM, "wxid_a", "#报备 example.com/a")
    await bot.settle()
    [request] = await approvals(bot).requests()
    bot.actions.new()
    await bot.puppet.member_says(ROOM, ADMIN, f"#准许报备 {request.id}")  # in the group
    await bot.settle()
    messages = said(bot)
    assert (
        f"@wxid_a 你报备的链接（编号 {request.id}）已通过：example.com 域名下的所有链接，2 小时内可在本群发送。"
        in messages[ROOM]
    )
    assert await approvals(bot).approved(ROOM, "https://www.example.com/b", bot.clock.now())
    await bot.stop()


async def test_a_declined_link_stays_unapproved_and_the_member_is_told(bot: Harness) -> None:
    await bot.puppet.member_says(ROOM, "wxid_a", "#报备 x.com/a")
    await bot.settle()
    [request] = await approvals(bot).requests()
    said(bot)
    await bot.puppet.direct_message(OWNER, f"#拒绝报备 {request.id}")
    await bot.settle()
    messages = said(bot)
    assert messages[ROOM] == [
        f"@wxid_a 你报备的链接（编号 {request.id}）未获同意，请勿在本群发送：x.com/a"
    ]
    assert messages[OWNER] == [f"已拒绝报备 {request.id}（阿甲（wxid_a））：x.com/a。"]
    assert not await approvals(bot).approved(ROOM, "x.com/a", bot.clock.now())


async def test_a_member_cannot_approve_a_link_not_even_their_own(bot: Harness) -> None:
    await bot.puppet.member_says(ROOM, "wxid_a", "#报备 x.com/a")
    await bot.settle()
    [request] = await approvals(bot).requests()
    said(bot)
    await bot.puppet.member_says(ROOM, "wxid_a", f"#同意报备 {request.id}")
    await bot.puppet.direct_message("wxid_b", f"#同意报备 {request.id}")
    await bot.puppet.direct_message("wxid_c", "#同意报备 999")  # nothing learnt of numbers
    await bot.settle()
    messages = said(bot)
    assert len(messages[ROOM]) == 1 and REFUSED in messages[ROOM][0]
    assert REFUSED in messages["wxid_b"][0] and REFUSED in messages["wxid_c"][0]
    assert not await approvals(bot).approved(ROOM, "x.com/a", bot.clock.now())
    assert (await approvals(bot).get(request.id)).status == "pending"  # type: ignore[union-attr]


async def test_asking_twice_for_a_waiting_link_asks_the_admins_once(bot: Harness) -> None:
    await bot.puppet.member_says(ROOM, "wxid_a", "#报备 x.com/a")
    await bot.settle()
    said(bot)
    await bot.puppet.member_says(ROOM, "wxid_a", "#报备 https://x.com/a/")
    await bot.settle()
    assert not set(said(bot)) & {OWNER, ADMIN}  # (the same receipt is not repeated either)
    assert len(await approvals(bot).requests()) == 1
    await bot.puppet.member_says(ROOM, "wxid_a", "#报备 不是链接")
    await bot.settle()
    assert "用法：#报备 链接" in said(bot)[ROOM][0]


# ---------------------------------------------------------------- 申诉


async def _removed(bot: Harness, member: str = "wxid_a", room: str = ROOM) -> int:
    """A case as the core records it when it removes ``member`` for an ad."""
    case_id = await moderation(bot).open_case(
        NewCase(
            room_id=room,
            member_id=member,
            message_id=f"m-{member}-{room}",
            rule="ads",
            decision="ad",
            score=0.93,
            reasons=[
                {"name": "wechat_id", "hit": True, "reason": "含微信号"},
                {"name": "links", "hit": False, "reason": "没有链接"},
            ],
            text="加微信 abc12345 领福利",
            action="remove",
            mode="enforce",
            at=bot.clock.now(),
        )
    )
    assert case_id is not None
    return case_id


async def test_an_appeal_by_the_member_reaches_every_admin_with_the_evidence(bot: Harness) -> None:
    case = await _removed(bot)
    await bot.puppet.direct_message("wxid_a", f"#申诉 {case} 我只是转发活动，不是广告")
    await bot.settle()
    messages = said(bot)
    assert messages["wxid_a"] == [
        f"已收到你对案件 {case} 的申诉，管理员会尽快处理，结果会私聊告诉你。"
    ]
    for admin in (OWNER, ADMIN):
        [notice] = messages[admin]
        assert f"【测试一群】案件 {case} 收到申诉" in notice
        assert "成员：阿甲（wxid_a）" in notice and "申诉：我只是转发活动，不是广告" in notice
        assert "原处理：移出群聊（含微信号）" in notice and "没有链接" not in notice
        assert "原文：加微信 abc12345 领福利" in notice
        assert f"#误判 {case}" in notice and f"#驳回 {case}" in notice
    stored = await moderation(bot).case(case)
    assert stored is not None and stored.status == "appealed"
    assert stored.appeal_text == "我只是转发活动，不是广告"
    audit = [a for a in await bot.repo.recent_audit(20) if a.action == "appeal"]
    assert [(a.room_id, a.target_id) for a in audit] == [(ROOM, "wxid_a")]


async def test_an_appeal_of_someone_elses_case_is_not_found_and_tells_nobody(
    bot: Harness,
) -> None:
    case = await _removed(bot)
    await bot.puppet.direct_message("wxid_b", f"#申诉 {case} 帮他申诉")
    await bot.settle()
    assert said(bot) == {"wxid_b": [f"没有找到你的案件 {case}，请核对案件编号。"]}
    stored = await moderation(bot).case(case)
    assert stored is not None and stored.status == "open"


async def test_an_appeal_is_taken_once_and_only_privately(bot: Harness) -> None:
    case = await _removed(bot, room=ROOM2, member="wxid_b")
    await bot.puppet.member_says(ROOM2, "wxid_b", f"#申诉 {case} 冤枉")
    await bot.settle()
    assert said(bot) == {ROOM2: ["@wxid_b 申诉请私聊我发送「#申诉 案件编号 说明」，不必在群里发。"]}
    await bot.puppet.direct_message("wxid_b", f"#申诉 {case}")  # no text
    await bot.settle()
    assert "用法" in said(bot)["wxid_b"][0]
    await bot.puppet.direct_message("wxid_b", f"#申诉 {case} 冤枉")
    await bot.puppet.direct_message("wxid_b", f"#申诉 {case} 真的冤枉")
    await bot.settle()
    messages = said(bot)
    assert messages["wxid_b"][1] == f"案件 {case} 已申诉过或已处理，无需再次申诉。"
    assert len(messages[OWNER]) == 1


async def test_an_admin_rejects_an_appeal_and_the_member_is_told_privately(bot: Harness) -> None:
    case = await _removed(bot)
    await bot.puppet.direct_message("wxid_a", f"#申诉 {case} 冤枉")
    await bot.settle()
    said(bot)
    await bot.puppet.direct_message(ADMIN, f"#驳回 {case}")
    await bot.settle()
    assert said(bot) == {
        "wxid_a": [f"你对案件 {case} 的申诉未获通过，维持原处理。"],
        ADMIN: [f"已驳回案件 {case} 的申诉，并已私聊告知 阿甲（wxid_a）。"],
    }
    stored = await moderation(bot).case(case)
    assert stored is not None and stored.status == "rejected" and stored.decided_by == ADMIN
    await bot.puppet.member_says(ROOM, OWNER, f"#驳回 {case}")  # in the group: nothing left
    await bot.settle()
    assert said(bot) == {ROOM: [f"@{OWNER} 案件 {case} 没有待处理的申诉。"]}


async def test_a_member_cannot_reject_an_appeal(bot: Harness) -> None:
    case = await _removed(bot)
    await bot.puppet.direct_message("wxid_a", f"#申诉 {case} 冤枉")
    await bot.settle()
    said(bot)
    await bot.puppet.direct_message("wxid_b", f"#驳回 {case}")
    await bot.puppet.member_says(ROOM, "wxid_a", f"#驳回 {case}")
    await bot.settle()
    messages = said(bot)
    assert REFUSED in messages["wxid_b"][0] and REFUSED in messages[ROOM][0]
    stored = await moderation(bot).case(case)
    assert stored is not None and stored.status == "appealed"


async def test_admins_list_the_open_appeals_of_their_groups(bot: Harness) -> None:
    first = await _removed(bot)
    second = await _removed(bot, member="wxid_b", room=ROOM2)
    await _removed(bot, member="wxid_c")  # not appealed
    await bot.puppet.direct_message("wxid_a", f"#申诉 {first} 冤枉")
    await bot.puppet.direct_message("wxid_b", f"#申诉 {second} 我没发广告")
    await bot.settle()
    said(bot)
    await bot.puppet.direct_message(ADMIN, "#申诉列表")
    await bot.puppet.member_says(ROOM, OWNER, "#申诉列表")
    await bot.puppet.member_says(ROOM, "wxid_a", "#申诉列表")
    await bot.settle()
    messages = said(bot)
    assert messages[ADMIN] == [
        "待处理的申诉（2）：回复「#误判 编号」撤销，「#驳回 编号」维持。\n"
        f"案件 {first}【测试一群】阿甲（wxid_a）：冤枉\n"
        f"案件 {second}【测试二群】阿乙（wxid_b）：我没发广告"
    ]
    in_group, refusal = messages[ROOM]
    assert in_group.startswith(f"@{OWNER} 待处理的申诉（1）") and "测试二群" not in in_group
    assert REFUSED in refusal
