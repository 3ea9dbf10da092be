"""Invites and joins (issue 8.4) and the blocklist on join (8.5), through the whole app.

ROOM (super) holds the owner, the admin and wxid_a; ROOM2 (member) the owner
and wxid_b.  Welcomes are off here so what the bot does is only what the
invites feature decided.
"""

from __future__ import annotations

from pathlib import Path

from bot.alerts import AlertKind
from bot.vocab.actions import Action, RemoveMember, Say
from bot.vocab.clock import ManualClock
from handlers.features import FEATURES
from handlers.moderation import invites
from storage.invites import InviteStore
from storage.moderation import ModerationStore
from tests.flow.expect import Has, Like
from tests.flow.harness import ACCOUNT, ADMIN, OWNER, ROOM, ROOM2, Harness

NEW = "wxid_new"
QUIET = """
profiles:
  super:
    welcome: {enabled: false}
    moderation: {shadow_days: 0}
  member:
    welcome: {enabled: false}
    moderation: {shadow_days: 0}
"""


def _bot(tmp_path: Path, yaml: str = QUIET, clock: ManualClock | None = None) -> Harness:
    features = [*(f for f in FEATURES if f is not invites.feature), invites.feature]
    bot = Harness(tmp_path, yaml, clock, features=features)
    bot.puppet.add_contact(NEW, "小新")
    return bot


async def _started(tmp_path: Path) -> Harness:
    bot = _bot(tmp_path)
    await bot.start()
    bot.actions.new()
    return bot


def _done(bot: Harness) -> list[Action]:
    return [a for a, status in bot.actions.new() if status == "done"]


def _has(actions: list[Action], *patterns: Like) -> None:
    for p in patterns:
        assert any(p.matches(a, "done") for a in actions), f"{p!r} not in {actions!r}"


def _exactly(bot: Harness, *patterns: Like) -> None:
    """These actions were done since the last look, in any order (the governor
    paces each conversation on its own)."""
    done = _done(bot)
    assert len(done) == len(patterns), f"{patterns!r} != {done!r}"
    _has(done, *patterns)


def _to_admins(actions: list[Action], *parts: str) -> None:
    for admin in (OWNER, ADMIN):
        _has(actions, Like(Say, room=None, to_contact=admin, text=Has(*parts)))


def _removals(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.room, a.member_id) for a in actions if isinstance(a, RemoveMember)]


def _moderation(bot: Harness) -> ModerationStore:
    return ModerationStore(bot.app.services.sessions, account_id=ACCOUNT)


def _requests(bot: Harness) -> InviteStore:
    return InviteStore(bot.app.services.sessions, account_id=ACCOUNT)


async def test_an_unapproved_invite_removes_the_invitee_and_tells_the_inviter(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.join(ROOM, [NEW], "wxid_a")
    await bot.settle()
    done = _done(bot)
    assert _removals(done) == [(ROOM, NEW)]
    _has(done, Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("小新", "#邀请 名字")))
    _to_admins(done, "小新", "未经群管同意", "已移出", "案件")
    assert NEW not in await bot.puppet.room_members(ROOM)
    [case] = await _moderation(bot).cases(room_id=ROOM)
    assert case.member_id == NEW and case.rule == "invites"
    assert await _moderation(bot).strikes(ROOM, "wxid_a", case.created_at) == 1
    await bot.stop()


async def test_an_approved_invite_stays_and_uses_the_approval(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, "wxid_a", "#邀请 小新")
    await bot.settle()
    done = _done(bot)
    _has(done, Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("编号 1")))
    _to_admins(done, "想邀请「小新」", "#同意 1")
    await bot.puppet.direct_message(ADMIN, "#同意 1")
    await bot.settle()
    _exactly(
        bot,
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("同意", "小新")),
        Like(Say, room=None, to_contact=ADMIN, text=Has("已同意申请 1")),
    )
    await bot.puppet.join(ROOM, [NEW], "wxid_a")
    await bot.settle()
    bot.actions.nothing()
    assert NEW in await bot.puppet.room_members(ROOM)
    request = await _requests(bot).get(1)
    assert request is not None and request.status == "used" and request.used_by == NEW
    await bot.stop()


