"""Shared SQL helpers of the repository, and the base its parts build on.

Limits on stored text, the table handles, run-time checks of enumerated
strings, the dialect's ``INSERT … ON CONFLICT``, portable later / earlier of
two times, stored JSON objects and storable ids; and :class:`RepositoryBase`,
the state every part of :class:`storage.repo.Repository` shares (the session
factory, the account and its ``WHERE`` clause).  Nothing here holds a session.
"""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any, cast

from sqlalchemy import Table, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    ActivityEvent,
    Contact,
    Group,
    MemberDay,
    Membership,
    MemberStats,
    MemberStay,
    Outbox,
)
from storage.types import clean_text

DEFAULT_ACCOUNT = "default"  # rows from before accounts were recorded belong here
DEFAULT_MAX_TEXT_LENGTH = 2000
NAME_MAX_LENGTH = 256  # contact names and group topics
REASON_MAX_LENGTH = 2000
DETAIL_MAX_LENGTH = 20000

_EVENTS = cast(Table, ActivityEvent.__table__)
_STATS = cast(Table, MemberStats.__table__)
_DAYS = cast(Table, MemberDay.__table__)
_CONTACTS = cast(Table, Contact.__table__)
_GROUPS = cast(Table, Group.__table__)
_MEMBERSHIPS = cast(Table, Membership.__table__)
_OUTBOX = cast(Table, Outbox.__table__)
_STAYS = cast(Table, MemberStay.__table__)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {allowed}")


def _insert(session: AsyncSession, table: Table) -> sqlite.Insert | postgresql.Insert:
    """``INSERT`` with ``ON CONFLICT`` support for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"no upsert for database dialect {name!r}")


def _later(new: Any, old: Any) -> Any:
    """SQL for the later of two nullable times (portable: no GREATEST / max())."""
    return case((old.is_(None), new), (new > old, new), else_=old)


def _earlier(new: Any, old: Any) -> Any:
    return case((old.is_(None), new), (new < old, new), else_=old)


def _json_object(text: str | None) -> dict[str, Any]:
    """A stored JSON object; anything else comes back wrapped, never as an error."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def _clean_id(value: str) -> str:
    """Ids come from the puppet's JSON: make them storable, like texts."""
    return clean_text(value)


class RepositoryBase:
    """What every part of :class:`storage.repo.Repository` shares: one session
    per call from ``_sessions``, and ``account_id`` for the rows that are the
    account's (see ``_mine``)."""

    _sessions: async_sessionmaker[AsyncSession]
    account_id: str
    max_text_length: int
    tz: tzinfo  # the bot's: member_days are local days

    def _mine(self, table: Any) -> Any:
        """The WHERE clause that keeps a query to this account's rows."""
        columns = table.c if isinstance(table, Table) else table.__table__.c
        return columns.account_id == self.account_id
