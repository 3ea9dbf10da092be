"""Train the shipped ad classifier, reproducibly, from redistributable data only.

    python -m handlers.moderation.detector.train [--data ../shared/data/ads] [--out PATH]

Training data (see ``data/ATTRIBUTION.md``):

* ``data/examples.tsv``: examples written for qunbot (Apache-2.0);
* ``qqgroup_dev.tsv`` (siuank/ADDetector4J, MIT), read in place from ``--data``;
* ``qqgroup_violations_tiny.tsv`` (hhhhc-da/nonebot2-review, MIT), read in
  place: its normal rows, and those of its violation rows that advertise
  (a link, a shop code, a group or a price: :func:`_tiny_row_is_ad`); its
  other violations (insults, lewd chat) are not ads and are left out.

Sets without a licence (sms_mudou, gamechat) are never read here.  The fit is
deterministic: full-batch logistic regression with Adam and L2 on binary
character 1-2-gram features, then the :class:`~.combiner.Combiner` (a logistic
regression over the text checks' outputs) on the classifier's 5-fold
out-of-fold scores of the same examples (numpy at training time only), its
bias then moved so that the detector's "ad" threshold keeps a precision of
``PRECISION_TARGET`` on those out-of-fold scores (class weights set the slope,
the real mix of the training examples the operating point).
"""

from __future__ import annotations

import argparse
import math
import re
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from .checks import prepare
from .classifier import MODEL_FILE, Classifier, features
from .combiner import FEATURES, Combiner, feature_vector
from .normalize import normalize
from .verdict import AD_THRESHOLD

DEFAULT_DATA = Path("../shared/data/ads")
# The precision at the detector's "ad" threshold on the training examples'
# out-of-fold scores (see _calibration_shift).
PRECISION_TARGET = 0.965
MIT_SETS = ("qqgroup_dev.tsv", "qqgroup_violations_tiny.tsv")

Example = tuple[str, bool]


def read_tsv(path: Path) -> list[Example]:
    out: list[Example] = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        if label in ("0", "1"):
            out.append((text, label == "1"))
    return out


def own_examples() -> list[Example]:
    text = resources.files(__package__).joinpath("data/examples.tsv").read_text("utf-8")
    out: list[Example] = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            label, _, t = line.partition("\t")
            out.append((t, label == "1"))
    return out


_TINY_AD = re.compile(r"http|淘|券|群|¥|￥|元|亓|💰|包邮|秒杀|\d+r|赞助")


def _tiny_row_is_ad(text: str) -> bool:
    return bool(_TINY_AD.search(text))


def mit_examples(data: Path) -> list[Example]:
    rows = read_tsv(data / "qqgroup_dev.tsv")
    for text, label in read_tsv(data / "qqgroup_violations_tiny.tsv"):
        if not label:
            rows.append((text, False))
        elif _tiny_row_is_ad(text):
            rows.append((text, True))
    return rows


def fit(
    examples: Sequence[Example],
    *,
    l2: float = 1e-4,
    epochs: int = 300,
    lr: float = 0.05,
    min_df: int = 2,
    meta: dict[str, object] | None = None,
) -> Classifier:
    """Logistic regression on :func:`features` (n-gram counts), classes weighted
    to equal mass."""
    import numpy as np

    docs = [features(normalize(t)) for t, _ in examples]
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d)
    vocab = {g: i for i, g in enumerate(sorted(g for g, c in df.items() if c >= min_df))}
    rows_l: list[int] = []
    cols_l: list[int] = []
    for r, d in enumerate(docs):
        idx = [vocab[g] for g in d if g in vocab]
        rows_l.extend([r] * len(idx))
        cols_l.extend(idx)
    rows = np.asarray(rows_l, dtype=np.int64)
    cols = np.asarray(cols_l, dtype=np.int64)
    y = np.asarray([1.0 if lab else 0.0 for _, lab in examples])
    n, v = len(examples), len(vocab)
    pos = max(y.sum(), 1.0)
    neg = max(n - y.sum(), 1.0)
    sw = np.where(y == 1.0, n / (2 * pos), n / (2 * neg))
    w = np.zeros(v)
    b = 0.0
    m_w = np.zeros(v)
    v_w = np.zeros(v)
    m_b = v_b = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, epochs + 1):
        z = b + np.bincount(rows, weights=w[cols], minlength=n)
        p = 1.0 / (1.0 + np.exp(-z))
        err = (p - y) * sw / n
        g_w = np.bincount(cols, weights=err[rows], minlength=v) + l2 * w
        g_b = float(err.sum())
        m_w = beta1 * m_w + (1 - beta1) * g_w
        v_w = beta2 * v_w + (1 - beta2) * g_w * g_w
        m_b = beta1 * m_b + (1 - beta1) * g_b
        v_b = beta2 * v_b + (1 - beta2) * g_b * g_b
        corr1 = 1 - beta1**t
        corr2 = 1 - beta2**t
        w -= lr * (m_w / corr1) / (np.sqrt(v_w / corr2) + eps)
        b -= lr * (m_b / corr1) / (np.sqrt(v_b / corr2) + eps)
    inv = sorted(vocab, key=vocab.__getitem__)
    weights = {g: float(x) for g, x in zip(inv, w, strict=True) if abs(x) >= 1e-3}
    return Classifier(weights=weights, bias=float(b), meta=dict(meta or {}))


