"""Points: the ledger, balances, daily check-ins and folded confirmations.

    points = PointsStore(sessions, account_id="default")
    done = await points.check_in(scope, room, member, date(2026, 1, 5), at, rule=(10, 2, 20))
    change = await points.change(scope, member, -5, kind="admin", reason="刷屏", key=..., at=now)

Every change of points is a row of ``points_ledger`` with an idempotency key
(UNIQUE): the same key twice pays once.  ``points_balances`` holds each
member's balance, updated in the same transaction as the row, so the balance
is the ledger's sum at all times; a change that would take a balance below
zero is refused (rolled back) unless it allows that.  On PostgreSQL the
balance update takes the row's lock and re-checks its condition, so two
deductions at once cannot both pass.

A check-in is one row of ``checkins`` per (scope, member, local day): its
streak continues from the day before or starts again at 1.  A confirmation
that is folded into a group's batch message is a row of ``checkin_folds``
until the message carrying it is in the outbox:

    pending ──(batch due: key assigned)──> submitted ──(in the outbox)──> sent

Points live in a *scope* (``room:<id>`` or ``tag:<tag>``), the group's, not
an account's; the confirmations are the sending account's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.checkin_folds import _FOLDS, CheckinFolds
from storage.models import Checkin, PointsBalance, PointsEntry
from storage.sql import _insert
from storage.types import clean_text, require_aware

_LEDGER = cast(Table, PointsEntry.__table__)
_BALANCES = cast(Table, PointsBalance.__table__)
_CHECKINS = cast(Table, Checkin.__table__)

REASON_MAX_LENGTH = 500
KEY_MAX_LENGTH = 200
NAME_MAX_LENGTH = 128


class _Refused(Exception):
    """Raised inside a transaction to roll it back: the balance would go negative."""

    def __init__(self, balance: int) -> None:
        super().__init__(balance)
        self.balance = balance


@dataclass(frozen=True, slots=True)
class Change:
    """The outcome of :meth:`PointsStore.change`."""

    applied: bool  # a new ledger row was written
    duplicate: bool  # the key was paid already: nothing changed
    balance: int  # the balance after (or, refused: as it stands)
    refused: bool = False  # it would have taken the balance below zero


@dataclass(frozen=True, slots=True)
class CheckinResult:
    new: bool  # False: the member had checked in that day already
    streak: int
    points: int
    rank: int  # the n-th check-in of the day in the group
    balance: int
    local_date: str
    message_id: str | None = None  # of the check-in that counted
    folded: bool = False  # the confirmation waits in the group's batch


@dataclass(frozen=True, slots=True)
class LedgerRow:
    id: int
    scope: str
    member_id: str
    amount: int
    kind: str
    reason: str
    reference: str
    key: str
    room_id: str | None
    by: str | None
    at: datetime


def checkin_points(streak: int, base: int, bonus: int, cap: int) -> int:
    """A day's check-in points: ``base`` plus ``bonus`` per day of streak
    beyond the first, at most ``cap`` of bonus."""
    return base + min(bonus * max(streak - 1, 0), cap)


class PointsStore(CheckinFolds):
    """Async access to the points tables; one transaction per call."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, account_id: str) -> None:
        self._sessions = sessions
        self.account_id = account_id

    # ------------------------------------------------------------- the ledger

    async def change(
        self,
        scope: str,
        member_id: str,
        amount: int,
        *,
        kind: str,
        reason: str,
        key: str,
        at: datetime,
        reference: str = "",
        room_id: str | None = None,
        by: str | None = None,
        allow_negative: bool = False,
    ) -> Change:
        """Add ``amount`` (negative: take) to the member's points, once per ``key``."""
        at = require_aware(at, "at")
        try:
            async with self._sessions.begin() as session:
                return await self._change(
                    session,
                    scope,
                    member_id,
                    amount,
                    kind=kind,
                    reason=reason,
                    key=key,
                    at=at,
                    reference=reference,
                    room_id=room_id,
                    by=by,
                    allow_negative=allow_negative,
                )
        except _Refused as refused:
            return Change(applied=False, duplicate=False, balance=refused.balance, refused=True)

    async def _change(
        self,
        session: AsyncSession,
        scope: str,
        member_id: str,
        amount: int,
        *,
        kind: str,
        reason: str,
        key: str,
        at: datetime,
        reference: str,
        room_id: str | None,
        by: str | None,
        allow_negative: bool,
    ) -> Change:
        if len(key) > KEY_MAX_LENGTH:
            raise ValueError(f"a points key is at most {KEY_MAX_LENGTH} characters")
        inserted = (
            await session.execute(
                _insert(session, _LEDGER)
                .values(
                    scope=scope,
                    member_id=member_id,
                    amount=amount,
                    kind=kind,
                    reason=clean_text(reason, REASON_MAX_LENGTH),
                    reference=clean_text(reference, KEY_MAX_LENGTH),
                    key=key,
                    room_id=room_id,
                    by=by,
                    at=at,
                )
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(_LEDGER.c.id)
            )
        ).scalar()
        if inserted is None:
            return Change(False, True, await self._balance(session, scope, member_id))
        b = _BALANCES.c
        await session.execute(
            _insert(session, _BALANCES)
            .values(scope=scope, member_id=member_id, balance=0, updated_at=at)
            .on_conflict_do_nothing(index_elements=["scope", "member_id"])
        )
        stmt = (
            update(_BALANCES)
            .where(b.scope == scope, b.member_id == member_id)
            .values(balance=b.balance + amount, updated_at=at)
            .returning(b.balance)
        )
        if not allow_negative and amount < 0:
            stmt = stmt.where(b.balance + amount >= 0)
        balance = (await session.execute(stmt)).scalar()
        if balance is None:
            raise _Refused(await self._balance(session, scope, member_id))
        return Change(True, False, int(balance))

    async def _balance(self, session: AsyncSession, scope: str, member_id: str) -> int:
        b = _BALANCES.c
        found = await session.scalar(
            select(b.balance).where(b.scope == scope, b.member_id == member_id)
        )
        return int(found or 0)

    async def balance(self, scope: str, member_id: str) -> int:
        async with self._sessions() as session:
            return await self._balance(session, scope, member_id)

    async def ledger_sum(self, scope: str, member_id: str) -> int:
        """The sum of the member's ledger rows (what the balance must equal)."""
        c = _LEDGER.c
        stmt = select(func.coalesce(func.sum(c.amount), 0)).where(
            c.scope == scope, c.member_id == member_id
        )
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def balances(self, scope: str | None = None) -> dict[tuple[str, str], int]:
        """Every (scope, member) balance (of one scope)."""
        b = _BALANCES.c
        stmt = select(b.scope, b.member_id, b.balance)
        if scope is not None:
            stmt = stmt.where(b.scope == scope)
        async with self._sessions() as session:
            return {(r.scope, r.member_id): r.balance for r in (await session.execute(stmt)).all()}

    async def ledger_sums(self, scope: str | None = None) -> dict[tuple[str, str], int]:
        c = _LEDGER.c
        stmt = select(c.scope, c.member_id, func.sum(c.amount).label("total")).group_by(
            c.scope, c.member_id
        )
        if scope is not None:
            stmt = stmt.where(c.scope == scope)
        async with self._sessions() as session:
            return {
                (r.scope, r.member_id): int(r.total) for r in (await session.execute(stmt)).all()
            }

    async def earned_since(self, scope: str, member_id: str, since: datetime) -> int:
        c = _LEDGER.c
        stmt = select(func.coalesce(func.sum(c.amount), 0)).where(
            c.scope == scope, c.member_id == member_id, c.at >= require_aware(since, "since")
        )
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def top(
        self, scope: str, *, since: datetime | None = None, limit: int = 10
    ) -> list[tuple[str, int]]:
        """The members with the most points (all time: balances; ``since``: what
        the ledger gave them since then), highest first, ties by member id."""
        if since is None:
            b = _BALANCES.c
            stmt = (
                select(b.member_id, b.balance.label("total"))
                .where(b.scope == scope, b.balance > 0)
                .order_by(b.balance.desc(), b.member_id)
                .limit(limit)
            )
        else:
            c = _LEDGER.c
            total = func.sum(c.amount)
            stmt = (
                select(c.member_id, total.label("total"))
                .where(c.scope == scope, c.at >= require_aware(since, "since"))
                .group_by(c.member_id)
                .having(total > 0)
                .order_by(total.desc(), c.member_id)
                .limit(limit)
            )
        async with self._sessions() as session:
            return [(r.member_id, int(r.total)) for r in (await session.execute(stmt)).all()]

    async def earn_activity(
        self,
        scope: str,
        member_id: str,
        amount: int,
        *,
        cap: int,
        local_date: str,
        key: str,
        at: datetime,
        room_id: str | None = None,
    ) -> Change | None:
        """Points for a message, at most ``cap`` a local day (0: no cap); None when
        the day's cap is reached.  The cap and the row in one transaction."""
        at = require_aware(at, "at")
        c = _LEDGER.c
        async with self._sessions.begin() as session:
            if cap > 0:
                got = (
                    await session.execute(
                        select(func.coalesce(func.sum(c.amount), 0)).where(
                            c.scope == scope,
                            c.member_id == member_id,
                            c.kind == "activity",
                            c.reference == local_date,
                        )
                    )
                ).scalar_one()
                amount = min(amount, cap - int(got))
                if amount <= 0:
                    return None
            return await self._change(
                session,
                scope,
                member_id,
                amount,
                kind="activity",
                reason="发言",
                key=key,
                at=at,
                reference=local_date,
                room_id=room_id,
                by=None,
                allow_negative=True,
            )

    async def activity_today(self, scope: str, member_id: str, local_date: str) -> int:
        """Activity points the member got on ``local_date`` (for the daily cap)."""
        c = _LEDGER.c
        stmt = select(func.coalesce(func.sum(c.amount), 0)).where(
            c.scope == scope,
            c.member_id == member_id,
            c.kind == "activity",
            c.reference == local_date,
        )
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def ledger(
        self, *, scopes: Sequence[str] | None = None, limit: int | None = None
    ) -> list[LedgerRow]:
        """Ledger rows, oldest first (of some scopes)."""
        c = _LEDGER.c
        stmt = select(_LEDGER).order_by(c.id)
        if scopes is not None:
            stmt = stmt.where(c.scope.in_(list(scopes)))
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self._sessions() as session:
            return [
                LedgerRow(
                    id=r.id,
                    scope=r.scope,
                    member_id=r.member_id,
                    amount=r.amount,
                    kind=r.kind,
                    reason=r.reason,
                    reference=r.reference,
                    key=r.key,
                    room_id=r.room_id,
                    by=r.by,
                    at=r.at,
                )
                for r in (await session.execute(stmt)).all()
            ]

    # --------------------------------------------------------------- check-in

    async def check_in(
        self,
        scope: str,
        room_id: str,
        member_id: str,
        local_date: date,
        at: datetime,
        *,
        rule: tuple[int, int, int],
        message_id: str | None = None,
        member_name: str = "",
        fold_seconds: float = 0,
        now: datetime | None = None,
        account_busy: bool = False,
    ) -> CheckinResult:
        """Check the member in for ``local_date``: the check-in row, its ledger
        row (key ``checkin:<scope>:<member>:<date>``) and the balance in one
        transaction.  ``rule``: (base, streak bonus, bonus cap).

        With ``fold_seconds`` > 0 the confirmation is folded (a pending row of
        the group's batch, in the same transaction) when the group is busy:
        it has a pending batch, or another check-in less than ``fold_seconds``
        ago, or ``account_busy`` says the account confirms too much elsewhere).
        Checked in already that day: the day's row, ``new`` False."""
        at = require_aware(at, "at")
        now = require_aware(now or at, "now")
        day = local_date.isoformat()
        k = _CHECKINS.c
        async with self._sessions.begin() as session:
            existing = (
                await session.execute(
                    select(_CHECKINS).where(
                        k.scope == scope, k.member_id == member_id, k.local_date == day
                    )
                )
            ).first()
            if existing is not None:
                return await self._known(session, scope, existing)
            before = (
                await session.execute(
                    select(k.local_date, k.streak)
                    .where(k.scope == scope, k.member_id == member_id, k.local_date < day)
                    .order_by(k.local_date.desc())
                    .limit(1)
                )
            ).first()
            yesterday = (local_date - timedelta(days=1)).isoformat()
            streak = (
                before.streak + 1 if before is not None and before.local_date == yesterday else 1
            )
            points = checkin_points(streak, *rule)
            busy = fold_seconds > 0 and (
                account_busy or await self._busy(session, room_id, day, now, fold_seconds)
            )
            rank = 1 + int(
                (
                    await session.execute(
                        select(func.count()).where(k.room_id == room_id, k.local_date == day)
                    )
                ).scalar_one()
            )
            inserted = await session.execute(
                _insert(session, _CHECKINS)
                .values(
                    scope=scope,
                    member_id=member_id,
                    local_date=day,
                    room_id=room_id,
                    message_id=message_id,
                    streak=streak,
                    points=points,
                    rank=rank,
                    at=at,
                )
                .on_conflict_do_nothing(index_elements=["scope", "member_id", "local_date"])
            )
            if not getattr(inserted, "rowcount", 0):  # the same member, at the same moment
                row = (
                    await session.execute(
                        select(_CHECKINS).where(
                            k.scope == scope, k.member_id == member_id, k.local_date == day
                        )
                    )
                ).one()
                return await self._known(session, scope, row)
            change = await self._change(
                session,
                scope,
                member_id,
                points,
                kind="checkin",
                reason=f"签到（连续 {streak} 天）",
                key=checkin_key(scope, member_id, day),
                at=at,
                reference=day,
                room_id=room_id,
                by=None,
                allow_negative=True,
            )
            if busy:
                fold = (member_name, day, streak, points, rank)
                await self._queue_fold(session, room_id, member_id, fold, now, fold_seconds)
            return CheckinResult(
                new=True,
                streak=streak,
                points=points,
                rank=rank,
                balance=change.balance,
                local_date=day,
                message_id=message_id,
                folded=busy,
            )

    async def _known(self, session: AsyncSession, scope: str, row: Any) -> CheckinResult:
        f = _FOLDS.c
        folded = await session.scalar(
            select(f.id).where(
                f.account_id == self.account_id,
                f.room_id == row.room_id,
                f.member_id == row.member_id,
                f.local_date == row.local_date,
            )
        )
        return CheckinResult(
            new=False,
            streak=row.streak,
            points=row.points,
            rank=row.rank,
            balance=await self._balance(session, scope, row.member_id),
            local_date=row.local_date,
            message_id=row.message_id,
            folded=folded is not None,
        )

    async def _busy(
        self, session: AsyncSession, room_id: str, day: str, now: datetime, fold_seconds: float
    ) -> bool:
        f, k = _FOLDS.c, _CHECKINS.c
        pending = await session.scalar(
            select(f.id)
            .where(f.account_id == self.account_id, f.status == "pending", f.room_id == room_id)
            .limit(1)
        )
        if pending is not None:
            return True
        recent = await session.scalar(
            select(k.member_id)
            .where(
                k.room_id == room_id,
                k.local_date == day,
                k.at > now - timedelta(seconds=fold_seconds),
            )
            .limit(1)
        )
        return recent is not None

    async def _queue_fold(
        self,
        session: AsyncSession,
        room_id: str,
        member_id: str,
        fold: tuple[str, str, int, int, int],
        now: datetime,
        fold_seconds: float,
    ) -> None:
        member_name, day, streak, points, rank = fold
        f = _FOLDS.c
        batch_due = await session.scalar(
            select(func.min(f.due_at)).where(
                f.account_id == self.account_id, f.room_id == room_id, f.status == "pending"
            )
        )
        await session.execute(
            _insert(session, _FOLDS)
            .values(
                account_id=self.account_id,
                room_id=room_id,
                member_id=member_id,
                member_name=clean_text(member_name or member_id, NAME_MAX_LENGTH),
                local_date=day,
                streak=streak,
                points=points,
                rank=rank,
                status="pending",
                due_at=batch_due or now + timedelta(seconds=fold_seconds),
                action_key=None,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=["account_id", "room_id", "member_id", "local_date"]
            )
        )

    async def checkins_of(self, scope: str, member_id: str) -> list[tuple[str, int, int]]:
        """(local date, streak, points) of every check-in of a member, oldest first."""
        k = _CHECKINS.c
        stmt = (
            select(k.local_date, k.streak, k.points)
            .where(k.scope == scope, k.member_id == member_id)
            .order_by(k.local_date)
        )
        async with self._sessions() as session:
            return [(r.local_date, r.streak, r.points) for r in (await session.execute(stmt)).all()]


def checkin_key(scope: str, member_id: str, day: str) -> str:
    return _key("checkin", scope, member_id, day)


def _key(*parts: str) -> str:
    key = ":".join(parts)
    if len(key) > KEY_MAX_LENGTH:
        key = f"{parts[0]}:#" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return key


def points_key(kind: str, *parts: str) -> str:
    """An idempotency key of a ledger row: the kind and what makes it unique."""
    return _key(kind, *parts)
