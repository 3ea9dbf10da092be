"""Puppet timestamps to aware UTC (the SDK's own helper returns naive local)."""

from __future__ import annotations

from datetime import UTC, datetime

_MS_THRESHOLD = 2_145_888_000  # 2038 in seconds; anything larger is milliseconds


def puppet_time(timestamp: float | int | str | None, fallback: datetime) -> datetime:
    try:
        ts = float(timestamp) if timestamp not in (None, "") else 0.0
    except (TypeError, ValueError):
        return fallback
    if ts <= 0:
        return fallback
    if ts > _MS_THRESHOLD:
        ts /= 1000.0
    try:
        return datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return fallback
