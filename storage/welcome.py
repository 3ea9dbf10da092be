"""The welcome ritual's state: pending welcomes and the stays of each member.

A newcomer's welcome is a row of ``pending_welcomes`` from the join until the
send's outcome is known, so a crash inside the welcome window loses nothing:

    pending ──(batch due)──> submitted ──(Say done)──> welcomed
       │                          └──(failed / refused / expired / in doubt)──> failed, expired
       └──(left, welcome off, past its validity)──> dropped, expired

One row per (account, room, member, stay): a replayed join cannot queue a
second welcome, and a rejoin (a new stay) can be welcomed again.  The pending
rows of a room are its batch; they share the due time of the first one.

Every query is scoped by the account that sends the welcome.  The stays
(``member_stays``) are the group's, written by ``Repository.record_join`` /
``record_leave``; read here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Membership, MemberStay, PendingWelcome
from storage.repo import _insert
from storage.types import clean_text, require_aware

_PENDING = cast(Table, PendingWelcome.__table__)
_STAYS = cast(Table, MemberStay.__table__)
_MEMBERSHIPS = cast(Table, Membership.__table__)

WELCOMED_OUTCOMES = ("done", "dry_run")  # executor statuses that count as welcomed
_REASON_MAX_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class PendingWelcomeRow:
    id: int
    account_id: str
    room_id: str
    contact_id: str
    stay: int
    joined_at: datetime
    due_at: datetime
    expires_at: datetime
    status: str
    action_key: str | None
    reason: str | None
    current: bool = True  # the member is present, still in this stay


@dataclass(frozen=True, slots=True)
class MemberStayState:
    room_id: str
    contact_id: str
    stay: int
    joined_at: datetime
    inviter_id: str | None
    left_at: datetime | None
    remover_id: str | None
    welcomed_at: datetime | None


def _row(r: Any, current: bool = True) -> PendingWelcomeRow:
    return PendingWelcomeRow(
        id=r.id,
        account_id=r.account_id,
        room_id=r.room_id,
        contact_id=r.contact_id,
        stay=r.stay,
        joined_at=r.joined_at,
        due_at=r.due_at,
        expires_at=r.expires_at,
        status=r.status,
        action_key=r.action_key,
        reason=r.reason,
        current=current,
    )


class WelcomeStore:
    """Async access to the welcome ritual's tables; one transaction per call."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    # -- queueing ------------------------------------------------------------

    async def queue(
        self,
        account_id: str,
        room_id: str,
        contact_id: str,
        *,
        stay: int,
        joined_at: datetime,
        now: datetime,
        window: timedelta,
        expires_at: datetime,
    ) -> bool:
        """Add a newcomer to the room's pending batch; False if this stay was
        queued already (a replayed join).  The batch is due ``window`` after
        its first newcomer was queued."""
        now = require_aware(now, "now")
        p = _PENDING.c
        async with self._sessions.begin() as session:
            batch_due = (
                await session.execute(
                    select(func.min(p.due_at)).where(
                        p.account_id == account_id, p.room_id == room_id, p.status == "pending"
                    )
                )
            ).scalar()
            stmt = (
                _insert(session, _PENDING)
                .values(
                    account_id=account_id,
                    room_id=room_id,
                    contact_id=contact_id,
                    stay=stay,
                    joined_at=require_aware(joined_at, "joined_at"),
                    due_at=batch_due or now + window,
                    expires_at=require_aware(expires_at, "expires_at"),
                    status="pending",
                    action_key=None,
                    updated_at=now,
                    reason=None,
                )
                .on_conflict_do_nothing(
                    index_elements=["account_id", "room_id", "contact_id", "stay"]
                )
            )
            return bool(getattr(await session.execute(stmt), "rowcount", 0))

    async def drop_member(
        self, account_id: str, room_id: str, contact_id: str, at: datetime, reason: str
    ) -> int:
        """A member left: take them out of the pending batch.  Returns rows dropped."""
        p = _PENDING.c
        stmt = (
            update(_PENDING)
            .where(
                p.account_id == account_id,
                p.room_id == room_id,
                p.contact_id == contact_id,
                p.status == "pending",
            )
            .values(status="dropped", reason=_reason(reason), updated_at=require_aware(at, "at"))
        )
        async with self._sessions.begin() as session:
            return int(getattr(await session.execute(stmt), "rowcount", 0))

    # -- sending -------------------------------------------------------------

    async def next_due(self, account_id: str) -> datetime | None:
        """When the earliest pending batch is due (None: nothing pending)."""
        p = _PENDING.c
        stmt = select(func.min(p.due_at)).where(p.account_id == account_id, p.status == "pending")
        async with self._sessions() as session:
            value = (await session.execute(stmt)).scalar()
            return None if value is None else cast(datetime, value)

    async def due(
        self, account_id: str, now: datetime, *, everything: bool = False
    ) -> list[PendingWelcomeRow]:
        """The pending rows of every room whose batch is due at ``now`` (all
        pending rows with ``everything``), by id.  ``current`` says whether the
        member is still present in the same stay."""
        now = require_aware(now, "now")
        p, m = _PENDING.c, _MEMBERSHIPS.c
        mine = and_(p.account_id == account_id, p.status == "pending")
        stmt = (
            select(_PENDING, m.join_count, m.left_at.label("member_left_at"))
            .outerjoin(_MEMBERSHIPS, and_(m.room_id == p.room_id, m.contact_id == p.contact_id))
            .where(mine)
            .order_by(p.id)
        )
        if not everything:
            due_rooms = select(p.room_id).where(mine, p.due_at <= now).distinct()
            stmt = stmt.where(p.room_id.in_(due_rooms))
        async with self._sessions() as session:
            return [
                _row(r, current=r.join_count == r.stay and r.member_left_at is None)
                for r in (await session.execute(stmt)).all()
            ]

    async def mark_submitted(
        self, account_id: str, ids: Sequence[int], key: str, at: datetime
    ) -> set[int]:
        """pending → submitted with the key of the Say that carries them; returns
        the ids actually marked: those still pending, of a member still present
        in the same stay (a leaver's row was dropped, or is left for the next
        round to drop)."""
        p, m = _PENDING.c, _MEMBERSHIPS.c
        still_there = (
            select(m.contact_id)
            .where(
                m.room_id == p.room_id,
                m.contact_id == p.contact_id,
                m.join_count == p.stay,
                m.left_at.is_(None),
            )
            .exists()
        )
        stmt = (
            update(_PENDING)
            .where(
                p.account_id == account_id,
                p.id.in_(list(ids)),
                p.status == "pending",
                still_there,
            )
            .values(status="submitted", action_key=key, updated_at=require_aware(at, "at"))
            .returning(p.id)
        )
        async with self._sessions.begin() as session:
            return set((await session.execute(stmt)).scalars().all())

    async def settle(
        self, account_id: str, ids: Sequence[int], status: str, at: datetime, reason: str
    ) -> int:
        """pending → ``status`` ('dropped' or 'expired'): never to be sent."""
        if status not in ("dropped", "expired"):
            raise ValueError(f"a pending welcome cannot be settled as {status!r}")
        p = _PENDING.c
        stmt = (
            update(_PENDING)
            .where(p.account_id == account_id, p.id.in_(list(ids)), p.status == "pending")
            .values(status=status, reason=_reason(reason), updated_at=require_aware(at, "at"))
        )
        async with self._sessions.begin() as session:
            return int(getattr(await session.execute(stmt), "rowcount", 0))

    async def submitted(self, account_id: str) -> dict[str, list[PendingWelcomeRow]]:
        """Rows whose Say is in the outbox without a recorded outcome, by key."""
        p = _PENDING.c
        stmt = (
            select(_PENDING)
            .where(p.account_id == account_id, p.status == "submitted")
            .order_by(p.id)
        )
        by_key: dict[str, list[PendingWelcomeRow]] = {}
        async with self._sessions() as session:
            for r in (await session.execute(stmt)).all():
                by_key.setdefault(r.action_key or "", []).append(_row(r))
        return by_key

    async def record_outcome(
        self,
        account_id: str,
        key: str,
        status: str,
        at: datetime,
        *,
        room_id: str | None = None,
        contact_ids: Iterable[str] = (),
    ) -> list[str]:
        """Record how the Say ``key`` ended for the members it welcomed.

        'done' / 'dry_run': the rows become 'welcomed' and the members'
        current stay (memberships and member_stays) is marked welcomed, in
        one transaction; anything else: 'failed' (or 'expired'), nobody is
        marked.  Rows are found by key, else by room and @mentions.  Returns
        the members marked welcomed (idempotent: a second call returns []).
        """
        at = require_aware(at, "at")
        p = _PENDING.c
        async with self._sessions.begin() as session:
            mine = and_(p.account_id == account_id, p.status == "submitted")
            rows = (await session.execute(select(_PENDING).where(mine, p.action_key == key))).all()
            ids = sorted(set(contact_ids))
            if not rows and room_id is not None and ids:
                rows = (
                    await session.execute(
                        select(_PENDING).where(mine, p.room_id == room_id, p.contact_id.in_(ids))
                    )
                ).all()
            if not rows:
                return []
            welcomed = status in WELCOMED_OUTCOMES
            final = "welcomed" if welcomed else ("expired" if status == "expired" else "failed")
            await session.execute(
                update(_PENDING)
                .where(p.id.in_([r.id for r in rows]), p.status == "submitted")
                .values(
                    status=final,
                    updated_at=at,
                    reason=None if welcomed else _reason(f"the welcome was {status}"),
                )
            )
            if not welcomed:
                return []
            marked: list[str] = []
            m, s = _MEMBERSHIPS.c, _STAYS.c
            for r in rows:
                # Only the stay the welcome was for: a member who left and came
                # back meanwhile is a newcomer again.
                result = await session.execute(
                    update(_MEMBERSHIPS)
                    .where(
                        m.room_id == r.room_id,
                        m.contact_id == r.contact_id,
                        m.join_count == r.stay,
                        m.welcomed_at.is_(None),
                    )
                    .values(welcomed_at=at)
                )
                await session.execute(
                    update(_STAYS)
                    .where(
                        s.room_id == r.room_id,
                        s.contact_id == r.contact_id,
                        s.stay == r.stay,
                        s.welcomed_at.is_(None),
                    )
                    .values(welcomed_at=at)
                )
                if getattr(result, "rowcount", 0):
                    marked.append(r.contact_id)
            return marked

    # -- reading -------------------------------------------------------------

    async def welcomes_of(
        self, account_id: str, room_id: str, contact_id: str
    ) -> list[PendingWelcomeRow]:
        """Every welcome row of one member in one room, oldest first."""
        p = _PENDING.c
        stmt = (
            select(_PENDING)
            .where(p.account_id == account_id, p.room_id == room_id, p.contact_id == contact_id)
            .order_by(p.id)
        )
        async with self._sessions() as session:
            return [_row(r) for r in (await session.execute(stmt)).all()]

    async def stays(self, room_id: str, contact_id: str) -> list[MemberStayState]:
        """A member's stays in a group, first first (a rejoin adds one)."""
        s = _STAYS.c
        stmt = (
            select(_STAYS).where(s.room_id == room_id, s.contact_id == contact_id).order_by(s.stay)
        )
        async with self._sessions() as session:
            return [
                MemberStayState(
                    room_id=r.room_id,
                    contact_id=r.contact_id,
                    stay=r.stay,
                    joined_at=r.joined_at,
                    inviter_id=r.inviter_id,
                    left_at=r.left_at,
                    remover_id=r.remover_id,
                    welcomed_at=r.welcomed_at,
                )
                for r in (await session.execute(stmt)).all()
            ]

    async def leave_count(self, room_id: str, contact_id: str) -> int:
        """How many times a member left a group (stays that ended)."""
        s = _STAYS.c
        stmt = select(func.count()).where(
            s.room_id == room_id, s.contact_id == contact_id, s.left_at.is_not(None)
        )
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())


def _reason(text: str) -> str:
    return clean_text(text, _REASON_MAX_LENGTH)
