"""The detector's normalisation: every evasion folds to the plain spelling."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.moderation.detector.normalize import normalize

EVASIONS = [
    # (what an ad poster writes, what every check sees)
    ("加 微 信", "加微信"),
    ("加\u200b微\u200c信\ufeff", "加微信"),
    ("ＡＢＣ１２３", "abc123"),
    ("領取紅包", "领取红包"),
    ("免费🎁领取🔥", "免费领取"),
    ("①③⑧⓪⓪①③⑧⓪⓪⓪", "13800138000"),
    ("❶❸❽⓿⓿", "13800"),
    ("〇", "0"),
    ("一三八零零一三八零零零", "13800138000"),
    ("1 3 8 - 0013 - 8000", "138-0013-8000"),
    ("q一二三四五六", "qq123456"),
    ("13800l38OOO", "13800138000"),
    ("wеixin", "微信"),  # Cyrillic е
    ("ναpe", "vape"),  # Greek ν, α
    ("V信", "微信"),
    ("vx：abc123", "微信:abc123"),
    ("威信", "微信"),
    ("薇信", "微信"),
    ("加薇", "加微信"),
    ("加V", "加微信"),
    ("➕V", "加微信"),
    ("+v", "加微信"),
    ("加微", "加微信"),
    ("扣扣", "qq"),
    ("企鹅号", "qq"),
    ("十q898780782", "加qq898780782"),
    ("abc点com", "abc.com"),
    ("1️⃣2️⃣3️⃣", "123"),
]


@pytest.mark.parametrize(("written", "seen"), EVASIONS)
def test_evasion_folds_to_plain_spelling(written: str, seen: str) -> None:
    assert normalize(written) == seen


@pytest.mark.parametrize(
    "plain",
    ["dev", "vapev4", "wxid_abc123", "我的微信", "today", "avx2", "一二三"],
)
def test_ordinary_words_are_left_alone(plain: str) -> None:
    assert normalize(plain) == plain


def test_empty_and_blank_text_normalise_to_empty() -> None:
    assert normalize("") == ""
    assert normalize(" \t\n\u200b ") == ""


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_is_idempotent_and_never_raises(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            "加微信vVqQ扣企鹅薇威十+➕一二三四五六七八九零0123456789oOlI .点com"
        )
    )
)
def test_normalize_is_idempotent_on_contact_spellings(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
