"""The QR check: a WeChat group/contact code or any URL in an image of any size is
a hit with its reason; other images and garbage bytes are clean, never an error."""

from __future__ import annotations

import struct
import zlib

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from handlers.moderation.detector.qr import check_qr, classify, decode_codes
from tests.unit.qr_images import (
    GROUP_URL,
    embed,
    encode,
    jpeg,
    photo,
    qr_image,
    rotated,
)


@pytest.mark.parametrize(
    ("text", "kind", "hit"),
    [
        ("https://weixin.qq.com/g/AQYAAHxFp0Yx2z8Lx1Y3dQ", "wechat_group", True),
        ("http://weixin.qq.com/r/mp/abc123", "wechat_contact", True),
        ("https://u.wechat.com/EFsd8Kj3xQ", "wechat_contact", True),
        ("HTTPS://U.WECHAT.COM/EFsd8Kj3xQ", "wechat_contact", True),
        ("https://work.weixin.qq.com/gm/4f6c8e", "wecom", True),
        ("https://work.weixin.qq.com/u/vc1234", "wecom", True),
        ("wxp://f2f0aBcDeFgHiJkLmN", "payment", True),
        ("https://qr.alipay.com/fkx12345", "payment", True),
        ("https://qm.qq.com/cgi-bin/qm/qr?k=abc", "qq", True),
        ("https://shop.example.org/promo?id=1", "url", True),
        ("example.com/x", "url", True),
        ("www.example.net", "url", True),
        ("加我 abc.top 领优惠", "url", True),
        ("hello world", "text", False),
        ("6901234567892", "text", False),
        ("version 1.5 is out", "text", False),
        ("WIFI:S:home;T:WPA;P:secret;;", "text", False),
    ],
)
def test_a_code_counts_when_it_is_a_wechat_qq_or_payment_code_or_any_url(
    text: str, kind: str, hit: bool
) -> None:
    got_kind, score, label = classify(text)
    assert got_kind == kind
    assert (score > 0) is hit
    assert label


def test_a_url_under_an_allowed_domain_does_not_count_but_a_wechat_group_still_does() -> None:
    assert classify("https://m.shop.example.org/a", allowed_domains=["example.org"])[0] == (
        "allowed_url"
    )
    assert classify("https://evil-example.org/a", allowed_domains=["example.org"])[0] == "url"
    assert classify(GROUP_URL, allowed_domains=["qq.com"])[0] == "wechat_group"


def test_a_wechat_group_qr_is_a_hit_whose_reason_names_it() -> None:
    result = check_qr(encode(qr_image()))
    assert result.name == "qr_code"
    assert result.hit
    assert result.score == 1.0
    assert "微信群二维码" in result.reason
    assert GROUP_URL in result.reason
    assert result.detail["kind"] == "wechat_group"


def test_a_qr_photo_over_20_kb_is_caught() -> None:
    data = jpeg(embed(photo(320, 320, seed=2), qr_image(scale=5), at=(0.5, 0.5)), quality=90)
    assert len(data) > 20_000
    assert check_qr(data).hit


@pytest.mark.parametrize("side", [44, 48, 60, 120])
def test_a_thumbnail_of_a_qr_is_caught_down_to_about_one_pixel_a_module(side: int) -> None:
    # The code has 41 modules with its quiet zone: 44-48 px need the upscaled pass.
    thumb = qr_image(scale=8).resize((side, side), Image.Resampling.LANCZOS)
    result = check_qr(jpeg(thumb, quality=70))
    assert result.hit, result.reason


def test_a_small_qr_in_a_large_photo_is_caught() -> None:
    big = embed(photo(4000, 3000, seed=3), qr_image(scale=4), at=(0.3, 0.7))
    result = check_qr(jpeg(big))
    assert result.hit
    assert result.detail["size"] == "4000x3000"


def test_a_qr_in_a_large_png_screenshot_is_caught() -> None:
    shot = embed(photo(2400, 1600, seed=4), qr_image(scale=5), at=(0.9, 0.1))
    assert check_qr(encode(shot)).hit


