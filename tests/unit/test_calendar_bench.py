"""The calendar benchmark runs in its quick mode (in this process, a few seconds of
the system clock) and reports every figure it promises; the figures themselves are
measured by running it at full size, not asserted here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLAN_KEYS = {
    "entries",
    "groups",
    "jobs",
    "days",
    "runs_planned",
    "validate_s",
    "jobs_s",
    "preview_s",
    "validate_peak_mb",
    "jobs_peak_mb",
    "preview_peak_mb",
}
LATENESS_KEYS = {"p50_ms", "p99_ms", "max_ms", "runs_expected", "runs_fired", "messages_said"}


def load_bench() -> ModuleType:
    # bench/ is not a package: load the file itself.
    spec = importlib.util.spec_from_file_location(
        "qunbot_bench_calendar", ROOT / "bench/sop_calendar.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_calendar_benchmark_reports_plan_and_lateness_figures_as_one_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = load_bench()
    assert bench.main(["--quick"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    plan = report["plan"]
    assert plan.keys() >= PLAN_KEYS
    assert plan["entries"] == 100 and plan["groups"] == 10
    assert plan["jobs"] > 0 and plan["runs_planned"] > 0
    assert set(plan["preview_s"]) == {"min", "median", "max"}

    live = report["live"]
    assert {"baseline", "loaded", "p99_ratio_loaded_to_baseline", "p99_under_1s"} <= live.keys()
    for figures in (live["baseline"], live["loaded"]):
        assert figures.keys() >= LATENESS_KEYS
        assert figures["runs_fired"][0] > 0
        assert figures["handler_failures"] == 0
    assert live["baseline"]["messages_said"] == [0]
    loaded = live["loaded"]
    assert loaded["messages_said"][0] > 0
    assert loaded["messages_handled"][0] >= loaded["messages_said"][0]
