"""Owners hear about trouble by webhook, not through the troubled account (issue 6.2).

``qunbot run`` with an ``alerts:`` section posting to a local WeCom-style
robot: a risk-control pause and a logout each arrive as one POST of plain
Chinese text, without the gateway's stack trace; no WeChat notice goes
through the paused account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import OWNER, ROOM, YAML
from tests.e2e.operator import WebhookSink, wecom_text, write_config
from tests.e2e.peer import NodePeer
from tests.e2e.qunbot_process import QunbotProcess

pytestmark = pytest.mark.e2e

# What a gateway answers on a refused send: the refusal and a Node stack.
REFUSAL = (
    "Error: 操作过于频繁，请稍后再试\n"
    "    at PuppetPadlocal.messageSendText (/srv/gateway/node_modules/wechaty-puppet-padlocal/"
    "dist/src/puppet-padlocal.js:512:17)\n"
    "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"
)


@pytest.fixture
async def sink() -> AsyncIterator[WebhookSink]:
    hook = WebhookSink()
    await hook.start()
    yield hook
    await hook.stop()


async def test_a_pause_and_a_logout_each_reach_the_webhook_once_in_plain_chinese(
    peer: NodePeer, tmp_path: Path, sink: WebhookSink
) -> None:
    config = write_config(
        tmp_path, YAML + f"alerts: {{webhooks: [{{format: wecom, url: '{sink.url}'}}]}}\n"
    )
    bot = QunbotProcess(peer, config, "bot")
    try:
        await bot.spawn()
        await bot.logged_in()
        await peer.cmd("fail", method="messageSendText", times=1, error=REFUSAL)
        mark = peer.mark()
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#帮助")

        (paused,) = await sink.wait_for(1)
        text = wecom_text(paused)
        assert text.startswith("【qunbot 告警】微信风控：部分操作已暂停")
        assert "操作过于频繁" in text and "qunbot pause clear message" in text
        for trace in ("node_modules", "    at ", "processTicks", ".js:", "say", "Error"):
            assert trace not in text, text

        await peer.cmd("logout", reason="peer logout")
        posts = await sink.wait_for(2)
        assert "微信账号已退出登录" in wecom_text(posts[1])
        assert await bot.terminate() == 0  # pending alerts are flushed on the way out
    finally:
        await bot.kill()

    assert len(sink.posts) == 2  # one POST each, no repeats
    # The paused account sent nothing more: no notice to the owners, no retry.
    sent = peer.calls_of("messageSendText", mark)
    assert [c["args"][0] for c in sent] == [ROOM] and sent[0]["error"] is not None
    assert all(c["args"][0] != OWNER for c in peer.calls_of("messageSendText"))
