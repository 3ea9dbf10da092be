"""``qunbot run`` as a real process against the Node peer, for the e2e tests.

Each process writes stdout and stderr to files of its own in the test's
folder, so a test can read exactly what an operator would see on stderr.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.e2e.conftest import ROOM, eventually
from tests.e2e.peer import NodePeer

REPO_ROOT = Path(__file__).resolve().parents[2]


class QunbotProcess:
    """One ``python -m bot.cli -c CONFIG run`` process."""

    def __init__(self, peer: NodePeer, config: Path, name: str) -> None:
        self.peer = peer
        self.config = config
        self.stdout = config.parent / f"{name}.out"
        self.stderr = config.parent / f"{name}.err"
        self.proc: asyncio.subprocess.Process | None = None

    async def spawn(self) -> None:
        env = {**os.environ, **self.peer.env, "PYTHONUNBUFFERED": "1"}
        for steering in ("DATABASE_URL", "QUNBOT_CONFIG"):
            env.pop(steering, None)
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
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
                stdout=out,
                stderr=err,
            )

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def stderr_lines(self) -> list[str]:
        if not self.stderr.exists():
            return []
        return self.stderr.read_text(encoding="utf-8", errors="replace").splitlines()

    def _alive(self) -> None:
        if self.returncode is not None:
            tail = "\n".join(self.stderr_lines()[-40:])
            raise AssertionError(f"qunbot exited with {self.returncode}:\n{tail}")

    async def answers(self, text: str = "#帮助", within: float = 60.0) -> None:
        """A member asks in the room; the bot answers there (it is serving)."""
        self._alive()
        mark = self.peer.mark()
        await self.peer.cmd("say", sender="wxid_a", room=ROOM, text=text)

        async def answered() -> bool:
            self._alive()
            return any(c["args"][0] == ROOM for c in self.peer.calls_of("messageSendText", mark))

        await eventually(answered, within=within)

    async def logged_in(self, within: float = 60.0) -> None:
        """The log says the bot logged in (it has received the gateway's login)."""

        async def seen() -> bool:
            self._alive()
            return any("logged in as" in line for line in self.stderr_lines())

        await eventually(seen, within=within)

    async def wait(self, within: float = 60.0) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), within)

    async def terminate(self, within: float = 60.0) -> int:
        """SIGTERM, as systemd or docker stop sends; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await self.wait(within)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
