"""The benchmarks run and report what they promise (figures are not asserted: speed is
measured by running them, not by tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.config import MemberListsConfig

ROOT = Path(__file__).resolve().parents[2]


def last_json(*args: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_pipeline_benchmark_stores_every_message_and_reports_the_ratio() -> None:
    report = last_json("bench/pipeline.py", "--quick")
    assert report["stored_rows"] == report["messages"] == 2000
    assert report["stored_rows_ok"] is True
    for key in ("full_msgs_per_s", "bare_msgs_per_s", "ratio"):
        assert report[key] > 0


def test_the_governor_benchmark_never_exceeds_a_limit() -> None:
    report = last_json("bench/governor.py", "--actions", "300", "--rooms", "60")
    assert report["max_rate_over_limit"] <= 1.0
    assert report["total_time_ratio"] >= 1.0  # never faster than the limits allow
    assert report["enqueue_per_s"] > 0


def test_the_login_benchmark_reports_reads_and_the_snapshot_store() -> None:
    report = last_json("bench/login.py", "--quick")
    # Every managed group (the benchmark's, and its chat room) is stale at login;
    # the default budget lets a burst of reads_per_minute through, the rest wait
    # their turn (a minute later, after the window).
    stale = report["groups"] + 1
    assert stale > MemberListsConfig().reads_per_minute
    assert report["reads_at_login"] == MemberListsConfig().reads_per_minute
    assert report["reads_at_replayed_login"] == 0  # the lists are cached
    assert report["memberships"] == 500
    assert report["snapshot_stored_s"] is not None
    assert report["peak_rss_mb"] > 0
