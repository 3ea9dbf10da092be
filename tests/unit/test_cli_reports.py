"""``qunbot report weekly|overview``: charts written from the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = tmp_path / "bot.yaml"
    path.write_text("owners: [wxid_o]\ngroups:\n  r1@chatroom: {name: 测试群, profile: member}\n")
    assert main(["-c", str(path), "db", "upgrade"]) == 0
    return path


def test_report_weekly_writes_the_chart_where_asked_and_prints_the_summary(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "w.png"
    code = main(
        [
            "-c",
            str(config),
            "report",
            "weekly",
            "--group",
            "r1@chatroom",
            "--week",
            "2026-11-25",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    with Image.open(out) as image:
        assert image.format == "PNG"
    assert "「测试群」周报 11月23日–11月29日" in capsys.readouterr().out
    assert (tmp_path / "data" / "reports" / "r1@chatroom" / "week-2026-11-23.png").is_file()


def test_report_overview_writes_one_page_for_all_groups(config: Path, tmp_path: Path) -> None:
    assert main(["-c", str(config), "report", "overview", "--week", "2026-11-23"]) == 0
    assert (tmp_path / "data" / "reports" / "overview-week-2026-11-23.png").is_file()
