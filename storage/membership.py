"""Bulk membership writes: a whole member list in one transaction, and a group's end.

A member list of 500 used to cost 500 transactions (``record_join`` per
member): 100,000 memberships took one to two minutes and held the database
meanwhile.  :meth:`MembershipStore.store_snapshot` writes a list as one bulk
``INSERT … ON CONFLICT DO NOTHING`` plus at most three small role updates, in
one transaction, portable between SQLite and PostgreSQL.

:meth:`MembershipStore.store_member_list` is what the member-list handler
uses: everything one list changes — the members' names, who was stored as
present, the new memberships, the roles and the bot's own role in the
group's row — in ONE transaction.  It used to be about seven (names, present
members, the group row, the insert, the roles, a read per missing member,
the bot's role); on SQLite every transaction holds the one pooled connection
across several trips to aiosqlite's thread, each waiting for a busy event
loop, so 200 lists of 500 at login took 11 to 33 s to store.

Joins and leaves found by comparing a list with storage are *not* written
here: they flow as events (``handlers.membership``), so the activity log and
the welcome see them like any other join or leave.

When the bot is no longer in a group, its queued actions there are refused by
:meth:`storage.repo.Repository.outbox_refuse_room` (the outbox is the
account's: only the account's own rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.sql import _CONTACTS, _GROUPS, _MEMBERSHIPS, NAME_MAX_LENGTH, _insert
from storage.types import clean_text, require_aware

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


def bot_role_in(bot_id: str, owner_id: str | None, admin_ids: Iterable[str]) -> str | None:
    """The bot's role a member list shows, or None when the list does not say
    who owns the room (nothing can be learnt from it)."""
    if bot_id and owner_id == bot_id:
        return "owner"
    if bot_id and bot_id in admin_ids:
        return "admin"
    if owner_id:
        return "member"
    return None


@dataclass(frozen=True, slots=True)
class StoredList:
    """What storing one member list found and did (see :meth:`MembershipStore.store_member_list`)."""

    #: Members stored as present before the list was stored.
    known: frozenset[str]
    #: Listed members who got a new membership row (first lists only).
    inserted: frozenset[str]
    #: Was this the room's first list (everyone listed stored as already there)?
    first: bool
    #: Listed members to report as joins: not stored as present, and not
    #: inserted by this list (a first list only brings back ended stays).
    joined: tuple[str, ...]
    #: Stored present members missing from the list who were there when it
    #: was read (a stay that began at or after ``at`` is not a leave), sorted.
    left: tuple[str, ...]
    #: The bot's role in the group before the list (None: no group row).
    bot_role_before: str | None
    #: The bot's role now stored, when the list changed it.
    bot_role_changed_to: str | None


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
                inserted = await _insert_missing(session, room_id, ids, roles, at)
            if knows_roles:
                await _set_roles(session, room_id, owner_id, admins)
        return inserted

    async def store_member_list(
        self,
        room_id: str,
        members: Sequence[str],
        at: datetime,
        *,
        account_id: str,
        bot_id: str = "",
        names: Mapping[str, str] | None = None,
        owner_id: str | None = None,
        admin_ids: Iterable[str] = (),
        listed_before: bool = False,
    ) -> StoredList:
        """Store one member list read at ``at``, in ONE transaction; see :class:`StoredList`.

        ``members`` are the listed members (the bot left out).  In order:
        ``names`` are upserted into contacts (first, so on SQLite the
        transaction takes the write lock before it reads); the room's stored
        memberships and the account's group row are read; if this is the
        room's first list — nobody stored as present, or (unless
        ``listed_before``, this process stored a list of it already) the
        group row is missing or does not know the bot's role — every listed
        member without a row becomes present since ``at`` (as
        :meth:`store_snapshot` does); when the list says who owns the room,
        stored roles that differ are corrected (a row per change, usually
        none); and the bot's own role (:func:`bot_role_in` of ``bot_id``) is
        written into the account's group row if it has one and the role
        changed.  Joins and leaves are not written: they are returned, and
        flow as events.
        """
        at = require_aware(at, "at")
        ids = list(dict.fromkeys(m for m in members if m))
        admins = [a for a in dict.fromkeys(admin_ids) if a and a != owner_id]
        knows_roles = bool(owner_id) or bool(admins)
        roles = member_roles(ids, owner_id, admins) if knows_roles else dict.fromkeys(ids, "member")
        bot_role = bot_role_in(bot_id, owner_id, admins)
        m, g = _MEMBERSHIPS.c, _GROUPS.c
        async with self._sessions.begin() as session:
            if names:
                await _upsert_names(session, names, at)
            stored = (
                await session.execute(
                    select(m.contact_id, m.joined_at, m.left_at, m.role).where(m.room_id == room_id)
                )
            ).all()
            before = (
                await session.execute(
                    select(g.bot_role).where(g.account_id == account_id, g.room_id == room_id)
                )
            ).scalar_one_or_none()
            present = {c: j for c, j, left_at, _ in stored if left_at is None}
            known = frozenset(present)
            first = not known or (not listed_before and before in (None, "unknown"))
            inserted: set[str] = set()
            if first and ids:
                inserted = await _insert_missing(session, room_id, ids, roles, at)
            if knows_roles:
                # As _set_roles: every stored row of the room, listed or not.
                special = dict.fromkeys(admins, "admin")
                if owner_id:
                    special[owner_id] = "owner"
                changes = [
                    {"r": room_id, "c": c, "new_role": special.get(c, "member")}
                    for c, _, _, role in stored
                    if special.get(c, "member") != role
                ]
                if changes:
                    await session.execute(
                        update(_MEMBERSHIPS)
                        .where(m.room_id == bindparam("r"), m.contact_id == bindparam("c"))
                        .values(role=bindparam("new_role")),
                        changes,
                    )
            changed_to = None
            if bot_role is not None and before is not None and before != bot_role:
                await session.execute(
                    update(_GROUPS)
                    .where(g.account_id == account_id, g.room_id == room_id)
                    .values(bot_role=bot_role, updated_at=at)
                )
                changed_to = bot_role
        listed = set(ids)
        return StoredList(
            known=known,
            inserted=frozenset(inserted),
            first=first,
            joined=tuple(c for c in ids if c not in inserted and c not in known),
            left=tuple(
                sorted(c for c, joined_at in present.items() if c not in listed and joined_at < at)
            ),
            bot_role_before=before,
            bot_role_changed_to=changed_to,
        )


async def _insert_missing(
    session: AsyncSession, room_id: str, ids: Sequence[str], roles: Mapping[str, str], at: datetime
) -> set[str]:
    """Memberships for the listed members without a row; returns those inserted."""
    ins = (
        _insert(session, _MEMBERSHIPS)
        .on_conflict_do_nothing(index_elements=["room_id", "contact_id"])
        .returning(_MEMBERSHIPS.c.contact_id)
    )
    inserted: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = [_new_row(room_id, m, roles[m], at) for m in ids[start : start + _CHUNK]]
        inserted.update((await session.scalars(ins, rows)).all())
    return inserted


async def _upsert_names(session: AsyncSession, names: Mapping[str, str], at: datetime) -> None:
    """Insert or rename contacts (as :meth:`storage.repo.Repository.upsert_contacts`)."""
    rows = [
        {"contact_id": c, "name": clean_text(n, NAME_MAX_LENGTH), "updated_at": at}
        for c, n in names.items()
    ]
    ins = _insert(session, _CONTACTS)
    stmt = ins.on_conflict_do_update(
        index_elements=[_CONTACTS.c.contact_id],
        set_={"name": ins.excluded.name, "updated_at": ins.excluded.updated_at},
        where=_CONTACTS.c.name != ins.excluded.name,
    )
    await session.execute(stmt, rows)


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
