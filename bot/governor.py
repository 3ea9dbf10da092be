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

import random
import re
from collections import deque
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The queue lives in bot.paced_queue; its public names stay importable from here.
from bot.paced_queue import DEFAULT_MAX_OVERTAKES as DEFAULT_MAX_OVERTAKES
from bot.paced_queue import Decision as Decision
from bot.paced_queue import PacedQueue as PacedQueue
from bot.paced_queue import QueueEntry as QueueEntry
from bot.pacing import _INF, DAY, MESSAGE_KINDS, MINUTE, Refusal, RefusalCode
from bot.risk_markers import (
    DEFAULT_RISK_MARKERS,
    DEFAULT_TRANSIENT_MARKERS,
    _marker_pattern,
)
from bot.vocab.actions import ActionKind


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
