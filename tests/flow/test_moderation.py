"""Moderation end to end on the sandbox: ads judged, escalated, explained, undone.

ROOM enforces at once (``shadow_days: 0``); ROOM2 keeps the default: its
first days in shadow mode.  wxid_a and wxid_b are ordinary members, ADMIN and
OWNER are exempt whatever they post.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.vocab.actions import AddMember, RemoveMember, Say
from tests.flow.expect import Has, Like
from tests.flow.harness import ADMIN, OWNER, ROOM, ROOM2, Harness
from tests.unit.qr_images import embed, jpeg, photo, qr_image

ENFORCE_IN_ROOM = f"""
  {ROOM}: {{name: 测试一群, profile: super, tags: [brandA, 上海], moderation: {{shadow_days: 0}}}}
"""
AD = "加我微信 abc_12345 领取免费资料，兼职日结，扫码进群"
ADMINS = (ADMIN, OWNER)


def _yaml() -> str:
    from tests.flow.harness import BASE_YAML

    # ROOM's line in groups: replaced by one that enforces at once.
    line = next(ln for ln in BASE_YAML.splitlines() if ln.strip().startswith(ROOM))
    return BASE_YAML.replace(line, ENFORCE_IN_ROOM.strip("\n"))


async def _started(tmp_path: Path, yaml: str) -> Harness:
    """A harness on ``yaml`` in place of the base configuration, started."""
    import tests.flow.harness as h

    bot = Harness.__new__(Harness)
    saved = h.BASE_YAML
    h.BASE_YAML = yaml
    try:
        Harness.__init__(bot, tmp_path)
    finally:
        h.BASE_YAML = saved
    await bot.start()
    bot.actions.new()
    return bot


@pytest.fixture
async def mod(tmp_path: Path) -> Harness:
    bot = await _started(tmp_path, _yaml())
    yield bot  # type: ignore[misc]
    await bot.stop()


def _told_admins(case: int, *parts: str) -> list[Like]:
    return [
        Like(Say, to_contact=admin, text=Has(f"案件 {case}", *parts)) for admin in sorted(ADMINS)
    ]


async def test_an_ad_is_warned_and_a_second_removes_the_sender(mod: Harness) -> None:
    await mod.puppet.member_says(ROOM, "wxid_a", AD)
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("请勿")),
        *_told_admins(1, "已警告", "abc_12345"),
        in_order=False,
    )
    await mod.puppet.member_says(ROOM, "wxid_a", "最后一次：" + AD)
    await mod.settle()
    done = mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("案件 2", "申诉 2")),
        Like(RemoveMember, room=ROOM, member_id="wxid_a"),
        *_told_admins(2, "已移出群聊"),
        in_order=False,
    )
    in_group = [a for a, _ in done if a.room_id == ROOM]
    assert [type(a).__name__ for a in in_group] == ["Say", "RemoveMember"]  # told, then removed
    assert "wxid_a" not in await mod.repo.current_members(ROOM)


async def test_ordinary_chat_and_an_admins_ad_are_left_alone(mod: Harness) -> None:
    await mod.puppet.member_says(ROOM, "wxid_a", "今天的分享很有收获，谢谢大家")
    await mod.puppet.member_says(ROOM, ADMIN, AD)
    await mod.puppet.member_sends_link(ROOM, OWNER, "https://spam.example/x", "领券")
    await mod.settle()
    mod.actions.nothing()


@pytest.mark.parametrize("kind", ["link", "card", "mini_program", "qr_image"])
async def test_every_form_of_ad_is_caught(mod: Harness, kind: str) -> None:
    if kind == "link":
        await mod.puppet.member_sends_link(ROOM, "wxid_a", "https://t.cn/abc", "点击领取红包")
    elif kind == "card":
        await mod.puppet.member_sends_card(ROOM, "wxid_a", "wxid_seller")
    elif kind == "mini_program":
        await mod.puppet.member_sends_mini_program(ROOM, "wxid_a", "wx1234567890abcdef", "拼团")
    else:
        image = jpeg(embed(photo(800, 600), qr_image(), at=(0.6, 0.5)))
        assert len(image) > 20_000
        await mod.puppet.member_sends_image(ROOM, "wxid_a", image)
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("请勿")),
        *_told_admins(1, "已警告"),
        in_order=False,
    )


async def test_a_non_admin_cannot_kick_and_an_admin_never_kicks_an_admin(mod: Harness) -> None:
    await mod.puppet.member_says(ROOM, "wxid_a", "#踢 @管理员\u2005", mention_ids=[ADMIN])
    await mod.settle()
    mod.actions.expect(Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("只有群管")))
    await mod.puppet.member_says(ROOM, OWNER, "#踢 @管理员\u2005", mention_ids=[ADMIN])
    await mod.settle()
    mod.actions.expect(Like(Say, room=ROOM, mention_ids=(OWNER,), text=Has("不能对群主或群管")))
    assert ADMIN in await mod.repo.current_members(ROOM)


async def test_an_admin_undoes_a_removal_and_the_member_is_invited_back(mod: Harness) -> None:
    await mod.puppet.member_says(ROOM, ADMIN, "#踢 @阿甲\u2005", mention_ids=["wxid_a"])
    await mod.settle()
    assert "wxid_a" not in await mod.repo.current_members(ROOM)
    mod.actions.new()
    await mod.puppet.member_says(ROOM, ADMIN, "#误判 1")
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("已撤销案件 1")),
        Like(AddMember, room=ROOM, member_id="wxid_a"),
        in_order=False,
    )
    assert "wxid_a" in await mod.repo.current_members(ROOM)
    cases = [a for a in await mod.repo.recent_audit(50) if a.action == "add_member"]
    assert cases and cases[0].status == "done"


async def test_a_replayed_ad_is_not_judged_twice(mod: Harness) -> None:
    from wechaty_puppet import EventMessagePayload

    message_id = await mod.puppet.member_says(ROOM, "wxid_a", AD)
    await mod.settle()
    first = mod.actions.new()
    mod.puppet.emit_raw("message", EventMessagePayload(message_id=message_id))
    await mod.settle()
    assert first and mod.actions.new() == []


async def test_shadow_mode_acts_on_nobody_and_the_digest_tells_the_admins(mod: Harness) -> None:
    await mod.puppet.member_says(ROOM2, "wxid_b", AD)  # ROOM2: its first days in shadow
    await mod.settle()
    mod.actions.nothing()
    shadow = [a for a in await mod.repo.recent_audit(20) if a.status == "shadow"]
    assert {a.action for a in shadow} == {"say"} and len(shadow) == 3  # warn + 2 admins
    await mod.advance(24 * 3600)  # 21:00 local comes round
    digests = [a for a, s in mod.actions.new() if isinstance(a, Say) and "观察模式日报" in a.text]
    assert {d.to_contact for d in digests} == set(ADMINS)
    assert "案件 1" in digests[0].text and "警告 1 次" in digests[0].text


async def test_an_admin_switches_a_shadow_group_to_enforcing(mod: Harness) -> None:
    await mod.puppet.member_says(ROOM2, OWNER, "#开启管理")
    await mod.settle()
    mod.actions.expect(Like(Say, room=ROOM2, text=Has("已开启管理")))
    await mod.puppet.member_says(ROOM2, "wxid_b", AD)
    await mod.settle()
    mod.actions.expect(
        Like(Say, room=ROOM2, mention_ids=("wxid_b",), text=Has("请勿")),
        *_told_admins(1, "测试二群"),
        in_order=False,
    )


async def test_a_link_an_admin_approved_is_not_an_ad(mod: Harness) -> None:
    await mod.puppet.member_says(ROOM, "wxid_a", "#报备 https://shop.example.com/sale")
    await mod.settle()
    [request] = [a for a, _ in mod.actions.new() if isinstance(a, Say) and a.to_contact == ADMIN]
    number = request.text.split("编号 ")[1].split("）")[0]
    await mod.puppet.member_says(ROOM, ADMIN, f"#同意报备 {number}")
    await mod.settle()
    mod.actions.new()
    await mod.puppet.member_sends_link(
        ROOM, "wxid_a", "https://shop.example.com/sale", "本周读书会资料"
    )
    await mod.settle()
    mod.actions.nothing()
    await mod.puppet.member_sends_link(ROOM, "wxid_a", "https://t.cn/abc", "点击领取红包")
    await mod.settle()
    assert any(isinstance(a, Say) and "请勿" in a.text for a, _ in mod.actions.new())


@pytest.fixture
async def hour_probation(tmp_path: Path) -> Harness:
    """ROOM enforcing, with a newcomer's probation one hour long."""
    yaml = _yaml().replace("shadow_days: 0", "shadow_days: 0, probation_hours: 1")
    bot = await _started(tmp_path, yaml)
    yield bot  # type: ignore[misc]
    await bot.stop()


