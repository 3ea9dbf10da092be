"""Flow-test harness: the whole app over the real SDK on the in-process puppet.

Real Wechaty SDK, real SQLite file, real dispatcher/executor/governor; time is
a ManualClock, so the welcome window, the governor's pacing and the reminder
delay are crossed by advancing it, never by sleeping.  The calendar runs on
that clock too (``calendar=False`` for tests that call its jobs by hand):
:meth:`Harness.advance` stops at each of its fire times and lets the run
finish, as a bot that was up all along would.
"""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.app import App, AppOptions
from bot.cli import sandbox_puppet
from bot.config import validate_config_text
from bot.sandbox_file import validate_sandbox_text
from bot.transport.adapter import WechatyTransport
from bot.vocab.clock import ManualClock
from handlers.feature import Feature
from tests.flow.expect import ActionLog

BOT = "wxid_bot"
ACCOUNT = "default"  # bot.account: the config names none
OWNER = "wxid_owner"
ADMIN = "wxid_admin"
ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"

BASE_YAML = f"""
owners: [{OWNER}]
admins: [{ADMIN}]
groups:
  {ROOM}: {{name: 测试一群, profile: super, tags: [brandA, 上海]}}
  {ROOM2}: {{name: 测试二群, profile: member}}
"""

SANDBOX_YAML = f"""
account: {{id: {BOT}, name: 群管家}}
members:
  - {{id: {OWNER}, name: 群主}}
  - {{id: {ADMIN}, name: 管理员}}
  - {{id: wxid_a, name: 阿甲}}
  - {{id: wxid_b, name: 阿乙}}
  - {{id: wxid_c, name: 阿丙}}
  - {{id: wxid_stranger, name: 路人}}
groups:
  - {{room_id: {ROOM}, topic: 测试一群, owner_id: {OWNER}, member_ids: [{OWNER}, {ADMIN}, wxid_a]}}
  - {{room_id: {ROOM2}, topic: 测试二群, owner_id: {OWNER}, member_ids: [{OWNER}, wxid_b]}}
"""


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        extra_yaml: str = "",
        clock: ManualClock | None = None,
        *,
        calendar: bool = True,
        features: Sequence[Feature] | None = None,
    ) -> None:
        self.clock = clock or ManualClock()
        self.config = validate_config_text(BASE_YAML + textwrap.dedent(extra_yaml), "test.yaml")
        self.db_path = tmp_path / "qunbot.db"  # the same folder: the same database
        self.world = validate_sandbox_text(SANDBOX_YAML, "sandbox.yaml")
        self.puppet: Any = sandbox_puppet(self.world, now=self.clock.now)
        self.transport = WechatyTransport(self.puppet, clock=self.clock)
        self.app = App(
            self.config,
            self.transport,
            AppOptions(
                base_dir=tmp_path,
                env={"DATABASE_URL": f"sqlite+aiosqlite:///{self.db_path}"},
                clock=self.clock,
                start_calendar=calendar,
                features=features,
            ),
        )
        #: what the bot did, in order: ``bot.actions.expect(Like(Say, ...), ...)``
        self.actions = ActionLog()
        self.app.outcome_listeners.append(self.actions)

    @property
    def repo(self) -> Any:
        return self.app.repo

    async def start(self) -> None:
        await self.app.start()
        await asyncio.wait_for(self.transport.logged_in.wait(), 10)
        await self.settle()

    async def stop(self) -> None:
        await self.settle()
        await self.app.stop()

    async def crash(self) -> None:
        """Die without draining anything (as a SIGKILL would), then release the file.

        The account's lease stays held, as a killed process leaves it; the
        clock then passes its ttl, as a restart waits it out.
        """
        await self.app.lease.stop(release=False)
        await self.app.welcomes.abort()  # its pending batches stay in the database
        task = self.app.executor._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.app.executor._task = None
        await self.app.calendar.abort()  # a run under way stays claimed, unfinished
        await self.transport.stop()
        await self.app.engine.dispose()
        await self.clock.advance(self.config.bot.lease_ttl_seconds)

    async def settle(self, max_seconds: float = 3600) -> None:
        """Handle what arrived, then let the executor send it, advancing time as needed."""
        await self.app.settle(send=False)
        waited = 0.0
        spins = 0  # turns the executor was busy (a slow database write, a send)
        while self.app.executor.pending and waited < max_seconds:
            # Time moves only while the executor waits for an action's turn, so a
            # slow machine never ages a reply past its validity; something else
            # holding it (a disconnected transport) gets time after a while.
            stuck = spins > 2000 and self.clock.sleepers
            if self.app.executor.waiting_for_time or stuck:
                await self.clock.advance(1.0)
                waited += 1.0
                spins = 0
            else:  # it is executing: let it finish
                await asyncio.sleep(0.001)
                spins += 1
            await self.app.settle(send=False)
        await self.app.settle(send=False)

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, stopping at each calendar fire time to let its run finish."""
        await self.settle()
        end = self.clock.monotonic() + seconds
        while (wake := self.app.calendar.next_wake()) is not None:
            step = (wake - self.clock.now()).total_seconds()
            if step > end - self.clock.monotonic():
                break
            await self.clock.advance(max(step, 0.0))
            await self.settle()
        await self.clock.advance(max(end - self.clock.monotonic(), 0.0))
        await self.settle()

    def sent(self, room: str | None = None) -> list[Any]:
        """Texts the bot posted (successfully), in order."""
        return [
            c
            for c in self.puppet.calls
            if c.method == "message_send_text"
            and c.error is None
            and (room is None or c.args.get("conversation_id") == room)
        ]
