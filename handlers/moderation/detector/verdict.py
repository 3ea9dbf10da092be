"""The detector: every check on one message, weighed into a :class:`Verdict`.

    detector = Detector()                       # shipped classifier and lexicon
    verdict = detector.judge(Sample(text="加微信 abc12345 领福利"))
    verdict.decision, verdict.score, verdict.reasons

Checks that need state the detector does not keep (QR codes in images,
flooding, newcomer probation) are run by their owners and passed in as
``extra`` results: :meth:`Detector.judge` weighs them like its own.

Combination: when the classifier carries a learned :class:`~.combiner.Combiner`
(the shipped model does), the text checks are weighed by it (a logistic
regression over their outputs, fitted on out-of-fold classifier scores), and
every other hit (cards, QR codes, flooding...) is added on top by noisy OR,
``1 - prod(1 - s)``.  Without one, all hits are combined by noisy OR, so two
independent pieces of evidence (a phone number and ad wording) add up, while
a clean check adds nothing.  ``review`` and ``ad`` thresholds map the score to
a :class:`Decision`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from bot.vocab.events import Attachment, MessageKind

from .checks import (
    Lexicon,
    Prepared,
    check_contact_card,
    check_lexicon,
    check_link_card,
    check_links,
    check_mini_program,
    check_phone_number,
    check_qq_number,
    check_wechat_id,
    default_lexicon,
    host_of,
    prepare,
    without_links,
)
from .classifier import Classifier, default_classifier
from .combiner import FEATURES, Combiner, feature_vector
from .results import CheckResult, Decision, Verdict
from .senders import NAME as OFFICIAL_SENDER
from .senders import Senders, check_official_sender, default_senders

REVIEW_THRESHOLD = 0.5
AD_THRESHOLD = 0.8
CONTACT_OFFER_SCORE = 0.85
# Hits a signed notice may carry and still be capped at review (see senders.py);
# any other hit (a card, a QR code, flooding) is judged as usual.
_CAPPABLE = frozenset({*FEATURES, "probation", OFFICIAL_SENDER, "contact_offer"})


_NO_OFFER = CheckResult("contact_offer", False, 0.0, "没有联系方式与广告用语同时出现")


def check_contact_offer(
    contacts: Sequence[CheckResult], lexicon: CheckResult, official: CheckResult
) -> CheckResult:
    """A way to reach the sender (phone, WeChat id, QQ) together with ad wording:
    the shape of nearly every ad ("详询 138…", "加微信 … 领取").  A known
    organisation's signed notice (its hotline) does not count."""
    if not lexicon.hit or official.hit:
        return _NO_OFFER
    found = [c for c in contacts if c.hit]
    if not found:
        return _NO_OFFER
    return CheckResult(
        "contact_offer",
        True,
        CONTACT_OFFER_SCORE,
        f"留了联系方式，又有广告用语（{found[0].reason}；{lexicon.reason}）",
    )


def decision_for(
    score: float,
    checks: Sequence[CheckResult],
    review_threshold: float = REVIEW_THRESHOLD,
    ad_threshold: float = AD_THRESHOLD,
) -> Decision:
    """The decision for ``score``; a notice signed by a known organisation, with
    no other kind of evidence, is at most ``review``."""
    if score < review_threshold:
        return Decision.OK
    if score < ad_threshold:
        return Decision.REVIEW
    hits = [c.name for c in checks if c.hit]
    if OFFICIAL_SENDER in hits and all(n in _CAPPABLE for n in hits):
        return Decision.REVIEW
    return Decision.AD


@dataclass(frozen=True, slots=True)
class Sample:
    """One message as the detector sees it, with the group's allowlists."""

    text: str
    kind: MessageKind = MessageKind.TEXT
    attachment: Attachment | None = None
    allowed_domains: Collection[str] = frozenset()
    allowed_app_ids: Collection[str] = frozenset()
    allowed_contacts: Collection[str] = frozenset()
    room_id: str | None = None
    sender_id: str = ""

    def full_text(self) -> str:
        """The text the text checks read: the message and its card's title / description."""
        a = self.attachment
        if a is None or not (a.title or a.description):
            return self.text
        return " ".join(s for s in (self.text, a.title, a.description) if s)


def combine(checks: Iterable[CheckResult]) -> float:
    keep = 1.0
    for c in checks:
        if c.hit:
            keep *= 1.0 - min(max(c.score, 0.0), 1.0)
    return 1.0 - keep


