"""bot.cli_db: every command that reads the database opens it the same way,
and one that cannot be opened is one line on stderr with exit code 2."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli_db import DatabaseUnavailable, open_cli_db
from bot.config import load_config
from storage.pauses import PauseStore

#: Every command that opens the database (arguments after ``-c bot.yaml``).
DB_COMMANDS = [
    ["db", "upgrade"],
    ["status"],
    ["pause", "clear", "all"],
    ["cases"],
    ["coupons", "drop", "--group", "r1@chatroom", "--type", "t", "--count", "1"],
    ["export", "points", "--csv", "out.csv"],
    ["export", "coupons", "--csv", "out.csv"],
    ["lottery", "show", "1"],
    ["report", "lurkers"],
    ["report", "weekly", "--group", "r1@chatroom"],
    ["report", "overview"],
]
IDS = [" ".join(c[:2]) for c in DB_COMMANDS]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("QUNBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bot.yaml"
    path.write_text(
        textwrap.dedent("""\
            bot: {account: wxid_bot}
            owners: [wxid_owner]
            database: {url: "sqlite+aiosqlite:///q.db"}
            groups:
              r1@chatroom: {name: 测试一群}
            """),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", DB_COMMANDS, ids=IDS)
def test_a_file_that_is_no_database_is_one_line_and_exit_code_2_for_every_command(
    config: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = config.parent / "q.db"
    garbage.write_bytes(b"this is not a SQLite database" * 10)

    assert main(["-c", str(config), *command]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"qunbot: cannot open the database sqlite+aiosqlite:///{garbage}: "
        "DatabaseError: file is not a database\n"
    )
    assert not (config.parent / "out.csv").exists(), "nothing is written without the database"


@pytest.mark.parametrize("command", DB_COMMANDS, ids=IDS)
def test_postgresql_down_is_one_line_without_the_password_for_every_command(
    config: Path,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://qunbot:sekrit@127.0.0.1:1/qunbot")

    assert main(["-c", str(config), *command]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(
        "qunbot: cannot open the database postgresql+asyncpg://qunbot:***@127.0.0.1:1/qunbot: "
    )
    assert "sekrit" not in err


def test_a_database_url_the_bot_cannot_use_is_one_config_line_for_pause_clear(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://u@h/db")

    assert main(["-c", str(config), "pause", "clear", "all"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("<env>: DATABASE_URL: ") and err.count("\n") == 1, err


async def test_open_cli_db_raises_the_one_line_before_the_block_runs(config: Path) -> None:
    (config.parent / "q.db").write_bytes(b"this is not a SQLite database" * 10)
    ran = False

    with pytest.raises(DatabaseUnavailable) as caught:
        async with open_cli_db(load_config(config)):
            ran = True

    assert not ran
    assert str(caught.value).startswith("qunbot: cannot open the database sqlite+aiosqlite:///")
    assert "\n" not in str(caught.value)


async def test_open_cli_db_opens_the_configs_database_for_its_account_or_another(
    config: Path,
) -> None:
    cfg = load_config(config)  # relative SQLite path: beside bot.yaml

    async with open_cli_db(cfg) as db:
        assert (db.account, db.tz.key, db.url) == (
            "wxid_bot",
            "Asia/Shanghai",
            f"sqlite+aiosqlite:///{config.parent / 'q.db'}",
        )
        assert await PauseStore(db.sessions).open_pauses(db.account, datetime.now(UTC)) == []
        assert await db.contact_names(["wxid_a", "wxid_a"]) == {"wxid_a": None}
    async with open_cli_db(cfg, account="wxid_other") as other:
        assert other.account == "wxid_other"
        assert other.repo().account_id == "wxid_other"
