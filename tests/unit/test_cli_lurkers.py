"""``qunbot report lurkers``, run in-process on a temporary bot.yaml and SQLite file."""

from __future__ import annotations

import asyncio
import csv
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage.db import create_engine, session_factory, upgrade
from storage.repo import Repository
from storage.types import ActivityRow

ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ROOM: the owner, a lurker who never spoke, one who spoke years ago, and a
    member who spoke just now; ROOM2: one lurker."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("QUNBOT_CONFIG", raising=False)
    path = tmp_path / "bot.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            owners: [wxid_owner]
            database: {{url: "sqlite+aiosqlite:///qunbot.db"}}
            groups:
              {ROOM}: {{name: 测试一群, profile: super}}
              {ROOM2}: {{name: 测试二群}}
            """),
        encoding="utf-8",
    )

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'qunbot.db'}")
        try:
            await upgrade(engine)
            repo = Repository(session_factory(engine))
            for room, member in [
                (ROOM, "wxid_owner"),
                (ROOM, "wxid_never"),
                (ROOM, "wxid_old"),
                (ROOM, "wxid_now"),
                (ROOM2, "wxid_b"),
            ]:
                await repo.record_join(room, member, LONG_AGO)
            now = datetime.now(UTC)
            await repo.record_activity(
                [
                    ActivityRow(ROOM, "wxid_old", "message", LONG_AGO + timedelta(days=1)),
                    ActivityRow(ROOM, "wxid_now", "message", now - timedelta(minutes=1)),
                ],
                names={"wxid_old": "老潜水", "wxid_now": "活跃"},
            )
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return path


def test_report_lurkers_writes_a_csv_with_bom_longest_silent_first(
    config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lurkers.csv"
    assert main(["-c", str(config), "report", "lurkers", "--group", ROOM, "--csv", str(out)]) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["member_id"], r["tier"], r["exempt"]) for r in rows] == [
        ("wxid_never", "never_spoke", ""),
        ("wxid_owner", "never_spoke", "admin"),
        ("wxid_old", "lurker", ""),
    ]
    assert rows[2]["member_name"] == "老潜水" and rows[2]["group_name"] == "测试一群"
    assert int(rows[0]["silent_days"]) > int(rows[2]["silent_days"])


def test_report_lurkers_prints_every_group_without_csv(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(config), "report", "lurkers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("group\tgroup_name\tmember_id")
    members = {line.split("\t")[2] for line in lines[1:]}
    assert members == {"wxid_never", "wxid_owner", "wxid_old", "wxid_b"}