def combine_learned(combiner: Combiner, checks: Sequence[CheckResult]) -> float:
    """The combiner's probability from the text checks, noisy-OR'd with every other hit."""
    x = feature_vector(checks)
    if x is None:
        return combine(checks)
    text = combiner.probability(x)
    rest = combine(c for c in checks if c.name not in FEATURES)
    return 1.0 - (1.0 - text) * (1.0 - rest)


@dataclass
class Detector:
    classifier: Classifier = field(default_factory=default_classifier)
    lexicon: Lexicon = field(default_factory=default_lexicon)
    senders: Senders = field(default_factory=default_senders)
    review_threshold: float = REVIEW_THRESHOLD
    ad_threshold: float = AD_THRESHOLD

    def text_checks(
        self, p: Prepared, allowed_domains: Collection[str] = (), card_url: str = ""
    ) -> list[CheckResult]:
        links = check_links(p, allowed_domains)
        # links found and all on the allowlist: the classifier reads the text without them
        allowed_only = "allowed" in links.detail
        wechat, qq, phone = check_wechat_id(p), check_qq_number(p), check_phone_number(p)
        card_hosts = [host_of(card_url)] if card_url else []
        lexicon = check_lexicon(p, self.lexicon)
        official = check_official_sender(p, (wechat, qq, phone), self.senders, card_hosts)
        return [
            links,
            wechat,
            qq,
            phone,
            lexicon,
            self.classifier.check(without_links(p) if allowed_only else p),
            official,
            check_contact_offer((wechat, qq, phone), lexicon, official),
        ]

    def judge(self, sample: Sample, extra: Sequence[CheckResult] = ()) -> Verdict:
        p = prepare(sample.full_text())
        card_url = sample.attachment.url if sample.attachment is not None else ""
        checks = self.text_checks(p, sample.allowed_domains, card_url or "")
        checks += [
            check_contact_card(sample.kind, sample.attachment, sample.allowed_contacts),
            check_mini_program(sample.kind, sample.attachment, sample.allowed_app_ids),
            check_link_card(sample.kind, sample.attachment, sample.allowed_domains),
        ]
        checks.extend(extra)
        return self.decide(checks)

    def judge_text(self, text: str, allowed_domains: Collection[str] = frozenset()) -> Verdict:
        return self.decide(self.text_checks(prepare(text), allowed_domains))

    def decide(self, checks: Sequence[CheckResult]) -> Verdict:
        comb = self.classifier.combiner
        score = round(combine(checks) if comb is None else combine_learned(comb, checks), 4)
        decision = decision_for(score, checks, self.review_threshold, self.ad_threshold)
        return Verdict(score, decision, tuple(checks))

    def learn(self, text: str, is_ad: bool) -> float:
        """An admin's verdict (``#广告`` / ``#误判``) teaches the classifier."""
        return self.classifier.learn(text, is_ad)


def parse_line(line: str, fmt: str) -> tuple[str, bool | None]:
    """``tsv``: ``label<TAB>text`` (label 1 = ad); ``lines``: the text alone."""
    line = line.rstrip("\r\n")
    if fmt == "tsv":
        label, sep, text = line.partition("\t")
        if sep and label in ("0", "1"):
            return text, label == "1"
        return line, None
    if fmt == "lines":
        return line, None
    raise ValueError(f"unknown format {fmt!r} (tsv or lines)")


def scan_lines(
    lines: Iterable[str], fmt: str = "lines", detector: Detector | None = None
) -> Iterator[dict[str, object]]:
    """One dict per message, in input order: ``ad`` (the decision is AD), ``score``,
    ``decision``, ``reasons`` (every hit's reason) and ``label`` when the input has one."""
    det = detector or Detector()
    for line in lines:
        text, label = parse_line(line, fmt)
        v = det.judge_text(text)
        row: dict[str, object] = {
            "ad": v.decision is Decision.AD,
            "score": v.score,
            "decision": str(v.decision),
            "reasons": v.reasons,
        }
        if label is not None:
            row["label"] = int(label)
        yield row


def scan_json_lines(lines: Iterable[str], fmt: str = "lines") -> Iterator[str]:
    for row in scan_lines(lines, fmt):
        yield json.dumps(row, ensure_ascii=False)
