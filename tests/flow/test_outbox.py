"""Nothing lost, nothing repeated: the outbox across a crash and a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bot.vocab.actions import Say, to_payload
from storage.types import NewOutboxItem
from tests.flow.harness import ROOM, Harness


async def _recorded(bot: Harness, done: int) -> None:
    """Yield until ``done`` messages are recorded as done in the outbox."""
    for _ in range(100_000):
        if (await bot.repo.outbox_counts()).get("message", {}).get("done", 0) >= done:
            return
        await asyncio.sleep(0)
    raise AssertionError("the outcome was never recorded")


async def test_an_action_queued_before_a_crash_is_sent_once_after_restart(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    await first.start()
    await first.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await first.puppet.member_says(ROOM, "wxid_a", "#规则")
    await first.app.settle(send=False)
    await first.clock.advance(0.5)  # the first reply goes; the second waits for the room gap
    assert len(first.sent(ROOM)) == 1
    await _recorded(first, done=1)  # its outcome is written (on a slow machine: after the send)
    await first.crash()

    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    await second.settle()
    resent = second.sent(ROOM)
    assert len(resent) == 1 and "1. " in resent[0].args["message"]  # the rules, once
    counts = await second.repo.outbox_counts()
    assert counts["message"] == {"done": 2}
    await second.stop()

    third = Harness(tmp_path, clock=first.clock)  # and never again
    await third.start()
    await third.settle()
    assert third.sent(ROOM) == []
    await third.stop()


async def test_an_action_cut_off_while_sending_is_not_repeated(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    await first.start()
    await first.crash()
    second = Harness(tmp_path, clock=first.clock)
    now = second.clock.now()
    # The outbox as a bot killed mid-send leaves it: claimed, no result recorded.
    cut = Say(room=ROOM, text="半截", key="say:cut")
    await second.repo.outbox_add(
        [
            NewOutboxItem(
                key=cut.key,
                action="say",
                payload=to_payload(cut),
                kind="message",
                room_id=ROOM,
                priority=int(cut.priority),
                created_at=now,
            )
        ]
    )
    assert await second.repo.outbox_claim(cut.key, now)
    await second.start()
    await second.settle()
    assert second.sent(ROOM) == []  # it may have reached WeChat: never sent twice
    item = await second.repo.outbox_get(cut.key)
    assert item is not None and item.status == "in_doubt"
    assert [a.status for a in await second.repo.recent_audit(5)] == ["in_doubt"]
    await second.stop()


async def test_a_stale_action_expires_instead_of_going_out_late(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    await first.start()
    await first.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await first.app.settle(send=False)
    await first.clock.advance(0.5)
    deadline = first.clock.now() + timedelta(minutes=5)
    await first.app.executor.submit(
        [Say(room=ROOM, text="早安资讯", key="morning:1", not_after=deadline)]
    )
    await first.crash()

    await first.clock.advance(3600)  # the bot was down for an hour
    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    await second.settle()
    assert second.sent(ROOM) == []
    item = await second.repo.outbox_get("morning:1")
    assert item is not None and item.status == "expired"
    audit = await second.repo.recent_audit(5)
    assert ("say", "expired") in [(a.action, a.status) for a in audit]
    await second.stop()


async def test_the_same_key_submitted_twice_is_one_action(bot: Harness) -> None:
    await bot.app.executor.submit([Say(room=ROOM, text="一次", key="once")])
    await bot.app.executor.submit([Say(room=ROOM, text="一次", key="once")])
    await bot.settle()
    assert [c.args["message"] for c in bot.sent(ROOM)] == ["一次"]


async def test_status_counts_actions_per_kind_from_the_database(bot: Harness) -> None:
    await bot.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await bot.puppet.member_says(ROOM, "wxid_a", "#规则")  # waits for the room gap
    await bot.settle()
    report = await bot.repo.status_report()
    assert report["actions"]["message"] | {} == {
        "sent": 2,
        "delayed": 1,
        "refused": 0,
        "failed": 0,
        "expired": 0,
        "in_doubt": 0,
        "pending": 0,
        "dry_run": 0,
    }


async def test_what_is_still_queued_at_shutdown_is_sent_after_the_next_start(
    tmp_path: Path,
) -> None:
    first = Harness(tmp_path)
    await first.start()
    first.app.executor._drain_timeout = 0  # stop at once: nothing may be dropped
    await first.app.executor.submit(
        [Say(room=ROOM, text=f"第{i}条", key=f"queued:{i}") for i in range(3)]
    )
    await first.app.stop()  # at most the first went out; the rest wait for the room gap
    before = [c.args["message"] for c in first.sent(ROOM)]
    assert len(before) <= 1

    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    await second.settle()
    after = [c.args["message"] for c in second.sent(ROOM)]
    assert before + after == ["第0条", "第1条", "第2条"]  # nothing lost, nothing twice
    await second.stop()