@pytest.mark.parametrize("degrees", [15, 30, 45, 90, 180])
def test_a_rotated_qr_is_caught(degrees: int) -> None:
    assert check_qr(jpeg(rotated(qr_image(), degrees))).hit


def test_a_light_on_dark_qr_is_caught() -> None:
    inverted = Image.eval(qr_image(), lambda v: 255 - v)
    assert check_qr(encode(inverted)).hit


def test_a_black_qr_on_a_transparent_background_is_caught() -> None:
    grey = qr_image().convert("L")
    clear = Image.new("LA", grey.size, (0, 0))
    clear.putalpha(Image.eval(grey, lambda v: 255 - v))  # opaque where dark
    assert check_qr(encode(clear)).hit


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "TIFF"])
def test_other_image_formats_are_read(fmt: str) -> None:
    options = {"lossless": True} if fmt == "WEBP" else {}
    assert check_qr(encode(qr_image(), fmt, **options)).hit


def test_a_data_matrix_with_a_url_is_caught() -> None:
    code = zxingcpp.create_barcode("https://u.wechat.com/xyz", zxingcpp.BarcodeFormat.DataMatrix)
    image = Image.fromarray(code.to_image(scale=6, add_quiet_zones=True))
    result = check_qr(encode(image))
    assert result.hit
    assert result.detail["kind"] == "wechat_contact"


def test_a_product_barcode_is_found_but_does_not_count() -> None:
    code = zxingcpp.create_barcode("6901234567892", zxingcpp.BarcodeFormat.EAN13)
    image = Image.fromarray(code.to_image(scale=3, add_quiet_zones=True))
    result = check_qr(encode(image))
    assert not result.hit
    assert result.score == 0.0
    assert "6901234567892" in result.reason
    assert result.detail["kind"] == "text"


def test_a_qr_with_plain_text_does_not_count() -> None:
    result = check_qr(encode(qr_image("今天下午三点开会")))
    assert not result.hit
    assert "非网址二维码" in result.reason


@pytest.mark.parametrize("seed", [5, 6])
def test_a_photo_without_a_code_is_clean_with_a_reason(seed: int) -> None:
    result = check_qr(jpeg(photo(1280, 960, seed=seed)))
    assert not result.hit
    assert result.reason == "图片中未发现二维码"
    assert result.detail["size"] == "1280x960"


def test_the_first_pass_that_finds_a_hit_ends_the_search() -> None:
    assert decode_codes(encode(qr_image())).passes == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "不是图片（空内容）"),
        (b"not an image at all", "不是可识别的图片"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "不是可识别的图片"),
    ],
)
def test_bytes_that_are_no_image_give_a_clean_result_with_a_reason(
    data: bytes, reason: str
) -> None:
    result = check_qr(data)
    assert (result.hit, result.score, result.reason) == (False, 0.0, reason)


def test_a_truncated_image_gives_a_clean_result_with_a_reason() -> None:
    data = jpeg(photo(400, 300))
    result = check_qr(data[: len(data) // 3])
    assert not result.hit
    assert result.reason == "图片已损坏，无法读取"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and then ends: no pixels to decode."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [9_000, 30_000])
def test_an_image_declaring_a_huge_size_is_not_decoded(side: int) -> None:
    result = check_qr(_png_header(side, side))
    assert not result.hit
    assert "图片过大" in result.reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_check_qr_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    result = check_qr(data)
    assert result.name == "qr_code"
    assert 0.0 <= result.score <= 1.0


_MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF", b"II*\x00"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_MAGIC), st.binary(max_size=1024))
def test_check_qr_never_raises_on_bytes_that_start_like_an_image(magic: bytes, rest: bytes) -> None:
    assert not check_qr(magic + rest).hit


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=4000))
def test_check_qr_never_raises_on_a_real_image_cut_short(cut: int) -> None:
    data = encode(qr_image(scale=3))
    check_qr(data[:cut])
