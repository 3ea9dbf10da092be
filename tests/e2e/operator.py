"""What an operator has at hand in the e2e tests: a config file, the ``qunbot``
CLI against the bot's database, a local webhook receiving alerts, and the
in-process bot on a config of the test's own (more groups than conftest's)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import App, AppOptions
from bot.config import load_config, validate_config_text
from bot.transport.adapter import WechatyTransport
from bot.transport.service import ServicePuppet
from bot.vocab.clock import SystemClock
from tests.e2e.conftest import ROOM, eventually
from tests.e2e.peer import NodePeer

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, yaml_text: str) -> Path:
    """bot.yaml in ``tmp_path`` with its database beside it; validated first."""
    config = tmp_path / "bot.yaml"
    config.write_text(
        textwrap.dedent(yaml_text)
        + f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'bot.db'}'}}\n",
        encoding="utf-8",
    )
    load_config(config)
    return config


async def qunbot(config: Path, *args: str, within: float = 60.0) -> tuple[int, str, str]:
    """Run ``qunbot -c CONFIG ARGS...`` as an operator would: (exit code, stdout, stderr)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for steering in ("DATABASE_URL", "QUNBOT_CONFIG"):
        env.pop(steering, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "-c",
        str(config),
        *args,
        cwd=REPO_ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), within)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def add_rooms(peer: NodePeer, rooms: list[dict[str, Any]]) -> None:
    """More rooms in the peer, kept across a peer restart (setup is replayed)."""
    args = peer.setup_args
    await peer.cmd("setup", **(args | {"rooms": [*args.get("rooms", []), *rooms]}))


def replies(peer: NodePeer, room: str = ROOM, since: int = 0) -> list[dict[str, Any]]:
    """The bot's texts that reached the room (a failed send reached nobody)."""
    return [
        c
        for c in peer.calls_of("messageSendText", since)
        if c["args"][0] == room and c["error"] is None
    ]


class WebhookSink:
    """A local group-robot webhook: records each POST's JSON body, answers like WeCom."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/webhook/send?key=e2e"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        self.posts.append(json.loads(await request.text()))
        self.paths.append(request.path_qs)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def wait_for(self, count: int, within: float = 20.0) -> list[dict[str, Any]]:
        async def arrived() -> bool:
            return len(self.posts) >= count

        await eventually(arrived, within=within)
        return self.posts


def wecom_text(post: dict[str, Any]) -> str:
    assert post["msgtype"] == "text", post
    text: str = post["text"]["content"]
    return text


class InProcessBot:
    """The real App over real gRPC against the peer, on a config of the test's own."""

    def __init__(self, peer: NodePeer, tmp_path: Path, yaml_text: str) -> None:
        self.peer = peer
        self.config = validate_config_text(textwrap.dedent(yaml_text), "e2e.yaml")
        self.transport = WechatyTransport(
            ServicePuppet(peer.endpoint, peer.token), clock=SystemClock()
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

    async def start(self) -> None:
        await self.app.start()
        await asyncio.wait_for(self.transport.logged_in.wait(), 20)
        await self.app.settle(send=False)

    async def stop(self) -> None:
        await self.app.stop()
