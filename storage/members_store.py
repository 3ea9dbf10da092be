"""Memberships: joins, leaves and roles; the welcome ritual's marks; lurkers.

:class:`MembersMixin` gives :class:`storage.repo.Repository` one member's
join or leave (each stay also a ``member_stays`` row), roles, who is present,
the welcome and reminder marks, and the members silent for too long.  Bulk
member-list writes are :mod:`storage.membership`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Group, Membership, MemberStats
from storage.sql import _MEMBERSHIPS, _STAYS, RepositoryBase, _check, _insert
from storage.types import MEMBER_ROLES, MemberRole, MembershipState, require_aware


def _membership_state(row: Membership, *, changed: bool = True) -> MembershipState:
    return MembershipState(
        room_id=row.room_id,
        contact_id=row.contact_id,
        joined_at=row.joined_at,
        inviter_id=row.inviter_id,
        left_at=row.left_at,
        remover_id=row.remover_id,
        role=cast(MemberRole, row.role),
        welcomed_at=row.welcomed_at,
        reminded_at=row.reminded_at,
        join_count=row.join_count,
        changed=changed,
    )


def _stay_of(row: Membership) -> tuple[Any, ...]:
    """WHERE clauses for the ``member_stays`` row of a membership's current stay."""
    s = _STAYS.c
    return (s.room_id == row.room_id, s.contact_id == row.contact_id, s.stay == row.join_count)


async def _start_stay(session: AsyncSession, row: Membership) -> None:
    """Record the membership's current stay (idempotent: a stay is written once)."""
    stmt = (
        _insert(session, _STAYS)
        .values(
            room_id=row.room_id,
            contact_id=row.contact_id,
            stay=row.join_count,
            joined_at=row.joined_at,
            inviter_id=row.inviter_id,
            left_at=None,
            remover_id=None,
            welcomed_at=None,
        )
        .on_conflict_do_nothing(index_elements=["room_id", "contact_id", "stay"])
    )
    await session.execute(stmt)


