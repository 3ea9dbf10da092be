"""Invites' records: members' requests to invite (``#邀请``), the joins decided on
(the joins-per-hour pace counts them) and raid locks.

Everything is the bot account's (``account_id``) and every query filters on
it.  Takes the same session factory as :class:`storage.repo.Repository`.  A
lock lives here, not in memory, so a restart keeps a locked group locked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import InviteRequest, JoinLock, JoinRecord
from storage.sql import _insert
from storage.types import clean_text, require_aware

_REQUESTS = cast(Table, InviteRequest.__table__)
_JOINS = cast(Table, JoinRecord.__table__)
_LOCKS = cast(Table, JoinLock.__table__)

NAME_MAX_LENGTH = 64
#: What a request past its time becomes, from what it was.
LAPSES_TO = {"pending": "lapsed", "approved": "expired"}
LAPSED_STATUSES = tuple(LAPSES_TO.values())


@dataclass(frozen=True, slots=True)
class InviteRequestState:
    id: int
    room_id: str
    requester_id: str
    invitee_id: str | None
    invitee_name: str
    status: str  # pending, approved, declined, used, lapsed, expired
    created_at: datetime
    expires_at: datetime
    decided_by: str | None
    approved_until: datetime | None
    used_by: str | None
    closed_at: datetime | None = None  # when the lapse job closed it

    def lapsed(self, at: datetime) -> bool:
        """A pending request nobody answered in time, or an approval not used in
        time: closed as such already, or about to be."""
        return self.lapse_status(at) is not None

    def lapse_status(self, at: datetime) -> str | None:
        """``lapsed`` or ``expired`` when that is (or is about to be) its status."""
        if self.status in LAPSED_STATUSES:
            return self.status
        if self.status == "pending" and self.expires_at <= at:
            return "lapsed"
        if self.status == "approved" and (self.approved_until is None or self.approved_until <= at):
            return "expired"
        return None

    @property
    def deadline(self) -> datetime | None:
        """When it lapses (pending) or its approval ends (approved)."""
        if self.status in ("pending", "lapsed"):
            return self.expires_at
        if self.status in ("approved", "expired"):
            return self.approved_until
        return None

    def matches(self, member_id: str, name: str) -> bool:
        """The joiner is the invitee: by id (ids win), else by display name
        (case-insensitively) when the request named no id."""
        if member_id in (self.invitee_id, self.invitee_name):
            return True
        return self.invitee_id is None and _fold(name) == _fold(self.invitee_name) != ""


@dataclass(frozen=True, slots=True)
class JoinRow:
    room_id: str
    member_id: str
    at: datetime
    inviter_id: str | None
    paced: bool
    verdict: str  # allow, review, remove
    rule: str


def best_approval(
    approvals: Iterable[InviteRequestState], member_id: str, name: str
) -> InviteRequestState | None:
    """The first of ``approvals`` naming ``member_id``, else the first naming ``name``."""
    found = [a for a in approvals if a.matches(member_id, name)]
    by_id = [a for a in found if member_id in (a.invitee_id, a.invitee_name)]
    best = by_id or found
    return best[0] if best else None


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def _past(at: datetime) -> Any:
    """Pending past ``expires_at``, or approved past ``approved_until``."""
    r = _REQUESTS.c
    return or_(
        and_(r.status == "pending", r.expires_at <= at),
        and_(r.status == "approved", or_(r.approved_until.is_(None), r.approved_until <= at)),
    )


def _state(row: InviteRequest) -> InviteRequestState:
    return InviteRequestState(
        id=row.id,
        room_id=row.room_id,
        requester_id=row.requester_id,
        invitee_id=row.invitee_id,
        invitee_name=row.invitee_name,
        status=row.status,
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        approved_until=row.approved_until,
        used_by=row.used_by,
        closed_at=row.closed_at,
    )


class InviteStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, account_id: str) -> None:
        self._sessions = sessions
        self.account_id = account_id

    # -------------------------------------------------------------- requests

    async def request(
        self,
        room_id: str,
        requester_id: str,
        invitee_id: str | None,
        invitee_name: str,
        at: datetime,
        expires_at: datetime,
    ) -> int:
        """Record a request to invite; returns its number."""
        row = InviteRequest(
            account_id=self.account_id,
            room_id=room_id,
            requester_id=requester_id,
            invitee_id=invitee_id,
            invitee_name=clean_text(invitee_name, NAME_MAX_LENGTH),
            status="pending",
            created_at=require_aware(at, "at"),
            expires_at=require_aware(expires_at, "expires_at"),
        )
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            return row.id

    async def get(self, request_id: int) -> InviteRequestState | None:
        async with self._sessions() as session:
            row = await session.get(InviteRequest, request_id)
            return None if row is None or row.account_id != self.account_id else _state(row)

    async def decide(
        self,
        request_id: int,
        approve: bool,
        by: str,
        at: datetime,
        approved_until: datetime | None = None,
    ) -> InviteRequestState | None:
        """Approve (until ``approved_until``) or decline a pending request that has
        not lapsed; None when there is no such request (or it is not pending)."""
        at = require_aware(at, "at")
        if approve and approved_until is None:
            raise ValueError("an approval needs approved_until")
        r = _REQUESTS.c
        stmt = (
            update(InviteRequest)
            .where(
                r.id == request_id,
                r.account_id == self.account_id,
                r.status == "pending",
                r.expires_at > at,
            )
            .values(
                status="approved" if approve else "declined",
                decided_by=by,
                decided_at=at,
                approved_until=approved_until if approve else None,
            )
        )
        async with self._sessions.begin() as session:
            if not (await session.execute(stmt)).rowcount:  # type: ignore[attr-defined]
                return None
        return await self.get(request_id)

    async def approvals(self, room_id: str, at: datetime) -> list[InviteRequestState]:
        """The room's approvals still good at ``at``, oldest first."""
        return await self._still(room_id, "approved", _REQUESTS.c.approved_until, at)

    async def _still(
        self, room_id: str, status: str, until: Any, at: datetime
    ) -> list[InviteRequestState]:
        """The room's requests in ``status`` whose ``until`` column is after ``at``."""
        r = _REQUESTS.c
        stmt = (
            select(InviteRequest)
            .where(
                r.account_id == self.account_id,
                r.room_id == room_id,
                r.status == status,
                until > require_aware(at, "at"),
            )
            .order_by(r.id)
        )
        async with self._sessions() as session:
            return [_state(row) for row in (await session.scalars(stmt)).all()]

    async def find_approval(
        self, room_id: str, member_id: str, name: str, at: datetime
    ) -> InviteRequestState | None:
        """The approval that lets ``member_id`` in: one naming their id first,
        else one naming their display name."""
        return best_approval(await self.approvals(room_id, at), member_id, name)

    async def use(self, request_id: int, member_id: str, at: datetime) -> bool:
        """Mark an approval used by the joiner it let in (once)."""
        r = _REQUESTS.c
        stmt = (
            update(InviteRequest)
            .where(r.id == request_id, r.account_id == self.account_id, r.status == "approved")
            .values(status="used", used_by=member_id, used_at=require_aware(at, "at"))
        )
        async with self._sessions.begin() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def pending(self, room_id: str, at: datetime) -> list[InviteRequestState]:
        """The room's requests still waiting for an admin at ``at``, oldest first
        (a request past its time is not: it lapsed)."""
        return await self._still(room_id, "pending", _REQUESTS.c.expires_at, at)

    # ----------------------------------------------------------------- lapses

    async def due(self, at: datetime, limit: int = 500) -> list[InviteRequestState]:
        """The account's requests past their time at ``at`` and not yet closed:
        pending ones nobody answered, approvals nobody used; oldest first."""
        at = require_aware(at, "at")
        stmt = (
            select(InviteRequest)
            .where(_REQUESTS.c.account_id == self.account_id, _past(at))
            .order_by(_REQUESTS.c.id)
            .limit(limit)
        )
        async with self._sessions() as session:
            return [_state(row) for row in (await session.scalars(stmt)).all()]

    async def close(self, request_id: int, was: str, at: datetime) -> bool:
        """Close a request past its time that is still ``was``: pending becomes
        ``lapsed``, approved ``expired``.  A conditional update, so of two
        processes (or a run repeated after a restart) one closes it; False when
        it was not due (answered or used meanwhile, closed already, another
        account's)."""
        if was not in LAPSES_TO:
            raise ValueError(f"only a pending or approved request lapses, not {was!r}")
        at = require_aware(at, "at")
        r = _REQUESTS.c
        stmt = (
            update(InviteRequest)
            .where(r.id == request_id, r.account_id == self.account_id, r.status == was, _past(at))
            .values(status=LAPSES_TO[was], closed_at=at)
        )
        async with self._sessions.begin() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def closed_since(self, since: datetime) -> list[InviteRequestState]:
        """The account's requests closed as lapsed or expired at or after ``since``."""
        r = _REQUESTS.c
        stmt = (
            select(InviteRequest)
            .where(
                r.account_id == self.account_id,
                r.status.in_(LAPSED_STATUSES),
                r.closed_at >= require_aware(since, "since"),
            )
            .order_by(r.id)
        )
        async with self._sessions() as session:
            return [_state(row) for row in (await session.scalars(stmt)).all()]

    # ----------------------------------------------------------------- joins

    async def record_joins(self, rows: Sequence[JoinRow]) -> int:
        """Record joins (a replayed join is recorded once); returns how many were new."""
        if not rows:
            return 0
        values = [
            {
                "account_id": self.account_id,
                "room_id": row.room_id,
                "member_id": row.member_id,
                "at": require_aware(row.at, "at"),
                "inviter_id": row.inviter_id,
                "paced": row.paced,
                "verdict": row.verdict,
                "rule": row.rule,
            }
            for row in rows
        ]
        new = 0
        async with self._sessions.begin() as session:
            for value in values:
                stmt = (
                    _insert(session, _JOINS)
                    .values(**value)
                    .on_conflict_do_nothing(
                        index_elements=["account_id", "room_id", "member_id", "at"]
                    )
                    .returning(_JOINS.c.member_id)
                )
                new += (await session.execute(stmt)).scalar_one_or_none() is not None
        return new

    async def paced_joins(
        self,
        room_id: str,
        since: datetime,
        *,
        besides: Iterable[str] = (),
        at: datetime | None = None,
    ) -> int:
        """Joins that count toward the pace in the room since ``since``, leaving out
        ``besides`` joining at ``at`` (the event being decided, if it is a replay)."""
        j = _JOINS.c
        stmt = select(func.count()).where(
            j.account_id == self.account_id,
            j.room_id == room_id,
            j.paced.is_(True),
            j.at >= require_aware(since, "since"),
        )
        members = list(besides)
        if members and at is not None:
            stmt = stmt.where(~(j.member_id.in_(members) & (j.at == require_aware(at, "at"))))
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def prune_joins(self, before: datetime) -> int:
        """Forget the account's joins older than ``before`` (the pace looks back an hour)."""
        j = _JOINS.c
        stmt = delete(JoinRecord).where(
            j.account_id == self.account_id, j.at < require_aware(before, "before")
        )
        async with self._sessions.begin() as session:
            return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------- locks

    async def lock(self, room_id: str, at: datetime, until: datetime) -> bool:
        """Lock the room until ``until``; True when it was not locked at ``at``
        (a new lock: the admins are alerted once per lock)."""
        at, until = require_aware(at, "at"), require_aware(until, "until")
        async with self._sessions.begin() as session:
            row = await session.get(JoinLock, (self.account_id, room_id))
            if row is None:
                session.add(
                    JoinLock(account_id=self.account_id, room_id=room_id, locked_at=at, until=until)
                )
                return True
            new = row.until <= at
            if new:
                row.locked_at = at
            row.until = max(row.until, until)
            return new

    async def locked_until(self, room_id: str, at: datetime) -> datetime | None:
        """When the room's lock ends, if it is locked at ``at``."""
        async with self._sessions() as session:
            row = await session.get(JoinLock, (self.account_id, room_id))
        if row is None or row.until <= require_aware(at, "at"):
            return None
        return row.until

    async def unlock(self, room_id: str, at: datetime) -> bool:
        """An admin ends a lock early (it ends at ``at``); False if none was on."""
        at = require_aware(at, "at")
        async with self._sessions.begin() as session:
            row = await session.get(JoinLock, (self.account_id, room_id))
            if row is None or row.until <= at:
                return False
            row.until = at
            return True

    async def lock_ended(self, room_id: str, at: datetime) -> datetime | None:
        """When the room's last lock ended (before ``at``): joins before that were
        the raid's, dealt with; the pace counts from then."""
        async with self._sessions() as session:
            row = await session.get(JoinLock, (self.account_id, room_id))
        if row is None or row.until > require_aware(at, "at"):
            return None
        return row.until
