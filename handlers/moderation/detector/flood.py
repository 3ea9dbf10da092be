"""Flooding and cross-group duplicates, on times the caller passes in.

:class:`FloodWatch` sees every message of every group the bot manages (one
watch per bot account) and answers two named checks for each:

``flood``
    one member sent N messages within T seconds in one group;
``cross_group_duplicate``
    the same or a near-duplicate message (Jaccard similarity of character
    shingles of the normalised text) appeared in several of the bot's groups
    within a window, from anyone: the pattern of an ad run.

Near-duplicates are found without comparing against every recent message: each
message is indexed by its few smallest shingle hashes (a bottom-k sketch; two
texts with Jaccard similarity J share the smallest with probability J), and
only messages sharing one are compared exactly.

Time is ``now``: monotonic seconds given by the caller, never read from a
clock.  Memory is bounded: entries older than their window are swept on each
call (amortised O(1)), and hard caps evict the oldest first.
"""

from __future__ import annotations

import heapq
import itertools
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from .results import CheckResult

FLOOD = "flood"
DUPLICATE = "cross_group_duplicate"


def default_normalize(text: str) -> str:
    """NFKC, case-folded, whitespace removed: enough to see a copy as a copy."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True, slots=True)
class FloodLimit:
    """``max_messages`` within ``per_seconds`` by one member in one group is a flood."""

    max_messages: int = 8
    per_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.max_messages < 1 or self.per_seconds <= 0:
            raise ValueError("a flood limit needs max_messages >= 1 and per_seconds > 0")


@dataclass(slots=True)
class _Entry:
    at: float
    group_id: str
    member_id: str
    shingles: frozenset[str]
    tokens: tuple[int, ...]


class FloodWatch:
    """Per-member flooding and cross-group duplicates over injected times."""

    def __init__(
        self,
        *,
        limit: FloodLimit | None = None,
        dup_groups: int = 3,
        dup_window: float = 600.0,
        similarity: float = 0.7,
        min_chars: int = 8,
        shingle: int = 3,
        normalize: Callable[[str], str] = default_normalize,
        flood_score: float = 0.5,
        duplicate_score: float = 0.9,
        history: int = 32,
        max_members: int = 200_000,
        max_recent: int = 50_000,
        sketch: int = 6,
        max_compare: int = 64,
    ) -> None:
        self.limit = limit or FloodLimit()
        if self.limit.max_messages > history:
            raise ValueError("history must hold at least limit.max_messages times")
        if dup_groups < 2:
            raise ValueError("a cross-group duplicate needs dup_groups >= 2")
        self.dup_groups = dup_groups
        self.dup_window = dup_window
        self.similarity = similarity
        self.min_chars = min_chars
        self.shingle = shingle
        self.normalize = normalize
        self.flood_score = flood_score
        self.duplicate_score = duplicate_score
        self._history = history
        self._max_members = max_members
        self._max_recent = max_recent
        self._sketch = sketch
        self._max_compare = max_compare
        # (group, member) -> recent send times, least recently active first.
        self._times: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._horizon = self.limit.per_seconds  # the longest flood window asked for
        # Recent messages for duplicates, oldest first, and their sketch index.
        self._recent: deque[int] = deque()
        self._entries: dict[int, _Entry] = {}
        self._index: dict[int, dict[int, None]] = {}  # token -> ids, oldest first
        self._ids = itertools.count()

    # -- the one call a handler makes ------------------------------------------------

    def observe(
        self,
        *,
        group_id: str,
        member_id: str,
        now: float,
        text: str | None = None,
        content_key: str | None = None,
        limit: FloodLimit | None = None,
    ) -> tuple[CheckResult, CheckResult]:
        """Record one message and return its ``flood`` and ``cross_group_duplicate``
        results (both always, clean ones with their reason too).

        ``text`` is compared as near-duplicate text; ``content_key`` (e.g. an
        image's hash) for non-text messages is compared exactly.  ``limit``
        overrides the flood limit for this group.
        """
        flood = self._flood(group_id, member_id, now, limit or self.limit)
        duplicate = self._duplicate(group_id, member_id, now, text, content_key)
        return flood, duplicate

    @property
    def tracked_members(self) -> int:
        return len(self._times)

    @property
    def recent_messages(self) -> int:
        return len(self._entries)

    # -- flooding ------------------------------------------------------------------

    def _flood(self, group_id: str, member_id: str, now: float, limit: FloodLimit) -> CheckResult:
        if limit.max_messages > self._history:
            limit = FloodLimit(self._history, limit.per_seconds)
        self._horizon = max(self._horizon, limit.per_seconds)
        self._sweep_times(now)
        key = (group_id, member_id)
        times = self._times.pop(key, None)
        if times is None:
            times = deque(maxlen=self._history)
        times.append(now)
        self._times[key] = times  # most recently active last
        while len(self._times) > self._max_members:
            self._times.popitem(last=False)
        since = now - limit.per_seconds
        count = sum(1 for t in times if t > since)
        detail = {
            "count": str(count),
            "max_messages": str(limit.max_messages),
            "per_seconds": f"{limit.per_seconds:g}",
        }
        seconds = f"{limit.per_seconds:g}"
        if count >= limit.max_messages:
            return CheckResult(
                FLOOD, True, self.flood_score, f"刷屏：{seconds}秒内发了{count}条消息", detail
            )
        return CheckResult(
            FLOOD,
            False,
            0.0,
            f"未刷屏：{seconds}秒内第{count}条（上限{limit.max_messages}条）",
            detail,
        )

    def _sweep_times(self, now: float) -> None:
        cutoff = now - self._horizon
        while self._times:
            key, times = next(iter(self._times.items()))
            if times and times[-1] > cutoff:
                break
            del self._times[key]

    # -- cross-group duplicates ------------------------------------------------------

    def _duplicate(
        self,
        group_id: str,
        member_id: str,
        now: float,
        text: str | None,
        content_key: str | None,
    ) -> CheckResult:
        self._sweep_recent(now)
        shingles = self._shingles(text, content_key)
        if shingles is None:
            return CheckResult(DUPLICATE, False, 0.0, "消息太短或无内容，不查跨群重复")
        tokens = tuple(heapq.nsmallest(self._sketch, {hash(s) for s in shingles}))
        groups = {group_id}
        members = {member_id}
        compared: set[int] = set()
        for token in tokens:
            for entry_id in reversed(self._index.get(token, {})):  # newest first
                if len(groups) >= self.dup_groups or len(compared) >= self._max_compare:
                    break  # decided, or a hot shingle: bound the work
                if entry_id in compared:
                    continue
                compared.add(entry_id)
                other = self._entries[entry_id]
                if other.group_id in groups:
                    continue  # already counted; spare the comparison
                if _jaccard(shingles, other.shingles) >= self.similarity:
                    groups.add(other.group_id)
                    members.add(other.member_id)
        self._add(_Entry(now, group_id, member_id, shingles, tokens))
        minutes = f"{self.dup_window / 60:g}"
        detail = {
            "groups": str(len(groups)),
            "members": str(len(members)),
            "dup_groups": str(self.dup_groups),
            "window_seconds": f"{self.dup_window:g}",
        }
        if len(groups) >= self.dup_groups:
            return CheckResult(
                DUPLICATE,
                True,
                self.duplicate_score,
                f"同一内容{minutes}分钟内出现在{len(groups)}个群（{len(members)}人发送）",
                detail,
            )
        if len(groups) > 1:
            reason = (
                f"同一内容{minutes}分钟内出现在{len(groups)}个群（上限{self.dup_groups - 1}个）"
            )
        else:
            reason = "未发现跨群重复"
        return CheckResult(DUPLICATE, False, 0.0, reason, detail)

    def _shingles(self, text: str | None, content_key: str | None) -> frozenset[str] | None:
        if content_key:
            return frozenset(("\x00" + content_key,))
        if not text:
            return None
        norm = self.normalize(text)[:400]
        if len(norm) < self.min_chars:
            return None
        k = min(self.shingle, len(norm))
        return frozenset(norm[i : i + k] for i in range(len(norm) - k + 1))

    def _add(self, entry: _Entry) -> None:
        entry_id = next(self._ids)
        self._entries[entry_id] = entry
        self._recent.append(entry_id)
        for token in entry.tokens:
            self._index.setdefault(token, {})[entry_id] = None
        while len(self._recent) > self._max_recent:
            self._drop(self._recent.popleft())

    def _sweep_recent(self, now: float) -> None:
        cutoff = now - self.dup_window
        while self._recent and self._entries[self._recent[0]].at <= cutoff:
            self._drop(self._recent.popleft())

    def _drop(self, entry_id: int) -> None:
        entry = self._entries.pop(entry_id)
        for token in entry.tokens:
            bucket = self._index.get(token)
            if bucket is not None:
                bucket.pop(entry_id, None)
                if not bucket:
                    del self._index[token]


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)
