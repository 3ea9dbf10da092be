"""The bot process is SIGKILLed around an action: sent exactly once, never repeated."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import load_config
from storage.db import create_engine, session_factory
from storage.lease import Leases
from storage.repo import Repository
from tests.e2e.conftest import ROOM, YAML, eventually
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    """``qunbot run`` as a real process against the peer."""

    def __init__(self, peer: NodePeer, tmp_path: Path) -> None:
        self.peer = peer
        self.db = tmp_path / "bot.db"
        self.config = tmp_path / "bot.yaml"
        self.config.write_text(
            YAML
            + f"database: {{url: 'sqlite+aiosqlite:///{self.db}'}}\n"
            + "governor: {room_gap_s: 8}\n"  # a second reply waits 8 s: time to kill
            # a killed process's hold on the account lapses after 2 s (30 s by default)
            + "bot: {lease_ttl_seconds: 2, lease_renew_seconds: 1}\n",
            encoding="utf-8",
        )
        load_config(self.config)  # valid before anything runs
        self.log = tmp_path / "bot.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.engine = create_engine(f"sqlite+aiosqlite:///{self.db}")
        self.repo = Repository(session_factory(self.engine))

    async def start(self) -> None:
        logins = await self._logins()
        env = {**os.environ, **self.peer.env, "PYTHONUNBUFFERED": "1"}
        env.pop("DATABASE_URL", None)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "-c",
                str(self.config),
                "run",
                cwd=REPO_ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

        async def logged_in() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"the bot exited:\n{self.log.read_text()[-3000:]}")
            return await self._logins() > logins

        await eventually(logged_in, within=60)

    async def _logins(self) -> int:
        if not self.db.exists():
            return 0
        try:
            report = await self.repo.status_report(recent=100)
        except Exception:
            return 0  # not migrated yet
        return sum(1 for c in report["recent_connections"] if c["event"] == "login")

    async def kill(self) -> None:
        """SIGKILL, then wait until its lease has lapsed, so a restart is not refused."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        lease = await Leases(session_factory(self.engine)).get("default")
        if lease is not None:

            async def lapsed() -> bool:
                return datetime.now(UTC) > lease.expires_at

            await eventually(lapsed, within=10)

    async def pending(self) -> int:
        return int((await self.repo.status_report())["outbox_pending"])

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()
        await self.engine.dispose()


def replies(peer: NodePeer) -> list[str]:
    return [c["args"][1] for c in peer.calls_of("messageSendText") if c["args"][0] == ROOM]


async def test_killed_before_sending_it_is_sent_once_after_restart(
    peer: NodePeer, tmp_path: Path
) -> None:
    bot = BotProcess(peer, tmp_path)
    try:
        await bot.start()
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#帮助")
        await peer.wait_for_call("messageSendText", lambda c: c["args"][0] == ROOM, timeout=30)
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#规则")

        async def queued() -> bool:
            return await bot.pending() == 1

        await eventually(queued, within=20)  # the rules reply waits for the room gap
        await bot.kill()
        assert len(replies(peer)) == 1

        await bot.start()  # killed after it was queued, before it was sent...
        await peer.wait_for_call("messageSendText", lambda c: "1. " in c["args"][1], timeout=40)
        assert len(replies(peer)) == 2  # ...sent exactly once

        await bot.kill()  # killed after it was sent...
        await bot.start()
        # (another command: the same reply to the same member within a minute
        # is not sent twice, by design, across restarts too)
        await peer.cmd("say", sender="wxid_a", room=ROOM, text="#签到")

        async def answered() -> bool:
            return len(replies(peer)) >= 3

        await eventually(answered, within=40)
        sent = replies(peer)
        assert len(sent) == 3 and sum("1. " in text for text in sent) == 1  # ...never resent
    finally:
        await bot.close()
