"""The lurker benchmark runs at a small scale, and both ways find the same lurkers
(figures are measured by running it at full size, not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_lurker_benchmark_finds_the_same_lurkers_from_rollups_and_from_the_log() -> None:
    out = subprocess.run(
        [sys.executable, "bench/lurkers.py", "--scale", "0.005", "--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["groups"] == 2 and report["events"] == 100_000
    assert report["agree"] is True and report["lurkers"] > 0
    assert report["rollups_ms_per_group"]["median"] > 0 and report["db_mb"] > 0
