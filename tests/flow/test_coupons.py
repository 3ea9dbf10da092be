"""Coupons through the whole app: drops and claims, #我的券, transfers accepted or
returned, redemption once, admin-only drops, expiry with a folded reminder.

The sweep runs by hand here (``calendar=False``), the clock moved between runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.vocab.actions import Say
from handlers.engagement import coupons
from handlers.features import FEATURES
from storage.coupons import CouponInfo, CouponStore
from tests.flow.harness import ACCOUNT, ADMIN, OWNER, ROOM, ROOM2, Harness

MINE = [coupons.feature] if coupons.feature not in FEATURES else []
SWEEP = "coupons.sweep"
YAML = """
commands: {reply_valid_seconds: 3600, max_per_member: 100, repeat_window_seconds: 0}
profiles:
  super:
    welcome: {enabled: false}
    engagement:
      coupons:
        types:
          coffee: {name: 咖啡券, value: ¥10, valid_days: 7}
          vip: {name: 会员券, transferable: false, per_member_limit: 2}
        merchants: [wxid_c]
        transfer_accept_minutes: 30
        expiry_reminder_hours: 24
"""


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path, YAML, calendar=False, features=[*FEATURES, *MINE])
    await harness.start()
    await harness.puppet.join(ROOM, ["wxid_b", "wxid_c"], ADMIN)
    await harness.settle()
    harness.actions.new()
    yield harness
    await harness.stop()


def said(bot: Harness) -> dict[str, list[str]]:
    """What the bot said since the last look, by room: ``@id`` mentions, then the text."""
    out: dict[str, list[str]] = defaultdict(list)
    for action, status in bot.actions.new():
        assert isinstance(action, Say) and status == "done", (action, status)
        assert action.room is not None
        mention = "".join(f"@{m} " for m in action.mention_ids)
        out[action.room].append(mention + action.text)
    return dict(out)


def store(bot: Harness) -> CouponStore:
    return CouponStore(bot.app.services.sessions, account_id=ACCOUNT)


async def says(bot: Harness, member: str, text: str, *mentions: str, room: str = ROOM) -> list[str]:
    await bot.puppet.member_says(room, member, text, mention_ids=list(mentions))
    await bot.settle()
    return said(bot).get(room, [])


async def sweep(bot: Harness) -> list[str]:
    await bot.app.calendar.run_job(SWEEP)
    await bot.settle()
    return said(bot).get(ROOM, [])


async def held(bot: Harness, member: str) -> list[CouponInfo]:
    return await store(bot).holdings(f"room:{ROOM}", member)


async def claimed_by(bot: Harness, member: str) -> CouponInfo:
    await says(bot, ADMIN, "#发券 coffee 5 30")
    [reply] = await says(bot, member, "#领券")
    assert "领到一张咖啡券（¥10）" in reply
    [coupon] = await held(bot, member)
    return coupon


async def test_an_admin_opens_a_drop_and_members_claim_up_to_the_limit(bot: Harness) -> None:
    [announced] = await says(bot, ADMIN, "#发券 咖啡券 2 30")
    assert announced.startswith("【发券】咖啡券（¥10） 共 2 张，发送「#领券」领取，每人限领 1 张")
    assert "领到后 7 天内有效" in announced
    [first] = await says(bot, "wxid_a", "#领券")
    [coupon] = await held(bot, "wxid_a")
    assert first.startswith(f"@wxid_a 领到一张咖啡券（¥10）！券码 {coupon.code}，有效期至 ")
    assert await says(bot, "wxid_a", "#领券") == [
        "@wxid_a 这次的咖啡券每人限领 1 张，你已经领过了。"
    ]
    assert (await says(bot, "wxid_b", "#领券"))[0].startswith("@wxid_b 领到一张咖啡券")
    assert await says(bot, "wxid_c", "#领券") == ["@wxid_c 手慢了，咖啡券已经领完了。"]
    await bot.clock.advance(31 * 60)
    assert await says(bot, "wxid_c", "#领券") == ["@wxid_c 现在没有可以领的券。"]
    audit = [a for a in await bot.repo.recent_audit(30) if a.kind == "coupons"]
    assert sorted(a.action for a in audit) == ["coupon_claim", "coupon_claim", "coupon_drop"]


async def test_a_member_sees_their_coupons_with_code_state_and_expiry(bot: Harness) -> None:
    assert await says(bot, "wxid_a", "#我的券") == ["@wxid_a 你还没有券。"]
    coupon = await claimed_by(bot, "wxid_a")
    [mine] = await says(bot, "wxid_a", "#我的券")
    assert mine.startswith("@wxid_a 你的券（1 张）：\n")
    assert f"咖啡券（¥10） 券码 {coupon.code}，可使用，有效期至 " in mine
    local = coupon.expires_at + timedelta(hours=8)  # bot.timezone: Asia/Shanghai
    assert local.strftime("%Y-%m-%d %H:%M") in mine


async def test_an_admin_gives_a_coupon_to_a_member_directly(bot: Harness) -> None:
    [told] = await says(bot, ADMIN, "#发券 @阿乙\u2005vip", "wxid_b")
    [coupon] = await held(bot, "wxid_b")
    assert told.startswith(f"@wxid_b 送给阿乙一张会员券，券码 {coupon.code}，有效期至 ")
    assert coupon.type_id == "vip" and not coupon.transferable


async def test_a_member_may_not_open_a_drop(bot: Harness) -> None:
    assert await says(bot, "wxid_a", "#发券 coffee 10") == [
        "@wxid_a 抱歉，这个指令只有群管可以使用哦～"
    ]
    assert await says(bot, "wxid_b", "#领券") == ["@wxid_b 现在没有可以领的券。"]


async def test_a_transfer_is_offered_and_accepted_and_the_owner_changes(bot: Harness) -> None:
    coupon = await claimed_by(bot, "wxid_a")
    messages = await says(bot, "wxid_a", f"#转赠 @阿乙\u2005{coupon.code} 生日快乐", "wxid_b")
    assert messages == [
        "@wxid_b 阿甲要把一张咖啡券（¥10）转赠给你，留言：「生日快乐」。"
        "30 分钟内发送「#接受」收下，过时券会退回。",
        "@wxid_a 已把咖啡券转赠给阿乙，等对方在 30 分钟内接受。",
    ]
    [mine] = await says(bot, "wxid_a", "#我的券")
    assert "转赠中，待阿乙接受" in mine
    [theirs] = await says(bot, "wxid_b", "#我的券")
    assert "阿甲转赠给你，发送「#接受」收下" in theirs
    messages = await says(bot, "wxid_b", "#接受")
    assert messages == [
        "@wxid_a 阿乙已收下你转赠的咖啡券。",
        f"@wxid_b 已收下阿甲转赠的咖啡券（¥10），券码 {coupon.code}，有效期至 "
        + messages[1].rsplit("有效期至 ", 1)[1],
    ]
    assert await held(bot, "wxid_a") == []
    [now_theirs] = await held(bot, "wxid_b")
    assert now_theirs.id == coupon.id and now_theirs.status == "claimed"
    steps = [(e.to_status, e.to_owner) for e in await store(bot).events(coupon.id)]
    assert steps[-2:] == [("pending_transfer", "wxid_a"), ("claimed", "wxid_b")]


async def test_a_transfer_not_accepted_in_time_returns_to_the_giver(bot: Harness) -> None:
    coupon = await claimed_by(bot, "wxid_a")
    await says(bot, "wxid_a", "#转赠 @阿乙\u2005咖啡券", "wxid_b")
    await bot.clock.advance(29 * 60)
    assert await sweep(bot) == []
    await bot.clock.advance(60)
    assert await sweep(bot) == [
        f"@wxid_a @wxid_b 阿乙没有在 30 分钟内接受转赠，咖啡券（券码 {coupon.code}）已退回给阿甲。"
    ]
    assert await says(bot, "wxid_b", "#接受") == ["@wxid_b 没有等你接受的转赠。"]
    [back] = await held(bot, "wxid_a")
    assert (back.id, back.status, back.pending_to) == (coupon.id, "claimed", None)
    assert await sweep(bot) == []  # returned once, told once


async def test_a_coupon_that_is_not_transferable_stays(bot: Harness) -> None:
    await says(bot, ADMIN, "#发券 @阿甲\u2005vip", "wxid_a")
    assert await says(bot, "wxid_a", "#转赠 @阿乙\u2005", "wxid_b") == ["@wxid_a 会员券不能转赠。"]
    assert await says(bot, "wxid_a", "#转赠 @阿甲\u2005", "wxid_a") == ["@wxid_a 不能转赠给自己。"]
    assert await says(bot, "wxid_b", "#转赠 @阿甲\u2005", "wxid_a") == [
        "@wxid_b 你没有可以转赠的券。"
    ]


async def test_a_code_redeems_once_and_a_second_try_says_when_and_by_whom(bot: Harness) -> None:
    coupon = await claimed_by(bot, "wxid_a")
    assert await says(bot, "wxid_a", f"#核销 {coupon.code}") == [
        "@wxid_a 只有管理员和商家可以核销券。"
    ]
    first = await says(bot, "wxid_c", f"#核销 {coupon.code.lower()}")  # a merchant
    assert first == [f"@wxid_c 核销成功：咖啡券（¥10）（券码 {coupon.code}），持有人 阿甲。"]
    redeemed_at = (bot.clock.now() + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    await bot.clock.advance(3600)
    again = await says(bot, ADMIN, f"#核销 {coupon.code}")
    assert again == [
        f"@{ADMIN} 券码 {coupon.code} 已于 {redeemed_at} 由 阿丙 在「测试一群」核销过，不能重复核销。"
    ]
    redeemed = await store(bot).get(coupon.id)
    assert redeemed is not None
    assert (redeemed.status, redeemed.redeemed_by, redeemed.redeemed_room) == (
        "redeemed",
        "wxid_c",
        ROOM,
    )
    assert await says(bot, ADMIN, "#核销 ABCDEFGHJK") == [
        f"@{ADMIN} 没有这个券码：ABCDEFGHJK，请核对后再试。"
    ]


async def test_coupons_expire_on_their_date_after_one_folded_reminder(bot: Harness) -> None:
    await says(bot, ADMIN, "#发券 coffee 5 30")
    for member in ("wxid_a", "wxid_b", OWNER):
        await says(bot, member, "#领券")
    await says(bot, ADMIN, "#发券 @阿甲\u2005coffee", "wxid_a")  # a second one for 阿甲
    assert await sweep(bot) == []
    await bot.clock.advance(6 * 86400 - 3600)  # 25 hours before they expire
    assert await sweep(bot) == []
    await bot.clock.advance(3600)
    [reminder] = await sweep(bot)
    assert reminder == (
        f"@wxid_a @wxid_b @{OWNER} 你的券将在 24 小时内过期，发送「#我的券」查看，别忘了使用。"
    )
    await bot.clock.advance(3600)
    assert await sweep(bot) == []  # reminded once
    await bot.clock.advance(23 * 3600)
    await sweep(bot)
    assert await held(bot, "wxid_a") == []
    everything = await store(bot).export(ROOM)
    assert {c.status for c in everything} == {"expired"}
    assert len(everything) == 6  # 5 of the drop (2 never claimed) and the one given
    [coupon] = [c for c in everything if c.owner_id == "wxid_b"]
    assert [e.to_status for e in await store(bot).events(coupon.id)] == [
        "issued",
        "claimed",
        "expired",
    ]


async def test_a_drop_opened_by_the_cli_is_announced_by_the_sweep(bot: Harness) -> None:
    from storage.coupons import CouponKind

    now = bot.clock.now()
    await store(bot).open_drop(
        scope=f"room:{ROOM}",
        room_id=ROOM,
        kind=CouponKind("coffee", "咖啡券", "¥10", valid_days=7),
        count=3,
        by="cli",
        at=now,
        closes_at=now + timedelta(minutes=30),
        announced=False,
    )
    [announced] = await sweep(bot)
    assert announced.startswith("【发券】咖啡券（¥10） 共 3 张")
    assert await sweep(bot) == []


async def test_coupons_of_another_group_are_not_mixed_in(bot: Harness) -> None:
    await claimed_by(bot, "wxid_a")
    await bot.puppet.member_says(ROOM2, "wxid_b", "#领券")
    await bot.settle()
    assert said(bot).get(ROOM2) == ["@wxid_b 现在没有可以领的券。"]
