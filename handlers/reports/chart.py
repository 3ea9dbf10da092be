"""The weekly report as a picture: a PNG with Chinese labels (matplotlib, Agg).

The CJK font is the project's own: ``mplfonts`` (a PyPI dependency) ships
Noto Sans CJK SC, found by its installed file path (the package is not
imported).  ``QUNBOT_CJK_FONT`` names another font file; failing both, any
CJK font matplotlib's font manager knows (Debian's fonts-noto-cjk,
fonts-wqy-microhei, …).  Without one the chart would show boxes for every
Chinese character, so :func:`cjk_font` raises instead.

Figures are built without pyplot (no global figure state); matplotlib's
rcParams are global, so rendering holds a lock.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from storage.reports import WeeklyFigures

FONT_ENV = "QUNBOT_CJK_FONT"
#: (distribution, file inside it): font files shipped by PyPI packages.
PACKAGED_FONTS = (("mplfonts", "mplfonts/fonts/NotoSansCJKsc-Regular.otf"),)
#: Family names of CJK fonts an operating system may have.
SYSTEM_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK JP",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEKLY_SIZE = (1200, 800)  # pixels
DPI = 100
_LOCK = threading.Lock()


class NoCJKFont(RuntimeError):
    """No font with Chinese glyphs could be found."""


@dataclass(frozen=True, slots=True)
class Rendered:
    path: Path
    sha256: str


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, Path]:
    """(family name, file) of the CJK font the charts use; registered with matplotlib."""
    from matplotlib import font_manager

    candidates: list[Path] = []
    if os.environ.get(FONT_ENV):
        candidates.append(Path(os.environ[FONT_ENV]))
    for dist, file in PACKAGED_FONTS:
        try:
            candidates.append(Path(str(importlib.metadata.distribution(dist).locate_file(file))))
        except importlib.metadata.PackageNotFoundError:
            continue
    for path in candidates:
        if path.is_file():
            font_manager.fontManager.addfont(str(path))
            return font_manager.FontProperties(fname=str(path)).get_name(), path
    for family in SYSTEM_FAMILIES:
        for entry in font_manager.fontManager.ttflist:
            if entry.name == family:
                return family, Path(entry.fname)
    raise NoCJKFont(
        "no CJK font found: install the project (pip install -e .) for mplfonts' Noto Sans CJK SC, "
        f"or set {FONT_ENV} to a font file with Chinese glyphs"
    )


def _rc() -> Any:  # matplotlib types rcParams keys as literals
    family, _ = cjk_font()
    return {
        "font.family": [family, "DejaVu Sans"],
        "axes.unicode_minus": False,
    }


def _week_label(f: WeeklyFigures) -> str:
    a, b = f.first_day, f.last_day
    return f"{a.month}月{a.day}日–{b.month}月{b.day}日"


def week_label(f: WeeklyFigures) -> str:
    """12月1日–12月7日"""
    return _week_label(f)


def _save(fig: Any, path: Path) -> Rendered:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=DPI, format="png", metadata={"Software": None})
    data = tmp.read_bytes()
    os.replace(tmp, path)
    return Rendered(path, hashlib.sha256(data).hexdigest())


def _numbers(f: WeeklyFigures) -> list[tuple[str, str]]:
    return [
        ("现有成员", str(f.members_now)),
        ("新进 / 退出", f"{f.joined} / {f.left}"),
        ("发言人数", str(f.active_members)),
        ("活跃率", f"{f.active_ratio:.0%}"),
        ("消息总数", str(f.messages)),
        ("签到次数", str(f.checkins)),
        (
            "券 发放/转赠/核销",
            f"{f.coupons_issued} / {f.coupons_transferred} / {f.coupons_redeemed}",
        ),
        ("拦截广告", str(f.ads_blocked)),
        ("拦截邀请", str(f.invites_blocked)),
        ("潜水 提醒/清理", f"{f.lurkers_warned} / {f.lurkers_removed}"),
    ]


def render_weekly(f: WeeklyFigures, path: Path) -> Rendered:
    """One group's week: messages per day, active ratio, joins and leaves, the
    numbers and the core members; the title names the group and the week."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _LOCK, rc_context(_rc()):
        fig = Figure(figsize=(WEEKLY_SIZE[0] / DPI, WEEKLY_SIZE[1] / DPI), dpi=DPI)
        FigureCanvasAgg(fig)
        fig.suptitle(f"「{f.group_name}」周报  {_week_label(f)}", fontsize=18)
        grid = fig.add_gridspec(2, 3, left=0.06, right=0.97, top=0.88, bottom=0.08, hspace=0.45)

        daily = fig.add_subplot(grid[0, :2])
        labels = [f"{WEEKDAYS[i]}\n{d.month}/{d.day}" for i, d in enumerate(f.days)]
        bars = daily.bar(labels, f.messages_per_day, color="#4C9BE8")
        daily.bar_label(bars, padding=2)
        daily.set_title("每日消息数")
        daily.set_ylim(0, max(max(f.messages_per_day), 1) * 1.2)

        ratio = fig.add_subplot(grid[0, 2])
        r = min(max(f.active_ratio, 0.0), 1.0)
        ratio.pie(
            [r, 1 - r] if f.members_now else [0, 1],
            colors=["#F5A623", "#E6E6E6"],
            startangle=90,
            counterclock=False,
            wedgeprops={"width": 0.35},
        )
        ratio.text(0, 0, f"{f.active_ratio:.0%}", ha="center", va="center", fontsize=20)
        ratio.set_title(f"活跃率（{f.active_members}/{f.members_now} 人发言）")

        moves = fig.add_subplot(grid[1, 0])
        mbars = moves.bar(["新进", "退出"], [f.joined, f.left], color=["#7ED321", "#D0021B"])
        moves.bar_label(mbars, padding=2)
        moves.set_ylim(0, max(f.joined, f.left, 1) * 1.25)
        moves.set_title("进群 / 退群")

        table = fig.add_subplot(grid[1, 1])
        table.axis("off")
        table.set_title("本周数据")
        t = table.table(cellText=_numbers(f), colLabels=["指标", "数值"], loc="center")
        t.auto_set_font_size(False)
        t.set_fontsize(10)
        t.scale(1, 1.25)

        core = fig.add_subplot(grid[1, 2])
        core.axis("off")
        core.set_title("积极分子（按发言）")
        lines = [f"{i}. {c.name}  {c.messages} 条" for i, c in enumerate(f.core, 1)] or [
            "本周无人发言"
        ]
        core.text(0.05, 0.95, "\n".join(lines), va="top", fontsize=12, transform=core.transAxes)
        return _save(fig, path)


