"""The detector's named checks on a message's text and attachment.

Each check is a plain function returning a :class:`~.results.CheckResult`
with a Chinese reason, for clean messages too.  Text checks take a
:class:`Prepared` text (normalised once, see :func:`prepare`); the card checks
take the message kind and its :class:`~bot.vocab.events.Attachment`.
Allowlists are passed in: the detector knows no group.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from importlib import resources

from bot.vocab.events import Attachment, MessageKind

from .normalize import normalize
from .results import CheckResult

# Clean results are the common case: built once (CheckResult is immutable).
_NO_LINKS = CheckResult("links", False, 0.0, "没有链接")
_NO_WECHAT_ID = CheckResult("wechat_id", False, 0.0, "没有微信号")
_NO_QQ = CheckResult("qq_number", False, 0.0, "没有QQ号")
_NO_PHONE = CheckResult("phone_number", False, 0.0, "没有电话号码")
_NOT_CONTACT_CARD = CheckResult("contact_card", False, 0.0, "不是名片")
_NOT_MINI_PROGRAM = CheckResult("mini_program", False, 0.0, "不是小程序")
_NOT_LINK_CARD = CheckResult("link_card", False, 0.0, "不是链接卡片")
_NO_TERMS = CheckResult("lexicon", False, 0.0, "没有广告用语")


# -- the prepared text -------------------------------------------------------------

# Separators ad posters put between digits / letters ("138-0013-8000", "a.b.c").
_SEPARATORS = re.compile(r"[^0-9a-z_\u4e00-\u9fff]+")


class Prepared:
    """A message's text in the forms the checks match on, each computed once."""

    __slots__ = ("_compact", "has_digits", "norm", "raw")

    def __init__(self, raw: str, norm: str) -> None:
        self.raw = raw
        self.norm = norm  # normalize(raw)
        self.has_digits = _DIGIT.search(norm) is not None
        self._compact: str | None = None

    @property
    def compact(self) -> str:
        """``norm`` without punctuation or separators ("138-0013-8000" -> one number)."""
        if self._compact is None:
            self._compact = _SEPARATORS.sub("", self.norm)
        return self._compact

    @property
    def empty(self) -> bool:
        return not self.norm


_DIGIT = re.compile(r"\d")


def prepare(text: str) -> Prepared:
    return Prepared(text, normalize(text))


# -- links ---------------------------------------------------------------------------

_TLDS = (
    "com|cn|net|org|info|biz|top|xyz|vip|cc|me|io|co|tv|club|site|online|shop|store|"
    "live|app|link|ltd|wang|ink|fun|icu|pro|work|tech|asia|hk|tw|jp|us|uk|ru|la|ly|gl|im|"
    "to|gg|so|ai|cloud|space|website|win|bid|mobi|tk|ml|ga|cf|gq|pw|in|de"
)
_URL = re.compile(
    r"(?:https?://|www\.)[-a-z0-9.]+"
    rf"|(?<![-a-z0-9.@])(?:[a-z0-9][-a-z0-9]*\.)+(?:{_TLDS})(?![a-z0-9])"
)
_IP_URL = re.compile(r"https?://\d{1,3}(?:\.\d{1,3}){3}")


def host_of(url: str) -> str:
    host = re.sub(r"^(?:https?://)", "", url)
    host = host.split("/", 1)[0].split(":", 1)[0].strip(".")
    return host.removeprefix("www.")


def domain_allowed(host: str, allowed: Collection[str]) -> bool:
    """``host`` is an allowed domain or a subdomain of one."""
    host = host.lower().removeprefix("www.")
    return any(host == d or host.endswith("." + d) for d in allowed)


def find_hosts(p: Prepared) -> list[str]:
    if "." not in p.norm:
        return []
    hosts = [host_of(m.group()) for m in _URL.finditer(p.norm)]
    hosts += [host_of(m.group()) for m in _IP_URL.finditer(p.norm)]
    return [h for h in dict.fromkeys(hosts) if h]


