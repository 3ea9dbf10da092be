"""Fold a message into one canonical spelling before any check looks at it.

Ad posters dodge keyword matching with full-width letters, traditional
characters, spaces or zero-width characters between letters, emoji in the
middle of a word, look-alike digits (①, ０, 〇, ⓿), Greek or Cyrillic letters
that look Latin, and a dozen spellings of "WeChat" and "QQ" (V, v信, 薇,
威信, ➕V, 加微, 扣扣, 企鹅).  :func:`normalize` undoes all of that so that
every check and the classifier see the same text whatever the trick:

1. NFKC (full-width to half-width, ① to 1, 𝟐 to 2), then lower case;
2. one ``str.translate`` pass: whitespace, zero-width and other format
   characters, combining marks, emoji and decoration symbols are dropped;
   look-alike letters and digits are folded;
3. traditional to simplified Chinese (OpenCC ``t2s``);
4. the WeChat / QQ spellings become the tokens ``微信`` and ``qq``, and a
   "+" in front of them becomes ``加``;
5. Chinese number words forming a long digit run (一三八…) become digits,
   and o / l / i inside a long digit run become 0 / 1.

The result is for matching, not for display.  ``normalize`` is idempotent and
never raises on any ``str``.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

import opencc

# Deleted outright (after NFKC): whitespace, control and format characters
# (zero-width space / joiner, BOM, bidi marks), combining marks (keycap 1️⃣,
# zalgo), emoji and other symbols (So), modifier symbols (skin tones), private
# use and lone surrogates.
_DROP_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me", "So", "Sk", "Co", "Cs"})

# Look-alikes NFKC leaves alone.  Lower case already applied, so only the
# lower-case Greek and Cyrillic forms are needed.
_LOOKALIKES = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "ѕ": "s",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ɡ": "g",
    "з": "3",
    # Greek
    "α": "a",
    "β": "b",
    "ε": "e",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "μ": "u",
    # digits and signs
    "〇": "0",
    "⓿": "0",
    "➕": "+",
    "✚": "+",
    "亓": "元",
}


def _circled_digits() -> dict[str, str]:
    out: dict[str, str] = {}
    for base in (0x2776, 0x2780, 0x278A):  # ❶..❿  ➀..➉  ➊..➓
        for i in range(10):
            out[chr(base + i)] = str(i + 1)
    for i in range(10):  # ⓫..⓴ -> 11..20, ⓵..⓾ -> 1..10
        out[chr(0x24EB + i)] = str(11 + i)
        out[chr(0x24F5 + i)] = str(i + 1)
    for i in range(26):  # 🅐.. and 🅰.. (negative circled / squared letters)
        out[chr(0x1F150 + i)] = chr(ord("a") + i)
        out[chr(0x1F170 + i)] = chr(ord("a") + i)
    return out


@functools.cache
def _table() -> dict[int, str | None]:
    """The one translate table (built once, ~0.2 s, on first use)."""
    table: dict[int, str | None] = {}
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)) in _DROP_CATEGORIES:
            table[cp] = None
    for src, dst in {**_LOOKALIKES, **_circled_digits()}.items():
        table[ord(src)] = dst
    return table


@functools.cache
def _bmp_table() -> list[str | None]:
    """The same table for the Basic Multilingual Plane as a list indexed by code
    point: ``str.translate`` reads a list without raising (and clearing) a
    KeyError for every character it leaves alone, which makes it twice as fast
    as the dict.  Text with a character beyond U+FFFF (emoji) takes the dict."""
    table = _table()
    return [table.get(cp, chr(cp)) if not 0xD800 <= cp < 0xE000 else None for cp in range(0x10000)]


_ASTRAL = re.compile("[\U00010000-\U0010ffff\ud800-\udfff]")


@functools.cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


# Characters OpenCC's phrase table changes although its character tables leave
# them alone (沈默 -> 沉默, 瞭解 -> 了解, 回覆 -> 回复...).
_T2S_PHRASE_ONLY = "沈覆藉瞭坏哩衹甦"


@functools.cache
def _traditional() -> re.Pattern[str]:
    """A character class of every character ``t2s`` can change (built once, on
    first use, by converting each CJK code point): text without one is already
    simplified and skips OpenCC."""
    chars = [chr(cp) for cp in range(0x2E80, 0x32000) if not 0xD800 <= cp < 0xE000]
    # one call for all of them, one per line (the phrase table needs two
    # characters side by side, so a newline between them keeps each one alone)
    out = str(_t2s().convert("\n".join(chars))).split("\n")
    if len(out) != len(chars):  # pragma: no cover - a conversion that adds lines
        out = [str(_t2s().convert(c)) for c in chars]
    changed = [c for c, o in zip(chars, out, strict=True) if c != o]
    changed += _T2S_PHRASE_ONLY
    # Basic Multilingual Plane only: the engine tests such a class with one
    # bitmap lookup per character; text beyond it takes OpenCC unconditionally.
    bmp = sorted(c for c in set(changed) if c <= "\uffff")
    return re.compile("[" + "".join(re.escape(c) for c in bmp) + "]")


# -- WeChat / QQ spellings, "x点com" ---------------------------------------------
# One flat regex, one pass.  Every alternative starts with a literal character
# so the engine can skip positions by a first-character test; the callback
# picks the replacement from the matched text and checks the letter
# boundaries (so "dev", "avx", "wxid" are left alone).
_TLDS = r"(?=(?:com|cn|net|org|top|xyz|vip|cc|me|io)(?![a-z]))"
_WX_SPELLINGS = [
    "weixin",
    "weixing",
    "wechat",
    "vx",
    "wx",
    "v信",
    "w信",
    "薇信",
    "威信",
    "徽信",
    "危信",
    "維信",
    "嶶信",
    "微芯",
    "薇芯",
    "威芯",
    "微x",
    "威x",
    "薇x",
    "微v",
    "薇v",
    "威v",
]
_QQ_SPELLINGS = ["扣扣", "抠抠", "扣q", "企鹅号", "企鹅", "qq"]
_CONTACT = re.compile(
    "|".join(
        [
            *(f"{w}(?![a-z])" if w[-1].isascii() else w for w in _WX_SPELLINGS),
            *(f"{lead}{v}(?![信a-z])" for lead in ("加", r"\+", "十") for v in "v薇威微徽"),
            r"v(?=[:：号]|[是为][a-z0-9])",
            r"薇(?=[:：号a-z0-9])",
            *(f"{q}(?![a-z])" if q == "qq" else q for q in _QQ_SPELLINGS),
            r"q(?=[:：号群]|\d{5})",
            r"\+(?=微信|qq)",
            r"十(?=微信|qq)",
            f"点{_TLDS}",
            f"。{_TLDS}",
            f"dot{_TLDS}",
        ]
    )
)
_QQ_SET = frozenset(_QQ_SPELLINGS) | {"q"}


def _contact(m: re.Match[str]) -> str:
    t = m.group()
    i = m.start()
    prev = m.string[i - 1] if i else ""
    if t in ("点", "。", "dot"):
        return "." if prev.isascii() and prev.isalnum() else t
    if "a" <= t[0] <= "z" and "a" <= prev <= "z":
        return t  # inside a Latin word
    if t in _QQ_SET:
        return "qq"
    if t in ("+", "十"):
        return "加"
    if len(t) == 2 and t[0] in "加+十" and t[1] in "v薇威微徽":
        return "加微信"
    return "微信"


# -- numbers -------------------------------------------------------------------
_NUMBER_WORDS = str.maketrans(
    {
        "零": "0",
        "一": "1",
        "幺": "1",
        "壹": "1",
        "二": "2",
        "贰": "2",
        "三": "3",
        "叁": "3",
        "四": "4",
        "肆": "4",
        "五": "5",
        "伍": "5",
        "六": "6",
        "陆": "6",
        "七": "7",
        "柒": "7",
        "八": "8",
        "捌": "8",
        "九": "9",
        "玖": "9",
    }
)
_NUMBER_WORD_RUN = re.compile(r"[0-9零一幺壹二贰三叁四肆五伍六陆七柒八捌九玖]{6,}")
# o / l / i standing in for 0 / 1 inside a long digit run ("13800l38OOO")
_LOOKALIKE_DIGIT_RUN = re.compile(r"(?<![a-z])[0-9oli]{7,}(?![a-z])")
_HAS_LOOKALIKE_DIGIT = re.compile(r"\d[oli]|[oli]\d")
_FOLD_DIGIT = str.maketrans({"o": "0", "l": "1", "i": "1"})


def _number_run(m: re.Match[str]) -> str:
    return m.group().translate(_NUMBER_WORDS)


def _lookalike_run(m: re.Match[str]) -> str:
    run = m.group()
    if sum(c.isdigit() for c in run) < 5:
        return run
    return run.translate(_FOLD_DIGIT)


def normalize(text: str) -> str:
    """The canonical matching form of ``text`` (see the module docstring)."""
    # The quick check costs a tenth of a full NFKC pass.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    # Lone surrogates (dropped here) could not be passed on to OpenCC.
    text = text.lower()
    if _ASTRAL.search(text) is None:
        text = text.translate(_bmp_table())
        if not text.isascii() and _traditional().search(text) is not None:
            text = _t2s().convert(text)
    else:
        text = _t2s().convert(text.translate(_table()))
    # The folds can enable one another ("q" + 一二三四五六 -> "q123456" -> "qq123456"):
    # repeat until nothing changes, so that normalize(normalize(x)) == normalize(x).
    for _ in range(4):
        folded = _fold_contacts_and_numbers(text)
        if folded == text:
            break
        text = folded
    return text


def _fold_contacts_and_numbers(text: str) -> str:
    text = _NUMBER_WORD_RUN.sub(_number_run, text)
    if _HAS_LOOKALIKE_DIGIT.search(text):
        text = _LOOKALIKE_DIGIT_RUN.sub(_lookalike_run, text)
    return _CONTACT.sub(_contact, text)
