"""Risk-control and transient-error markers, and how error text is matched
against them.

The defaults of ``GovernorSettings.risk_markers`` (an error that means WeChat's
risk control refused the account: pause that kind) and
``transient_markers`` (a lost connection: the executor may try again), and
the pattern builder that matches them as whole tokens so that an id or a
longer number that merely contains a marker does not count.
"""

from __future__ import annotations

import re

# Risk-control markers (风控), matched as whole tokens: an ASCII word or code
# never matches inside a longer word, id or number ("20001" is not "120001" or
# "20001@chatroom"; "risk control" is not "wxid_riskfree").  Spaces in a
# marker match any run of spaces, "-" or "_".  CJK markers are substrings.
DEFAULT_RISK_MARKERS: tuple[str, ...] = (
    "操作过于频繁",
    "操作频繁",
    "请求频繁",
    "请求过于频繁",
    "发送过于频繁",
    "频繁",  # 操作太频繁, 访问频繁, ...: a missed refusal costs more than a false pause
    "频率过快",
    "频率限制",
    "风控",
    "Too many attempts",
    "Too many requests",
    "too frequent",
    "too frequently",
    "rate limit",
    "rate limited",
    "ratelimit",
    "ratelimited",
    "frequency limit",
    "risk control",
    "20001",
)

# Transport errors that mean the call did not get through and may be tried
# again.  Same matching; a risk-control marker always wins (never retried).
# Only errors that say the call was not carried out: the connection was
# refused or reset, the gateway was unavailable or not logged in.  A timeout,
# a hang-up or a stream cut mid-call may have reached WeChat already: retrying
# it could post twice, so it is final (and audited as failed).
DEFAULT_TRANSIENT_MARKERS: tuple[str, ...] = (
    "ECONNRESET",
    "ECONNREFUSED",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "EAI_AGAIN",
    "UNAVAILABLE",
    "connection reset",
    "connection refused",
    "not logged in",
    "ConnectionResetError",
    "ConnectionRefusedError",
)


_TOKEN = "A-Za-z0-9_@"  # characters of ids, codes and words: a token goes on through them


def _marker_pattern(markers: tuple[str, ...]) -> re.Pattern[str]:
    # Whole tokens: a marker that starts (ends) with an ASCII letter or digit
    # must not be preceded (followed) by another id/word character, so
    # "20001" is not "120001", "200011" or "20001@chatroom" and "risk control"
    # is not "wxid_riskcontrolled".  CJK ends are plain substrings.
    parts = []
    for m in markers:
        p = r"[\s_-]+".join(re.escape(w) for w in m.split())
        if m[0].isascii() and m[0].isalnum():
            p = rf"(?<![{_TOKEN}])" + p
        if m[-1].isascii() and m[-1].isalnum():
            p += rf"(?![{_TOKEN}])"
        parts.append(p)
    return re.compile("|".join(parts), re.IGNORECASE)
