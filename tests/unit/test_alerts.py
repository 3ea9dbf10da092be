"""Alerts: plain Chinese texts, each robot's post format and signature, retries on the
injected clock, never blocking the caller, the ERROR log line.

Every post goes to a robot played by a local HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from bot.alerts import (
    Alert,
    AlertKind,
    AlertsConfig,
    LogAlerter,
    WebhookAlerter,
    WebhookConfig,
    WebhookFormat,
    build_alerter,
    judge,
    plain,
    render,
)
from bot.config import ConfigError, validate_config_text
from bot.vocab.clock import ManualClock

LOGOUT = Alert(
    kind=AlertKind.LOGGED_OUT,
    what="微信账号退出了登录。",
    account_id="wxid_bot",
)

NODE_TRACE = """Error: 操作过于频繁，请稍后再试
    at PuppetService.messageSendText (/app/node_modules/wechaty-puppet-service/dist/src/client.js:812:13)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)
    at async say (/app/node_modules/wechaty/dist/src/user/message.js:300:9)"""

PY_TRACE = """Traceback (most recent call last):
  File "/app/bot/executor.py", line 120, in _run
    await self.transport.say(action)
  File "/app/bot/transport/adapter.py", line 80, in say
    raise RuntimeError("send refused")
RuntimeError: send refused"""


class Robot:
    """A group robot on 127.0.0.1 answering each post with the next canned answer."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers) or [(200, {"errcode": 0, "errmsg": "ok"})]
        self.posts: list[dict[str, Any]] = []
        self.got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        post = {"path": request.path, "query": dict(request.query), "body": await request.json()}
        self.posts.append(post)
        self.got.put_nowait(post)
        status, answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return web.json_response(answer, status=status)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []

    async def start(robot: Robot) -> Robot:
        app = web.Application()
        app.router.add_post("/{tail:.*}", robot.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        robot.url = str(server.make_url("/hook"))
        return robot

    yield start
    for server in servers:
        await server.close()


def alerts_config(*hooks: dict[str, Any], **settings: Any) -> AlertsConfig:
    return AlertsConfig.model_validate({"webhooks": list(hooks), **settings})


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop (and local I/O) run until ``condition`` holds; no wall-clock sleeps."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def deliver(alerter: WebhookAlerter, *alerts: Alert) -> None:
    await alerter.start()
    try:
        for a in alerts:
            alerter.alert(a)
        await alerter.join()
    finally:
        await alerter.stop()


# --------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------


def test_an_alert_reads_in_chinese_what_where_what_the_bot_does_and_what_to_do() -> None:
    assert LOGOUT.text().splitlines() == [
        "【qunbot 告警】微信账号已退出登录",
        "发生了什么：微信账号退出了登录。",
        "在哪里：微信号 wxid_bot",
        "机器人现在：机器人现在收不到也发不出消息，等待重新登录；登录后自动继续工作。",
        "您可以：看看手机微信是否被挤下线或要求安全验证；然后在网关（puppet 服务）上重新扫码登录。",
    ]


def test_every_kind_has_a_chinese_and_an_english_title_and_advice() -> None:
    for kind in AlertKind:
        for language in ("zh", "en"):
            lines = Alert(kind=kind, what="x").text(language).splitlines()
            assert len(lines) == 4 and all(line.strip() for line in lines), (kind, language)
    assert Alert(kind=AlertKind.AWAY, what="x").text("en").startswith("[qunbot alert] The bot")


def test_a_node_stack_trace_never_reaches_the_owners() -> None:
    text = Alert(kind=AlertKind.PAUSE_OPENED, what=NODE_TRACE).text()
    assert "操作过于频繁" in text
    assert "node_modules" not in text and " at " not in text and "say" not in text


def test_a_python_traceback_becomes_its_last_line() -> None:
    assert plain(PY_TRACE) == "RuntimeError: send refused"


def test_a_long_field_is_cut_to_a_phone_screen() -> None:
    cut = plain("很" * 1000)
    assert len(cut) == 300 and cut.endswith("…")


def test_texts_can_be_overridden_per_kind_in_the_config() -> None:
    cfg = AlertsConfig.model_validate(
        {"texts": {"logged_out": {"title": "掉线啦", "owner_can": "找小王扫码"}}}
    )
    lines = render(LOGOUT, "zh", cfg.texts).splitlines()
    assert lines[0] == "【qunbot 告警】掉线啦"
    assert lines[-1] == "您可以：找小王扫码"
    assert lines[-2].startswith("机器人现在：机器人现在收不到")  # the default stays


def test_the_callers_own_advice_wins_over_the_default() -> None:
    alert = Alert(kind=AlertKind.AWAY, what="x", doing="正在重连", owner_can="不用处理")
    assert alert.text().splitlines()[-2:] == ["机器人现在：正在重连", "您可以：不用处理"]


# --------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------


def test_a_webhook_url_must_be_a_web_address() -> None:
    for bad in ("ftp://x/y", "qyapi.weixin.qq.com/send", "https://", "http://a b/"):
        with pytest.raises(ValidationError, match="web"):
            WebhookConfig(url=bad)
    assert WebhookConfig(url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k").url


def test_a_secret_is_only_for_the_signed_robots() -> None:
    with pytest.raises(ValidationError, match="not signed"):
        WebhookConfig(url="https://x/", format=WebhookFormat.WECOM, secret="s")
    with pytest.raises(ValidationError, match="exactly one"):
        WebhookConfig(url="https://x/", url_env="ALERT_URL")


def test_the_alerts_section_is_checked_with_file_positions() -> None:
    text = "alerts:\n  webhooks:\n    - format: wecom\n      url: qyapi.weixin.qq.com\n"
    with pytest.raises(ConfigError) as err:
        validate_config_text(text)
    (issue,) = err.value.issues
    assert (issue.line, issue.field) == (4, "alerts.webhooks[0].url")
    assert "starts with https://" in issue.message


def test_a_config_without_webhooks_alerts_by_the_log_line_only() -> None:
    cfg = validate_config_text("alerts:\n  language: zh\n")
    assert isinstance(build_alerter(cfg.alerts, ManualClock()), LogAlerter)


def test_the_url_may_come_from_the_environment() -> None:
    cfg = alerts_config({"format": "wecom", "url_env": "QUNBOT_ALERT_URL"})
    alerter = WebhookAlerter(cfg, ManualClock(), env={"QUNBOT_ALERT_URL": "https://x.example/h"})
    assert [ch.url for ch in alerter.channels] == ["https://x.example/h"]


def test_a_missing_url_variable_turns_the_webhook_off_with_an_error_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = alerts_config({"format": "wecom", "url_env": "QUNBOT_ALERT_URL"})
    alerter = WebhookAlerter(cfg, ManualClock(), env={})
    assert alerter.channels == []
    assert any(
        r.levelno == logging.ERROR and "QUNBOT_ALERT_URL" in r.getMessage() for r in caplog.records
    )


# --------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------


async def test_wecom_gets_a_text_message_with_the_chinese_alert(serve: Any) -> None:
    robot = await serve(Robot())
    alerter = WebhookAlerter(alerts_config({"format": "wecom", "url": robot.url}), ManualClock())
    await deliver(alerter, LOGOUT)
    (post,) = robot.posts
    assert post["body"] == {"msgtype": "text", "text": {"content": LOGOUT.text()}}
    assert alerter.channels[0].delivered == 1


async def test_dingtalk_gets_a_text_message_signed_in_the_query(serve: Any) -> None:
    robot = await serve(Robot())
    clock = ManualClock()
    url = robot.url + "?access_token=tok"
    cfg = alerts_config({"format": "dingtalk", "url": url, "secret": "SECabc"})
    await deliver(WebhookAlerter(cfg, clock), LOGOUT)
    (post,) = robot.posts
    assert post["body"] == {"msgtype": "text", "text": {"content": LOGOUT.text()}}
    ts = post["query"]["timestamp"]
    assert ts == str(int(clock.now().timestamp() * 1000))  # milliseconds
    # DingTalk 加签: HmacSHA256 keyed by the secret over "timestamp\nsecret", then Base64.
    digest = hmac.new(b"SECabc", f"{ts}\nSECabc".encode(), hashlib.sha256).digest()
    assert post["query"]["sign"] == base64.b64encode(digest).decode()
    assert post["query"]["access_token"] == "tok"


async def test_feishu_gets_a_text_message_with_timestamp_and_sign(serve: Any) -> None:
    robot = await serve(Robot((200, {"code": 0, "msg": "success", "data": {}})))
    clock = ManualClock()
    cfg = alerts_config({"format": "feishu", "url": robot.url, "secret": "fs-secret"})
    await deliver(WebhookAlerter(cfg, clock), LOGOUT)
    (post,) = robot.posts
    ts = str(int(clock.now().timestamp()))  # seconds
    # Feishu 签名校验: HmacSHA256 keyed by "timestamp\nsecret" over nothing, then Base64.
    digest = hmac.new(f"{ts}\nfs-secret".encode(), b"", hashlib.sha256).digest()
    assert post["body"] == {
        "timestamp": ts,
        "sign": base64.b64encode(digest).decode(),
        "msg_type": "text",
        "content": {"text": LOGOUT.text()},
    }


async def test_a_plain_json_post_carries_the_alerts_fields_and_text(serve: Any) -> None:
    robot = await serve(Robot((204, None)))
    clock = ManualClock()
    await deliver(WebhookAlerter(alerts_config({"url": robot.url}), clock), LOGOUT)
    (post,) = robot.posts
    assert post["body"] == {
        "kind": "logged_out",
        "title": "微信账号已退出登录",
        "what": "微信账号退出了登录。",
        "where": "微信号 wxid_bot",
        "doing": "机器人现在收不到也发不出消息，等待重新登录；登录后自动继续工作。",
        "owner_can": "看看手机微信是否被挤下线或要求安全验证；然后在网关（puppet 服务）上重新扫码登录。",
        "account_id": "wxid_bot",
        "language": "zh",
        "at": clock.now().isoformat(),
        "text": LOGOUT.text(),
    }


async def test_a_webhook_gets_only_the_kinds_it_asked_for(serve: Any) -> None:
    robot = await serve(Robot())
    cfg = alerts_config({"format": "wecom", "url": robot.url, "kinds": ["away"]})
    away = Alert(kind=AlertKind.AWAY, what="已经 12 分钟连不上微信。")
    await deliver(WebhookAlerter(cfg, ManualClock()), LOGOUT, away)
    assert [p["body"]["text"]["content"] for p in robot.posts] == [away.text()]


def test_a_robot_that_says_no_with_http_200_has_not_delivered() -> None:
    refused = b'{"errcode": 310000, "errmsg": "sign not match"}'
    assert judge(WebhookFormat.DINGTALK, 200, refused) == (
        False,
        True,
        "the robot answered code 310000: sign not match",
    )
    assert judge(WebhookFormat.WECOM, 200, b'{"errcode":0,"errmsg":"ok"}')[0]
    assert not judge(WebhookFormat.FEISHU, 200, b'{"code":19021,"msg":"sign match fail"}')[0]
    assert judge(WebhookFormat.FEISHU, 200, b'{"StatusCode":0,"StatusMessage":"success"}')[0]
    assert judge(WebhookFormat.JSON, 404, b"")[:2] == (False, False)  # not worth retrying
    assert judge(WebhookFormat.JSON, 429, b"")[:2] == (False, True)


# --------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------


async def test_a_500_then_200_is_delivered_once_after_one_retry(serve: Any) -> None:
    robot = await serve(Robot((500, {}), (200, {"errcode": 0, "errmsg": "ok"})))
    clock = ManualClock()
    alerter = WebhookAlerter(alerts_config({"format": "wecom", "url": robot.url}), clock)
    await alerter.start()
    try:
        alerter.alert(LOGOUT)
        channel = alerter.channels[0]
        await until(lambda: channel.retry_at is not None)
        assert channel.retry_at == clock.monotonic() + 1  # the first backoff step
        assert len(robot.posts) == 1
        await clock.advance(1)
        await alerter.join()
    finally:
        await alerter.stop()
    assert len(robot.posts) == 2 and robot.posts[0]["body"] == robot.posts[1]["body"]
    assert (channel.delivered, channel.given_up) == (1, 0)


async def test_a_robot_refusal_is_retried_with_growing_waits_then_given_up(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    robot = await serve(Robot((200, {"errcode": 45009, "errmsg": "api freq out of limit"})))
    clock = ManualClock()
    cfg = alerts_config({"format": "wecom", "url": robot.url}, max_attempts=4)
    alerter = WebhookAlerter(cfg, clock)
    await alerter.start()
    channel = alerter.channels[0]
    waits = []
    try:
        alerter.alert(LOGOUT)
        for _ in range(3):
            await until(lambda: channel.retry_at is not None)
            wait = channel.retry_at - clock.monotonic()  # type: ignore[operator]
            waits.append(wait)
            await clock.advance(wait)
        await alerter.join()
    finally:
        await alerter.stop()
    assert waits == [1, 2, 5]
    assert len(robot.posts) == 4 and channel.given_up == 1
    gave_up = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert gave_up == [
        "alerts: gave up posting logged_out to wecom 127.0.0.1 "
        "(the robot answered code 45009: api freq out of limit); it is only in this log"
    ]


async def test_a_robot_that_never_answers_does_not_hold_up_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # read the request, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clock = ManualClock()
    cfg = alerts_config({"format": "wecom", "url": f"http://127.0.0.1:{port}/hook"})
    alerter = WebhookAlerter(cfg, clock, flush_seconds=5)
    await alerter.start()
    channel = alerter.channels[0]
    try:
        for minutes in range(3):  # the caller raises alerts while the robot hangs
            alerter.alert(Alert(kind=AlertKind.AWAY, what=f"{minutes}", key=str(minutes)))
        await until(lambda: len(connections) == 1)
        assert len(channel.queue) == 2 and channel.current is not None
        await clock.advance(10)  # the webhook's timeout: the post is abandoned and retried
        await until(lambda: channel.retry_at is not None)
        stopping = asyncio.ensure_future(alerter.stop())
        await clock.advance(5)  # stop waits at most flush_seconds
        await stopping
    finally:
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()
    messages = [r.getMessage() for r in caplog.records]
    assert any("no answer within 10 s" in m for m in messages)
    assert any("3 alert(s) not posted" in m for m in messages)
    assert len([m for m in messages if m.startswith("ALERT away")]) == 3


async def test_every_alert_is_an_error_log_line_even_when_posted(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    robot = await serve(Robot())
    alerter = WebhookAlerter(alerts_config({"format": "wecom", "url": robot.url}), ManualClock())
    await deliver(alerter, LOGOUT)
    (line,) = [r for r in caplog.records if r.getMessage().startswith("ALERT")]
    assert line.levelno == logging.ERROR and line.name == "qunbot.alerts"
    assert line.getMessage() == "ALERT logged_out: " + LOGOUT.text().replace("\n", " | ")


def test_the_log_alerter_writes_the_same_line(caplog: pytest.LogCaptureFixture) -> None:
    alerter = LogAlerter()
    alerter.alert(LOGOUT)
    assert alerter.sent == [LOGOUT]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "ALERT logged_out: " + LOGOUT.text().replace("\n", " | "))
    ]


async def test_the_same_alert_within_ten_minutes_is_posted_once(serve: Any) -> None:
    robot = await serve(Robot())
    clock = ManualClock()
    alerter = WebhookAlerter(alerts_config({"format": "wecom", "url": robot.url}), clock)
    await alerter.start()
    try:
        for _ in range(5):  # a flapping connection
            alerter.alert(LOGOUT)
            await clock.advance(60)
        alerter.alert(Alert(kind=AlertKind.LOGGED_OUT, what="x", account_id="wxid_other"))
        await alerter.join()
        assert len(robot.posts) == 2
        await clock.advance(6 * 60)  # ten minutes after the first
        alerter.alert(LOGOUT)
        await alerter.join()
    finally:
        await alerter.stop()
    assert len(robot.posts) == 3


async def test_a_full_queue_drops_the_oldest_alert_with_a_log_line(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    robot = await serve(Robot())
    cfg = alerts_config({"format": "wecom", "url": robot.url}, queue_size=2)
    alerter = WebhookAlerter(cfg, ManualClock())
    alerts = [
        Alert(kind=AlertKind.HANDLER_FAILING, what=f"第 {i} 次", key=str(i)) for i in range(3)
    ]
    for a in alerts:  # queued before the alerter runs
        alerter.alert(a)
    await deliver(alerter)
    assert [p["body"]["text"]["content"] for p in robot.posts] == [a.text() for a in alerts[1:]]
    assert any(
        "dropped the oldest alert (handler_failing: 第 0 次)" in r.getMessage()
        for r in caplog.records
    )


async def test_the_webhook_url_and_its_key_never_reach_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)  # hangs up
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=SECRET-KEY"
    alerter = WebhookAlerter(
        alerts_config({"format": "wecom", "url": url}, max_attempts=1), ManualClock()
    )
    try:
        await deliver(alerter, LOGOUT)
    finally:
        server.close()
        await server.wait_closed()
    assert alerter.channels[0].given_up == 1
    assert "SECRET-KEY" not in caplog.text and "cgi-bin" not in caplog.text


async def test_alert_never_raises_even_on_a_broken_alert() -> None:
    alerter = WebhookAlerter(alerts_config({"url": "http://127.0.0.1:9/"}), ManualClock())
    alerter.alert(None)  # type: ignore[arg-type]
    LogAlerter().alert(None)  # type: ignore[arg-type]
