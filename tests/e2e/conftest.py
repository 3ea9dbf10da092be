"""End-to-end fixtures: the real bot over real gRPC against the Node puppet service."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, AppOptions
from bot.config import validate_config_text
from bot.transport.adapter import WechatyTransport
from bot.transport.service import ServicePuppet
from bot.vocab.clock import SystemClock
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

BOT = "wxid_bot"
OWNER = "wxid_owner"
ADMIN = "wxid_admin"
STRANGER = "wxid_stranger"
ROOM = "r1@chatroom"
MEMBERS = [("wxid_a", "阿甲"), ("wxid_b", "阿乙")]

YAML = f"""
transport: {{kind: wechaty}}
owners: [{OWNER}]
admins: [{ADMIN}]
groups:
  {ROOM}: {{name: 端到端一群, profile: member, welcome: {{window_seconds: 2}}}}
"""


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Poll a condition across the gRPC round trip, with a bound (not a test of speed)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def peer() -> AsyncIterator[NodePeer]:
    async with NodePeer() as node:
        await node.cmd(
            "setup",
            user={"id": BOT, "name": "群管家"},
            contacts=[
                {"id": OWNER, "name": "群主"},
                {"id": ADMIN, "name": "管理员"},
                {"id": STRANGER, "name": "路人"},
                *({"id": i, "name": n} for i, n in MEMBERS),
            ],
            rooms=[
                {
                    "id": ROOM,
                    "topic": "端到端一群",
                    "memberIds": [BOT, OWNER, ADMIN, "wxid_a"],
                    "ownerId": OWNER,
                    "adminIds": [BOT],
                }
            ],
        )
        await node.cmd("login")
        yield node


class LiveBot:
    def __init__(
        self, peer: NodePeer, tmp_path: Path, extra_yaml: str = "", **transport: Any
    ) -> None:
        self.peer = peer
        self.config = validate_config_text(YAML + textwrap.dedent(extra_yaml), "e2e.yaml")
        self.transport = WechatyTransport(
            ServicePuppet(peer.endpoint, peer.token), clock=SystemClock(), **transport
        )
        self.app = App(
            self.config,
            self.transport,
            AppOptions(
                base_dir=tmp_path,
                env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"},
                start_calendar=False,
            ),
        )

    @property
    def repo(self) -> Any:
        return self.app.repo

    async def start(self) -> None:
        await self.app.start()
        await asyncio.wait_for(self.transport.logged_in.wait(), 20)
        await self.app.settle(send=False)  # the login's member snapshot is stored

    async def stop(self) -> None:
        await self.app.stop()


@pytest.fixture
async def live(peer: NodePeer, tmp_path: Path) -> AsyncIterator[LiveBot]:
    bot = LiveBot(peer, tmp_path)
    await bot.start()
    yield bot
    await bot.stop()
