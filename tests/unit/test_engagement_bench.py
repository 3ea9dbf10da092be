"""The check-in benchmark runs and keeps its promise: nobody lost, nobody paid twice,
far fewer messages than check-ins (figures are measured by running it, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_checkin_benchmark_confirms_everyone_once_in_folded_messages() -> None:
    out = subprocess.run(
        [sys.executable, "bench/engagement.py", "--quick", "--no-postgres"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])["sqlite"]
    assert report["confirmed"] == report["ledger_rows"] == report["checkins"] == 200
    assert report["messages"] < report["checkins"] / 5
    assert report["max_mentions"] <= 20
    assert report["commands_per_s"] > 0 and report["deliverable"] is True