class MembersMixin(RepositoryBase):
    """Membership, welcome and lurker methods of :class:`storage.repo.Repository`."""

    # -- memberships ---------------------------------------------------------

    async def record_join(
        self, room_id: str, contact_id: str, at: datetime, inviter_id: str | None = None
    ) -> MembershipState:
        """A member joined.  Returns the membership after the join.

        A first join creates the row (``join_count`` 1).  A rejoin after a
        leave starts a new stay: ``joined_at`` and ``inviter_id`` are replaced,
        leave / welcome / reminder marks cleared, ``join_count`` incremented.
        A join for a member already present (duplicate event, or an event and a
        member-list reconcile both seeing it) changes nothing except filling in
        a missing inviter, and comes back with ``changed=False``; so does a
        join older than the member's last leave (a replay).  Every new
        stay is also a row of ``member_stays`` (number ``join_count``), so the
        earlier stays are kept, not overwritten.
        """
        at = require_aware(at, "at")
        async with self._sessions.begin() as session:
            # Write first: on SQLite this takes the write lock up front, so a
            # concurrent writer cannot make the later UPDATE fail with BUSY.
            ins = (
                _insert(session, _MEMBERSHIPS)
                .values(
                    room_id=room_id,
                    contact_id=contact_id,
                    joined_at=at,
                    inviter_id=inviter_id,
                    left_at=None,
                    remover_id=None,
                    role="member",
                    welcomed_at=None,
                    reminded_at=None,
                    join_count=1,
                )
                .on_conflict_do_nothing(index_elements=["room_id", "contact_id"])
            )
            inserted = bool(getattr(await session.execute(ins), "rowcount", 0))
            stmt = select(Membership).where(
                Membership.room_id == room_id, Membership.contact_id == contact_id
            )
            row = (await session.scalars(stmt.with_for_update())).one()
            if inserted:
                await _start_stay(session, row)
                return _membership_state(row)
            if row.left_at is None:
                if row.inviter_id is None and inviter_id is not None:
                    row.inviter_id = inviter_id
                    await session.execute(
                        update(_STAYS)
                        .where(*_stay_of(row), _STAYS.c.inviter_id.is_(None))
                        .values(inviter_id=inviter_id)
                    )
                    await session.flush()
                return _membership_state(row, changed=False)
            if at < row.left_at:
                # A join from before the member's last leave: a replayed event,
                # not a new stay.
                return _membership_state(row, changed=False)
            row.joined_at = at
            row.inviter_id = inviter_id
            row.left_at = None
            row.remover_id = None
            row.welcomed_at = None
            row.reminded_at = None
            row.join_count += 1
            await session.flush()
            await _start_stay(session, row)
            return _membership_state(row)

    async def record_leave(
        self, room_id: str, contact_id: str, at: datetime, remover_id: str | None = None
    ) -> bool:
        """A member left (or was removed).  False if they were not known present,
        or if the leave is older than their current stay's join (it ended an
        earlier stay, or a member list read before they joined missed them)."""
        at = require_aware(at, "at")
        stmt = (
            update(Membership)
            .where(
                Membership.room_id == room_id,
                Membership.contact_id == contact_id,
                Membership.left_at.is_(None),
                Membership.joined_at <= at,
            )
            .values(left_at=at, remover_id=remover_id)
            .returning(Membership.join_count)
        )
        async with self._sessions.begin() as session:
            stay = (await session.execute(stmt)).scalar_one_or_none()
            if stay is None:
                return False
            s = _STAYS.c
            await session.execute(
                update(_STAYS)
                .where(
                    s.room_id == room_id,
                    s.contact_id == contact_id,
                    s.stay == stay,
                    s.left_at.is_(None),
                )
                .values(left_at=at, remover_id=remover_id)
            )
            return True

    async def set_member_role(self, room_id: str, contact_id: str, role: str) -> bool:
        _check(role, MEMBER_ROLES, "member role")
        stmt = (
            update(Membership)
            .where(Membership.room_id == room_id, Membership.contact_id == contact_id)
            .values(role=role)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def current_members(self, room_id: str) -> set[str]:
        stmt = select(Membership.contact_id).where(
            Membership.room_id == room_id, Membership.left_at.is_(None)
        )
        async with self._sessions() as session:
            return set((await session.scalars(stmt)).all())

    async def get_membership(self, room_id: str, contact_id: str) -> MembershipState | None:
        async with self._sessions() as session:
            row = await session.get(Membership, (room_id, contact_id))
            return None if row is None else _membership_state(row)

    async def stays_of(self, contact_id: str, since: datetime) -> list[MembershipState]:
        """``contact_id``'s memberships of this account's groups, present or left
        since ``since``, present first, then the most recently left."""
        m = Membership
        stmt = (
            select(m)
            .join(Group, and_(self._mine(Group), Group.room_id == m.room_id))
            .where(
                m.contact_id == contact_id,
                Group.left_at.is_(None),
                or_(m.left_at.is_(None), m.left_at >= require_aware(since, "since")),
            )
            .order_by(m.left_at.is_not(None), m.left_at.desc(), m.room_id)
        )
        async with self._sessions() as session:
            return [_membership_state(row) for row in (await session.scalars(stmt)).all()]

    # -- welcome ritual ------------------------------------------------------

    async def mark_welcomed(self, room_id: str, contact_ids: Iterable[str], at: datetime) -> int:
        """Mark present members as welcomed in their current stay (first welcome wins);
        returns rows changed.  The welcome ritual records it from the send's
        outcome (``storage.welcome``), not when the welcome is queued."""
        at = require_aware(at, "at")
        ids = sorted(set(contact_ids))
        if not ids:
            return 0
        stmt = (
            update(Membership)
            .where(
                Membership.room_id == room_id,
                Membership.contact_id.in_(ids),
                Membership.left_at.is_(None),
                Membership.welcomed_at.is_(None),
            )
            .values(welcomed_at=at)
            .returning(Membership.contact_id, Membership.join_count)
        )
        async with self._sessions.begin() as session:
            marked = (await session.execute(stmt)).all()
            s = _STAYS.c
            for contact_id, stay in marked:
                await session.execute(
                    update(_STAYS)
                    .where(s.room_id == room_id, s.contact_id == contact_id, s.stay == stay)
                    .values(welcomed_at=at)
                )
            return len(marked)

    async def due_for_reminder(self, now: datetime, after: timedelta) -> list[tuple[str, str]]:
        """(room, member) pairs to remind once to introduce themselves.

        Present members of groups this account is in (its own ``groups`` row),
        welcomed, not yet reminded, who joined at least ``after`` ago and have
        not spoken since joining.  Reads memberships, member_stats and groups.
        """
        cutoff = require_aware(now, "now") - after
        m, s = Membership, MemberStats
        stmt = (
            select(m.room_id, m.contact_id)
            .outerjoin(s, and_(s.room_id == m.room_id, s.contact_id == m.contact_id))
            # The account's own row of the group: one row per member however
            # many accounts share the group, none where this account is not.
            .join(Group, and_(self._mine(Group), Group.room_id == m.room_id))
            .where(
                m.reminded_at.is_(None),
                m.joined_at <= cutoff,
                m.left_at.is_(None),
                m.welcomed_at.is_not(None),
                Group.left_at.is_(None),
                or_(s.last_spoke_at.is_(None), s.last_spoke_at < m.joined_at),
            )
            .order_by(m.joined_at, m.room_id, m.contact_id)
        )
        async with self._sessions() as session:
            return [(r, c) for r, c in (await session.execute(stmt)).all()]

    async def mark_reminded(self, room_id: str, contact_id: str, at: datetime) -> bool:
        """False if already reminded, gone, or unknown (so a reminder goes out once)."""
        at = require_aware(at, "at")
        stmt = (
            update(Membership)
            .where(
                Membership.room_id == room_id,
                Membership.contact_id == contact_id,
                Membership.left_at.is_(None),
                Membership.reminded_at.is_(None),
            )
            .values(reminded_at=at)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    # -- lurkers -------------------------------------------------------------

    async def lurkers(
        self, room_id: str, silent_since: datetime, *, include_admins: bool = False
    ) -> list[str]:
        """Present members who have not spoken since ``silent_since``.

        Members who joined at or after ``silent_since`` are newcomers, still in
        their grace period, and never listed; nor are admins / the owner unless
        ``include_admins``.  Longest silent first (never spoke before anyone).
        Reads memberships and member_stats only.
        """
        since = require_aware(silent_since, "silent_since")
        m, s = Membership, MemberStats
        stmt = (
            select(m.contact_id)
            .outerjoin(s, and_(s.room_id == m.room_id, s.contact_id == m.contact_id))
            .where(
                m.room_id == room_id,
                m.left_at.is_(None),
                m.joined_at < since,
                or_(s.last_spoke_at.is_(None), s.last_spoke_at < since),
            )
            .order_by(case((s.last_spoke_at.is_(None), 0), else_=1), s.last_spoke_at, m.contact_id)
        )
        if not include_admins:
            stmt = stmt.where(m.role == "member")
        async with self._sessions() as session:
            return list((await session.scalars(stmt)).all())
