"""``qunbot export points``, run in-process on a temporary bot.yaml and SQLite file."""

from __future__ import annotations

import asyncio
import csv
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage.db import create_engine, session_factory, upgrade
from storage.points import PointsStore

AT = datetime(2026, 1, 5, 1, 10, tzinfo=UTC)
ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """bot.yaml with its database beside it: a check-in and two admin changes in
    ROOM, one change in ROOM2."""
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
            points = PointsStore(session_factory(engine), account_id="default")
            one, two = f"room:{ROOM}", f"room:{ROOM2}"
            await points.check_in(one, ROOM, "wxid_a", date(2026, 1, 5), AT, rule=(10, 2, 20))
            later = AT + timedelta(minutes=1)
            await points.change(
                one, "wxid_a", 5, kind="admin", reason="活动奖励", key="k1", at=later,
                room_id=ROOM, by="wxid_owner",
            )  # fmt: skip
            await points.change(one, "wxid_a", -3, kind="admin", reason="刷屏", key="k2", at=later)
            await points.change(two, "wxid_b", 7, kind="admin", reason="好", key="k3", at=later)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_export_points_writes_every_ledger_row_with_the_running_balance(
    config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "points.csv"
    assert main(["-c", str(config), "export", "points", "--csv", str(out)]) == 0
    rows = _rows(out)
    assert [(r["member_id"], r["amount"], r["balance_after"], r["kind"]) for r in rows] == [
        ("wxid_a", "10", "10", "checkin"),
        ("wxid_a", "5", "15", "admin"),
        ("wxid_a", "-3", "12", "admin"),
        ("wxid_b", "7", "7", "admin"),
    ]
    assert rows[1]["reason"] == "活动奖励" and rows[1]["by"] == "wxid_owner"
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheets read it as UTF-8


def test_export_points_of_one_group_leaves_the_others_out(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "r2.csv"
    assert main(["-c", str(config), "export", "points", "--group", ROOM2, "--csv", str(out)]) == 0
    assert [r["member_id"] for r in _rows(out)] == ["wxid_b"]


def test_export_coupons_writes_a_csv_with_its_header(config: Path, tmp_path: Path) -> None:
    from bot.cli_coupons import EXPORT_COLUMNS

    out = tmp_path / "c.csv"
    assert main(["-c", str(config), "export", "coupons", "--csv", str(out)]) == 0
    header = out.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.split(",") == list(EXPORT_COLUMNS)
