"""The detector's verdict, scan output and learning from admins' verdicts."""

from __future__ import annotations

import json

from bot.vocab.events import Attachment, MessageKind
from handlers.moderation.detector.classifier import Classifier, default_classifier
from handlers.moderation.detector.results import CheckResult, Decision
from handlers.moderation.detector.train import fit
from handlers.moderation.detector.verdict import Detector, Sample, scan_json_lines, scan_lines

AD = "兼职刷单日结，加微信 abc12345，名额有限先到先得"
CLEAN = "明天早上八点校门口集合，别迟到"


def test_obvious_ad_is_decided_ad_with_reasons() -> None:
    v = Detector().judge(Sample(AD))
    assert v.decision is Decision.AD
    assert any("微信号" in r for r in v.reasons)
    assert v.score >= 0.8


def test_ordinary_chat_is_ok_and_every_check_still_reports() -> None:
    v = Detector().judge(Sample(CLEAN))
    assert v.decision is Decision.OK
    names = {c.name for c in v.checks}
    assert {"links", "wechat_id", "qq_number", "phone_number", "lexicon", "classifier"} <= names
    assert {"contact_card", "mini_program", "link_card"} <= names
    assert all(c.reason for c in v.checks)


def test_evasive_spelling_of_an_ad_is_still_an_ad() -> None:
    v = Detector().judge(Sample("兼 職 刷 單 日 結 ， 加 薇 ａｂｃ１２３４５"))
    assert v.decision is Decision.AD


def test_contact_card_alone_is_an_ad_unless_allowlisted() -> None:
    card = Attachment(title="客服小王", contact_id="wxid_w")
    det = Detector()
    assert det.judge(Sample("", MessageKind.CONTACT_CARD, card)).decision is Decision.AD
    allowed = Sample("", MessageKind.CONTACT_CARD, card, allowed_contacts={"wxid_w"})
    assert det.judge(allowed).decision is Decision.OK


def test_link_card_text_is_read_by_the_text_checks() -> None:
    card = Attachment(title="兼职刷单日结", description="加微信 abc12345", url="https://ok.com/a")
    v = Detector().judge(Sample("", MessageKind.LINK, card, allowed_domains={"ok.com"}))
    assert not next(c for c in v.checks if c.name == "link_card").hit
    assert v.decision is Decision.AD


def test_admins_link_on_allowlist_is_not_flagged() -> None:
    v = Detector().judge(
        Sample("活动报名 https://forms.example.com/x", allowed_domains={"example.com"})
    )
    assert v.decision is Decision.OK


def test_extra_results_from_other_checks_are_weighed_in() -> None:
    qr = CheckResult("qr_code", True, 0.9, "图片里有群二维码")
    v = Detector().judge(Sample("", MessageKind.IMAGE), extra=[qr])
    assert v.decision is Decision.AD
    assert "图片里有群二维码" in v.reasons


def test_thresholds_map_score_to_review() -> None:
    det = Detector(review_threshold=0.3, ad_threshold=0.99)
    v = det.decide([CheckResult("x", True, 0.5, "r")])
    assert v.decision is Decision.REVIEW


def test_scan_lines_keeps_input_order_and_labels() -> None:
    rows = list(scan_lines([f"1\t{AD}", f"0\t{CLEAN}"], "tsv"))
    assert [r["label"] for r in rows] == [1, 0]
    assert rows[0]["ad"] is True and rows[1]["ad"] is False
    assert rows[0]["reasons"] and isinstance(rows[0]["score"], float)


def test_scan_json_lines_emit_one_json_object_a_line() -> None:
    out = list(scan_json_lines([AD, CLEAN], "lines"))
    assert [json.loads(o)["ad"] for o in out] == [True, False]


def test_learning_an_ad_raises_its_probability_and_similar_messages() -> None:
    clf = default_classifier()
    text = "水果接龙拼单，明天到货"
    before = clf.probability(text)
    assert before < 0.5  # the shipped model does not call it an ad yet
    after = clf.learn(text, True)
    assert after > before and after >= 0.5
    assert clf.probability("水果接龙拼单，后天到货") > before
    assert clf.feedback == [(text, True)]


def test_learning_a_false_alarm_lowers_it() -> None:
    clf = default_classifier()
    text = "兼职刷单日结"
    assert clf.learn(text, False) < 0.5


def test_learning_does_not_touch_the_shipped_model_of_another_detector() -> None:
    a, b = Detector(), Detector()
    before = b.classifier.probability("小区拼单团购")
    a.learn("小区拼单团购", True)
    assert b.classifier.probability("小区拼单团购") == before


def test_model_round_trips_through_its_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "m.json.gz"
    clf = fit([("加微信领福利", True), ("吃饭了吗", False)] * 3, epochs=50)
    clf.save(path)
    again = Classifier.load(path)
    assert abs(again.probability("加微信领福利") - clf.probability("加微信领福利")) < 1e-3


def test_shipped_model_weighs_text_checks_with_its_learned_combiner() -> None:
    det = Detector()
    assert det.classifier.combiner is not None
    v = det.judge(Sample(AD))
    assert v.decision is Decision.AD and v.score >= 0.8


def test_card_hit_still_adds_on_top_of_the_learned_combiner() -> None:
    card = Attachment(title="客服小王", contact_id="wxid_w")
    v = Detector().judge(Sample(CLEAN, MessageKind.CONTACT_CARD, card))
    assert v.decision is Decision.AD


def test_combiner_survives_the_model_file(tmp_path: object) -> None:
    from pathlib import Path

    from handlers.moderation.detector.combiner import Combiner

    path = Path(str(tmp_path)) / "m.json.gz"
    clf = fit([("加微信领福利", True), ("吃饭了吗", False)] * 3, epochs=50)
    clf.combiner = Combiner(weights={"classifier": 1.5, "lexicon": 2.0}, bias=-0.5)
    clf.save(path)
    again = Classifier.load(path)
    assert again.combiner is not None
    assert again.combiner.weights["lexicon"] == 2.0 and again.combiner.bias == -0.5
