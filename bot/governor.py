"""Account-safety governor: every action on WeChat is paced here first.

A banned account is the worst thing the bot can do to its owner, so every
action the transport executes has first been timed by :class:`Governor` and
chosen by :class:`PacedQueue`.  Both are pure decision logic: no I/O, no
sleeping, no Wechaty.  Time is float seconds on the injected monotonic clock
(``Clock.monotonic()``); callers pass ``now``.  The async executor loop is::

    decision = queue.next(now)            # None: nothing queued
    entry, at = decision
    if isinstance(at, Refusal): audit and drop (budget, breaker, expired)
    else: sleep until ``at``; execute; governor.record(entry.kind, entry.room_id, at)
          (record every attempt that reached WeChat, failed or not); on any
          error governor.trip(entry.kind, now, str(error)): True = alert admins

``next`` takes the entry.  If something more urgent arrives while sleeping,
push the taken entry back and ask again.

Which limits apply to which kinds (defaults from wechaty-notes.md, "Account
risk control"; all in :class:`GovernorSettings`):

* ``MESSAGE`` (text, ``room_id`` = the conversation: a room id, or the contact
  id for a direct message) and ``RICH`` (link, mini program, card, file,
  image).  A RICH action *is* a message: both share one message lane:

  - token bucket: sustained ``messages_per_min`` (20/min) with depth
    ``message_burst`` (5): in any window of T seconds at most
    ``burst + rate * T`` messages;
  - hard cap: at most ``messages_hard_cap_per_min`` (40) in any 60 s window
    (a backstop for raised settings; with the defaults the others bind first);
  - at least ``room_gap_s`` (3 s) between two messages to the same room;
  - a message to a room other than the previous message's waits a random
    ``switch_delay_min..max`` (3-5 s) after that previous message.  With the
    defaults consecutive messages are therefore >= 3 s apart (<= 20 in any
    60 s window), so the bucket and the hard cap are a second line.

  RICH additionally: at most ``rich_per_min`` (5) in any 60 s window (a
  delay) and ``rich_per_day`` (100) in any rolling 24 h (a refusal).
* ``REMOVE``: serialized, each removal at least a random
  ``remove_gap_min..max`` (10-30 s) after the previous; ``removes_per_day``
  (30, rolling 24 h, refusal).  Not a message.
* ``INVITE``, ``ACCEPT``, ``ROOM_ADMIN``, ``FRIEND_REQUEST``, ``ROOM_CREATE``:
  ``<kind>_per_min`` in any 60 s window (delay) and ``<kind>_per_day`` in any
  rolling 24 h (refusal).  A per-day limit of 0 disables the kind.

Kinds in different lanes share no limit.  Random delays are drawn once, when
the action that starts the wait is recorded, so repeated queries agree.

Circuit breaker: :meth:`Governor.trip` is told about every failed action; if
the error text carries a risk-control marker ("操作过于频繁", "Too many
requests", "20001", ...; matched as whole tokens, so an id or a longer number
that merely contains one does not count), that kind is refused for
``breaker_pause_s`` (24 h).  A MESSAGE breaker also stops RICH (a RICH action
is a message); a RICH breaker leaves plain text alone.  Errors that mean a
lost connection (:meth:`Governor.is_transient_error`) are retried by the
executor after ``retry_backoff_s``; a risk-control error never is.

State lives in memory.  A restart forgets the last 24 h: replay the audit log
through :meth:`Governor.record` (times in order, converted to this monotonic
clock; negative times are fine) and the stored pauses through
:meth:`Governor.restore` before executing anything (the executor does both).
"""

from __future__ import annotations

import enum
import heapq
import math
import random
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.actions import Action, ActionKind, Priority

MINUTE = 60.0
DAY = 86_400.0
_EPS = 1e-9
_INF = math.inf

MESSAGE_KINDS: frozenset[ActionKind] = frozenset({ActionKind.MESSAGE, ActionKind.RICH})

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


