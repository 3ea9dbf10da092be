"""The lottery benchmark runs: both runs enter the same members, and the cached
one asks the database far less (figures are measured by running it, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_lottery_benchmark_enters_the_same_members_with_far_fewer_queries() -> None:
    out = subprocess.run(
        [sys.executable, "bench/lottery.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    cached, uncached = report["cached"], report["uncached"]
    assert cached["entered"] == uncached["entered"] >= 1
    assert uncached["lottery_queries"] >= cached["messages"]
    assert cached["lottery_queries"] < cached["messages"] / 10
