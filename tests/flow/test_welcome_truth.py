"""A welcome is never lost, doubled or misdirected (issue 6, item 8).

The whole app over the real SDK on the in-process puppet, time on a
ManualClock: crashes, replayed events, leavers, failed sends and rejoins.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.transport.sandbox_puppet import SandboxMember
from bot.vocab.events import JoinEvent
from tests.flow.harness import ADMIN, ROOM, Harness

NEW = "wxid_new"


def mentions(bot: Harness) -> list[list[str]]:
    """Who each message the bot posted in ROOM @mentioned (welcomes and reminders)."""
    return [list(c.args["mention_ids"]) for c in bot.sent(ROOM)]


async def restart(first: Harness, tmp_path: Path, still_there: tuple[str, ...] = (NEW,)) -> Harness:
    """A new process on the same database file; the puppet's room still holds
    the members who joined before the crash (WeChat kept them)."""
    second = Harness(tmp_path, clock=first.clock)
    for member in still_there:
        second.puppet.add_contact(member, member)
        second.puppet.room_state(ROOM).members[member] = SandboxMember(inviter_id=ADMIN)
    await second.start()
    return second


async def test_a_welcome_pending_at_a_crash_is_sent_exactly_once_after_the_restart(
    tmp_path: Path,
) -> None:
    first = Harness(tmp_path)
    await first.start()
    first.puppet.add_contact(NEW, "新人")
    await first.puppet.join(ROOM, [NEW], ADMIN)
    await first.advance(4)  # inside the 10 s window
    await first.crash()
    assert mentions(first) == []

    second = await restart(first, tmp_path)
    await second.advance(11)
    assert mentions(second) == [[NEW]]
    membership = await second.repo.get_membership(ROOM, NEW)
    assert membership is not None and membership.welcomed_at is not None
    await second.stop()

    third = await restart(first, tmp_path)  # and never again
    await third.advance(11)
    assert mentions(third) == []
    await third.stop()


async def test_a_welcome_the_crash_left_in_the_outbox_is_sent_once(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    await first.start()
    await first.puppet.join(ROOM, [NEW], ADMIN)
    await first.settle()
    await first.clock.advance(10)  # due: submitted to the outbox, not sent yet
    await first.app.welcomes.join()
    assert mentions(first) == []
    await first.crash()

    second = await restart(first, tmp_path)
    await second.advance(11)
    assert mentions(second) == [[NEW]]
    membership = await second.repo.get_membership(ROOM, NEW)
    assert membership is not None and membership.welcomed_at is not None
    await second.stop()


async def test_a_welcome_past_its_validity_after_a_restart_is_dropped_and_audited(
    tmp_path: Path,
) -> None:
    first = Harness(tmp_path)
    await first.start()
    await first.puppet.join(ROOM, [NEW], ADMIN)
    await first.settle()
    await first.crash()
    await first.clock.advance(2 * 3600)  # down for two hours: a welcome now would be odd

    second = await restart(first, tmp_path)
    await second.advance(11)
    assert mentions(second) == []
    audit = [a for a in await second.repo.recent_audit(20) if a.action == "welcome"]
    assert [(a.status, a.room_id, a.target_id) for a in audit] == [("expired", ROOM, NEW)]
    assert "60" in audit[0].reason
    await second.stop()


async def test_a_replayed_join_event_gets_one_welcome(bot: Harness) -> None:
    await bot.puppet.join(ROOM, [NEW], ADMIN)
    await bot.settle()
    joined_ms = bot.puppet._now_ms()
    bot.puppet.emit_room_join(ROOM, [NEW], ADMIN, timestamp=joined_ms)  # inside the window
    await bot.advance(11)
    bot.puppet.emit_room_join(ROOM, [NEW], ADMIN, timestamp=joined_ms)  # after the welcome
    await bot.advance(11)
    bot.puppet.emit_room_join(ROOM, [NEW], ADMIN)  # replayed with a later time
    await bot.advance(11)
    assert mentions(bot) == [[NEW]]
    membership = await bot.repo.get_membership(ROOM, NEW)
    assert membership is not None and membership.join_count == 1


async def test_a_join_event_for_a_member_present_since_login_is_not_a_newcomer(
    bot: Harness,
) -> None:
    await bot.advance(60)
    bot.puppet.emit_room_join(ROOM, ["wxid_a"], ADMIN)  # wxid_a was in the login snapshot
    await bot.advance(11)
    assert mentions(bot) == []


async def test_a_newcomer_who_leaves_inside_the_window_is_not_mentioned(bot: Harness) -> None:
    await bot.puppet.join(ROOM, [NEW, "wxid_b"], ADMIN)
    await bot.advance(3)
    await bot.puppet.leave(ROOM, [NEW])
    await bot.advance(11)
    assert mentions(bot) == [["wxid_b"]]


async def test_a_newcomer_who_leaves_silently_inside_the_window_is_not_mentioned(
    bot: Harness,
) -> None:
    await bot.puppet.join(ROOM, [NEW], ADMIN)
    await bot.advance(3)
    bot.puppet.leave_silently(ROOM, NEW)
    bot.app.members.invalidate(ROOM)  # a read that falls due inside the window
    await bot.app.presence.reconcile()  # the member list says they are gone
    await bot.advance(11)
    assert mentions(bot) == []


async def test_a_failed_welcome_is_not_recorded_as_welcomed_nor_reminded(bot: Harness) -> None:
    await bot.puppet.join(ROOM, [NEW], ADMIN)
    await bot.settle()
    bot.puppet.fail_next("message_send_text")  # a refusal: never retried
    await bot.advance(11)
    assert mentions(bot) == []
    membership = await bot.repo.get_membership(ROOM, NEW)
    assert membership is not None and membership.welcomed_at is None

    await bot.clock.advance(25 * 3600)
    assert await bot.app.remind_newcomers() == 0  # "introduce yourself" without a welcome: no


@pytest.mark.calendar_off  # the test runs the job by hand
async def test_the_reminder_goes_to_those_whose_welcome_was_sent(bot: Harness) -> None:
    await bot.puppet.join(ROOM, [NEW], ADMIN)
    await bot.advance(11)
    await bot.clock.advance(24 * 3600)
    assert await bot.app.remind_newcomers() == 1
    await bot.settle()
    assert mentions(bot) == [[NEW], [NEW]]  # the welcome, then the reminder


async def test_a_rejoin_is_a_new_stay_and_is_welcomed_again(bot: Harness) -> None:
    await bot.puppet.join(ROOM, [NEW], ADMIN)
    await bot.advance(11)
    await bot.advance(600)
    await bot.puppet.leave(ROOM, [NEW])
    await bot.advance(600)
    await bot.puppet.join(ROOM, [NEW], "wxid_a")
    await bot.advance(11)
    assert mentions(bot) == [[NEW], [NEW]]

    stays = await bot.app.welcome_store.stays(ROOM, NEW)
    assert [(s.stay, s.inviter_id) for s in stays] == [(1, ADMIN), (2, "wxid_a")]
    assert stays[0].left_at is not None and stays[1].left_at is None
    assert all(s.welcomed_at is not None for s in stays)
    assert await bot.app.welcome_store.leave_count(ROOM, NEW) == 1
    membership = await bot.repo.get_membership(ROOM, NEW)
    assert membership is not None and membership.join_count == 2


async def test_members_found_by_reconciliation_are_not_welcomed_by_default(bot: Harness) -> None:
    bot.puppet.add_contact(NEW, "新人")
    bot.puppet.room_state(ROOM).members[NEW] = SandboxMember()
    bot.app.on_event(
        JoinEvent(ROOM, (NEW,), None, bot.clock.now(), ("新人",), found_by_reconciliation=True)
    )
    await bot.advance(11)
    assert mentions(bot) == []
    assert NEW in await bot.repo.current_members(ROOM)


async def test_members_found_by_reconciliation_are_welcomed_within_the_policy_hours(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path, "profiles: {super: {welcome: {welcome_found_within_hours: 2}}}\n")
    await bot.start()
    for member, joined_ago in ((NEW, timedelta(hours=1)), ("wxid_old", timedelta(hours=3))):
        bot.puppet.add_contact(member, member)
        bot.puppet.room_state(ROOM).members[member] = SandboxMember()
        bot.app.on_event(
            JoinEvent(ROOM, (member,), None, bot.clock.now() - joined_ago, (member,), "reconcile")
        )
    await bot.advance(11)
    assert mentions(bot) == [[NEW]]
    await bot.stop()
