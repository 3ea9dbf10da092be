"""Weigh the text checks' outputs into one score with learned weights.

The noisy OR of :func:`~.verdict.combine` treats every check as independent
evidence with a hand-set weight.  The :class:`Combiner` is a small logistic
regression over the text checks' outputs instead (the classifier's logit,
whether a link, a WeChat id or a QQ number was found, the phone and lexicon
scores), fitted by ``train.py`` on the classifier's *out-of-fold* logits so
that it learns how far the classifier can be trusted on messages it has not
seen.  Checks it has no weight for (cards, QR codes, flooding, probation)
are still added by noisy OR on top.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .results import CheckResult

# The text checks the combiner reads, in a fixed order.
FEATURES = ("classifier", "links", "wechat_id", "qq_number", "phone_number", "lexicon")
_LOGIT_CLIP = 9.0


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1.0 - 1e-4)
    return max(-_LOGIT_CLIP, min(_LOGIT_CLIP, math.log(p / (1.0 - p))))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def feature_vector(checks: Iterable[CheckResult]) -> list[float] | None:
    """The combiner's inputs from a verdict's checks, or None without a classifier result.

    One pass over the checks (the last result of a name counts)."""
    x = [0.0] * len(FEATURES)
    have_classifier = False
    for c in checks:
        i = _INDEX.get(c.name)
        if i is None:
            continue
        if i == 0:
            x[0] = _logit(c.score)
            have_classifier = True
        elif i in _SCORED:
            x[i] = c.score  # the lexicon's score counts below its hit mark too
        else:
            x[i] = 1.0 if c.hit else 0.0
    return x if have_classifier else None


_INDEX = {name: i for i, name in enumerate(FEATURES)}
_SCORED = frozenset({_INDEX["phone_number"], _INDEX["lexicon"]})


@dataclass(frozen=True, slots=True)
class Combiner:
    weights: Mapping[str, float]
    bias: float

    def probability(self, x: Sequence[float]) -> float:
        w = self.weights
        z = self.bias
        for name, v in zip(FEATURES, x, strict=True):
            if v:
                z += w.get(name, 0.0) * v
        return _sigmoid(z)

    def to_json(self) -> dict[str, Any]:
        return {
            "bias": round(self.bias, 5),
            "weights": {n: round(float(self.weights.get(n, 0.0)), 5) for n in FEATURES},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Combiner:
        return cls(weights=dict(data["weights"]), bias=float(data["bias"]))
