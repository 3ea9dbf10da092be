"""Newcomer probation: a member's first messages or first hours are judged more strictly.

Ads mostly come from accounts that joined a moment ago.  A member is *on
probation* while they have sent fewer than ``first_messages`` messages or
joined less than ``hours`` ago.  The check is named ``probation``; a hit
carries no ad score of its own (score 0: being new is no offence) but says
by how much the verdict should weigh the other checks, in
``detail["boost"]`` (read it with :func:`boost_of`).

Unknown facts do not make anyone a newcomer: ``joined_at=None`` (the join was
never seen, e.g. the member was there before the bot) skips the hours rule,
``messages_sent=None`` (no count kept) skips the messages rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .results import CheckResult

NAME = "probation"
BOOST = "boost"


@dataclass(frozen=True, slots=True)
class Probation:
    """The rule: ``first_messages`` messages or ``hours`` hours, with a score ``boost``."""

    hours: float = 72.0
    first_messages: int = 5
    boost: float = 1.5

    def __post_init__(self) -> None:
        if self.hours < 0 or self.first_messages < 0 or self.boost < 1.0:
            raise ValueError("probation needs hours >= 0, first_messages >= 0 and boost >= 1")

    def check(
        self, *, joined_at: datetime | None, messages_sent: int | None, now: datetime
    ) -> CheckResult:
        return probation(
            joined_at=joined_at,
            messages_sent=messages_sent,
            now=now,
            hours=self.hours,
            first_messages=self.first_messages,
            boost=self.boost,
        )


def probation(
    *,
    joined_at: datetime | None,
    messages_sent: int | None,
    now: datetime,
    hours: float,
    first_messages: int,
    boost: float = 1.5,
) -> CheckResult:
    """Named result ``probation``: hit while the member is within their first
    ``first_messages`` messages (``messages_sent`` counts those before this one)
    or ``hours`` hours since ``joined_at``.  Times must be aware."""
    if now.tzinfo is None or (joined_at is not None and joined_at.tzinfo is None):
        raise ValueError("probation needs aware datetimes")
    detail: dict[str, str] = {BOOST: "1"}
    why: list[str] = []
    if joined_at is not None:
        age_h = max(0.0, (now - joined_at).total_seconds() / 3600)
        detail["hours_since_join"] = f"{age_h:.1f}"
        if age_h < hours:
            why.append(f"入群{_hours(age_h)}（{hours:g}小时内）")
    if messages_sent is not None:
        detail["messages_sent"] = str(messages_sent)
        if messages_sent < first_messages:
            why.append(f"第{messages_sent + 1}条消息（前{first_messages}条）")
    if not why:
        return CheckResult(NAME, False, 0.0, "不在新成员观察期", detail)
    detail[BOOST] = f"{boost:g}"
    return CheckResult(NAME, True, 0.0, "新成员观察期：" + "，".join(why) + "，从严判断", detail)


def boost_of(result: CheckResult | Mapping[str, str]) -> float:
    """The factor a probation result asks the verdict to weigh other checks by (1 = none)."""
    detail = result.detail if isinstance(result, CheckResult) else result
    try:
        return max(1.0, float(detail.get(BOOST, "1")))
    except ValueError:
        return 1.0


def _hours(age_h: float) -> str:
    if age_h < 1:
        return f"{int(age_h * 60)}分钟"
    return f"{int(age_h)}小时" if age_h >= 10 else f"{age_h:.1f}小时"
