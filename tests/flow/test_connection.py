"""Logins, losses of connection and the owners' notice after a long absence."""

from __future__ import annotations

from bot.events import ConnectionEvent
from tests.flow.harness import OWNER, Harness


async def lost_and_back(bot: Harness, minutes: float) -> None:
    bot.transport._emit(ConnectionEvent("disconnected", bot.clock.now(), "stream ended"))
    await bot.settle()
    await bot.clock.advance(minutes * 60)
    bot.transport._emit(ConnectionEvent("connected", bot.clock.now(), "logged in again"))
    await bot.settle()


def notices(bot: Harness) -> list[str]:
    return [c.args["message"] for c in bot.sent() if c.args["conversation_id"] == OWNER]


async def test_the_owners_are_told_after_a_long_absence_only(bot: Harness) -> None:
    await lost_and_back(bot, 3)
    assert notices(bot) == []  # a short blip is not worth a message
    await lost_and_back(bot, 25)
    assert len(notices(bot)) == 1 and "25 分钟" in notices(bot)[0]
    report = await bot.repo.status_report()
    events = [c["event"] for c in report["recent_connections"]]
    assert events[:4] == ["reconnect", "disconnect", "reconnect", "disconnect"]
    assert "login" in events


async def test_a_login_is_recorded(bot: Harness) -> None:
    report = await bot.repo.status_report()
    logins = [c for c in report["recent_connections"] if c["event"] == "login"]
    assert len(logins) == 1 and logins[0]["account_id"] == "wxid_bot"
