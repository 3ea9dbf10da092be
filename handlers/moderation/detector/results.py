"""What the detector's checks return, and the verdict they add up to."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Decision(enum.StrEnum):
    OK = "ok"
    REVIEW = "review"
    AD = "ad"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One named check's finding: ``hit`` with a ``score`` in [0, 1] and a
    human-readable ``reason`` (Chinese, shown to admins), also when clean."""

    name: str
    hit: bool
    score: float
    reason: str
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float  # combined, in [0, 1]
    decision: Decision
    checks: tuple[CheckResult, ...]

    @property
    def hits(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.hit)

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.hits]
