"""A welcome is never lost, doubled or misdirected (issue 6.8), against the peer.

SIGKILL inside the welcome window: the newcomer is welcomed once after the
restart.  A replayed room-join (the same raw event again): one welcome.  A
newcomer who leaves inside the window: not mentioned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.db import create_engine, session_factory
from storage.lease import Leases
from tests.e2e.conftest import ADMIN, OWNER, ROOM, LiveBot, eventually
from tests.e2e.operator import replies, write_config
from tests.e2e.peer import NodePeer
from tests.e2e.qunbot_process import QunbotProcess

pytestmark = pytest.mark.e2e

NEWCOMER = {"id": "wxid_n1", "name": "新人一"}
LEAVER = {"id": "wxid_n2", "name": "新人二"}

# A window long enough to kill the bot inside it on a slow machine; a killed
# process's hold on the account lapses after 2 s.
KILL_YAML = f"""
transport: {{kind: wechaty}}
owners: [{OWNER}]
admins: [{ADMIN}]
groups:
  {ROOM}: {{name: 端到端一群, tier: member, welcome: {{window_seconds: 6}}}}
bot: {{lease_ttl_seconds: 2, lease_renew_seconds: 1}}
"""


def welcomes_of(peer: NodePeer, member: str, since: int = 0) -> list[dict]:
    return [c for c in replies(peer, ROOM, since) if member in c["args"][2]]


@pytest.fixture
async def processes() -> AsyncIterator[list[QunbotProcess]]:
    started: list[QunbotProcess] = []
    yield started
    for proc in started:
        await proc.kill()


def pending_welcomes(db: Path, member: str) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM pending_welcomes WHERE contact_id = ? AND status = 'pending'",
            (member,),
        ).fetchone()
    return int(count)


async def lease_lapsed(db: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        lease = await Leases(session_factory(engine)).get("default")
    finally:
        await engine.dispose()
    if lease is None:
        return

    async def lapsed() -> bool:
        return datetime.now(UTC) > lease.expires_at

    await eventually(lapsed, within=10)


async def test_killed_inside_the_welcome_window_the_newcomer_is_welcomed_once_after_restart(
    peer: NodePeer, tmp_path: Path, processes: list[QunbotProcess]
) -> None:
    config = write_config(tmp_path, KILL_YAML)
    db = tmp_path / "bot.db"
    first = QunbotProcess(peer, config, "first")
    processes.append(first)
    await first.spawn()
    await first.logged_in()
    await first.answers("#帮助")  # its login snapshot is taken: wxid_a is no newcomer

    await peer.cmd("join", room=ROOM, members=[NEWCOMER], inviter=OWNER)

    async def pending() -> bool:
        return pending_welcomes(db, NEWCOMER["id"]) == 1

    await eventually(pending, within=5)  # well inside the 6 s window
    await first.kill()
    assert welcomes_of(peer, NEWCOMER["id"]) == []  # killed before it went out

    await lease_lapsed(db)
    second = QunbotProcess(peer, config, "second")
    processes.append(second)
    await second.spawn()
    welcome = await peer.wait_for_call(
        "messageSendText",
        lambda c: c["error"] is None and NEWCOMER["id"] in c["args"][2],
        timeout=40,
    )
    assert "@新人一" in welcome["args"][1]
    await second.answers("#规则")  # served after the welcome: nothing else pending
    assert len(welcomes_of(peer, NEWCOMER["id"])) == 1


async def test_a_replayed_join_event_gets_one_welcome(peer: NodePeer, tmp_path: Path) -> None:
    bot = LiveBot(peer, tmp_path)
    await bot.start()
    try:
        joined = await peer.cmd("join", room=ROOM, members=[NEWCOMER], inviter=OWNER)
        replayed = await peer.cmd("replay", event="room-join")  # inside the window
        assert replayed == joined["payload"]
        await peer.wait_for_call(
            "messageSendText", lambda c: NEWCOMER["id"] in c["args"][2], timeout=20
        )
        await peer.cmd("replay", event="room-join")  # and after the welcome
        await bot.app.settle()
        assert len(welcomes_of(peer, NEWCOMER["id"])) == 1
    finally:
        await bot.stop()


async def test_a_newcomer_who_leaves_inside_the_window_is_not_mentioned(
    peer: NodePeer, tmp_path: Path
) -> None:
    bot = LiveBot(peer, tmp_path)
    await bot.start()
    try:
        await peer.cmd("join", room=ROOM, members=[NEWCOMER], inviter=OWNER)
        await peer.cmd("join", room=ROOM, members=[LEAVER], inviter=OWNER)
        await peer.cmd("leave", room=ROOM, members=[LEAVER["id"]])  # inside the 2 s window
        welcome = await peer.wait_for_call(
            "messageSendText", lambda c: NEWCOMER["id"] in c["args"][2], timeout=20
        )
        await bot.app.settle()
        assert welcome["args"][2] == [NEWCOMER["id"]]
        assert "新人二" not in welcome["args"][1]
        assert welcomes_of(peer, LEAVER["id"]) == []
    finally:
        await bot.stop()
