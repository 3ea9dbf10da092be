"""Stopping the bot leaves the account logged in on the gateway.

A gateway's ``Stop()`` stops its puppet, which logs the real WeChat account
out: every deploy would log out and in again (a new scan, a risk-control
trigger).  The bot only closes its connection, as a reconnect does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import load_config
from tests.e2e.conftest import YAML, LiveBot
from tests.e2e.peer import NodePeer
from tests.e2e.qunbot_process import QunbotProcess

pytestmark = pytest.mark.e2e


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "bot.yaml"
    config.write_text(
        YAML
        + f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'bot.db'}'}}\n"
        # each run is asked the same #帮助: answer it again (not a repeat)
        + "commands: {repeat_window_seconds: 0}\n",
        encoding="utf-8",
    )
    load_config(config)  # valid before anything runs
    return config


@pytest.fixture
async def processes() -> AsyncIterator[list[QunbotProcess]]:
    started: list[QunbotProcess] = []
    yield started
    for proc in started:
        await proc.kill()


async def test_sigterm_leaves_the_account_logged_in_and_the_next_run_needs_no_new_login(
    peer: NodePeer, tmp_path: Path, processes: list[QunbotProcess]
) -> None:
    config = write_config(tmp_path)
    first = QunbotProcess(peer, config, "first")
    processes.append(first)
    await first.spawn()
    await first.logged_in()  # the gateway's puppet started and logged in
    await first.answers()
    logins_before = (await peer.state())["logins"]
    assert logins_before == 1

    assert await first.terminate() == 0
    assert peer.calls_of("stop") == []
    assert peer.calls_of("logout") == []
    state = await peer.state()
    assert state["loggedIn"] is True
    assert state["logins"] == logins_before

    second = QunbotProcess(peer, config, "second")
    processes.append(second)
    await second.spawn()
    await second.logged_in()
    await second.answers()
    state = await peer.state()
    assert state["loggedIn"] is True
    assert state["logins"] == logins_before  # no new login, so no new scan
    assert peer.calls_of("stop") == [] and peer.calls_of("logout") == []


async def test_the_apps_own_stop_makes_no_stop_or_logout_call(
    peer: NodePeer, tmp_path: Path
) -> None:
    bot = LiveBot(peer, tmp_path)
    await bot.start()
    await bot.stop()
    assert peer.calls_of("stop") == []
    assert peer.calls_of("logout") == []
    assert (await peer.state())["loggedIn"] is True
