"""Bulk membership writes: a whole member list in one transaction, and a group's end.

A member list of 500 used to cost 500 transactions (``record_join`` per
member): 100,000 memberships took one to two minutes and held the database
meanwhile.  :meth:`MembershipStore.store_snapshot` writes a list as one bulk
``INSERT … ON CONFLICT DO NOTHING`` plus at most three small role updates, in
one transaction, portable between SQLite and PostgreSQL.

Joins and leaves found by comparing a list with storage are *not* written
here: they flow as events (``handlers.membership``), so the activity log and
the welcome see them like any other join or leave.

When the bot is no longer in a group, its queued actions there are refused by
:meth:`storage.repo.Repository.outbox_refuse_room` (the outbox is the
account's: only the account's own rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Membership
from storage.repo import _insert
from storage.types import require_aware

_MEMBERSHIPS = cast(Table, Membership.__table__)

# Rows per INSERT statement: well under SQLite's 32,766 bound parameters (10 a row).
_CHUNK = 1000


def member_roles(
    member_ids: Iterable[str], owner_id: str | None, admin_ids: Iterable[str]
) -> dict[str, str]:
    """Each listed member's role: the owner, the admins, everyone else 'member'."""
    admins = set(admin_ids)
    return {
        m: "owner" if m == owner_id else "admin" if m in admins else "member" for m in member_ids
    }


class MembershipStore:
    """Bulk writes to memberships; one session per call."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def store_snapshot(
        self,
        room_id: str,
        members: Sequence[str],
        at: datetime,
        *,
        owner_id: str | None = None,
        admin_ids: Iterable[str] = (),
        add_missing: bool = True,
    ) -> set[str]:
        """Store a room's member list in one transaction; returns the members inserted.

        With ``add_missing``, listed members without a row become present since
        ``at`` (no inviter: they were there before the bot looked, not
        newcomers); rows already stored are left as they are (a present member
        keeps their ``joined_at``; a past stay is not reopened: a rejoin is a
        join event's business).  The roles of the room's stored members are set
        from ``owner_id`` and ``admin_ids`` — when the puppet says who owns the
        room (``owner_id`` or ``admin_ids`` given); otherwise roles are unknown
        and left alone.
        """
        at = require_aware(at, "at")
        ids = list(dict.fromkeys(m for m in members if m))
        admins = [a for a in dict.fromkeys(admin_ids) if a and a != owner_id]
        knows_roles = bool(owner_id) or bool(admins)
        roles = member_roles(ids, owner_id, admins) if knows_roles else dict.fromkeys(ids, "member")
        inserted: set[str] = set()
        async with self._sessions.begin() as session:
            if add_missing and ids:
                ins = (
                    _insert(session, _MEMBERSHIPS)
                    .on_conflict_do_nothing(index_elements=["room_id", "contact_id"])
                    .returning(_MEMBERSHIPS.c.contact_id)
                )
                for start in range(0, len(ids), _CHUNK):
                    rows = [_new_row(room_id, m, roles[m], at) for m in ids[start : start + _CHUNK]]
                    inserted.update((await session.scalars(ins, rows)).all())
            if knows_roles:
                await _set_roles(session, room_id, owner_id, admins)
        return inserted


def _new_row(room_id: str, contact_id: str, role: str, at: datetime) -> dict[str, Any]:
    return {
        "room_id": room_id,
        "contact_id": contact_id,
        "joined_at": at,
        "inviter_id": None,
        "left_at": None,
        "remover_id": None,
        "role": role,
        "welcomed_at": None,
        "reminded_at": None,
        "join_count": 1,
    }


async def _set_roles(
    session: AsyncSession, room_id: str, owner_id: str | None, admins: Sequence[str]
) -> None:
    """Three small UPDATEs: everyone not owner or admin is a member; then the admins; the owner."""
    m = _MEMBERSHIPS.c
    special = [x for x in (owner_id, *admins) if x]
    demote = update(_MEMBERSHIPS).where(m.room_id == room_id, m.role != "member")
    if special:
        demote = demote.where(m.contact_id.not_in(special))
    await session.execute(demote.values(role="member"))
    if admins:
        await session.execute(
            update(_MEMBERSHIPS)
            .where(m.room_id == room_id, m.contact_id.in_(admins), m.role != "admin")
            .values(role="admin")
        )
    if owner_id:
        await session.execute(
            update(_MEMBERSHIPS)
            .where(m.room_id == room_id, m.contact_id == owner_id, m.role != "owner")
            .values(role="owner")
        )