async def test_a_member_past_probation_is_not_read_again_until_a_new_stay(
    hour_probation: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = hour_probation
    await mod.clock.advance(3601.0)  # past the first hour since the bot saw them
    await mod.settle()
    mod.actions.new()
    repo = mod.app.services.repo
    reads: list[str] = []
    real = repo.member_stats

    async def counted(room_id: str, contact_id: str):  # type: ignore[no-untyped-def]
        reads.append(contact_id)
        return await real(room_id, contact_id)

    monkeypatch.setattr(repo, "member_stats", counted)
    for n in range(10):  # probation_messages is 5: the 6th message finds them past it
        await mod.puppet.member_says(ROOM, "wxid_a", f"第{n}条：今天的分享很有收获")
        await mod.settle()
        await mod.clock.advance(10.0)  # slower than the flood limit
        await mod.settle()
    mod.actions.nothing()
    assert reads.count("wxid_a") == 6

    await mod.puppet.leave(ROOM, ["wxid_a"])
    await mod.settle()
    await mod.puppet.join(ROOM, ["wxid_a"], inviter_id=ADMIN)  # a new stay: a newcomer again
    await mod.settle()
    mod.actions.new()  # the welcome
    await mod.puppet.member_says(ROOM, "wxid_a", AD)
    await mod.settle()
    assert reads.count("wxid_a") == 7
    mod.actions.expect(
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("请勿", "新成员观察期")),
        *_told_admins(1, "已警告"),
        in_order=False,
    )
