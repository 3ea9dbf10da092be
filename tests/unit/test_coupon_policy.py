"""``engagement.coupons``: every default text is a valid template of its declared placeholders."""

from __future__ import annotations

import pytest

from bot.config import template_placeholders
from bot.config.fields import check_template
from handlers.engagement.coupon_policy import BASE_PLACEHOLDERS, CouponPolicy

TEXTS = sorted(n for n in CouponPolicy.model_fields if template_placeholders(CouponPolicy, n))


def test_the_section_declares_its_texts() -> None:
    assert {"drop_text", "claimed_text", "returned_text", "reminder_text"} <= set(TEXTS)


@pytest.mark.parametrize("name", TEXTS)
def test_a_default_text_uses_only_its_placeholders_and_fills(name: str) -> None:
    allowed = template_placeholders(CouponPolicy, name)
    default = getattr(CouponPolicy(), name)
    check_template(default, allowed)
    filled = default.format(**{p: f"<{p}>" for p in allowed})
    assert "{" not in filled and filled.strip()
    if name != "transfer_note_text":
        assert allowed >= BASE_PLACEHOLDERS


def test_an_operator_text_with_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        CouponPolicy.model_validate({"claimed_text": "领到了 {coupon}"})
