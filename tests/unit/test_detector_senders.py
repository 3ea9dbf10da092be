"""Notices signed by a known organisation are at most "review", and only when
nothing else about them looks like a member's ad."""

from __future__ import annotations

import pytest

from bot.vocab.events import Attachment, MessageKind
from handlers.moderation.detector.checks import prepare
from handlers.moderation.detector.results import CheckResult, Decision
from handlers.moderation.detector.senders import Senders, check_official_sender
from handlers.moderation.detector.verdict import Detector, Sample, decision_for

BOOK = Senders.parse("# test\n招商银行\tcmbchina.com\n中国移动\t10086.cn\n")


def official(text: str, personal: bool = False) -> CheckResult:
    contacts = [CheckResult("phone_number", True, 0.55, "手机号", {"number": "13800138000"})]
    return check_official_sender(prepare(text), contacts if personal else (), BOOK)


@pytest.mark.parametrize(
    "text",
    [
        "【招商银行】您账户1234于12月01日快捷支付扣款人民币45.90元。",
        "您的信用卡本期账单已出，详见 www.cmbchina.com/bill 。[招商银行]",
        "温馨提示：您本月流量剩余1.2GB【中国移动】",
        "【 招商 银行 】您的积分已到账",  # spacing inside the signature is normalised away
    ],
)
def test_a_signed_notice_with_no_foreign_link_is_official(text: str) -> None:
    r = official(text)
    assert r.hit and r.name == "official_sender"
    assert "招商银行" in r.reason or "中国移动" in r.reason


def test_a_phishing_text_borrowing_a_bank_name_with_another_domain_is_not_official() -> None:
    r = official("【招商银行】您的积分即将清零，请登录 cmb-jifen.top 兑换现金")
    assert not r.hit
    assert "cmb-jifen.top" in r.reason


def test_a_signed_text_with_a_personal_contact_is_not_official() -> None:
    r = official("【招商银行】低息贷款找王经理", personal=True)
    assert not r.hit and "个人联系方式" in r.reason


def test_a_signed_text_with_a_hotline_is_still_official() -> None:
    hotline = CheckResult("phone_number", True, 0.45, "电话", {"number": "4008205555"})
    assert check_official_sender(prepare("【招商银行】详询4008205555"), [hotline], BOOK).hit


@pytest.mark.parametrize(
    "text",
    [
        "专家呼吁增设小长假[招商银行]-冲浪助手 http://go.example.cn/a",  # a bracket mid-text
        "【老王烧烤】开业大吉全场八折",  # not a known organisation
        "今天一起吃饭吗",
    ],
)
def test_unsigned_or_unknown_signatures_are_not_official(text: str) -> None:
    assert not official(text).hit


def test_a_card_link_outside_the_senders_domains_is_foreign() -> None:
    r = check_official_sender(prepare("【招商银行】活动"), (), BOOK, ["cmb-gift.top"])
    assert not r.hit


def hit(name: str) -> CheckResult:
    return CheckResult(name, True, 0.9, name)


def test_an_official_notice_scored_as_an_ad_is_review() -> None:
    checks = [hit("classifier"), hit("lexicon"), hit("official_sender")]
    assert decision_for(0.97, checks) is Decision.REVIEW


def test_an_official_notice_with_another_kind_of_evidence_is_still_an_ad() -> None:
    checks = [hit("classifier"), hit("official_sender"), hit("flood")]
    assert decision_for(0.97, checks) is Decision.AD


def test_without_an_official_signature_a_high_score_is_an_ad() -> None:
    assert decision_for(0.97, [hit("classifier")]) is Decision.AD
    assert decision_for(0.6, [hit("classifier")]) is Decision.REVIEW
    assert decision_for(0.2, []) is Decision.OK


def test_the_shipped_detector_does_not_call_a_forwarded_bank_debit_notice_an_ad() -> None:
    v = Detector().judge_text(
        "【建设银行】您尾号3821的储蓄卡12月01日消费支出人民币268.50元，余额5,412.36元。"
    )
    assert v.decision is not Decision.AD


def test_the_shipped_detector_still_calls_a_phishing_text_with_a_bank_signature_an_ad() -> None:
    v = Detector().judge_text(
        "【中国银行】您的账户积分即将清零，可兑换现金红包，请立即点击 boc-duihuan.top 领取，逾期作废"
    )
    assert v.decision is Decision.AD
    assert any("boc-duihuan.top" in r for r in v.reasons)


def test_a_link_card_to_another_domain_under_a_bank_signature_is_judged_as_usual() -> None:
    card = Attachment(title="【招商银行】积分兑换", url="https://cmb-gift.top/x")
    v = Detector().judge(Sample(text="", kind=MessageKind.LINK, attachment=card))
    official_check = next(c for c in v.checks if c.name == "official_sender")
    assert not official_check.hit
    assert v.decision is Decision.AD


def test_a_phone_number_with_ad_wording_is_an_offer() -> None:
    v = Detector().judge_text("年底清仓大甩卖，全场特价，详询 0871-68331234")
    offer = next(c for c in v.checks if c.name == "contact_offer")
    assert offer.hit and "0871" in offer.reason.replace("-", "")


def test_a_phone_number_in_plain_chat_is_no_offer() -> None:
    v = Detector().judge_text("我的电话是 13812345678，到了给我打电话")
    assert not next(c for c in v.checks if c.name == "contact_offer").hit


def test_a_known_organisations_hotline_under_its_signature_is_no_offer() -> None:
    v = Detector().judge_text("【招商银行】信用卡积分兑换活动，优惠多多，详询4008205555")
    assert next(c for c in v.checks if c.name == "phone_number").hit
    assert not next(c for c in v.checks if c.name == "contact_offer").hit
