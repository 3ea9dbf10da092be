"""Decisions about the bot's own records: what handlers return besides actions.

Handlers decide; they do not write.  An effect is data, like an action, and
``bot.doer.Doer`` applies it in one place beside the executor: the audit row
of a refusal, adopting a group, a newcomer's place in the welcome batch, a
connection log line, an owner closing a pause.  A feature adds its own effect
types and registers how each is applied (``Feature.effect``), so a switch such
as moderation's shadow mode is one test there, not an ``if`` in each handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    reason: str = ""  # why: for the log and the audit row

    @property
    def room_id(self) -> str | None:
        return getattr(self, "room", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Audit(Effect):
    """Record a decision that sends nothing (a refusal, a verdict, a shadow action)."""

    at: datetime
    action: str
    kind: str
    status: str
    room: str | None = None
    target_id: str | None = None
    key: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdoptGroup(Effect):
    """Manage a group an owner brought the bot into, with ``profile``."""

    room: str
    topic: str
    profile: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueWelcome(Effect):
    """Put a newcomer's current stay into the room's pending welcome batch."""

    room: str
    member_id: str
    stay: int  # the membership's join count: a replayed join is the same stay
    joined_at: datetime
    window_seconds: float
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DropWelcome(Effect):
    """A newcomer left before the welcome went out: take them out of the batch."""

    room: str
    member_id: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConnection(Effect):
    """A line of the connection log (login, logout, disconnect, reconnect)."""

    state: str
    wechat_id: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosePause(Effect):
    """An owner closes a risk-control pause early (governor, pauses table, audit)."""

    pause_kind: str  # an ActionKind value, or "all"
    by: str  # the account id of the owner who asked