def without_links(p: Prepared) -> Prepared:
    """``p`` with its links removed: an allowlisted link is no evidence for the classifier."""
    norm = _IP_URL.sub("", _URL_PATH.sub("", p.norm))
    return Prepared(p.raw, norm)


# a link with its path, for removing it whole
_URL_PATH = re.compile(
    r"(?:https?://|www\.)[-a-z0-9./?=&_%#:~+]+"
    rf"|(?<![-a-z0-9.@])(?:[a-z0-9][-a-z0-9]*\.)+(?:{_TLDS})(?![a-z0-9])(?:/[-a-z0-9./?=&_%#:~+]*)?"
)


def check_links(p: Prepared, allowed_domains: Collection[str] = ()) -> CheckResult:
    """Links and bare domains whose host is not on the allowlist."""
    hosts = find_hosts(p)
    bad = [h for h in hosts if not domain_allowed(h, allowed_domains)]
    if bad:
        return CheckResult(
            "links", True, 0.5, f"含有未报备的链接：{'、'.join(bad[:3])}", {"hosts": ",".join(bad)}
        )
    if hosts:
        return CheckResult(
            "links",
            False,
            0.0,
            f"链接均在白名单内：{'、'.join(hosts[:3])}",
            {"allowed": ",".join(hosts)},
        )
    return _NO_LINKS


# -- contacts ---------------------------------------------------------------------

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_HOTLINE = re.compile(r"(?<!\d)(?:400|800)\d{7}(?!\d)|(?<!\d)0\d{2,3}\d{7,8}(?!\d)")
_WECHAT_ID = re.compile(
    r"微信(?:号|id)?[:是为]?(?:号)?[:]?([a-z][-_a-z0-9]{5,19}|1[3-9]\d{9})"
    r"|(wxid_[a-z0-9]{4,})"
)
_QQ_NUMBER = re.compile(
    r"(?:qq|群|q群)(?:号码|号|群号|群)?[:是为]?(?:号)?[:]?([1-9]\d{4,10})(?!\d)"
)
_LONG_NUMBER = re.compile(r"(?<!\d)[1-9]\d{7,10}(?!\d)")


def check_wechat_id(p: Prepared) -> CheckResult:
    m = _WECHAT_ID.search(p.compact) if ("微信" in p.norm or "wxid" in p.norm) else None
    if m:
        wid = m.group(1) or m.group(2)
        return CheckResult("wechat_id", True, 0.7, f"留了微信号：{wid}", {"id": wid})
    return _NO_WECHAT_ID


def check_qq_number(p: Prepared) -> CheckResult:
    m = None
    if p.has_digits and ("qq" in p.norm or "群" in p.norm):
        m = _QQ_NUMBER.search(p.compact)
    if m:
        return CheckResult(
            "qq_number", True, 0.7, f"留了QQ号或群号：{m.group(1)}", {"id": m.group(1)}
        )
    return _NO_QQ


def check_phone_number(p: Prepared) -> CheckResult:
    if not p.has_digits:
        return _NO_PHONE
    c = p.compact
    m = MOBILE.search(c)
    if m:
        return CheckResult(
            "phone_number", True, 0.55, f"留了手机号：{m.group()}", {"number": m.group()}
        )
    m = _HOTLINE.search(c)
    if m:
        return CheckResult(
            "phone_number", True, 0.45, f"留了电话号码：{m.group()}", {"number": m.group()}
        )
    m = _LONG_NUMBER.search(c)
    if m:
        return CheckResult(
            "phone_number",
            True,
            0.25,
            f"含有疑似联系方式的长号码：{m.group()}",
            {"number": m.group()},
        )
    return _NO_PHONE


# -- cards ------------------------------------------------------------------------


