"""A light statistical ad classifier: character 1-2-grams + logistic regression.

Features are the character 1- and 2-grams of a message's *shape*: the
normalised text (see :mod:`.normalize`) with links, phone numbers and long
numbers replaced by one capital letter each (the normalised text is lower
case, so they cannot clash) and short numbers by zeros, so that "加微信
13800138000" and "加微信 13912345678" look the same.  Inference is a dict
lookup per n-gram and a sum: pure Python, no numpy.

The shipped model (``data/classifier.json.gz``) is trained by
``python -m handlers.moderation.detector.train`` on redistributable data only
(see ``data/ATTRIBUTION.md``).  Each deployment improves it with its admins'
verdicts through :meth:`Classifier.learn` (a few online gradient steps on
that example); the caller persists the verdicts and replays them at start.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from operator import add
from pathlib import Path
from typing import Any

from .checks import Prepared, prepare
from .combiner import Combiner
from .results import CheckResult

MODEL_FILE = "data/classifier.json.gz"
# /2: binary n-gram features and an optional learned combiner
# /3: 1-2-grams only (trigrams cost a third of the detector's time and added
#     nothing measurable; unigrams carry most of what transfers to new groups)
FORMAT = "qunbot-ngram-lr/3"

_URL = re.compile(
    r"(?:https?://|www\.)[-a-z0-9./?=&_%#]+|(?:[a-z0-9-]+\.)+[a-z]{2,6}(?:/[-a-z0-9./?=&_%#]*)?"
)
_DIGITS = re.compile(r"\d+")
_ANY_DIGIT = re.compile(r"\d")


def _digit_shape(m: re.Match[str]) -> str:
    run = m.group()
    n = len(run)
    if n == 11 and run[0] == "1":
        return "P"  # a mobile number
    if n >= 8:
        return "N"  # long number: QQ, landline, account
    if n >= 5:
        return "Q"  # 5-7 digits: QQ, hotline, code
    return "0" * n


def shape(norm: str) -> str:
    """The normalised text with links and numbers replaced by placeholders."""
    if "." in norm or "/" in norm:
        norm = _URL.sub("U", norm)
    if not _ANY_DIGIT.search(norm):
        return norm
    return _DIGITS.sub(_digit_shape, norm)


def features(norm: str) -> list[str]:
    """The distinct character 1- and 2-grams of the shape, with start and end marks.

    Binary (each n-gram once): counted n-grams let a long message pile up
    small weights (the MIT chat set has almost no long normal messages, so
    length alone looked like an ad).  Built with ``map`` so the loops run in C."""
    return list(dict.fromkeys(_grams(norm)))


def _grams(norm: str) -> list[str]:
    """Every character 1- and 2-gram of the shape with its marks, repeats included."""
    s = "^" + shape(norm) + "$"
    return [*s[1:-1], *map(add, s, s[1:])]


# -- the same n-grams as integers, for inference -----------------------------------
# Building one small str object per n-gram was most of the detector's time.
# Encoded as UTF-32, a text is an array of code points: read as 32-bit ints
# they are its unigrams, and read as 64-bit ints (from byte 0 and from byte 4)
# its overlapping bigrams, ``ord(a) | ord(b) << 32``, all in C.  A bigram's key
# is at least 2**32 (normalised text has no NUL), so it never equals a unigram's.


def gram_key(gram: str) -> int:
    """The integer :func:`_packed_grams` uses for a 1- or 2-gram."""
    if len(gram) == 1:
        return ord(gram)
    return ord(gram[0]) | ord(gram[1]) << 32


def _packed_grams(norm: str) -> list[int]:
    """:func:`_grams` as :func:`gram_key` integers (repeats included)."""
    b = ("^" + shape(norm) + "$").encode("utf-32-le", "surrogatepass")
    m = memoryview(b)
    n = len(b)
    keys = m[4:-4].cast("I").tolist()
    keys += m[: n & ~7].cast("Q").tolist()  # bigrams at 0-1, 2-3, ...
    keys += m[4 : 4 + ((n - 4) & ~7)].cast("Q").tolist()  # and at 1-2, 3-4, ...
    return keys


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass
class Classifier:
    """Logistic regression over :func:`features`; ``weights`` maps n-gram to weight."""

    weights: dict[str, float]
    bias: float
    threshold: float = 0.5  # probability at which the check reports a hit
    learning_rate: float = 0.5
    feedback: list[tuple[str, bool]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    # how the detector weighs this classifier with the other text checks (None: noisy OR)
    combiner: Combiner | None = None
    # ``weights`` keyed by gram_key, for inference; kept in step by learn()
    # (call reindex() after changing ``weights`` any other way)
    _packed: dict[int, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self._packed = {gram_key(g): v for g, v in self.weights.items()}

    # -- inference -----------------------------------------------------------------
    def logit(self, norm: str) -> float:
        # The distinct n-grams the model has a weight for: the keys view
        # intersected with the list (in C: one hash per n-gram, and only the
        # hits go into the set), the same sum as over features(norm).
        w = self._packed
        return self.bias + sum(map(w.__getitem__, w.keys() & _packed_grams(norm)))

    def probability(self, text_or_prepared: str | Prepared) -> float:
        p = (
            text_or_prepared
            if isinstance(text_or_prepared, Prepared)
            else prepare(text_or_prepared)
        )
        if not p.norm:
            return 0.0
        return _sigmoid(self.logit(p.norm))

    def check(self, p: Prepared) -> CheckResult:
        prob = self.probability(p)
        score = round(prob, 4)
        detail = {"p": f"{prob:.4f}"}
        if prob >= self.threshold:
            return CheckResult(
                "classifier", True, score, f"统计模型判断像广告（{prob:.0%}）", detail
            )
        return CheckResult(
            "classifier", False, score, f"统计模型判断不像广告（{prob:.0%}）", detail
        )

    # -- online learning ----------------------------------------------------------------
    def learn(self, text: str, is_ad: bool, *, steps: int = 8) -> float:
        """Take an admin's verdict on ``text`` into the model; returns the new probability.

        A few logistic-regression gradient steps on this one example, stopping
        once the model agrees with the verdict by a margin (p >= 0.9 for an ad,
        <= 0.1 for a normal message), so a single verdict moves the messages
        that share its n-grams without swamping the rest.  The example is kept
        in ``feedback`` (the caller persists verdicts and replays them at start).
        """
        self.feedback.append((text, is_ad))
        norm = prepare(text).norm
        if not norm:
            return 0.0
        grams = features(norm)
        y = 1.0 if is_ad else 0.0
        w = self.weights
        packed = self._packed
        for _ in range(steps):
            p = _sigmoid(self.logit(norm))
            if (is_ad and p >= 0.9) or (not is_ad and p <= 0.1):
                break
            step = self.learning_rate * (y - p) / math.sqrt(len(grams))
            for g in grams:
                w[g] = v = w.get(g, 0.0) + step
                packed[gram_key(g)] = v
        return _sigmoid(self.logit(norm))

    def learn_all(self, verdicts: Iterable[tuple[str, bool]]) -> None:
        for text, is_ad in verdicts:
            self.learn(text, is_ad)

    # -- persistence ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "bias": round(self.bias, 5),
            "threshold": self.threshold,
            "meta": self.meta,
            "weights": {g: round(v, 4) for g, v in sorted(self.weights.items()) if round(v, 4)},
        }
        if self.combiner is not None:
            out["combiner"] = self.combiner.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Classifier:
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown classifier format: {data.get('format')!r}")
        comb = data.get("combiner")
        return cls(
            combiner=Combiner.from_json(comb) if comb else None,
            weights=dict(data["weights"]),
            bias=float(data["bias"]),
            threshold=float(data.get("threshold", 0.5)),
            meta=dict(data.get("meta", {})),
        )

    def save(self, path: Path) -> None:
        raw = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))
        path.write_bytes(gzip.compress(raw.encode("utf-8"), mtime=0))

    @classmethod
    def load(cls, path: Path) -> Classifier:
        return cls.from_json(json.loads(gzip.decompress(path.read_bytes())))


@functools.cache
def _default_json() -> dict[str, Any]:
    blob = resources.files(__package__).joinpath(MODEL_FILE).read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(blob))
    return data


def default_classifier() -> Classifier:
    """A fresh copy of the shipped model (each caller may ``learn`` on its own)."""
    return Classifier.from_json(_default_json())
