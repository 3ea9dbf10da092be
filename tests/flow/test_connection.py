"""Logins, losses of connection, logouts: the owners' alerts and their notice after a long absence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.alerts import AlertKind, LogAlerter
from bot.vocab.events import ConnectionEvent, LogoutEvent
from tests.flow.harness import BOT, OWNER, Harness


async def lost_and_back(bot: Harness, minutes: float) -> None:
    bot.transport._emit(ConnectionEvent("disconnected", bot.clock.now(), "stream ended"))
    await bot.settle()
    await bot.clock.advance(minutes * 60)
    bot.transport._emit(ConnectionEvent("connected", bot.clock.now(), "logged in again"))
    await bot.settle()


def notices(bot: Harness) -> list[str]:
    return [c.args["message"] for c in bot.sent() if c.args["conversation_id"] == OWNER]


def alerts(bot: Harness) -> list[str]:
    alerter = bot.app.alerter
    assert isinstance(alerter, LogAlerter)  # no webhooks configured in the harness
    return [a.text() for a in alerter.sent]


async def test_the_owners_are_told_after_a_long_absence_only(bot: Harness) -> None:
    await lost_and_back(bot, 3)
    assert notices(bot) == [] and alerts(bot) == []  # a short blip is not worth a message
    await lost_and_back(bot, 25)
    assert len(notices(bot)) == 1 and "25 分钟" in notices(bot)[0]
    report = await bot.repo.status_report()
    events = [c["event"] for c in report["recent_connections"]]
    assert events[:4] == ["reconnect", "disconnect", "reconnect", "disconnect"]
    assert "login" in events


async def test_a_long_absence_is_alerted_while_still_away_and_again_when_back(
    bot: Harness,
) -> None:
    bot.transport._emit(ConnectionEvent("disconnected", bot.clock.now(), "stream ended"))
    await bot.settle()
    await bot.clock.advance(5 * 60)
    bot.transport._emit(ConnectionEvent("reconnecting", bot.clock.now(), "attempt 7"))
    await bot.settle()
    assert alerts(bot) == []  # 5 minutes: under the 10-minute threshold
    await bot.clock.advance(7 * 60)
    for attempt in (8, 9):  # every further attempt: told once, not at each one
        bot.transport._emit(ConnectionEvent("reconnecting", bot.clock.now(), f"attempt {attempt}"))
        await bot.settle()
    assert alerts(bot) == [
        "【qunbot 告警】机器人与微信断开了连接\n"
        "发生了什么：已经 12 分钟连不上微信，机器人还在重连。\n"
        f"在哪里：微信号 {BOT}\n"
        "机器人现在：机器人在自动重连，连上后照常工作；断线期间的入群欢迎和消息可能有遗漏。\n"
        "您可以：检查网关（puppet 服务）和服务器网络；如果一直连不上，重启网关。"
    ]
    assert notices(bot) == []  # the account is away: nothing is sent through it
    await bot.clock.advance(3 * 60)
    bot.transport._emit(ConnectionEvent("connected", bot.clock.now(), "logged in again"))
    await bot.settle()
    assert alerts(bot)[1].splitlines()[1:] == [
        "发生了什么：与微信断开了约 15 分钟，现已恢复连接。",
        f"在哪里：微信号 {BOT}",
        "机器人现在：机器人已恢复工作；断线期间的入群欢迎和消息可能有遗漏。",
        "您可以：不用处理；如有新人没收到欢迎，可以手动欢迎一下。",
    ]
    assert notices(bot) == [
        "⚠️ 群管家 刚才与微信断开了约 15 分钟，现已恢复。断线期间的入群欢迎和消息可能有遗漏。"
    ]


async def test_a_logout_alerts_the_owners_without_a_wechat_message(bot: Harness) -> None:
    bot.transport._emit(LogoutEvent(BOT, bot.clock.now(), "被挤下线"))
    await bot.settle()
    alerter = bot.app.alerter
    assert isinstance(alerter, LogAlerter)
    assert [a.kind for a in alerter.sent] == [AlertKind.LOGGED_OUT]
    assert alerts(bot)[0].splitlines()[:3] == [
        "【qunbot 告警】微信账号已退出登录",
        "发生了什么：微信账号退出了登录。原因：被挤下线",
        f"在哪里：微信号 {BOT}",
    ]
    assert notices(bot) == []
    report = await bot.repo.status_report()
    assert report["recent_connections"][0]["event"] == "logout"


async def test_a_logout_reaches_the_owners_wecom_group_robot(tmp_path: Path) -> None:
    posts: list[dict[str, Any]] = []

    async def robot(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    robot_app = web.Application()
    robot_app.router.add_post("/cgi-bin/webhook/send", robot)
    server = TestServer(robot_app, host="127.0.0.1")
    await server.start_server()
    url = server.make_url("/cgi-bin/webhook/send?key=k")
    bot = Harness(tmp_path, f"alerts:\n  webhooks:\n    - {{format: wecom, url: '{url}'}}\n")
    try:
        await bot.start()
        bot.transport._emit(LogoutEvent(BOT, bot.clock.now(), "被挤下线"))
        await bot.settle()
        await asyncio.wait_for(bot.app.alerter.join(), 10)
        await bot.stop()
    finally:
        await server.close()
    (post,) = posts
    assert post["msgtype"] == "text"
    assert post["text"]["content"].startswith("【qunbot 告警】微信账号已退出登录\n")


async def test_a_login_is_recorded(bot: Harness) -> None:
    report = await bot.repo.status_report()
    logins = [c for c in report["recent_connections"] if c["event"] == "login"]
    assert len(logins) == 1 and logins[0]["wechat_id"] == "wxid_bot"