def check_contact_card(
    kind: MessageKind, attachment: Attachment | None, allowed_contacts: Collection[str] = ()
) -> CheckResult:
    """A member sending someone's contact card (名片) is a classic ad."""
    if kind is not MessageKind.CONTACT_CARD:
        return _NOT_CONTACT_CARD
    cid = attachment.contact_id if attachment else ""
    if cid and cid in allowed_contacts:
        return CheckResult("contact_card", False, 0.0, f"名片在白名单内：{cid}")
    name = (attachment.title if attachment else "") or cid or "未知"
    return CheckResult("contact_card", True, 0.9, f"发送了名片：{name}", {"contact_id": cid})


def check_mini_program(
    kind: MessageKind, attachment: Attachment | None, allowed_app_ids: Collection[str] = ()
) -> CheckResult:
    if kind is not MessageKind.MINI_PROGRAM:
        return _NOT_MINI_PROGRAM
    app_id = attachment.app_id if attachment else ""
    if app_id and app_id in allowed_app_ids:
        return CheckResult("mini_program", False, 0.0, f"小程序在白名单内：{app_id}")
    title = (attachment.title if attachment else "") or app_id or "未知"
    return CheckResult(
        "mini_program", True, 0.9, f"发送了未报备的小程序：{title}", {"app_id": app_id}
    )


def check_link_card(
    kind: MessageKind, attachment: Attachment | None, allowed_domains: Collection[str] = ()
) -> CheckResult:
    if kind is not MessageKind.LINK:
        return _NOT_LINK_CARD
    url = attachment.url if attachment else ""
    host = host_of(url.strip().lower()) if url else ""
    if host and domain_allowed(host, allowed_domains):
        return CheckResult("link_card", False, 0.0, f"链接卡片在白名单内：{host}")
    title = (attachment.title if attachment else "") or host or "未知"
    return CheckResult("link_card", True, 0.9, f"发送了未报备的链接卡片：{title}", {"host": host})


# -- lexicon ------------------------------------------------------------------------


_Trie = dict[str, "_Trie"]


def _trie_pattern(terms: Iterable[str]) -> str:
    """One regex for many literal terms, factored as a trie ("加微信|加群" ->
    "加(?:微信|群)"), so the engine tests one branch per character instead of
    every term at every position.  Longer terms win (greedy alternation order)."""
    trie: _Trie = {}
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        ends = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return "(?:" + body + ")?"
        return body

    return build(trie)


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Weighted terms, matched on the normalised text in one regex pass."""

    weights: dict[str, float]
    pattern: re.Pattern[str] | None

    @classmethod
    def from_terms(cls, terms: Iterable[tuple[str, float]]) -> Lexicon:
        weights: dict[str, float] = {}
        for term, w in terms:
            t = _SEPARATORS.sub("", normalize(term))
            if t:
                weights[t] = max(weights.get(t, 0.0), min(max(w, 0.0), 1.0))
        if not weights:
            return cls({}, None)
        return cls(weights, re.compile(_trie_pattern(weights)))

    @classmethod
    def parse(cls, text: str) -> Lexicon:
        terms = []
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            term, weight, *_ = line.split("\t")
            terms.append((term, float(weight)))
        return cls.from_terms(terms)

    def matches(self, text: str) -> list[str]:
        if self.pattern is None:
            return []
        return list(dict.fromkeys(m.group() for m in self.pattern.finditer(text)))


@functools.cache
def default_lexicon() -> Lexicon:
    """The lexicon shipped in ``data/lexicon.tsv`` (written for qunbot)."""
    text = resources.files(__package__).joinpath("data/lexicon.tsv").read_text("utf-8")
    return Lexicon.parse(text)


def check_lexicon(p: Prepared, lexicon: Lexicon | None = None) -> CheckResult:
    lex = lexicon if lexicon is not None else default_lexicon()
    found = lex.matches(p.norm)
    if not found:
        return _NO_TERMS
    keep = 1.0
    for term in found:
        keep *= 1.0 - lex.weights[term]
    score = min(1.0 - keep, 0.95)
    return CheckResult(
        "lexicon",
        score >= 0.3,
        round(score, 4),
        f"含有广告用语：{'、'.join(found[:5])}",
        {"terms": ",".join(found)},
    )
