"""The image benchmark runs and reports what it promises (figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_image_benchmark_finds_every_qr_and_times_each_size() -> None:
    out = subprocess.run(
        [sys.executable, "bench/detector_images.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["all_qr_found"] is True
    assert report["no_false_hits"] is True
    assert "photo_4000x3000_qr" in report["images"]
    assert all(row["ms"] > 0 for row in report["images"].values())
