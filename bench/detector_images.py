"""Benchmark: QR decoding time per image size (the detector's image check).

    python bench/detector_images.py [--repeat 5]
    python bench/detector_images.py --quick     # fewer sizes, 1 repetition (smoke test)

For each size, two JPEG photos made of seeded photo-like noise (a hard case:
grain looks like finder patterns to a detector): one with a WeChat group QR
pasted in (about a sixth of the short side; the first decoding pass finds it),
one without (the worst case: every pass runs and finds nothing).  Each image
is checked ``--repeat`` times with :func:`check_qr` (loading included); the
median is reported in milliseconds, with the passes run and whether the check
hit.  A plain QR PNG and a 48 px thumbnail (needs the upscaled pass) are
measured too.

:func:`measure` returns the figures as a dict, for ``bench/detector_speed.py``
to include.  The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from handlers.moderation.detector.qr import check_qr, decode_codes
from tests.unit.qr_images import embed, encode, jpeg, photo, qr_image

SIZES = [
    (320, 240),
    (800, 600),
    (1280, 960),
    (1920, 1080),
    (2048, 1536),
    (4000, 3000),
    (8000, 6000),
]
QUICK_SIZES = [(320, 240), (1280, 960), (4000, 3000)]


def _time(data: bytes, repeat: int) -> dict[str, Any]:
    times = []
    result = check_qr(data)
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = check_qr(data)
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "kb": round(len(data) / 1024, 1),
        "ms": round(statistics.median(times), 2),
        "passes": decode_codes(data).passes,
        "hit": result.hit,
    }


def measure(sizes: list[tuple[int, int]] | None = None, repeat: int = 5) -> dict[str, Any]:
    """Median milliseconds per image, with and without a QR, for each size."""
    rows: dict[str, Any] = {}
    plain = qr_image(scale=8)
    rows["qr_png_328"] = _time(encode(plain), repeat)
    thumb = plain.resize((48, 48), Image.Resampling.LANCZOS)
    rows["qr_thumb_48"] = _time(jpeg(thumb, 70), repeat)
    for width, height in sizes or SIZES:
        background = photo(width, height, seed=width)
        scale = max(2, min(width, height) // (41 * 6))
        with_qr = embed(background, qr_image(scale=scale), at=(0.3, 0.6))
        rows[f"photo_{width}x{height}_qr"] = _time(jpeg(with_qr), repeat)
        rows[f"photo_{width}x{height}_none"] = _time(jpeg(background), repeat)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    repeat = 1 if args.quick else args.repeat
    rows = measure(sizes, repeat)
    for name, row in rows.items():
        print(
            f"{name:28s} {row['kb']:9.1f} KB {row['ms']:9.2f} ms  "
            f"passes={row['passes']} hit={row['hit']}",
            file=sys.stderr,
        )
    report = {
        "bench": "detector_images",
        "repeat": repeat,
        "python": platform.python_version(),
        "images": rows,
        "all_qr_found": all(r["hit"] for k, r in rows.items() if not k.endswith("_none")),
        "no_false_hits": not any(r["hit"] for k, r in rows.items() if k.endswith("_none")),
        "max_ms": max(r["ms"] for r in rows.values()),
    }
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