class GovernorSettings(BaseModel):
    """The ``governor:`` section of bot.yaml.  Defaults are the conservative
    budget of wechaty-notes.md; raise them only with evidence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Messages (MESSAGE and RICH).
    messages_per_min: float = Field(default=20.0, gt=0, le=60)
    message_burst: int = Field(default=5, ge=1, le=60)
    messages_hard_cap_per_min: int = Field(default=40, ge=1, le=60)
    room_gap_s: float = Field(default=3.0, ge=1.0, le=3600)
    switch_delay_min: float = Field(default=3.0, ge=0, le=600)
    switch_delay_max: float = Field(default=5.0, ge=0, le=600)
    # Rich messages: links, mini programs, cards, files, images.
    rich_per_min: int = Field(default=5, ge=1, le=60)
    rich_per_day: int = Field(default=100, ge=0, le=2000)
    # Member removals.
    remove_gap_min: float = Field(default=10.0, ge=1, le=3600)
    remove_gap_max: float = Field(default=30.0, ge=1, le=3600)
    removes_per_day: int = Field(default=30, ge=0, le=500)
    # Other kinds: a per-minute window (delay) and a rolling day (refusal).
    invites_per_min: int = Field(default=2, ge=1, le=60)
    invites_per_day: int = Field(default=30, ge=0, le=1000)
    accepts_per_min: int = Field(default=3, ge=1, le=60)
    accepts_per_day: int = Field(default=50, ge=0, le=1000)
    room_admin_per_min: int = Field(default=2, ge=1, le=60)
    room_admin_per_day: int = Field(default=20, ge=0, le=1000)
    friend_requests_per_min: int = Field(default=1, ge=1, le=60)
    friend_requests_per_day: int = Field(default=10, ge=0, le=200)
    room_creates_per_min: int = Field(default=1, ge=1, le=60)
    room_creates_per_day: int = Field(default=3, ge=0, le=100)
    # Circuit breaker.
    breaker_pause_s: float = Field(default=DAY, ge=60, le=30 * DAY)
    risk_markers: tuple[str, ...] = DEFAULT_RISK_MARKERS
    # Send retries (read by the executor): a transport error matching one of
    # these (and no risk marker) is tried again after each delay in turn,
    # through the governor again; [] = never retry.
    transient_markers: tuple[str, ...] = DEFAULT_TRANSIENT_MARKERS
    retry_backoff_s: tuple[float, ...] = Field(default=(5.0, 30.0, 120.0), max_length=10)
    # Queue policy (PacedQueue).  An entry's urgency is
    # ``enqueued_at + priority * priority_step_s``: a BROADCAST queued now
    # yields to MODERATION queued up to 3 steps later, never to later ones.
    priority_step_s: float = Field(default=300.0, ge=0, le=DAY)
    # Finish the current room before a more urgent message elsewhere when at
    # most this many messages are left in it: saves a visit (a 3-5 s switch)
    # for at most room_batch * 3 s of delay; never ahead of MODERATION.
    # 0 = strict priority.
    room_batch: int = Field(default=4, ge=0, le=50)
    # Read by the executor: pace and audit as usual, send nothing.
    dry_run: bool = False

    @field_validator("risk_markers", "transient_markers")
    @classmethod
    def _markers_not_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        markers = tuple(m.strip() for m in value)
        if not markers or any(not m for m in markers):
            raise ValueError("must be a non-empty list of non-blank strings")
        return markers

    @field_validator("retry_backoff_s")
    @classmethod
    def _backoff_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not (1.0 <= v <= 3600.0) for v in value):
            raise ValueError("each retry delay must be between 1 and 3600 seconds")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> GovernorSettings:
        if self.switch_delay_min > self.switch_delay_max:
            raise ValueError("switch_delay_min must be <= switch_delay_max")
        if self.remove_gap_min > self.remove_gap_max:
            raise ValueError("remove_gap_min must be <= remove_gap_max")
        if self.messages_per_min > self.messages_hard_cap_per_min:
            raise ValueError("messages_per_min must be <= messages_hard_cap_per_min")
        if self.message_burst > self.messages_hard_cap_per_min:
            raise ValueError("message_burst must be <= messages_hard_cap_per_min")
        return self

    def per_min(self, kind: ActionKind) -> int | None:
        """The kind's own 60 s window limit (messages: see the bucket)."""
        return {
            ActionKind.RICH: self.rich_per_min,
            ActionKind.INVITE: self.invites_per_min,
            ActionKind.ACCEPT: self.accepts_per_min,
            ActionKind.ROOM_ADMIN: self.room_admin_per_min,
            ActionKind.FRIEND_REQUEST: self.friend_requests_per_min,
            ActionKind.ROOM_CREATE: self.room_creates_per_min,
        }.get(kind)

    def per_day(self, kind: ActionKind) -> int | None:
        """The kind's rolling 24 h budget, or None when it has none."""
        return {
            ActionKind.RICH: self.rich_per_day,
            ActionKind.REMOVE: self.removes_per_day,
            ActionKind.INVITE: self.invites_per_day,
            ActionKind.ACCEPT: self.accepts_per_day,
            ActionKind.ROOM_ADMIN: self.room_admin_per_day,
            ActionKind.FRIEND_REQUEST: self.friend_requests_per_day,
            ActionKind.ROOM_CREATE: self.room_creates_per_day,
        }.get(kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosePause(Action):
    """A decision, not a WeChat action: close a risk-control pause early.

    Returned by a handler (an owner asked); the executor applies it at once
    (governor, pauses table, audit row) and never sends it anywhere."""

    pause_kind: str  # an ActionKind value, or "all"
    by: str  # the account id of the owner who asked


class RefusalCode(enum.StrEnum):
    BUDGET = "budget"  # rolling 24 h budget exhausted
    BREAKER = "breaker"  # circuit breaker open after a risk-control error
    EXPIRED = "expired"  # queue entry past its not_after


@dataclass(frozen=True, slots=True)
class Refusal:
    """Do not execute.  ``until``: when it could be allowed again (None: not
    before the settings change)."""

    reason: str
    code: RefusalCode = RefusalCode.BUDGET
    until: float | None = None


Outcome = Literal["sent", "delayed", "refused", "failed", "expired"]
_OUTCOMES: tuple[Outcome, ...] = ("sent", "delayed", "refused", "failed", "expired")


class _Window:
    """At most ``limit`` events in any window of ``span`` seconds.

    Only the last ``limit`` events matter: a new event at ``x`` fits when the
    ``limit``-th most recent one is at or before ``x - span``."""

    __slots__ = ("limit", "span", "times")

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self.times: deque[float] = deque(maxlen=max(limit, 1))

    def ready_at(self) -> float:
        if self.limit <= 0:
            return _INF
        if len(self.times) < self.limit:
            return -_INF
        return self.times[0] + self.span

    def add(self, at: float) -> None:
        if self.limit > 0:
            self.times.append(at)

    def used(self, now: float) -> int:
        return sum(1 for t in self.times if t > now - self.span)


class _Bucket:
    """Token bucket: ``rate`` tokens/s, ``depth`` tokens, one per message."""

    __slots__ = ("depth", "rate", "t", "tokens")

    def __init__(self, rate: float, depth: int) -> None:
        self.rate = rate
        self.depth = float(depth)
        self.tokens = float(depth)
        self.t: float | None = None  # None: full since forever

    def ready_at(self) -> float:
        if self.t is None or self.tokens >= 1.0:
            return -_INF
        return self.t + (1.0 - self.tokens) / self.rate

    def add(self, at: float) -> None:
        level = self.depth if self.t is None else self.tokens + self.rate * (at - self.t)
        self.tokens = min(self.depth, level) - 1.0
        self.t = at


@dataclass(slots=True)
class _Breaker:
    until: float = -_INF
    trips: int = 0
    opened_at: float | None = None
    last_error: str = ""


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


_STACK_FRAME = re.compile(r"^\s*(at\s|File\s\"|Traceback\b|\^)")
_WRAPPER = re.compile(r"^\s*(\w*(Error|Exception)\s*:\s*)+")


def short_error(error_text: str, limit: int = 160) -> str:
    """The error as one short line for people: the first line that is not a
    stack frame, without leading exception class names, cut to ``limit``."""
    for line in (error_text or "").splitlines():
        if not line.strip() or _STACK_FRAME.match(line):
            continue
        line = _WRAPPER.sub("", line).strip() or line.strip()
        return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


class Governor:
    """Pure pacing state for one WeChat account.  See the module docstring."""

    def __init__(self, settings: GovernorSettings | None = None, rng: random.Random | None = None):
        s = self.settings = settings or GovernorSettings()
        self._rng = rng or random.Random()
        self._markers = _marker_pattern(s.risk_markers)
        self._transient = _marker_pattern(s.transient_markers)
        self._last_at = -_INF  # every record is clamped to be >= this
        # Message lane.
        self._bucket = _Bucket(s.messages_per_min / MINUTE, s.message_burst)
        self._hard_cap = _Window(s.messages_hard_cap_per_min, MINUTE)
        self._has_msg = False
        self._last_msg_at = -_INF
        self._last_room: str | None = None
        self._switch_delay = 0.0  # drawn when the last message was recorded
        self._room_last: dict[str | None, float] = {}
        self._room_prune_at = -_INF
        # Removal lane.
        self._last_remove_at: float | None = None
        self._remove_gap = 0.0  # drawn when the last removal was recorded
        # Per-kind windows.
        self._minute: dict[ActionKind, _Window] = {}
        self._day: dict[ActionKind, _Window] = {}
        for kind in ActionKind:
            pm = s.per_min(kind)
            if pm is not None:
                self._minute[kind] = _Window(pm, MINUTE)
            pd = s.per_day(kind)
            if pd is not None:
                self._day[kind] = _Window(pd, DAY)
        self._breakers: dict[ActionKind, _Breaker] = {k: _Breaker() for k in ActionKind}
        self._counters: dict[ActionKind, dict[str, int]] = {
            k: dict.fromkeys(_OUTCOMES, 0) for k in ActionKind
        }

    # -- decisions --------------------------------------------------------

    def earliest(self, kind: ActionKind, room_id: str | None, now: float) -> float | Refusal:
        """The earliest time (>= now) this action may execute, or a Refusal."""
        refusal = self.refusal(kind, now)
        if refusal is not None:
            return refusal
        return self.earliest_time(kind, room_id, now)

    def refusal(self, kind: ActionKind, now: float) -> Refusal | None:
        """Why this kind may not execute at all now (breaker, 24 h budget)."""
        kinds = (kind, ActionKind.MESSAGE) if kind is ActionKind.RICH else (kind,)
        until = max(self._breakers[k].until for k in kinds)
        if until > now:
            reason = f"{kind.value}: paused after a risk-control error"
            return Refusal(reason, RefusalCode.BREAKER, until)
        day = self._day.get(kind)
        if day is not None:
            ready = day.ready_at()
            if ready > now:
                return Refusal(
                    f"{kind.value}: {day.limit} per 24 h used",
                    RefusalCode.BUDGET,
                    None if ready == _INF else ready,
                )
        return None

    def earliest_time(self, kind: ActionKind, room_id: str | None, now: float) -> float:
        """The pacing part of :meth:`earliest`, ignoring breakers and daily budgets."""
        s = self.settings
        t = now
        minute = self._minute.get(kind)
        if minute is not None:
            t = max(t, minute.ready_at())
        if kind in MESSAGE_KINDS:
            t = max(t, self._bucket.ready_at(), self._hard_cap.ready_at())
            if self._has_msg:
                if room_id == self._last_room:
                    t = max(t, self._last_msg_at + s.room_gap_s)
                else:
                    t = max(t, self._last_msg_at + self._switch_delay)
                    last = self._room_last.get(room_id)
                    if last is not None:
                        t = max(t, last + s.room_gap_s)
        elif kind is ActionKind.REMOVE and self._last_remove_at is not None:
            t = max(t, self._last_remove_at + self._remove_gap)
        return t

    @property
    def current_room(self) -> tuple[bool, str | None]:
        """(whether any message was recorded, the room of the last one)."""
        return self._has_msg, self._last_room

    # -- facts --------------------------------------------------------------

    def record(self, kind: ActionKind, room_id: str | None, at: float) -> None:
        """An action of ``kind`` was executed at ``at``.

        Times must come in order; an earlier ``at`` is taken as the latest
        recorded time, which only ever makes later limits stricter."""
        s = self.settings
        at = max(at, self._last_at)
        self._last_at = at
        minute = self._minute.get(kind)
        if minute is not None:
            minute.add(at)
        day = self._day.get(kind)
        if day is not None:
            day.add(at)
        if kind in MESSAGE_KINDS:
            self._bucket.add(at)
            self._hard_cap.add(at)
            self._has_msg = True
            self._last_msg_at = at
            self._last_room = room_id
            self._room_last[room_id] = at
            self._switch_delay = self._rng.uniform(s.switch_delay_min, s.switch_delay_max)
            if len(self._room_last) > 256 and at >= self._room_prune_at:
                horizon = at - s.room_gap_s
                self._room_last = {r: t for r, t in self._room_last.items() if t > horizon}
                self._room_prune_at = at + s.room_gap_s
        elif kind is ActionKind.REMOVE:
            self._last_remove_at = at
            self._remove_gap = self._rng.uniform(s.remove_gap_min, s.remove_gap_max)
        self._counters[kind]["sent"] += 1

    def is_risk_error(self, error_text: str) -> bool:
        return self._markers.search(error_text or "") is not None

    def risk_marker(self, error_text: str) -> str | None:
        """The risk-control marker found in ``error_text`` (as written there)."""
        found = self._markers.search(error_text or "")
        return None if found is None else found.group(0)

    def is_transient_error(self, error_text: str) -> bool:
        """Worth another try: a lost connection, not a refusal (risk markers win)."""
        text = error_text or ""
        return self._transient.search(text) is not None and not self.is_risk_error(text)

    def retry_delay(self, attempts: int) -> float | None:
        """Seconds to wait after the ``attempts``-th failed try, or None: give up."""
        backoff = self.settings.retry_backoff_s
        return backoff[attempts - 1] if 1 <= attempts <= len(backoff) else None

    def trip(self, kind: ActionKind, now: float, error_text: str) -> bool:
        """An action of ``kind`` failed with ``error_text``.  Counts the
        failure; on a risk-control error opens (or extends) that kind's
        breaker for ``breaker_pause_s`` and returns True: alert the admins."""
        self._counters[kind]["failed"] += 1
        if not self.is_risk_error(error_text):
            return False
        b = self._breakers[kind]
        b.until = max(b.until, now + self.settings.breaker_pause_s)
        b.trips += 1
        b.opened_at = now
        b.last_error = error_text[:200]
        return True

    def is_open(self, kind: ActionKind, now: float) -> bool:
        """Whether ``kind`` is paused (RICH is also paused by a MESSAGE breaker)."""
        kinds = (kind, ActionKind.MESSAGE) if kind is ActionKind.RICH else (kind,)
        return any(self._breakers[k].until > now for k in kinds)

    def close(self, kind: ActionKind) -> None:
        """Close a breaker by hand (an admin decided it is safe)."""
        self._breakers[kind].until = -_INF

    def restore(self, kind: ActionKind, until: float, error_text: str = "") -> None:
        """Reopen a pause remembered from before a restart, until ``until``
        (this clock).  Never shortens a pause already open."""
        b = self._breakers[kind]
        if until > b.until:
            b.until = until
            b.trips = max(b.trips, 1)
            b.last_error = error_text[:200]

    def open_pauses(self, now: float) -> dict[ActionKind, float]:
        """Kinds paused by their own breaker now, and until when."""
        return {k: b.until for k, b in self._breakers.items() if b.until > now}

    def breaker_state(self, now: float | None = None) -> dict[str, dict[str, object]]:
        """Breakers that ever tripped: until, trips, last error, open (if now given)."""
        out: dict[str, dict[str, object]] = {}
        for kind, b in self._breakers.items():
            if b.trips == 0:
                continue
            out[kind.value] = {
                "open": None if now is None else b.until > now,
                "until": b.until,
                "opened_at": b.opened_at,
                "trips": b.trips,
                "last_error": b.last_error,
            }
        return out

    def note(self, kind: ActionKind, outcome: Outcome) -> None:
        """Count an outcome decided outside (the queue counts delayed,
        refused and expired; record counts sent; trip counts failed)."""
        self._counters[kind][outcome] += 1

    def counters(self) -> dict[str, dict[str, int]]:
        """Per kind: sent / delayed / refused / failed / expired."""
        return {k.value: dict(c) for k, c in self._counters.items()}

    def budget(self, now: float) -> dict[str, dict[str, int]]:
        """Per kind with a daily budget: used in the last 24 h, and the limit."""
        return {k.value: {"used": w.used(now), "per_day": w.limit} for k, w in self._day.items()}


# -- the queue ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A pending action as the queue sees it (the executor keeps the rest)."""

    id: str
    kind: ActionKind
    room_id: str | None
    priority: Priority
    enqueued_at: float
    not_after: float | None = None  # drop it if it cannot run by then


Decision = tuple[QueueEntry, float | Refusal]


#: How many lower-priority actions may execute while an action waits, by default.
DEFAULT_MAX_OVERTAKES = 4


@dataclass(slots=True, eq=False)
class _Item:
    entry: QueueEntry
    key: float  # urgency: enqueued_at + priority * step; lower goes first
    seq: int
    dead: bool = False
    # PacedQueue._lower_taken(priority) when pushed: the difference to its
    # value now is how many less urgent actions have been taken meanwhile.
    mark: int = 0

    @property
    def order(self) -> tuple[float, int]:
        return self.key, self.seq


_HeapRow = tuple[float, int, _Item]


def _top(heap: list[_HeapRow]) -> _Item | None:
    while heap and heap[0][2].dead:
        heapq.heappop(heap)
    return heap[0][2] if heap else None


@dataclass(slots=True, eq=False)
class _Room:
    """One conversation's pending messages, a heap per kind."""

    msg: list[_HeapRow] = field(default_factory=list)
    rich: list[_HeapRow] = field(default_factory=list)
    pushed_all: tuple[float, int] | None = None  # last head pushed to the heads heaps
    pushed_msg: tuple[float, int] | None = None
    live: int = 0

    def best(self, with_rich: bool) -> _Item | None:
        m = _top(self.msg)
        if not with_rich:
            return m
        r = _top(self.rich)
        if m is None or (r is not None and r.order < m.order):
            return r
        return m


_RoomHead = tuple[float, int, str | None]


@dataclass(slots=True)
class _Pick:
    item: _Item
    at: float | Refusal
    # Set when this pick keeps the current room although a more urgent
    # message waits elsewhere: that message's item.
    passes_over: _Item | None = None


class PacedQueue:
    """Pending actions; :meth:`next` says which to execute and when.

    Order: refusals (breaker, budget) and expired entries come out at once.
    Otherwise each lane (the message lane; removals; each other kind) offers
    its best entry with the earliest time the governor allows, and the
    earliest wins (ties: the more urgent).  Urgency is a virtual deadline,
    ``enqueued_at + priority * priority_step_s``: lower Priority first among
    entries queued about the same time, and no entry waits behind entries
    queued more than ``3 * priority_step_s`` after it, which bounds every wait.

    That bound is in time, not in work: a welcome queued 300 s into a backlog
    of replies would wait for all of them.  So a count bounds it too: while an
    entry waits, at most ``max_overtakes`` entries of a lower priority (a
    higher Priority value; any lane, any room) are taken to execute; after
    that the most urgent entry that has waited that long goes next, whatever
    the room, room_batch or urgency say, unless it is blocked anyway long
    enough (by the same slack as above) that the other cannot delay it.  So
    an entry's wait is its own pacing plus at most ``max_overtakes`` less
    urgent sends.  Refusals and expired entries do not count (they send
    nothing); entries of the same or a higher priority never count against it.

    In the message lane the queue stays in the current room while that room
    has an entry at least as urgent as any elsewhere (same room: 3 s; switch:
    3-5 s).  When a more urgent message waits elsewhere, it may first finish
    the current room if at most ``room_batch`` messages are left there (that
    saves a later visit; never ahead of MODERATION).  A less urgent entry goes
    first when the more urgent one is blocked anyway (say, by the rich 5/min
    window) long enough not to be delayed by it.  An entry whose time would
    fall after its ``not_after`` comes out expired.

    Cost: push O(log n); next amortized O(log n) and a handful of governor
    calls, whatever the number of pending entries.
    """

    def __init__(self, governor: Governor, *, max_overtakes: int = DEFAULT_MAX_OVERTAKES) -> None:
        if max_overtakes < 0:
            raise ValueError("max_overtakes must be >= 0")
        self._gov = governor
        s = governor.settings
        self._step = s.priority_step_s
        self._max_overtakes = max_overtakes
        # Entries taken to execute, per Priority; and the entries of each
        # priority and kind in push order (oldest first: overtaken most).
        self._taken = [0] * len(Priority)
        self._by_priority: dict[tuple[Priority, ActionKind], deque[_Item]] = {
            (p, k): deque() for p in Priority for k in ActionKind
        }
        # Slack such that running one more message first cannot delay the
        # other: a same-room gap, a switch, and one bucket token.
        rate_gap = MINUTE / s.messages_per_min
        self._slack_room = max(s.room_gap_s, rate_gap)
        self._slack_switch = max(s.room_gap_s, s.switch_delay_max, rate_gap)
        self._items: dict[str, _Item] = {}
        self._seq = 0
        self._by_kind: dict[ActionKind, list[_HeapRow]] = {k: [] for k in ActionKind}
        self._rooms: dict[str | None, _Room] = {}
        self._heads_all: list[_RoomHead] = []
        self._heads_msg: list[_RoomHead] = []
        self._deadlines: list[tuple[float, int, _Item]] = []
        self._held_id: str | None = None
        self._held_count = 0
        self._garbage = 0  # removals since the last compaction

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._items

    def push(self, entry: QueueEntry) -> None:
        if entry.id in self._items:
            raise ValueError(f"entry {entry.id!r} is already queued")
        self._seq += 1
        item = _Item(
            entry,
            entry.enqueued_at + int(entry.priority) * self._step,
            self._seq,
            mark=self._lower_taken(entry.priority),
        )
        self._items[entry.id] = item
        self._by_priority[entry.priority, entry.kind].append(item)
        row = (item.key, item.seq, item)
        heapq.heappush(self._by_kind[entry.kind], row)
        if entry.not_after is not None:
            heapq.heappush(self._deadlines, (entry.not_after, item.seq, item))
        if entry.kind in MESSAGE_KINDS:
            room = self._rooms.get(entry.room_id)
            if room is None:
                room = self._rooms[entry.room_id] = _Room()
            heapq.heappush(room.msg if entry.kind is ActionKind.MESSAGE else room.rich, row)
            room.live += 1
            self._refresh_room(entry.room_id, room)

    enqueue = push

    def cancel(self, entry_id: str) -> bool:
        item = self._items.get(entry_id)
        if item is None:
            return False
        self._remove(item)
        return True

    def peek(self, now: float) -> Decision | None:
        """What :meth:`next` would return, without taking it."""
        pick = self._decide(now)
        return None if pick is None else (pick.item.entry, pick.at)

    def next(self, now: float) -> Decision | None:
        """Take the entry to execute next: ``(entry, at)`` with ``at`` the
        time to execute it (>= now), or ``(entry, Refusal)`` to drop it.
        None when the queue is empty."""
        pick = self._decide(now)
        if pick is None:
            return None
        item, at = pick.item, pick.at
        self._remove(item)
        kind = item.entry.kind
        if isinstance(at, Refusal):
            self._gov.note(kind, "expired" if at.code is RefusalCode.EXPIRED else "refused")
        else:
            self._taken[item.entry.priority] += 1
            if at > now + _EPS:
                self._gov.note(kind, "delayed")
        if pick.passes_over is not None:
            if self._held_id == pick.passes_over.entry.id:
                self._held_count += 1
            else:
                self._held_id, self._held_count = pick.passes_over.entry.id, 1
        elif self._held_id == item.entry.id:
            self._held_id, self._held_count = None, 0
        return item.entry, at

    def overtaken(self, entry_id: str) -> int:
        """How many lower-priority entries were taken while this one waited."""
        item = self._items[entry_id]
        return self._lower_taken(item.entry.priority) - item.mark

    # -- internals ----------------------------------------------------------

    def _lower_taken(self, priority: Priority) -> int:
        return sum(self._taken[int(priority) + 1 :])

    def _starving(self, than: Priority) -> list[_Item]:
        """Entries more urgent than ``than`` overtaken ``max_overtakes`` times:
        the oldest of each priority and kind, most urgent first."""
        found: list[_Item] = []
        for (priority, _), rows in self._by_priority.items():
            if priority >= than:
                continue
            while rows and rows[0].dead:
                rows.popleft()
            if rows and self._lower_taken(priority) - rows[0].mark >= self._max_overtakes:
                found.append(rows[0])
        found.sort(key=lambda i: (i.entry.priority, i.seq))
        return found

    def _bounded(self, pick: _Pick, at: float, now: float) -> tuple[_Pick, float]:
        """``pick``, or a starving entry it would delay (one that has waited
        behind ``max_overtakes`` less urgent ones and is not blocked anyway
        long enough), repeated for the entries more urgent than that one."""
        while True:
            for item in self._starving(pick.item.entry.priority):
                item_at = self._when(item, now)
                if at + self._slack_switch > item_at:
                    pick, at = _Pick(item, item_at), item_at
                    break
            else:
                return pick, at

    def _remove(self, item: _Item) -> None:
        item.dead = True
        del self._items[item.entry.id]
        self._garbage += 1
        if self._garbage > 1024 and self._garbage > 2 * len(self._items):
            self._compact()
        if item.entry.kind in MESSAGE_KINDS:
            room = self._rooms[item.entry.room_id]
            room.live -= 1
            if room.live == 0:
                del self._rooms[item.entry.room_id]
            else:
                self._refresh_room(item.entry.room_id, room)

    def _compact(self) -> None:
        # Dead rows are dropped lazily when they surface; rows that never do
        # (cancelled or taken away from a heap's top) are swept here, after as
        # many removals as there are live entries: amortized O(log n).
        self._garbage = 0

        def live(rows: list[_HeapRow]) -> list[_HeapRow]:
            kept = [r for r in rows if not r[2].dead]
            heapq.heapify(kept)
            return kept

        self._by_kind = {k: live(rows) for k, rows in self._by_kind.items()}
        self._deadlines = [r for r in self._deadlines if not r[2].dead]
        heapq.heapify(self._deadlines)
        for rows in self._by_priority.values():
            kept = [i for i in rows if not i.dead]
            rows.clear()
            rows.extend(kept)
        self._heads_all, self._heads_msg = [], []
        for room_id, room in self._rooms.items():
            room.msg, room.rich = live(room.msg), live(room.rich)
            room.pushed_all = room.pushed_msg = None
            self._refresh_room(room_id, room)

    def _refresh_room(self, room_id: str | None, room: _Room) -> None:
        # Keep each room's current best in the heads heaps (stale rows are
        # dropped when they surface).
        best = room.best(True)
        if best is not None and best.order != room.pushed_all:
            room.pushed_all = best.order
            heapq.heappush(self._heads_all, (best.key, best.seq, room_id))
        best = room.best(False)
        if best is not None and best.order != room.pushed_msg:
            room.pushed_msg = best.order
            heapq.heappush(self._heads_msg, (best.key, best.seq, room_id))

    def _best_elsewhere(self, with_rich: bool, exclude: tuple[bool, str | None]) -> _Item | None:
        heap = self._heads_all if with_rich else self._heads_msg
        stash: list[_RoomHead] = []
        found: _Item | None = None
        while heap:
            key, seq, room_id = heap[0]
            room = self._rooms.get(room_id)
            best = room.best(with_rich) if room is not None else None
            if best is None or best.order != (key, seq):
                heapq.heappop(heap)
                continue
            if exclude[0] and room_id == exclude[1]:
                stash.append(heapq.heappop(heap))
                continue
            found = best
            break
        for row in stash:
            heapq.heappush(heap, row)
        return found

    def _when(self, item: _Item, now: float) -> float:
        return self._gov.earliest_time(item.entry.kind, item.entry.room_id, now)

    def _prefer(
        self, urgent: tuple[_Item, float], other: tuple[_Item, float], slack: float
    ) -> tuple[_Item, float]:
        # Let the less urgent go first only if the urgent one is blocked long
        # enough that doing so cannot delay it.
        if other[1] + slack <= urgent[1]:
            return other
        return urgent

    def _decide(self, now: float) -> _Pick | None:
        if not self._items:
            return None
        gov = self._gov
        # Expired entries first.
        while self._deadlines:
            not_after, _, item = self._deadlines[0]
            if item.dead:
                heapq.heappop(self._deadlines)
                continue
            if not_after < now:
                return _Pick(item, Refusal("expired before it could run", RefusalCode.EXPIRED))
            break
        best: _Pick | None = None
        best_at = _INF
        for kind in ActionKind:
            top = _top(self._by_kind[kind])
            if top is None:
                continue
            refusal = gov.refusal(kind, now)
            if refusal is not None:
                return _Pick(top, refusal)
            if kind not in MESSAGE_KINDS:
                at = self._when(top, now)
                if best is None or (at, top.order) < (best_at, best.item.order):
                    best, best_at = _Pick(top, at), at
        msg = self._decide_messages(now)
        if msg is not None:
            at = msg[1]
            if best is None or (at, msg[0].order) < (best_at, best.item.order):
                best, best_at = _Pick(msg[0], at, passes_over=msg[2]), at
        if best is None:
            return None
        # Bound the wait in work: an entry overtaken max_overtakes times by
        # less urgent ones goes next, unless it is blocked anyway long enough
        # that the pick cannot delay it (say, by the rich 5/min window).
        best, best_at = self._bounded(best, best_at, now)
        deadline = best.item.entry.not_after
        if deadline is not None and best_at > deadline:
            return _Pick(best.item, Refusal("cannot run before not_after", RefusalCode.EXPIRED))
        return best

    def _decide_messages(self, now: float) -> tuple[_Item, float, _Item | None] | None:
        """The message lane's pick: (item, at, the more urgent item it passes over)."""
        has_cur, cur = current = self._gov.current_room
        # Best in the current room: the more urgent of its best text and best
        # rich message, unless that one is blocked long enough.
        here: tuple[_Item, float] | None = None
        room = self._rooms.get(cur) if has_cur else None
        if room is not None:
            cands = [(x, self._when(x, now)) for x in (_top(room.msg), _top(room.rich)) if x]
            cands.sort(key=lambda c: c[0].order)
            here = cands[0]
            if len(cands) == 2:
                here = self._prefer(cands[0], cands[1], self._slack_room)
        # Best elsewhere, likewise between the overall best and the best text.
        there: tuple[_Item, float] | None = None
        u_all = self._best_elsewhere(True, current)
        if u_all is not None:
            there = (u_all, self._when(u_all, now))
            if u_all.entry.kind is ActionKind.RICH:
                u_msg = self._best_elsewhere(False, current)
                if u_msg is not None:
                    there = self._prefer(there, (u_msg, self._when(u_msg, now)), self._slack_switch)
        if here is None or there is None:
            pick = here or there
            return None if pick is None else (pick[0], pick[1], None)
        if here[0].key <= there[0].key:
            # Stay, unless this room's best is blocked long enough.
            pick = self._prefer(here, there, self._slack_switch)
            return pick[0], pick[1], None
        # A more urgent message waits in another room.
        if here[1] + self._slack_switch <= there[1]:
            return here[0], here[1], None  # it is blocked anyway
        # Pass it over only to finish this room (that saves a visit; sending
        # part of the room first would not), within the room_batch allowance.
        held = self._held_count if self._held_id == there[0].entry.id else 0
        assert room is not None
        if (
            here[1] < there[1] - _EPS
            and there[0].entry.priority is not Priority.MODERATION
            and held + room.live <= self._gov.settings.room_batch
        ):
            return here[0], here[1], there[0]
        return there[0], there[1], None
