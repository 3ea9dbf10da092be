"""Each detector check: hits with a reason, and a reason for clean text too."""

from __future__ import annotations

import pytest

from bot.vocab.events import Attachment, MessageKind
from handlers.moderation.detector.checks import (
    Lexicon,
    check_contact_card,
    check_lexicon,
    check_link_card,
    check_links,
    check_mini_program,
    check_phone_number,
    check_qq_number,
    check_wechat_id,
    prepare,
)

CLEAN = "今天晚上谁有空一起吃饭？"


def test_link_not_on_allowlist_is_a_hit_naming_the_host() -> None:
    r = check_links(prepare("看这里 https://spam.example.top/a?b=1"))
    assert r.hit and r.name == "links"
    assert "spam.example.top" in r.reason


def test_bare_domain_written_with_dian_is_found() -> None:
    r = check_links(prepare("网址 abc点com 快来"))
    assert r.hit and "abc.com" in r.reason


def test_link_on_allowlist_and_its_subdomains_pass() -> None:
    r = check_links(prepare("文档在 https://docs.example.com/x 和 example.com"), {"example.com"})
    assert not r.hit
    assert "白名单" in r.reason


def test_clean_text_has_no_link_with_a_reason() -> None:
    r = check_links(prepare(CLEAN))
    assert not r.hit and r.reason == "没有链接"


@pytest.mark.parametrize(
    "text",
    [
        "加我微信：abc_12345",
        "V信 abc12345",
        "vx: abcdef1",
        "威 信 a b c 1 2 3 4 5",
        "wxid_abcd1234",
    ],
)
def test_wechat_id_is_found_however_written(text: str) -> None:
    r = check_wechat_id(prepare(text))
    assert r.hit, text
    assert "微信号" in r.reason


def test_mentioning_wechat_without_an_id_is_not_a_wechat_id() -> None:
    assert not check_wechat_id(prepare("我微信上发你了")).hit


@pytest.mark.parametrize(
    "text",
    [
        "扣扣：123456789",
        "企鹅 1 2 3 4 5 6 7 8",
        "q群 987654321",
        "外部二群:279314535",
        "十q898780782",
    ],
)
def test_qq_number_is_found_however_written(text: str) -> None:
    r = check_qq_number(prepare(text))
    assert r.hit, text
    assert r.detail["id"].isdigit()


def test_qq_without_a_number_is_not_a_hit() -> None:
    assert not check_qq_number(prepare("我qq上跟你说")).hit


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("电话13800138000", "13800138000"),
        ("电话 138-0013-8000", "13800138000"),
        ("一三八零零一三八零零零", "13800138000"),
        ("①③⑧⓪⓪①③⑧⓪⓪⓪", "13800138000"),
        ("热线 400-800-1234", "4008001234"),
    ],
)
def test_phone_number_is_found_in_digits_words_and_pieces(text: str, number: str) -> None:
    r = check_phone_number(prepare(text))
    assert r.hit
    assert r.detail["number"] == number


def test_short_numbers_are_not_phone_numbers() -> None:
    r = check_phone_number(prepare("我买了3个，花了25块"))
    assert not r.hit and r.reason == "没有电话号码"


def test_contact_card_is_a_hit_unless_allowlisted() -> None:
    card = Attachment(title="小美", contact_id="wxid_x")
    hit = check_contact_card(MessageKind.CONTACT_CARD, card)
    assert hit.hit and "小美" in hit.reason
    assert not check_contact_card(MessageKind.CONTACT_CARD, card, {"wxid_x"}).hit
    assert check_contact_card(MessageKind.TEXT, None).reason == "不是名片"


def test_mini_program_not_on_allowlist_is_a_hit_by_app_id() -> None:
    mp = Attachment(title="领红包", app_id="wx123")
    assert check_mini_program(MessageKind.MINI_PROGRAM, mp).hit
    allowed = check_mini_program(MessageKind.MINI_PROGRAM, mp, {"wx123"})
    assert not allowed.hit and "白名单" in allowed.reason
    assert not check_mini_program(MessageKind.TEXT, None).hit


def test_link_card_not_on_allowlist_is_a_hit() -> None:
    card = Attachment(title="点我领奖", url="https://www.spam.cn/x")
    assert check_link_card(MessageKind.LINK, card).hit
    assert not check_link_card(MessageKind.LINK, card, {"spam.cn"}).hit
    assert not check_link_card(MessageKind.TEXT, None).hit


def test_lexicon_weights_add_up_and_name_the_terms() -> None:
    r = check_lexicon(prepare("兼职刷单，日结，有意者私信"))
    assert r.hit
    assert "刷单" in r.reason
    assert r.score > 0.8


def test_lexicon_matches_through_evasions() -> None:
    assert check_lexicon(prepare("刷 單 日 結")).hit


def test_custom_lexicon_is_used_when_given() -> None:
    lex = Lexicon.from_terms([("团长", 0.9)])
    assert check_lexicon(prepare("找团长"), lex).hit
    assert not check_lexicon(prepare("刷单"), lex).hit


def test_clean_text_has_no_lexicon_terms() -> None:
    r = check_lexicon(prepare(CLEAN))
    assert not r.hit and r.reason == "没有广告用语"
