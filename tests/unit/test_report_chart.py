"""The weekly chart renders with Chinese labels: not blank, the expected size,
and real CJK glyphs (not the missing-glyph box DejaVu Sans would draw)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handlers.reports.chart import (
    WEEKLY_SIZE,
    cjk_font,
    render_overview,
    render_text_image,
    render_weekly,
)
from storage.reports import CoreMember, WeeklyFigures

WEEK = WeeklyFigures(
    room_id="r1@chatroom",
    topic="读书会一群",
    first_day=date(2026, 11, 23),
    joined=5,
    left=2,
    members_now=120,
    active_members=30,
    messages_per_day=(10, 20, 30, 5, 0, 8, 40),
    checkins=44,
    core=(CoreMember("a", "张三", 40), CoreMember("b", "上海-IT-李四", 20)),
)


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def test_the_weekly_chart_is_a_png_of_the_expected_size_and_not_blank(tmp_path: Path) -> None:
    rendered = render_weekly(WEEK, tmp_path / "w.png")
    with Image.open(rendered.path) as image:
        assert image.format == "PNG" and image.size == WEEKLY_SIZE
    pixels = _pixels(rendered.path)
    assert (pixels < 128).mean() > 0.01  # ink: bars, text, the ring
    assert (pixels > 250).mean() > 0.3  # and a white page


def test_a_re_rendered_week_overwrites_the_same_file_with_the_same_bytes(tmp_path: Path) -> None:
    first = render_weekly(WEEK, tmp_path / "w.png")
    again = render_weekly(WEEK, tmp_path / "w.png")
    assert first == again and [p.name for p in tmp_path.iterdir()] == ["w.png"]


def test_the_cjk_font_draws_chinese_glyphs_where_dejavu_draws_boxes(tmp_path: Path) -> None:
    family, path = cjk_font()
    assert path.is_file() and family
    cjk = _pixels(render_text_image("活跃率周报", tmp_path / "cjk.png"))
    other = _pixels(render_text_image("新进退群人", tmp_path / "cjk2.png"))
    with pytest.warns(UserWarning, match="missing from font"):
        boxes = _pixels(render_text_image("活跃率周报", tmp_path / "box.png", family="DejaVu Sans"))
    with pytest.warns(UserWarning, match="missing from font"):
        boxes2 = _pixels(
            render_text_image("新进退群人", tmp_path / "box2.png", family="DejaVu Sans")
        )
    assert (cjk < 128).any() and not np.array_equal(cjk, boxes)
    assert not np.array_equal(cjk, other)  # two strings, two drawings: real glyphs
    assert np.array_equal(boxes, boxes2)  # the same box for every missing character


def test_the_overview_puts_every_group_on_one_page(tmp_path: Path) -> None:
    groups = [WEEK, WeeklyFigures(room_id="r2@chatroom", topic="二群", first_day=WEEK.first_day)]
    one = render_overview(groups[:1], tmp_path / "one.png")
    two = render_overview(groups, tmp_path / "two.png")
    with Image.open(one.path) as a, Image.open(two.path) as b:
        assert a.size[0] == b.size[0] and b.size[1] > a.size[1]  # a row per group
    assert (_pixels(two.path) < 128).mean() > 0.005
