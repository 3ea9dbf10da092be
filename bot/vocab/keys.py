"""Deterministic idempotency keys and validity windows for actions.

An action's key is what the outbox deduplicates on (``INSERT ... ON CONFLICT
DO NOTHING``), across restarts and replayed events.  A key built from what
the action *means* (the room, the member, the reply, a time bucket), rather
than a random id, turns "do this at most once" into a property of the
database.  ``valid_until`` gives an action's ``not_after``: an action that
could not run by then is dropped and audited as expired, never sent late.

:func:`stamp` is the one place an action without them gets both: its key from
what decided it (the feature), why (the event or the calendar run that caused
it) and its place in the result; its window from its priority.  ``bot.doer``
stamps every action a handler or a job returns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from datetime import datetime, timedelta
from typing import TypeVar

from bot.vocab.actions import Action, Priority, action_name
from bot.vocab.events import Event, MessageEvent, room_of

A = TypeVar("A", bound=Action)

#: How long an action is worth doing when its decider gave no window: a
#: moderation step or a welcome an hour, a reply two minutes (the command
#: section's ``reply_valid_seconds`` sets replies' own), a broadcast six hours.
DEFAULT_VALID_SECONDS: dict[Priority, float] = {
    Priority.MODERATION: 3600.0,
    Priority.WELCOME: 3600.0,
    Priority.REPLY: 120.0,
    Priority.BROADCAST: 6 * 3600.0,
}

#: The outbox's key column is 200 characters; keys stay well inside it.
KEY_MAX_LENGTH = 200
_PART_MAX = 64


def digest(text: str, length: int = 16) -> str:
    """A short stable hash of ``text`` (hex), to put long or free text in a key."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _part(value: object) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    # ":" separates parts; ids never contain it, free text is hashed.
    if ":" in text or len(text) > _PART_MAX or not text.isprintable():
        return "#" + digest(text)
    return text


def action_key(*parts: object) -> str:
    """``action_key("reply", room, member, 42)`` -> ``"reply:room:member:42"``.

    The first part names the kind of action.  A part that is long, holds a
    ``:`` or an unprintable character is replaced by ``#`` and its hash, so
    the key is always readable, bounded and unambiguous.
    """
    if not parts:
        raise ValueError("action_key needs at least one part")
    key = ":".join(_part(p) for p in parts)
    if len(key) > KEY_MAX_LENGTH:
        key = f"{_part(parts[0])}:#{digest(key, 32)}"
    return key


def time_bucket(at: datetime, seconds: float) -> int:
    """The index of the ``seconds``-long window ``at`` falls in (UTC epoch based).

    Two moments in the same bucket are less than ``seconds`` apart; a key
    carrying the bucket allows one action per window.
    """
    if seconds <= 0:
        raise ValueError("a time bucket needs a positive length")
    if at.tzinfo is None:
        raise ValueError("time_bucket needs an aware datetime")
    return math.floor(at.timestamp() / seconds)


def valid_until(at: datetime, seconds: float) -> datetime:
    """The ``not_after`` of an action worth doing for ``seconds`` after ``at``."""
    if at.tzinfo is None:
        raise ValueError("valid_until needs an aware datetime")
    return at + timedelta(seconds=seconds)


def event_key(event: Event) -> str:
    """A deterministic identity of an event: the same event replayed gives the same."""
    if isinstance(event, MessageEvent):
        return action_key("msg", event.message_id)
    at = getattr(event, "at", None)
    ids = [getattr(event, name, ()) for name in ("member_ids", "account_id", "invitation_id")]
    return action_key(
        type(event).__name__,
        room_of(event) or "",
        at.isoformat() if isinstance(at, datetime) else "",
        digest(repr(ids)),
    )


def stamp(action: A, *, origin: str, cause: str, index: int, at: datetime) -> A:
    """``action`` with a key and a ``not_after`` if it had none.

    ``origin``: the feature that decided; ``cause``: the event's
    :func:`event_key` or the calendar run's key; ``index``: the action's place
    in the result.  The same decision about the same cause gets the same key,
    so a replayed event or a re-run job is deduplicated by the outbox."""
    if action.key and action.not_after is not None:
        return action
    key = action.key or action_key(origin or "action", cause, index, action_name(action))
    not_after = action.not_after or valid_until(at, DEFAULT_VALID_SECONDS[action.priority])
    return dataclasses.replace(action, key=key, not_after=not_after)
