"""The vocabulary shared by the account-safety governor and the paced queue.

Time units on the injected monotonic clock, which kinds are messages (they
share one message lane), and :class:`Refusal`, the answer when an action may
not execute at all.  It lives apart from :mod:`bot.governor` so that
:mod:`bot.paced_queue` can use it without importing the governor at runtime
(the governor re-exports the queue, so that would be an import cycle).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from bot.vocab.actions import ActionKind

MINUTE = 60.0
DAY = 86_400.0
_EPS = 1e-9
_INF = math.inf

MESSAGE_KINDS: frozenset[ActionKind] = frozenset({ActionKind.MESSAGE, ActionKind.RICH})


class RefusalCode(enum.StrEnum):
    BUDGET = "budget"  # rolling 24 h budget exhausted
    BREAKER = "breaker"  # circuit breaker open after a risk-control error
    EXPIRED = "expired"  # queue entry past its not_after


@dataclass(frozen=True, slots=True)
class Refusal:
    """Do not execute.  ``until``: when it could be allowed again (None: not
    before the settings change)."""

    reason: str
    code: RefusalCode = RefusalCode.BUDGET
    until: float | None = None
