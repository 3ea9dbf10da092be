"""Two real ``qunbot run`` processes on one database: the second refuses to start.

After SIGKILL of the first (no release), a new process takes the account over
once the lease's ttl has passed (3 s here).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import load_config
from storage.db import create_engine, session_factory
from storage.lease import Leases
from tests.e2e.conftest import YAML, eventually
from tests.e2e.peer import NodePeer
from tests.e2e.qunbot_process import QunbotProcess

pytestmark = pytest.mark.e2e

REFUSAL = re.compile(
    r"^qunbot run: another qunbot process \([^:]+:(?P<pid>\d+)\) holds the account 'default' "
    r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; stop it first, or wait \d+ s if it was killed$"
)


@pytest.fixture
async def processes() -> AsyncIterator[list[QunbotProcess]]:
    started: list[QunbotProcess] = []
    yield started
    for proc in started:
        await proc.kill()


async def test_a_second_process_refuses_to_start_and_takes_over_after_a_kill(
    peer: NodePeer, tmp_path: Path, processes: list[QunbotProcess]
) -> None:
    db = tmp_path / "bot.db"
    config = tmp_path / "bot.yaml"
    config.write_text(
        YAML
        + f"database: {{url: 'sqlite+aiosqlite:///{db}'}}\n"
        + "bot: {lease_ttl_seconds: 3, lease_renew_seconds: 1}\n"
        # each process is asked the same #帮助: answer it again (not a repeat)
        + "commands: {repeat_window_seconds: 0}\n",
        encoding="utf-8",
    )
    load_config(config)

    def spawn(name: str) -> QunbotProcess:
        proc = QunbotProcess(peer, config, name)
        processes.append(proc)
        return proc

    first = spawn("first")
    await first.spawn()
    await first.logged_in()
    await first.answers()

    second = spawn("second")
    await second.spawn()
    assert await second.wait() == 2
    lines = second.stderr_lines()
    assert len(lines) == 1, lines  # one clear line, nothing else
    refused = REFUSAL.match(lines[0])
    assert refused is not None, lines[0]
    assert first.proc is not None and int(refused["pid"]) == first.proc.pid

    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    leases = Leases(session_factory(engine))
    try:
        held = await leases.get("default")
        assert held is not None

        async def renewed_past_its_first_ttl() -> bool:
            now = await leases.get("default")
            return now is not None and now.renewed_at > held.expires_at

        # The first renews all along: it still holds the account past one ttl.
        await eventually(renewed_past_its_first_ttl, within=15)
        await first.answers()  # and keeps serving

        await first.kill()  # SIGKILL: the lease is neither renewed nor released
        lease = await leases.get("default")
    finally:
        await engine.dispose()
    assert lease is not None and lease.process.endswith(f":{first.proc.pid}")

    async def expired() -> bool:
        return datetime.now(UTC) > lease.expires_at

    await eventually(expired, within=10)
    third = spawn("third")
    await third.spawn()
    await third.logged_in()
    await third.answers()
