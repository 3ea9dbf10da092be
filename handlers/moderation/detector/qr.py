"""QR codes (and other barcodes) in images: find them, say what they point to.

A WeChat group or contact QR, a QQ or payment code, or any URL in an image
counts as an ad signal.  Decoding is done by zxing-cpp on a grey-scale copy
made with Pillow, in a few passes that stop at the first hit:

1. QR family (QR, Micro QR, rMQR) at working resolution (the longest side is
   capped at :data:`MAX_SIDE`; JPEGs are decoded straight to that size);
2. small images (thumbnails) upscaled, where a QR's modules are one or two
   pixels wide and the detector needs more;
3. the QR family again with the global-histogram binariser (flat, washed-out
   screenshots);
4. every other format zxing-cpp reads (Data Matrix, Aztec, PDF417, linear
   codes), at a smaller size because these detectors are the slow ones.

Pure: bytes in, :class:`CheckResult` out; never raises, whatever the bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import zxingcpp
from PIL import Image, ImageOps

from .results import CheckResult

NAME = "qr_code"

#: Longest side the QR passes decode at; larger images are scaled down first.
MAX_SIDE = 4096
#: Longest side for the slow "every other format" pass.
OTHER_FORMATS_SIDE = 1024
#: Images whose longest side is below this get an upscaled pass.
UPSCALE_BELOW = 512
#: Images with more pixels than this are not decoded at all (declared size).
MAX_SOURCE_PIXELS = 64_000_000
#: How many codes and how much of each code's text go into the detail.
_MAX_CODES = 5
_MAX_TEXT = 200

_F = zxingcpp.BarcodeFormat
_QR_FORMATS = zxingcpp.BarcodeFormats((_F.QRCode, _F.MicroQRCode, _F.RMQRCode))
_ALL_FORMATS = _F.All


@dataclass(frozen=True, slots=True)
class _Kind:
    key: str
    score: float
    label: str  # shown to admins


_WECHAT_GROUP = _Kind("wechat_group", 1.0, "微信群二维码")
_WECHAT_CONTACT = _Kind("wechat_contact", 1.0, "微信名片二维码")
_WECOM = _Kind("wecom", 1.0, "企业微信二维码")
_QQ = _Kind("qq", 1.0, "QQ群/QQ名片二维码")
_PAYMENT = _Kind("payment", 0.9, "收款码")
_URL = _Kind("url", 0.8, "网址二维码")
_ALLOWED = _Kind("allowed_url", 0.0, "白名单网址二维码")
_TEXT = _Kind("text", 0.0, "非网址二维码")

# (host, path prefix) -> kind; host matches itself and its subdomains.
_KNOWN: tuple[tuple[str, str, _Kind], ...] = (
    ("weixin.qq.com", "/g/", _WECHAT_GROUP),
    ("weixin.qq.com", "/r/", _WECHAT_CONTACT),
    ("weixin.qq.com", "/q/", _WECHAT_CONTACT),
    ("u.wechat.com", "/", _WECHAT_CONTACT),
    ("work.weixin.qq.com", "/gm/", _WECOM),
    ("work.weixin.qq.com", "/u/", _WECOM),
    ("work.weixin.qq.com", "/ca/", _WECOM),
    ("wxwork.qq.com", "/", _WECOM),
    ("payapp.weixin.qq.com", "/", _PAYMENT),
    ("wx.tenpay.com", "/", _PAYMENT),
    ("qr.alipay.com", "/", _PAYMENT),
    ("qm.qq.com", "/", _QQ),
    ("qun.qq.com", "/", _QQ),
    ("jq.qq.com", "/", _QQ),
)
_SCHEMES: dict[str, _Kind] = {
    "wxp": _PAYMENT,  # WeChat Pay personal collection code
    "weixin": _WECHAT_CONTACT,
    "alipays": _PAYMENT,
    "mqqapi": _QQ,
}

_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]{1,15}://\S", re.IGNORECASE)
# A bare domain: needs "www." or a path or a common TLD, so "a.b" in prose is not one.
_BARE_DOMAIN_RE = re.compile(
    r"(?<![\w@.-])((?:www\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,24}))"
    r"(?::\d{1,5})?(/\S*)?(?![\w@-])",
    re.IGNORECASE,
)
# fmt: off
_COMMON_TLDS = frozenset((
    "com", "cn", "net", "org", "top", "xyz", "cc", "me", "io", "vip", "shop", "club", "site",
    "info", "co", "tv", "app", "link", "online", "store", "ltd", "wang", "ink", "fun", "icu",
    "live", "life", "work", "pro", "biz", "asia", "hk", "tw", "us", "uk", "ru", "in",
))
# fmt: on


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """One code found in an image."""

    format: str  # zxing-cpp's name, e.g. "QR Code"
    text: str
    kind: str  # one of the _Kind keys
    score: float
    label: str


@dataclass(frozen=True, slots=True)
class DecodeReport:
    """What decoding an image found, for the check and for benchmarks."""

    codes: tuple[DecodedCode, ...]
    passes: int  # decoding passes run
    size: tuple[int, int] | None  # declared image size, None if unreadable
    problem: str | None = None  # why nothing could be decoded, shown to admins


def classify(text: str, allowed_domains: Collection[str] = ()) -> tuple[str, float, str]:
    """What a code's content is: ``(kind, score, label)``.

    WeChat, WeCom, QQ and payment codes are named; any other URL is ``url``
    unless its host is (under) one of ``allowed_domains``; anything else is
    ``text`` (score 0: a code that is no link is no ad by itself).
    """
    kind = _classify(text.strip(), tuple(d.lower().strip(".") for d in allowed_domains))
    return kind.key, kind.score, kind.label


def _classify(text: str, allowed: tuple[str, ...]) -> _Kind:
    url = _as_url(text)
    if url is None:
        return _TEXT
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL
    scheme = parts.scheme.lower()
    if scheme in _SCHEMES:
        return _SCHEMES[scheme]
    host = (parts.hostname or "").lower()
    path = parts.path or "/"
    for known_host, prefix, kind in _KNOWN:
        if _under(host, known_host) and path.startswith(prefix):
            return kind
    if host and any(_under(host, d) for d in allowed):
        return _ALLOWED
    return _URL


def _under(host: str, domain: str) -> bool:
    return bool(domain) and (host == domain or host.endswith("." + domain))


def _as_url(text: str) -> str | None:
    """The first URL in ``text`` (with a scheme added to a bare domain), or None."""
    if _SCHEME_RE.match(text):
        return text.split()[0]
    for m in _BARE_DOMAIN_RE.finditer(text):
        domain, tld, path = m.group(1), m.group(2).lower(), m.group(3)
        if domain.lower().startswith("www.") or path or tld in _COMMON_TLDS:
            return "http://" + m.group(0)
    return None


def decode_codes(
    image_bytes: bytes, *, other_formats: bool = True, allowed_domains: Collection[str] = ()
) -> DecodeReport:
    """Every code found in the image, classified; stops at the first pass with a hit."""
    try:
        return _decode(image_bytes, other_formats, allowed_domains)
    except Exception as exc:  # a decoder or codec bug must not take the bot down
        return DecodeReport((), 0, None, f"图片无法解码（{type(exc).__name__}）")


def _decode(
    image_bytes: bytes, other_formats: bool, allowed_domains: Collection[str]
) -> DecodeReport:
    if not image_bytes:
        return DecodeReport((), 0, None, "不是图片（空内容）")
    loaded = _load(image_bytes)
    if isinstance(loaded, str):
        return DecodeReport((), 0, None, loaded)
    grey, size = loaded
    allowed = tuple(d.lower().strip(".") for d in allowed_domains)
    found: dict[str, DecodedCode] = {}
    passes = 0
    for image, formats, kwargs in _passes(grey, other_formats):
        passes += 1
        for barcode in zxingcpp.read_barcodes(image, formats=formats, **kwargs):
            text = barcode.text
            if not text or text in found:
                continue
            kind = _classify(text.strip(), allowed)
            found[text] = DecodedCode(str(barcode.format), text, kind.key, kind.score, kind.label)
        if any(c.score > 0 for c in found.values()):
            break
    codes = tuple(sorted(found.values(), key=lambda c: -c.score))
    return DecodeReport(codes, passes, size)


def _load(image_bytes: bytes) -> tuple[Image.Image, tuple[int, int]] | str:
    """A grey-scale working copy no larger than MAX_SIDE, or why there is none."""
    try:
        img = Image.open(io.BytesIO(image_bytes))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "图片过大，未检测二维码"
    except Exception:
        return "不是可识别的图片"
    size = img.size
    if size[0] < 1 or size[1] < 1:
        return "不是可识别的图片"
    if size[0] * size[1] > MAX_SOURCE_PIXELS:
        return f"图片过大（{size[0]}×{size[1]}），未检测二维码"
    try:
        if img.format == "JPEG" and max(size) > MAX_SIDE:
            # Decode a big JPEG at 1/2, 1/4 or 1/8 scale straight away: far cheaper.
            # draft() keeps both sides at least as large as asked, so ask in proportion.
            shrink = MAX_SIDE / max(size)
            img.draft("L", (max(1, int(size[0] * shrink)), max(1, int(size[1] * shrink))))
        img.seek(0)  # first frame of an animation
        grey = _flatten(img)
        if max(grey.size) > MAX_SIDE:
            grey.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "图片过大，未检测二维码"
    except Exception:
        return "图片已损坏，无法读取"
    return grey, size


def _flatten(img: Image.Image) -> Image.Image:
    """Grey-scale, with transparency put on white: a black-on-transparent QR must
    not vanish into a black background."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return white.convert("L")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return ImageOps.autocontrast(img.convert("L"))
    return img.convert("L")


