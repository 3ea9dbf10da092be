"""Lurkers' storage: the rows tiers are computed from, and the elimination state.

:meth:`LurkerStore.member_rows` reads one group's present members with their
rollups in four small queries (memberships + member_stats + contacts,
member_days, checkins, redeemed coupons): never the activity log.  The
elimination's state (warnings, removal batches, capacity alerts, known
friends) belongs to the account: every row carries ``account_id`` and every
query filters on it.  A step is claimed with a conditional UPDATE (``WHERE
status = …``), so a tick and a command racing, or a restart, never do it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    AllowedMember,
    Checkin,
    Contact,
    Coupon,
    LurkerBatch,
    LurkerCapacity,
    LurkerFriend,
    LurkerWarning,
    MemberDay,
    Membership,
    MemberStats,
)
from storage.sql import _insert
from storage.types import require_aware


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One present member of a group with the rollups tiers need."""

    member_id: str
    name: str
    role: str  # owner, admin, member (the stored role in the group)
    joined_at: datetime
    last_spoke_at: datetime | None = None
    message_count: int = 0
    messages_7d: int = 0
    messages_30d: int = 0
    checkins_30d: int = 0
    last_checkin_at: datetime | None = None
    redemptions_30d: int = 0
    last_redeemed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WarningRow:
    id: int
    room_id: str
    member_id: str
    via: str
    status: str
    warned_at: datetime
    due_at: datetime
    batch_id: int | None


@dataclass(frozen=True, slots=True)
class BatchInfo:
    id: int
    room_id: str
    status: str
    automatic: bool
    members: tuple[str, ...]
    created_at: datetime


def _warning(r: LurkerWarning) -> WarningRow:
    return WarningRow(
        r.id, r.room_id, r.member_id, r.via, r.status, r.warned_at, r.due_at, r.batch_id
    )


OPEN = ("warned", "listed")


class LurkerStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, account_id: str) -> None:
        self._sessions = sessions
        self.account_id = account_id

    # ------------------------------------------------------------ the rollups

    async def member_rows(
        self, room_id: str, *, day_7: str, day_30: str, since: datetime
    ) -> list[MemberRow]:
        """Present members of ``room_id`` with their rollups: messages from local
        day ``day_7`` / ``day_30`` on (member_days), check-ins and this
        account's coupon redemptions since ``since`` (and local day ``day_30``)."""
        since = require_aware(since, "since")
        m, s = Membership, MemberStats
        people = (
            select(
                m.contact_id,
                Contact.name,
                m.role,
                m.joined_at,
                s.last_spoke_at,
                s.message_count,
            )
            .outerjoin(s, and_(s.room_id == m.room_id, s.contact_id == m.contact_id))
            .outerjoin(Contact, Contact.contact_id == m.contact_id)
            .where(m.room_id == room_id, m.left_at.is_(None))
        )
        d = MemberDay
        days = (
            select(
                d.contact_id,
                func.sum(case((d.day >= day_7, d.messages), else_=0)),
                func.sum(d.messages),
            )
            .where(d.room_id == room_id, d.day >= day_30)
            .group_by(d.contact_id)
        )
        c = Checkin
        checkins = (
            select(c.member_id, func.count(), func.max(c.at))
            .where(c.room_id == room_id, c.local_date >= day_30)
            .group_by(c.member_id)
        )
        k = Coupon
        redeemed = (
            select(k.redeemed_by, func.count(), func.max(k.redeemed_at))
            .where(
                k.account_id == self.account_id,
                k.redeemed_room == room_id,
                k.redeemed_at >= since,
                k.redeemed_by.is_not(None),
            )
            .group_by(k.redeemed_by)
        )
        async with self._sessions() as session:
            base = (await session.execute(people)).all()
            by_day = {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in await session.execute(days)}
            by_checkin = {r[0]: (int(r[1]), r[2]) for r in await session.execute(checkins)}
            by_coupon = {r[0]: (int(r[1]), r[2]) for r in await session.execute(redeemed)}
        rows = []
        for member, name, role, joined, spoke, count in base:
            m7, m30 = by_day.get(member, (0, 0))
            ck, ck_at = by_checkin.get(member, (0, None))
            rd, rd_at = by_coupon.get(member, (0, None))
            rows.append(
                MemberRow(
                    member_id=member,
                    name=name or "",
                    role=role,
                    joined_at=joined,
                    last_spoke_at=spoke,
                    message_count=int(count or 0),
                    messages_7d=m7,
                    messages_30d=m30,
                    checkins_30d=ck,
                    last_checkin_at=ck_at,
                    redemptions_30d=rd,
                    last_redeemed_at=rd_at,
                )
            )
        return rows

    async def last_spoke_elsewhere(
        self, rooms: Iterable[str], members: Iterable[str]
    ) -> dict[str, datetime]:
        """The latest time each of ``members`` spoke in any of ``rooms``."""
        rooms, members = sorted(set(rooms)), sorted(set(members))
        if not rooms or not members:
            return {}
        s = MemberStats
        stmt = (
            select(s.contact_id, func.max(s.last_spoke_at))
            .where(s.room_id.in_(rooms), s.contact_id.in_(members), s.last_spoke_at.is_not(None))
            .group_by(s.contact_id)
        )
        async with self._sessions() as session:
            return {c: at for c, at in (await session.execute(stmt)).all() if at is not None}

    async def allowlisted(self, room_id: str) -> set[str]:
        """Members an admin exempted in this group with #白名单 (moderation's allowlist)."""
        a = AllowedMember
        stmt = select(a.member_id).where(a.account_id == self.account_id, a.room_id == room_id)
        async with self._sessions() as session:
            return set((await session.scalars(stmt)).all())

    # --------------------------------------------------------------- warnings

    async def open_warnings(self, room_id: str) -> dict[str, WarningRow]:
        """Members of the group warned and not yet spared, removed or restored."""
        w = LurkerWarning
        stmt = select(w).where(
            w.account_id == self.account_id, w.room_id == room_id, w.status.in_(OPEN)
        )
        async with self._sessions() as session:
            return {r.member_id: _warning(r) for r in (await session.scalars(stmt)).all()}

    async def add_warnings(
        self, room_id: str, via: Mapping[str, str], at: datetime, due_at: datetime
    ) -> list[WarningRow]:
        """Record a warning for each member of ``via`` (member -> group|private)
        who has no open one; returns the ones written."""
        at, due_at = require_aware(at, "at"), require_aware(due_at, "due_at")
        async with self._sessions.begin() as session:
            w = LurkerWarning
            taken = set(
                (
                    await session.scalars(
                        select(w.member_id).where(
                            w.account_id == self.account_id,
                            w.room_id == room_id,
                            w.status.in_(OPEN),
                            w.member_id.in_(sorted(via)),
                        )
                    )
                ).all()
            )
            rows = [
                LurkerWarning(
                    account_id=self.account_id,
                    room_id=room_id,
                    member_id=member,
                    via=how,
                    status="warned",
                    warned_at=at,
                    due_at=due_at,
                    batch_id=None,
                    updated_at=at,
                )
                for member, how in sorted(via.items())
                if member not in taken
            ]
            session.add_all(rows)
            await session.flush()
            return [_warning(r) for r in rows]

    async def due_warnings(self, now: datetime) -> list[WarningRow]:
        """Warnings whose grace is over (every group of the account), oldest first."""
        w = LurkerWarning
        stmt = (
            select(w)
            .where(w.account_id == self.account_id, w.status == "warned", w.due_at <= now)
            .order_by(w.room_id, w.due_at, w.id)
        )
        async with self._sessions() as session:
            return [_warning(r) for r in (await session.scalars(stmt)).all()]

    async def set_status(
        self, ids: Iterable[int], status: str, now: datetime, *, was: tuple[str, ...]
    ) -> int:
        ids = sorted(set(ids))
        if not ids:
            return 0
        w = LurkerWarning
        stmt = (
            update(w)
            .where(w.account_id == self.account_id, w.id.in_(ids), w.status.in_(was))
            .values(status=status, updated_at=now)
        )
        async with self._sessions.begin() as session:
            return int(getattr(await session.execute(stmt), "rowcount", 0))

    async def restore(self, room_id: str, member_id: str, now: datetime) -> int:
        """Clear the member's lurker state in the group (#恢复)."""
        w = LurkerWarning
        stmt = (
            update(w)
            .where(
                w.account_id == self.account_id,
                w.room_id == room_id,
                w.member_id == member_id,
                w.status.in_(("warned", "listed", "removed")),
            )
            .values(status="restored", updated_at=now)
        )
        async with self._sessions.begin() as session:
            return int(getattr(await session.execute(stmt), "rowcount", 0))

    async def warnings_of(self, room_id: str) -> list[WarningRow]:
        w = LurkerWarning
        stmt = select(w).where(w.account_id == self.account_id, w.room_id == room_id).order_by(w.id)
        async with self._sessions() as session:
            return [_warning(r) for r in (await session.scalars(stmt)).all()]

    # ---------------------------------------------------------------- batches

    async def create_batch(
        self, room_id: str, warning_ids: Iterable[int], *, automatic: bool, now: datetime
    ) -> BatchInfo | None:
        """A removal batch of the warned members among ``warning_ids`` (claimed:
        warned -> listed, or -> removed when automatic).  None if none was left."""
        ids = sorted(set(warning_ids))
        if not ids:
            return None
        w = LurkerWarning
        async with self._sessions.begin() as session:
            batch = LurkerBatch(
                account_id=self.account_id,
                room_id=room_id,
                status="confirmed" if automatic else "pending",
                automatic=automatic,
                created_at=now,
                confirmed_at=now if automatic else None,
                confirmed_by="automatic" if automatic else None,
            )
            session.add(batch)
            await session.flush()
            claimed = (
                await session.execute(
                    update(w)
                    .where(
                        w.account_id == self.account_id,
                        w.room_id == room_id,
                        w.id.in_(ids),
                        w.status == "warned",
                    )
                    .values(
                        status="removed" if automatic else "listed",
                        batch_id=batch.id,
                        updated_at=now,
                    )
                    .returning(w.member_id)
                )
            ).all()
            if not claimed:
                await session.execute(delete(LurkerBatch).where(LurkerBatch.id == batch.id))
                return None
            members = tuple(sorted(r[0] for r in claimed))
            return BatchInfo(batch.id, room_id, batch.status, automatic, members, now)

    async def batch(self, batch_id: int) -> BatchInfo | None:
        b, w = LurkerBatch, LurkerWarning
        async with self._sessions() as session:
            row = (
                await session.scalars(
                    select(b).where(b.account_id == self.account_id, b.id == batch_id)
                )
            ).one_or_none()
            if row is None:
                return None
            members = (
                await session.scalars(
                    select(w.member_id)
                    .where(w.account_id == self.account_id, w.batch_id == batch_id)
                    .order_by(w.member_id)
                )
            ).all()
            return BatchInfo(
                row.id, row.room_id, row.status, row.automatic, tuple(members), row.created_at
            )

    async def confirm_batch(
        self, batch_id: int, room_id: str, by: str, now: datetime
    ) -> tuple[str, ...] | None:
        """Claim a pending batch of the group (pending -> confirmed) and its
        listed members (-> removed).  None if it is not pending here."""
        b, w = LurkerBatch, LurkerWarning
        async with self._sessions.begin() as session:
            done = await session.execute(
                update(b)
                .where(
                    b.account_id == self.account_id,
                    b.id == batch_id,
                    b.room_id == room_id,
                    b.status == "pending",
                )
                .values(status="confirmed", confirmed_at=now, confirmed_by=by)
            )
            if not getattr(done, "rowcount", 0):
                return None
            members = (
                await session.execute(
                    update(w)
                    .where(
                        w.account_id == self.account_id,
                        w.batch_id == batch_id,
                        w.status == "listed",
                    )
                    .values(status="removed", updated_at=now)
                    .returning(w.member_id)
                )
            ).all()
            return tuple(sorted(r[0] for r in members))

    async def drop_from_batch(self, batch_id: int, members: Iterable[str], now: datetime) -> int:
        """Members of a batch spared at confirmation (they spoke meanwhile)."""
        members = sorted(set(members))
        if not members:
            return 0
        w = LurkerWarning
        stmt = (
            update(w)
            .where(
                w.account_id == self.account_id,
                w.batch_id == batch_id,
                w.member_id.in_(members),
                w.status.in_(("listed", "removed")),
            )
            .values(status="spared", updated_at=now)
        )
        async with self._sessions.begin() as session:
            return int(getattr(await session.execute(stmt), "rowcount", 0))

    # ------------------------------------------------------- capacity, friends

    async def capacity_alerted(self, room_id: str) -> bool:
        c = LurkerCapacity
        stmt = select(c.room_id).where(c.account_id == self.account_id, c.room_id == room_id)
        async with self._sessions() as session:
            return (await session.scalars(stmt)).first() is not None

    async def mark_capacity(self, room_id: str, members: int, at: datetime) -> bool:
        """Claim the alert of this crossing: False if it was sent already."""
        async with self._sessions.begin() as session:
            stmt = _insert(session, LurkerCapacity.__table__).values(  # type: ignore[arg-type]
                account_id=self.account_id, room_id=room_id, members=members, alerted_at=at
            )
            result = await session.execute(
                stmt.on_conflict_do_nothing(index_elements=["account_id", "room_id"])
            )
            return bool(getattr(result, "rowcount", 0))

    async def clear_capacity(self, room_id: str) -> bool:
        """Below the mark again: the next crossing alerts anew."""
        c = LurkerCapacity
        stmt = delete(c).where(c.account_id == self.account_id, c.room_id == room_id)
        async with self._sessions.begin() as session:
            return bool(getattr(await session.execute(stmt), "rowcount", 0))

    async def add_friend(self, contact_id: str, at: datetime) -> None:
        async with self._sessions.begin() as session:
            stmt = _insert(session, LurkerFriend.__table__).values(  # type: ignore[arg-type]
                account_id=self.account_id, contact_id=contact_id, since=at
            )
            await session.execute(
                stmt.on_conflict_do_nothing(index_elements=["account_id", "contact_id"])
            )

    async def friends(self, contact_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(contact_ids))
        if not ids:
            return set()
        f = LurkerFriend
        stmt = select(f.contact_id).where(f.account_id == self.account_id, f.contact_id.in_(ids))
        async with self._sessions() as session:
            return set((await session.scalars(stmt)).all())
