"""``qunbot cases`` and ``qunbot scan``, run in-process on a temporary bot.yaml and SQLite file."""

from __future__ import annotations

import asyncio
import io
import json
import textwrap
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage.db import create_engine, session_factory, upgrade
from storage.moderation import ModerationStore, NewCase

AT = datetime(2026, 1, 5, 1, 10, tzinfo=UTC)  # 09:10 in Shanghai
ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"


def _case(member: str, room: str = ROOM, minutes: int = 0) -> NewCase:
    return NewCase(
        room_id=room,
        member_id=member,
        message_id=f"m-{member}-{room}",
        rule="ads",
        decision="ad",
        score=0.93,
        reasons=[
            {"name": "wechat_id", "hit": True, "reason": "留了微信号：abc12345"},
            {"name": "links", "hit": False, "reason": "没有链接"},
        ],
        text="加微信 abc12345 领福利",
        action="remove",
        mode="enforce",
        at=AT + timedelta(minutes=minutes),
    )


def columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """bot.yaml with its database beside it, holding three cases of account
    ``default`` (one appealed, one rejected, one in another group) and one of
    another account."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("QUNBOT_CONFIG", raising=False)
    path = tmp_path / "bot.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            owners: [wxid_owner]
            database: {{url: "sqlite+aiosqlite:///qunbot.db"}}
            groups:
              {ROOM}: {{name: 测试一群, profile: super}}
            """),
        encoding="utf-8",
    )

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'qunbot.db'}")
        try:
            await upgrade(engine)
            sessions = session_factory(engine)
            mod = ModerationStore(sessions, account_id="default")
            first = await mod.open_case(_case("wxid_a"))
            second = await mod.open_case(_case("wxid_b", minutes=1))
            await mod.open_case(_case("wxid_c", ROOM2, minutes=2))
            assert first is not None and second is not None
            await mod.appeal(first, "wxid_a", "冤枉", AT)
            await mod.set_status(second, "rejected", AT, by="wxid_owner")
            other = ModerationStore(sessions, account_id="other")
            await other.open_case(_case("wxid_other"))
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return path


def test_cases_lists_the_accounts_cases_newest_first_as_a_table(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(config), "cases"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "case", "group", "member", "rule", "decision", "action", "mode", "status", "time",
        "reasons",
    ]  # fmt: skip
    assert [r.split()[:2] for r in rows] == [["3", ROOM2], ["2", "测试一群"], ["1", "测试一群"]]
    assert [r.split()[7] for r in rows] == ["open", "rejected", "appealed"]
    assert "2026-01-05 09:10" in rows[2] and "留了微信号：abc12345" in rows[2]
    assert "没有链接" not in rows[2]  # only the checks that hit are reasons
    column = header.index("status")  # aligned as a terminal shows it (CJK: two columns)
    assert all(columns(row[: row.index(row.split()[7])]) == column for row in rows)


def test_cases_open_and_group_narrow_the_list(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(config), "cases", "--open", "--group", ROOM]) == 0
    _, *rows = capsys.readouterr().out.splitlines()
    assert [r.split()[0] for r in rows] == ["1"]
    assert main(["-c", str(config), "cases", "--group", "r9@chatroom"]) == 0
    assert capsys.readouterr().out == "no cases in r9@chatroom for default\n"


def test_cases_json_is_one_object_a_line_with_every_field(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(config), "cases", "--json", "--open"]) == 0
    lines = capsys.readouterr().out.splitlines()
    cases = [json.loads(line) for line in lines]
    assert [(c["id"], c["status"], c["group"]) for c in cases] == [
        (3, "open", ROOM2),
        (1, "appealed", "测试一群"),
    ]
    first = cases[1]
    assert first["member_id"] == "wxid_a" and first["appeal_text"] == "冤枉"
    assert first["created_at"] == "2026-01-05T01:10:00+00:00"
    assert first["reasons"][0]["reason"] == "留了微信号：abc12345"


TSV = (
    "1\t加微信 abc12345 领福利，日赚三百\n"
    "0\t今天天气不错，大家周末去哪玩\n"
    "1\t+V: wx_888888 兼职刷单 日结\n"
    "0\t明天几点开会？\n"
)


def test_scan_writes_one_json_line_per_input_line_in_order_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "msgs.tsv"
    path.write_text(TSV, encoding="utf-8")
    assert main(["scan", "--format", "tsv", "--summary", str(path)]) == 0  # no bot.yaml needed
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["label"] for r in rows] == [1, 0, 1, 0]
    assert all({"ad", "score", "reasons"} <= set(r) for r in rows)
    assert rows[0]["ad"] and not rows[1]["ad"] and rows[0]["reasons"]
    summary = json.loads(err.strip().splitlines()[-1])
    tp = sum(r["ad"] and r["label"] for r in rows)
    fp = sum(r["ad"] and not r["label"] for r in rows)
    assert (summary["tp"], summary["fp"], summary["labelled"]) == (tp, fp, 4)
    assert summary["precision"] == round(tp / (tp + fp), 4)
    assert summary["recall"] == round(tp / 2, 4)
    assert {"f1", "fn", "tn"} <= set(summary)


def test_scan_reads_standard_input_as_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("加微信 abc12345 领福利\r\n\n明天几点开会？"))
    assert main(["scan", "--summary", "-"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3 and rows[0]["ad"] and not rows[2]["ad"]
    assert all("label" not in r for r in rows)
    assert "no labels" in err  # --summary without labels says why there is none


def test_scan_of_a_missing_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(tmp_path / "nope.tsv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qunbot scan: cannot read") and err.count("\n") == 1
