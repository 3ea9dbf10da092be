"""Notices signed by a known organisation: at most "review", never "ad".

A bank's debit notice, an airline's booking, a carrier's bill or a platform's
own promotion, forwarded into a group, is not a member advertising: admins
may still want to see it, so such a message is capped at ``review`` (admins
are told, nobody is warned or removed).  It must be signed 【name】 at its
start or end by an organisation in ``data/senders.tsv``, carry no personal
contact (mobile number, WeChat id, QQ) and link only to that organisation's
domains: a phishing text that borrows a bank's name and links elsewhere, or
adds somebody's number, is judged as usual.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from .checks import MOBILE, Prepared, domain_allowed, find_hosts
from .normalize import normalize
from .results import CheckResult

NAME = "official_sender"
_SIGNATURE = re.compile(r"[【\[〖「(]([^】\]〗」)]{2,12})[】\]〗」)]")
_TRAILING = re.compile(r"[\s。.!！\"'“”]*")
_NOT_SIGNED = CheckResult(NAME, False, 0.0, "没有知名机构的署名")


@dataclass(frozen=True, slots=True)
class Senders:
    """Organisation name (normalised) -> its domains."""

    domains: Mapping[str, tuple[str, ...]]

    @classmethod
    def parse(cls, text: str) -> Senders:
        out: dict[str, tuple[str, ...]] = {}
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            name, _, hosts = line.partition("\t")
            key = normalize(name)
            if key:
                out[key] = tuple(h.strip().lower() for h in hosts.split(",") if h.strip())
        return cls(out)

    def signer(self, norm: str) -> str | None:
        """The known organisation signing ``norm`` at its start or end, if any."""
        if not ("【" in norm or "[" in norm or "(" in norm or "〖" in norm or "「" in norm):
            return None
        for m in _SIGNATURE.finditer(norm):
            at_start = m.start() == 0
            at_end = _TRAILING.fullmatch(norm, m.end()) is not None
            if (at_start or at_end) and m.group(1) in self.domains:
                return m.group(1)
        return None


def _personal(c: CheckResult) -> bool:
    """A WeChat id, a QQ number or a mobile number (a hotline is an organisation's)."""
    if not c.hit:
        return False
    if c.name == "phone_number":
        return MOBILE.fullmatch(c.detail.get("number", "")) is not None
    return True


@functools.cache
def default_senders() -> Senders:
    text = resources.files(__package__).joinpath("data/senders.tsv").read_text("utf-8")
    return Senders.parse(text)


def check_official_sender(
    p: Prepared,
    contacts: Iterable[CheckResult] = (),
    senders: Senders | None = None,
    extra_hosts: Iterable[str] = (),
) -> CheckResult:
    """Signed by a known organisation, with no personal contact among ``contacts``
    (the WeChat id, QQ and phone checks' results) and no foreign link
    (``extra_hosts``: a card's link, which is not in the text)."""
    book = senders if senders is not None else default_senders()
    name = book.signer(p.norm)
    if name is None:
        return _NOT_SIGNED
    if any(_personal(c) for c in contacts):
        return CheckResult(NAME, False, 0.0, f"署名「{name}」但留了个人联系方式")
    hosts = [*find_hosts(p), *extra_hosts]
    foreign = [h for h in hosts if not domain_allowed(h, book.domains[name])]
    if foreign:
        return CheckResult(NAME, False, 0.0, f"署名「{name}」但链接指向别处：{foreign[0]}")
    return CheckResult(
        NAME, True, 0.0, f"「{name}」署名的通知或推送，最多交管理员判断", {"sender": name}
    )
