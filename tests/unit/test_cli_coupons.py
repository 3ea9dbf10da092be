"""``qunbot coupons drop`` and the coupons' CSV export, in-process on a temporary
bot.yaml and SQLite file."""

from __future__ import annotations

import asyncio
import csv
import textwrap
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli_coupons import EXPORT_COLUMNS, export_coupons
from bot.config import load_config
from storage.coupons import CouponStore
from storage.db import create_engine, session_factory, upgrade

ROOM = "r1@chatroom"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("QUNBOT_CONFIG", raising=False)
    path = tmp_path / "bot.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            owners: [wxid_owner]
            database: {{url: "sqlite+aiosqlite:///qunbot.db"}}
            groups:
              {ROOM}: {{name: 测试一群, profile: super}}
            profiles:
              super:
                engagement:
                  coupons:
                    types:
                      coffee: {{name: 咖啡券, value: ¥10, valid_days: 7}}
            """),
        encoding="utf-8",
    )
    return path


async def _with_store(tmp_path: Path, use: Callable[[CouponStore], Awaitable[None]]) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'qunbot.db'}")
    try:
        await upgrade(engine)
        await use(CouponStore(session_factory(engine), account_id="default"))
    finally:
        await engine.dispose()


def test_the_cli_opens_a_drop_the_bot_will_announce(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["-c", str(config), "coupons", "drop", "--group", ROOM, "--type", "coffee"]
    assert main([*argv, "--count", "3", "--minutes", "45"]) == 0
    assert "drop 1: 3 x 咖啡券 (coffee) open in 测试一群 until " in capsys.readouterr().out

    async def check(store: CouponStore) -> None:
        [drop] = await store.unannounced(datetime.now(UTC))
        assert (drop.count, drop.room_id, drop.opened_by, drop.type_id) == (
            3,
            ROOM,
            "cli",
            "coffee",
        )
        assert (drop.closes_at - drop.opened_at).total_seconds() == 45 * 60
        assert await store.remaining(drop.id) == 3

    asyncio.run(_with_store(tmp_path, check))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--group", "nope@chatroom", "--type", "coffee", "--count", "3"], "does not manage"),
        (["--group", ROOM, "--type", "tea", "--count", "3"], "no coupon type 'tea'"),
        (["--group", ROOM, "--type", "coffee", "--count", "0"], "--count must be 1 to 200"),
        (["--group", ROOM, "--type", "coffee", "--count", "2", "--minutes", "0"], "--minutes"),
    ],
)
def test_a_drop_the_group_cannot_have_is_refused_with_the_reason(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    assert main(["-c", str(config), "coupons", "drop", *args]) == 2
    assert error in capsys.readouterr().err


def test_the_export_writes_every_coupon_as_csv_for_spreadsheets(
    config: Path, tmp_path: Path
) -> None:
    argv = ["-c", str(config), "coupons", "drop", "--group", ROOM, "--type", "coffee"]
    assert main([*argv, "--count", "2"]) == 0

    async def claim(store: CouponStore) -> None:
        got = await store.claim(ROOM, "wxid_a", datetime.now(UTC))
        assert got.coupon is not None

    asyncio.run(_with_store(tmp_path, claim))
    assert asyncio.run(export_coupons(load_config(config), ROOM, tmp_path / "coupons.csv")) == 0
    raw = (tmp_path / "coupons.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads UTF-8 then
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert sorted((r["status"], r["owner_id"]) for r in rows) == [
        ("claimed", "wxid_a"),
        ("issued", "cli"),
    ]
    assert {r["group"] for r in rows} == {"测试一群"} and {r["name"] for r in rows} == {"咖啡券"}
    assert all(r["expires_at"].endswith("+08:00") for r in rows)
