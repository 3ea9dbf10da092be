"""Member lists: read on a budget and cached; roles stored; what they reveal flows as
events; the bot notices when it is no longer in a group, and resumes when invited back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.alerts import AlertKind
from bot.transport.sandbox_puppet import SandboxMember
from bot.vocab.events import Event, JoinEvent, LeaveEvent
from tests.flow.harness import ADMIN, BOT, OWNER, ROOM, ROOM2, Harness

CACHE = 6 * 3600  # member_lists.cache_hours


def reads(bot: Harness, room: str | None = None) -> int:
    return sum(
        1 for c in bot.puppet.calls_to("room_members") if room is None or c.args["room_id"] == room
    )


def record_events(bot: Harness) -> list[Event]:
    seen: list[Event] = []
    feed = bot.app.dispatcher.feed

    def recording(event: Event) -> None:
        seen.append(event)
        feed(event)

    bot.app.dispatcher.feed = recording  # type: ignore[method-assign]
    return seen


async def role(bot: Harness, room: str, member: str) -> str:
    membership = await bot.repo.get_membership(room, member)
    assert membership is not None
    return str(membership.role)


# ------------------------------------------------------------ reads at login


async def test_a_replayed_login_reads_no_member_list_within_the_cache_period(
    bot: Harness,
) -> None:
    assert reads(bot, ROOM) == 1 and reads(bot, ROOM2) == 1  # the first login
    await bot.puppet.login(BOT)  # the gateway logs the bot in again (a reconnect)
    await bot.settle()
    assert reads(bot) == 2

    await bot.advance(CACHE)
    await bot.puppet.login(BOT)
    await bot.settle()
    assert reads(bot, ROOM) == 2 and reads(bot, ROOM2) == 2  # stale now: read once more


async def test_a_newly_joined_group_is_read_once(bot: Harness) -> None:
    await bot.puppet.invite_bot(OWNER, "r3@chatroom", "新群", ["wxid_c"])
    await bot.settle()
    assert reads(bot, "r3@chatroom") == 1
    assert await bot.repo.current_members("r3@chatroom") == {OWNER, "wxid_c"}
    assert bot.sent("r3@chatroom")  # the bot introduced itself


async def test_events_are_handled_while_member_lists_wait_for_their_budget(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path, "member_lists: {reads_per_minute: 1}\n")
    await bot.start()
    assert reads(bot) == 1  # one list now, the other waits its turn
    waiting = ROOM2 if reads(bot, ROOM) else ROOM
    await bot.puppet.member_says(waiting, OWNER, "#帮助")
    await bot.settle()
    assert bot.sent(waiting)  # answered before that group's list was read
    assert reads(bot, waiting) == 0

    await bot.advance(60)
    assert reads(bot, waiting) == 1
    await bot.stop()


# ------------------------------------------------------------------- roles


async def test_the_owner_and_admins_are_stored_with_their_roles(bot: Harness) -> None:
    assert await role(bot, ROOM, OWNER) == "owner"
    assert await role(bot, ROOM, ADMIN) == "member"  # not a room admin (yet)
    assert await role(bot, ROOM, "wxid_a") == "member"

    bot.puppet.set_admins(ROOM, [BOT, ADMIN])
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()
    await bot.settle()
    assert await role(bot, ROOM, ADMIN) == "admin"


async def test_an_admin_found_by_reconciliation_joins_with_the_admin_role(bot: Harness) -> None:
    bot.puppet.room_state(ROOM2).members["wxid_c"] = SandboxMember()  # joined, no event
    bot.puppet.set_admins(ROOM2, [BOT, "wxid_c"])
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()
    await bot.settle()
    assert await role(bot, ROOM2, "wxid_c") == "admin"


# --------------------------------------------------- reconciliation as events


async def test_joins_and_leaves_found_by_reconciliation_flow_as_marked_events(
    bot: Harness,
) -> None:
    seen = record_events(bot)
    bot.puppet.leave_silently(ROOM, "wxid_a")
    bot.puppet.room_state(ROOM).members["wxid_c"] = SandboxMember()  # joined, no event
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()
    await bot.settle()

    joins = [e for e in seen if isinstance(e, JoinEvent)]
    leaves = [e for e in seen if isinstance(e, LeaveEvent)]
    assert [(e.member_ids, e.found_by_reconciliation) for e in joins] == [(("wxid_c",), True)]
    assert [(e.member_ids, e.found_by_reconciliation) for e in leaves] == [(("wxid_a",), True)]
    # Counted like any join and leave: the activity log has them.
    kinds = {(a.contact_id, a.kind) for a in await bot.repo.recent_activity(ROOM)}
    assert {("wxid_c", "join"), ("wxid_a", "leave")} <= kinds
    assert await bot.repo.current_members(ROOM) == {OWNER, ADMIN, "wxid_c"}


async def test_members_present_at_the_first_list_are_not_joins(bot: Harness) -> None:
    joins = [a for a in await bot.repo.recent_activity(ROOM) if a.kind == "join"]
    assert joins == []
    assert bot.sent(ROOM) == []  # nobody welcomed as a newcomer


# -------------------------------------------------- the bot removed, and back


def removal_alerts(bot: Harness) -> list[Any]:
    alerter: Any = bot.app.alerter
    return [a for a in alerter.sent if a.kind == AlertKind.REMOVED_FROM_GROUP]


async def test_the_bot_removed_from_a_group_marks_it_left_alerts_and_stops_there(
    bot: Harness,
) -> None:
    await bot.puppet.join(ROOM, ["wxid_c"], OWNER)  # a welcome is pending there
    await bot.settle()
    await bot.puppet.leave(ROOM, [BOT], remover_id=OWNER)
    await bot.settle()

    group = await bot.repo.get_group(ROOM)
    assert group is not None and group.left_at is not None
    alerts = removal_alerts(bot)
    assert len(alerts) == 1 and ROOM in alerts[0].where and "测试一群" in alerts[0].where

    await bot.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()
    await bot.settle()
    assert bot.sent(ROOM) == []  # no welcome, no reply
    assert reads(bot, ROOM) == 1  # only the one at login
    assert reads(bot, ROOM2) == 2  # the other group goes on as before
    assert len(removal_alerts(bot)) == 1


async def test_a_group_missing_from_the_room_list_is_confirmed_and_marked_left(
    bot: Harness,
) -> None:
    del bot.puppet.room_state(ROOM2).members[BOT]  # removed, and no event said so
    await bot.advance(CACHE)
    await bot.app.presence.reconcile()
    await bot.settle()
    group = await bot.repo.get_group(ROOM2)
    assert group is not None and group.left_at is not None
    assert [ROOM2 in a.where for a in removal_alerts(bot)] == [True]


async def test_invited_back_the_bot_manages_the_group_again(bot: Harness) -> None:
    await bot.puppet.leave(ROOM, [BOT], remover_id=OWNER)
    await bot.settle()
    await bot.puppet.invite_bot(OWNER, ROOM, "测试一群", [])
    await bot.settle()

    group = await bot.repo.get_group(ROOM)
    assert group is not None and group.left_at is None
    assert len(bot.sent(ROOM)) == 1  # the bot introduced itself again
    assert reads(bot, ROOM) == 2  # its list read once on the way back in
    await bot.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await bot.settle()
    assert len(bot.sent(ROOM)) == 2  # and it answers there again


async def test_a_group_the_bot_was_removed_from_stays_left_after_a_restart(
    tmp_path: Path,
) -> None:
    first = Harness(tmp_path)
    await first.start()
    await first.puppet.leave(ROOM, [BOT], remover_id=OWNER)
    await first.settle()
    await first.stop()

    again = Harness(tmp_path)  # same database; this puppet still has the bot in ROOM
    del again.puppet.room_state(ROOM).members[BOT]
    await again.start()
    group = await again.repo.get_group(ROOM)
    assert group is not None and group.left_at is not None
    assert reads(again, ROOM) == 0 and reads(again, ROOM2) == 1
    assert removal_alerts(again) == []  # told once, not at every start
    await again.stop()