OVERVIEW_COLUMNS = ("群", "成员", "新进", "退出", "发言", "活跃率", "消息", "签到", "广告", "邀请")


def _overview_row(f: WeeklyFigures) -> list[str]:
    name = f.group_name if len(f.group_name) <= 14 else f.group_name[:13] + "…"
    return [
        name,
        str(f.members_now),
        str(f.joined),
        str(f.left),
        str(f.active_members),
        f"{f.active_ratio:.0%}",
        str(f.messages),
        str(f.checkins),
        str(f.ads_blocked),
        str(f.invites_blocked),
    ]


def render_overview(groups: Sequence[WeeklyFigures], path: Path, *, title: str = "") -> Rendered:
    """All groups on one page: messages per group (bars) and a table of their numbers."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(len(groups), 1)
    height = 3.0 + 0.6 * n
    with _LOCK, rc_context(_rc()):
        fig = Figure(figsize=(12, height), dpi=DPI)
        FigureCanvasAgg(fig)
        week = _week_label(groups[0]) if groups else ""
        fig.suptitle(title or f"各群周报总览  {week}", fontsize=18)
        grid = fig.add_gridspec(1, 2, width_ratios=[1, 2.4], left=0.12, right=0.98, wspace=0.05)
        bars = fig.add_subplot(grid[0, 0])
        names = [_overview_row(f)[0] for f in groups] or ["（无）"]
        values = [f.messages for f in groups] or [0]
        positions = list(range(len(names)))[::-1]  # the first group on top
        hb = bars.barh(positions, values, color="#4C9BE8")
        bars.set_yticks(positions, names)
        bars.bar_label(hb, padding=2)
        bars.set_title("本周消息数")
        bars.set_xlim(0, max(max(values), 1) * 1.3)
        table = fig.add_subplot(grid[0, 1])
        table.axis("off")
        rows = [_overview_row(f) for f in groups] or [["（无）"] + [""] * 9]
        t = table.table(cellText=rows, colLabels=list(OVERVIEW_COLUMNS), loc="center")
        t.auto_set_font_size(False)
        t.set_fontsize(10)
        t.scale(1, 1.4)
        return _save(fig, path)


def render_text_image(text: str, path: Path, *, family: str | None = None) -> Path:
    """``text`` alone on a small image (what the glyph tests compare): with the
    CJK font, or with ``family`` only (e.g. DejaVu Sans, which has no Chinese)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rc: Any = _rc() if family is None else {"font.family": [family]}
    with _LOCK, rc_context(rc):
        fig = Figure(figsize=(4, 1), dpi=DPI)
        FigureCanvasAgg(fig)
        fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=24)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    return path
