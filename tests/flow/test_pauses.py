"""Risk-control pauses across restarts, owners closing them, and send retries.

The whole app on the in-process puppet with a manual clock; restarts open a
new App on the same SQLite file with the same clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from bot.cli import pause_clear
from bot.vocab.actions import ActionKind, RemoveMember, Say
from storage.db import session_factory
from storage.outbox_retry import OutboxRetries
from tests.flow.harness import ACCOUNT, OWNER, ROOM, Harness

DAY = 24 * 3600.0


async def pause_messages(h: Harness) -> None:
    """A reply is refused with a risk-control error: messages pause for 24 h."""
    h.puppet.fail_next("message_send_text", 1, "操作过于频繁")
    await h.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await h.settle()
    assert h.app.executor.governor.is_open(ActionKind.MESSAGE, h.clock.monotonic())


async def asks(h: Harness, text: str = "#规则") -> int:
    """A member asks something; how many texts went out because of it.

    A minute apart, so the same answer is not held back as a repeat."""
    await h.clock.advance(61)
    before = len(h.sent())
    await h.puppet.member_says(ROOM, "wxid_a", text)
    await h.settle()
    return len(h.sent()) - before


async def test_a_pause_survives_a_restart_and_ends_at_its_time(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    await first.start()
    await pause_messages(first)
    await first.stop()

    await first.clock.advance(60)  # restarted a minute later
    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    assert await asks(second) == 0  # still paused: nothing sent
    assert second.puppet.calls_to("message_send_text") == []
    pauses = await second.app.pauses.open_pauses(ACCOUNT, second.clock.now())
    assert [(p.kind, p.error) for p in pauses] == [("message", "SandboxPuppetError: 操作过于频繁")]

    await second.clock.advance(DAY - 60)  # the pause ends 24 h after the error
    assert await asks(second) == 1
    await second.stop()


async def test_a_crash_does_not_end_a_pause_either(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    await first.start()
    await pause_messages(first)
    await first.crash()
    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    assert await asks(second) == 0
    await second.stop()


async def test_pause_clear_from_the_command_line_reaches_the_running_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Harness(tmp_path)
    await first.start()
    await pause_messages(first)
    await first.stop()
    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    assert await asks(second) == 0

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{second.db_path}")
    now = second.clock.now()
    assert await pause_clear(second.config, tmp_path, "message", now=now) == 0
    assert await asks(second) == 1  # the running bot saw it closed
    audit = [a for a in await second.repo.recent_audit(20) if a.action == "close_pause"]
    assert [(a.kind, a.target_id, a.detail["account_id"]) for a in audit] == [
        ("message", "cli", ACCOUNT)
    ]
    await second.stop()

    third = Harness(tmp_path, clock=first.clock)  # and it stays closed after a restart
    await third.start()
    assert await asks(third) == 1
    await third.stop()


async def test_the_owner_closes_a_pause_with_a_command_in_the_group(tmp_path: Path) -> None:
    bot = Harness(tmp_path)
    await bot.start()
    await pause_messages(bot)
    await bot.puppet.member_says(ROOM, OWNER, "#解除暂停 message")
    await bot.settle()
    (reply,) = bot.sent(ROOM)
    assert "已解除" in reply.args["message"] and list(reply.args["mention_ids"]) == [OWNER]
    assert await asks(bot) == 1
    audit = [a for a in await bot.repo.recent_audit(20) if a.action == "close_pause"]
    assert [(a.kind, a.status, a.target_id) for a in audit] == [("message", "done", OWNER)]
    await bot.stop()

    again = Harness(tmp_path, clock=bot.clock)  # closed for good: a restart keeps it closed
    await again.start()
    assert await asks(again) == 1
    await again.stop()


async def test_an_impostor_with_the_owners_name_is_politely_refused(tmp_path: Path) -> None:
    bot = Harness(tmp_path)
    await bot.start()
    bot.puppet.fail_next("room_delete", 1, "操作过于频繁")
    await bot.app.executor.submit([RemoveMember(room=ROOM, member_id="wxid_a", reason="test")])
    await bot.settle()
    assert bot.app.executor.governor.is_open(ActionKind.REMOVE, bot.clock.monotonic())

    bot.puppet.add_contact("wxid_impostor", "群主")  # the owner's display name
    await bot.puppet.direct_message("wxid_impostor", "#解除暂停 remove")
    await bot.settle()
    (refusal,) = [c for c in bot.sent() if c.args["conversation_id"] == "wxid_impostor"]
    assert "只有群主" in refusal.args["message"]
    assert bot.app.executor.governor.is_open(ActionKind.REMOVE, bot.clock.monotonic())
    assert await bot.app.pauses.open_pauses(ACCOUNT, bot.clock.now()) != []

    await bot.puppet.direct_message(OWNER, "#解除暂停 remove")  # the real owner, privately
    await bot.settle()
    assert not bot.app.executor.governor.is_open(ActionKind.REMOVE, bot.clock.monotonic())
    assert "已解除" in bot.sent()[-1].args["message"]
    await bot.app.executor.submit([RemoveMember(room=ROOM, member_id="wxid_a", reason="again")])
    await bot.settle()
    assert bot.puppet.calls_to("room_delete")[-1].error is None
    await bot.stop()


async def test_a_non_message_pause_notices_the_owners_in_plain_chinese(bot: Harness) -> None:
    bot.puppet.fail_next(
        "room_delete",
        1,
        "Error: 操作过于频繁\n    at PuppetXp.roomDel (/app/x.js:1:1)\n    at say (/app/y.js:2:2)",
    )
    await bot.app.executor.submit([RemoveMember(room=ROOM, member_id="wxid_a", reason="test")])
    await bot.settle()
    (notice,) = [c for c in bot.sent() if c.args["conversation_id"] == OWNER]
    text = notice.args["message"]
    assert "移出群成员" in text and "操作过于频繁" in text and "暂停" in text
    assert " at " not in text and "say" not in text and "roomDel" not in text
    alerts = bot.app.executor._alerter.sent  # type: ignore[attr-defined]
    assert [a.kind for a in alerts] == ["pause_opened"] and "\n" not in alerts[0].what


async def test_a_connection_reset_once_is_retried_and_delivered_once(bot: Harness) -> None:
    bot.puppet.fail_next("message_send_text", 1, "read ECONNRESET")
    assert await asks(bot, "#帮助") == 1
    calls = bot.puppet.calls_to("message_send_text")
    assert [c.ok for c in calls] == [False, True]
    assert (calls[1].at - calls[0].at).total_seconds() >= 5  # after the first backoff
    counts = await bot.repo.outbox_counts()
    assert counts["message"] == {"done": 1}
    assert not bot.app.executor.governor.is_open(ActionKind.MESSAGE, bot.clock.monotonic())
    assert [a.status for a in await bot.repo.recent_audit(5)] == ["done"]


async def test_a_risk_error_is_never_retried(bot: Harness) -> None:
    await pause_messages(bot)
    await bot.clock.advance(600)
    await bot.settle()
    assert len(bot.puppet.calls_to("message_send_text")) == 1
    assert (await bot.repo.outbox_counts())["message"] == {"failed": 1}


async def test_retries_are_bounded_then_the_action_fails(bot: Harness) -> None:
    bot.puppet.fail_next("message_send_text", 10, "UNAVAILABLE: connection closed")
    day = bot.clock.now() + timedelta(days=1)
    await bot.app.executor.submit(
        [Say(room=ROOM, text="公告", reason="a post valid all day", not_after=day)]
    )
    await bot.settle()
    calls = bot.puppet.calls_to("message_send_text")
    gaps = [round((b.at - a.at).total_seconds()) for a, b in pairwise(calls)]
    assert len(calls) == 4 and gaps[0] >= 5 and gaps[1] >= 30 and gaps[2] >= 120
    item = (await bot.repo.outbox_counts())["message"]
    assert item == {"failed": 1}
    assert [a.status for a in await bot.repo.recent_audit(5)] == ["failed"]


async def test_a_retry_waiting_at_a_crash_is_sent_after_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set once the executor has stored the retry: it then goes straight to
    # waiting on the (manual) clock, with nothing in flight.
    stored = asyncio.Event()
    retry_later = OutboxRetries.retry_later

    async def storing(self: OutboxRetries, *args: Any, **kwargs: Any) -> bool:
        put_back = await retry_later(self, *args, **kwargs)
        stored.set()
        return put_back

    monkeypatch.setattr(OutboxRetries, "retry_later", storing)
    first = Harness(tmp_path)
    await first.start()
    first.puppet.fail_next("message_send_text", 1, "ECONNRESET")
    await first.puppet.member_says(ROOM, "wxid_a", "#帮助")
    assert not (await first.puppet.wait_for_call("message_send_text")).ok
    await stored.wait()
    retries = OutboxRetries(session_factory(first.app.engine), account_id=ACCOUNT)
    assert await retries.not_before()
    await first.app.settle(send=False)  # the activity log is written, as in the other crash tests
    await first.crash()

    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    await second.settle()
    assert [c.ok for c in second.puppet.calls_to("message_send_text")] == [True]
    (item,) = [
        i for i in [await second.repo.outbox_get(k) for k in await _keys(second)] if i is not None
    ]
    assert (item.status, item.attempts) == ("done", 2)
    await second.stop()


async def _keys(h: Harness) -> list[str]:
    from sqlalchemy import select

    from storage.models import Outbox

    async with h.app.engine.connect() as conn:
        return list((await conn.scalars(select(Outbox.key))).all())
