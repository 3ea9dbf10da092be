"""A risk-control pause survives a restart of ``qunbot run`` (issue 6.1).

WeChat answers a send with "操作过于频繁": messages pause.  The process is
restarted (SIGTERM, a new process): the new one sends nothing while the pause
is open, ``qunbot status`` lists it, and ``qunbot pause clear message`` lets
the next reply out without another restart.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, ROOM, YAML, eventually
from tests.e2e.operator import qunbot, replies, write_config
from tests.e2e.peer import NodePeer
from tests.e2e.qunbot_process import QunbotProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def processes() -> AsyncIterator[list[QunbotProcess]]:
    started: list[QunbotProcess] = []
    yield started
    for proc in started:
        await proc.kill()


async def test_after_a_restart_the_pause_holds_status_shows_it_and_pause_clear_ends_it(
    peer: NodePeer, tmp_path: Path, processes: list[QunbotProcess]
) -> None:
    config = write_config(
        tmp_path, YAML + "governor: {switch_delay_min: 0, switch_delay_max: 0.2, room_gap_s: 1}\n"
    )
    first = QunbotProcess(peer, config, "first")
    processes.append(first)
    await first.spawn()
    await first.logged_in()

    await peer.cmd("fail", method="messageSendText", times=1, error="操作过于频繁，请稍后再试")
    mark = peer.mark()
    await peer.cmd("say", sender="wxid_a", room=ROOM, text="#帮助")
    refused = await peer.wait_for_call("messageSendText", timeout=30, since=mark)
    assert refused["error"] is not None

    async def paused() -> bool:
        return any("ALERT pause_opened" in line for line in first.stderr_lines())

    await eventually(paused, within=20)  # stored before the alert is raised
    assert await first.terminate() == 0

    second = QunbotProcess(peer, config, "second")
    processes.append(second)
    await second.spawn()
    await second.logged_in()
    restored = [line for line in second.stderr_lines() if "stay paused until" in line]
    assert len(restored) == 1 and "message actions" in restored[0], second.stderr_lines()[-20:]

    mark = peer.mark()
    await peer.cmd("say", sender="wxid_a", room=ROOM, text="#规则")

    async def refused_by_the_pause() -> bool:
        return any("not executed" in line for line in second.stderr_lines())

    await eventually(refused_by_the_pause, within=20)
    assert peer.calls_of("messageSendText", mark) == []  # nothing sent at all, no notice

    code, out, err = await qunbot(config, "status", "--json")
    assert code == 0, err
    pauses = json.loads(out)["pauses"]
    assert [p["kind"] for p in pauses] == ["message"]
    assert "操作过于频繁" in pauses[0]["error"] and pauses[0]["until"]

    code, out, err = await qunbot(config, "pause", "clear", "message")
    assert code == 0, err
    assert out.startswith("closed the message pause of default"), out

    mark = peer.mark()
    await peer.cmd("say", sender=ADMIN, room=ROOM, text="#帮助")
    reply = await peer.wait_for_call(
        "messageSendText", lambda c: c["error"] is None, timeout=30, since=mark
    )
    assert reply["args"][0] == ROOM and reply["args"][2] == [ADMIN]  # the running bot resumed
    assert len(replies(peer)) == 1  # the refused one was never sent later