async def test_a_blocklisted_member_joining_another_group_is_removed(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    assert await _moderation(bot).block("wxid_c", ADMIN, "在一群发广告", bot.clock.now())
    await bot.puppet.join(ROOM2, ["wxid_c"], OWNER)  # even the owner's invite
    await bot.settle()
    done = _done(bot)
    assert _removals(done) == [(ROOM2, "wxid_c")]
    assert not [a for a in done if isinstance(a, Say) and a.room == ROOM2]  # quietly
    _to_admins(done, "阿丙", "黑名单", "已移出")
    await bot.stop()


async def test_an_owner_or_admin_is_never_removed_even_if_blocklisted(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    assert await _moderation(bot).block(ADMIN, OWNER, "误操作", bot.clock.now())
    await bot.puppet.join(ROOM2, [ADMIN], "wxid_b")  # a member's unapproved invite, too
    await bot.settle()
    bot.actions.nothing()
    assert ADMIN in await bot.puppet.room_members(ROOM2)
    await bot.stop()


async def test_an_admins_invite_is_fine(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.join(ROOM, [NEW], ADMIN)
    await bot.settle()
    bot.actions.nothing()
    assert NEW in await bot.puppet.room_members(ROOM)
    await bot.stop()


async def test_a_join_by_qr_code_under_review_tells_the_admins_and_removes_nobody(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.join(ROOM, [NEW], None)
    await bot.settle()
    done = _done(bot)
    assert _removals(done) == [] and len(done) == 2
    _to_admins(done, "小新", "扫码入群", "请群管查看")
    assert NEW in await bot.puppet.room_members(ROOM)
    await bot.stop()


RAID_YAML = """
profiles:
  super:
    welcome: {enabled: false}
    moderation:
      shadow_days: 0
      invites: {joins_per_hour: 3, raid_action: remove, qr_joins: allow, raid_lock_minutes: 30}
"""


async def test_a_raid_locks_the_group_and_a_restart_keeps_it_locked(tmp_path: Path) -> None:
    bot = _bot(tmp_path, yaml=RAID_YAML)
    await bot.start()
    bot.actions.new()
    raiders = [f"wxid_r{i}" for i in range(5)]
    for raider in raiders[:3]:  # three joins in an hour: the pace
        await bot.puppet.join(ROOM, [raider], None)
        await bot.settle()
    assert _done(bot) == []
    await bot.puppet.join(ROOM, [raiders[3]], None)  # the fourth: a raid
    await bot.settle()
    done = _done(bot)
    assert _removals(done) == [(ROOM, raiders[3])]
    _has(done, Like(Say, room=ROOM, text=Has("暂时停止入群")))
    _to_admins(done, "超过 3 人", "锁定入群 30 分钟")
    assert [a.kind for a in bot.app.alerter.sent] == [AlertKind.RAID]  # type: ignore[attr-defined]
    await bot.stop()

    again = _bot(tmp_path, yaml=RAID_YAML, clock=bot.clock)
    await again.start()
    again.actions.new()
    await again.puppet.join(ROOM, [raiders[4]], None)
    await again.settle()
    done = _done(again)
    assert _removals(done) == [(ROOM, raiders[4])]
    _to_admins(done, "群已锁定")
    assert not [a for a in done if isinstance(a, Say) and "超过" in a.text]  # alerted once
    await again.stop()


async def test_a_non_admins_approval_is_refused_and_an_admin_declines_in_the_group(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, "wxid_a", "#邀请 小新")
    await bot.settle()
    bot.actions.new()
    await bot.puppet.member_says(ROOM, "wxid_a", "#同意 1")
    await bot.puppet.direct_message("wxid_b", "#同意 1")
    await bot.settle()
    _exactly(
        bot,
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("只有群管")),
        Like(Say, room=None, to_contact="wxid_b", text=Has("只有群管")),
    )
    request = await _requests(bot).get(1)
    assert request is not None and request.status == "pending"
    await bot.puppet.member_says(ROOM, ADMIN, "#拒绝 1")  # an admin, in the group
    await bot.settle()
    _exactly(
        bot,
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("没有同意", "小新")),
        Like(Say, room=ROOM, mention_ids=(ADMIN,), text=Has("已拒绝申请 1")),
    )
    await bot.stop()


async def test_a_request_lapses_and_so_does_an_unused_approval(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, "wxid_a", "#邀请 小新")
    await bot.puppet.member_says(ROOM, "wxid_a", "#邀请 @阿丙\u2005", mention_ids=["wxid_c"])
    await bot.settle()
    await bot.puppet.direct_message(OWNER, "#同意 2")
    await bot.settle()
    bot.actions.new()
    await bot.advance(25 * 3600)
    _exactly(  # the requester is told of both, in the group
        bot,
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("编号 1", "无人处理，已失效")),
        Like(Say, room=ROOM, mention_ids=("wxid_a",), text=Has("编号 2", "已过期")),
    )
    await bot.puppet.direct_message(OWNER, "#同意 1")
    await bot.settle()
    _exactly(bot, Like(Say, to_contact=OWNER, text=Has("申请 1", "无人处理，已失效")))
    await bot.puppet.join(ROOM, ["wxid_c"], "wxid_a")  # approved 25 h ago: lapsed
    await bot.settle()
    assert _removals(_done(bot)) == [(ROOM, "wxid_c")]
    await bot.stop()


async def test_an_admin_ends_a_raid_lock_early_and_a_member_cannot(tmp_path: Path) -> None:
    bot = _bot(tmp_path, yaml=RAID_YAML)
    await bot.start()
    for i in range(4):  # the fourth join in an hour is a raid: the group locks
        await bot.puppet.join(ROOM, [f"wxid_r{i}"], None)
    await bot.settle()
    await bot.puppet.member_says(ROOM, "wxid_a", "#解锁")
    await bot.puppet.member_says(ROOM, ADMIN, "#解锁")
    await bot.settle()
    _done(bot)
    assert await _requests(bot).locked_until(ROOM, bot.clock.now()) is None
    await bot.puppet.join(ROOM, ["wxid_late"], None)  # a QR join: allowed again
    await bot.settle()
    assert ("r1@chatroom", "wxid_late") not in _removals(_done(bot))
    await bot.stop()