def _check_features(clf: Classifier, texts: Sequence[str]) -> list[list[float]]:
    from .verdict import Detector  # verdict imports this package's classifier

    det = Detector(classifier=clf)
    rows = []
    for t in texts:
        x = feature_vector(det.text_checks(prepare(t)))
        rows.append(x if x is not None else [0.0] * len(FEATURES))
    return rows


def fit_combiner(
    examples: Sequence[Example],
    *,
    k: int = 5,
    l2: float = 1e-3,
    seed: int = 7,
    precision_target: float | None = PRECISION_TARGET,
    ad_threshold: float = AD_THRESHOLD,
) -> Combiner:
    """Logistic regression over the text checks' outputs, with the classifier's
    scores taken out of fold (each example scored by a model that did not see
    it), classes weighted to equal mass; Newton steps, deterministic."""
    import random

    import numpy as np

    idx = list(range(len(examples)))
    random.Random(seed).shuffle(idx)
    parts = [idx[i::k] for i in range(k)]
    x_rows: list[list[float]] = [[]] * len(examples)
    for part in parts:
        held = set(part)
        clf = fit([examples[i] for i in idx if i not in held])
        held_x = _check_features(clf, [examples[i][0] for i in part])
        for i, row in zip(part, held_x, strict=True):
            x_rows[i] = row
    x = np.hstack([np.asarray(x_rows), np.ones((len(examples), 1))])
    y = np.asarray([1.0 if lab else 0.0 for _, lab in examples])
    n = len(examples)
    pos, neg = max(y.sum(), 1.0), max(n - y.sum(), 1.0)
    sw = np.where(y == 1.0, n / (2 * pos), n / (2 * neg))
    reg = l2 * np.eye(x.shape[1])
    reg[-1, -1] = 0.0
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = x.T @ ((p - y) * sw) / n + reg @ beta
        hess = (x * (sw * p * (1 - p))[:, None]).T @ x / n + reg
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    bias = float(beta[-1])
    if precision_target is not None:
        bias += _calibration_shift(x @ beta, y, precision_target, ad_threshold)
    return Combiner(
        weights={name: float(b) for name, b in zip(FEATURES, beta[:-1], strict=True)},
        bias=bias,
    )


def _calibration_shift(
    z: Any, y: Any, precision_target: float, ad_threshold: float, max_shift: float = 2.0
) -> float:
    """How far to move the combiner's logit so that "score >= ad_threshold" keeps the
    most examples at a precision of at least ``precision_target``, measured on the
    out-of-fold scores of the training examples themselves (class weights fit the
    slope; this sets the operating point on the real mix of ads and chat)."""
    import numpy as np

    order = np.argsort(-z)
    hits = np.cumsum(y[order])
    prec = hits / np.arange(1, len(z) + 1)
    ok = np.nonzero(prec >= precision_target)[0]
    if not len(ok):
        return 0.0
    cut = float(z[order][ok[-1]])  # the lowest score still at the target precision
    target = math.log(ad_threshold / (1.0 - ad_threshold))
    return max(-max_shift, min(max_shift, target - cut))


def fit_model(examples: Sequence[Example], *, meta: dict[str, object] | None = None) -> Classifier:
    """The shipped model: :func:`fit` on all examples and its :func:`fit_combiner`."""
    clf = fit(examples, meta=meta)
    clf.combiner = fit_combiner(examples)
    return clf


def training_set(data: Path) -> list[Example]:
    return own_examples() + mit_examples(data)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the MIT sets")
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(str(resources.files(__package__).joinpath(MODEL_FILE))),
    )
    args = ap.parse_args(argv)
    examples = training_set(args.data)
    ads = sum(1 for _, lab in examples if lab)
    model = fit_model(
        examples,
        meta={
            "trained_on": ["data/examples.tsv (qunbot)", *MIT_SETS],
            "examples": len(examples),
            "ads": ads,
        },
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(
        f"trained on {len(examples)} examples ({ads} ads), {len(model.weights)} weights -> {args.out}"
    )
    print(f"combiner: {model.combiner.to_json() if model.combiner else None}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