def _passes(
    grey: Image.Image, other_formats: bool
) -> Iterator[tuple[Image.Image, Any, dict[str, Any]]]:
    yield grey, _QR_FORMATS, {}
    longest = max(grey.size)
    if longest < UPSCALE_BELOW:
        for factor in (3, 2):
            up = grey.resize((grey.width * factor, grey.height * factor), Image.Resampling.LANCZOS)
            yield up, _QR_FORMATS, {}
    yield grey, _QR_FORMATS, {"binarizer": zxingcpp.Binarizer.GlobalHistogram}
    if other_formats:
        small = grey
        if longest > OTHER_FORMATS_SIDE:
            small = grey.copy()
            small.thumbnail((OTHER_FORMATS_SIDE, OTHER_FORMATS_SIDE), Image.Resampling.BILINEAR)
        yield small, _ALL_FORMATS, {"try_invert": False}


def check_qr(
    image_bytes: bytes, *, allowed_domains: Collection[str] = (), other_formats: bool = True
) -> CheckResult:
    """Named result ``qr_code``: a hit when the image holds a WeChat/WeCom/QQ/payment
    code or any URL not under ``allowed_domains``.  Never raises."""
    report = decode_codes(image_bytes, other_formats=other_formats, allowed_domains=allowed_domains)
    detail: dict[str, str] = {"passes": str(report.passes)}
    if report.size is not None:
        detail["size"] = f"{report.size[0]}x{report.size[1]}"
    if report.problem is not None:
        return CheckResult(NAME, False, 0.0, report.problem, detail)
    if not report.codes:
        return CheckResult(NAME, False, 0.0, "图片中未发现二维码", detail)
    for i, code in enumerate(report.codes[:_MAX_CODES]):
        detail[f"code{i}"] = f"{code.format}|{code.kind}|{code.text[:_MAX_TEXT]}"
    top = report.codes[0]
    detail["kind"] = top.kind
    shown = top.text if len(top.text) <= 80 else top.text[:80] + "…"
    if top.score > 0:
        return CheckResult(NAME, True, top.score, f"图片含{top.label}：{shown}", detail)
    return CheckResult(NAME, False, 0.0, f"图片含{top.label}（不计）：{shown}", detail)
