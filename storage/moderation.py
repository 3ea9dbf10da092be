"""Moderation's records: cases, strikes, the blocklist, exemptions, modes, verdicts.

Everything is scoped by the bot's account (``account_id``), except the
blocklist, which is scoped by ``scope``: the account today, so every group of
the account shares it; several accounts of one operator may share a scope
later.  Takes the same session factory as :class:`storage.repo.Repository`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    AdVerdict,
    AllowedMember,
    BlockedMember,
    ModerationCase,
    ModerationMode,
    Strike,
)
from storage.sql import _insert
from storage.types import clean_text, require_aware

_CASES = cast(Table, ModerationCase.__table__)
_STRIKES = cast(Table, Strike.__table__)
_BLOCKED = cast(Table, BlockedMember.__table__)
_ALLOWED = cast(Table, AllowedMember.__table__)
_MODES = cast(Table, ModerationMode.__table__)

EVIDENCE_MAX_LENGTH = 500
APPEAL_MAX_LENGTH = 500


@dataclass(frozen=True, slots=True)
class NewCase:
    room_id: str
    member_id: str
    message_id: str | None
    rule: str
    decision: str
    score: float
    reasons: Sequence[Mapping[str, Any]]
    text: str
    action: str
    mode: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CaseState:
    id: int
    room_id: str
    member_id: str
    message_id: str | None
    rule: str
    decision: str
    score: float
    reasons: list[dict[str, Any]]
    text: str
    action: str
    mode: str
    status: str
    created_at: datetime
    updated_at: datetime
    decided_by: str | None
    appeal_text: str | None
    appealed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__}
        for k in ("created_at", "updated_at", "appealed_at"):
            out[k] = out[k].isoformat() if out[k] is not None else None
        return out


def _case(row: ModerationCase) -> CaseState:
    return CaseState(
        id=row.id,
        room_id=row.room_id,
        member_id=row.member_id,
        message_id=row.message_id,
        rule=row.rule,
        decision=row.decision,
        score=row.score,
        reasons=json.loads(row.reasons),
        text=row.text,
        action=row.action,
        mode=row.mode,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decided_by=row.decided_by,
        appeal_text=row.appeal_text,
        appealed_at=row.appealed_at,
    )


class ModerationStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, account_id: str, scope: str = ""
    ) -> None:
        self._sessions = sessions
        self.account_id = account_id
        self.scope = scope or account_id

    # ----------------------------------------------------------------- cases

    async def open_case(self, case: NewCase) -> int | None:
        """Record a case; None if the message already has one (a replay)."""
        at = require_aware(case.at, "at")
        values = {
            "account_id": self.account_id,
            "room_id": case.room_id,
            "member_id": case.member_id,
            "message_id": case.message_id,
            "rule": case.rule,
            "decision": case.decision,
            "score": float(case.score),
            "reasons": json.dumps(list(case.reasons), ensure_ascii=False),
            "text": clean_text(case.text, EVIDENCE_MAX_LENGTH),
            "action": case.action,
            "mode": case.mode,
            "status": "open",
            "created_at": at,
            "updated_at": at,
        }
        async with self._sessions.begin() as session:
            stmt = (
                _insert(session, _CASES)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["account_id", "room_id", "message_id"])
                .returning(_CASES.c.id)
            )
            return (await session.execute(stmt)).scalar_one_or_none()

    async def case(self, case_id: int) -> CaseState | None:
        async with self._sessions() as session:
            row = await session.get(ModerationCase, case_id)
            return None if row is None or row.account_id != self.account_id else _case(row)

    async def set_status(
        self, case_id: int, status: str, at: datetime, by: str | None = None
    ) -> CaseState | None:
        """Move a case to ``status``; None if it is not this account's."""
        async with self._sessions.begin() as session:
            row = await session.get(ModerationCase, case_id)
            if row is None or row.account_id != self.account_id:
                return None
            row.status = status
            row.updated_at = require_aware(at, "at")
            if by is not None:
                row.decided_by = by
            await session.flush()
            return _case(row)

    async def appeal(self, case_id: int, member_id: str, text: str, at: datetime) -> bool:
        """The member of the case appeals it (once); False if not theirs or closed."""
        at = require_aware(at, "at")
        c = _CASES.c
        stmt = (
            update(ModerationCase)
            .where(
                c.id == case_id,
                c.account_id == self.account_id,
                c.member_id == member_id,
                c.status.in_(("open", "confirmed")),
            )
            .values(
                status="appealed",
                appeal_text=clean_text(text, APPEAL_MAX_LENGTH),
                appealed_at=at,
                updated_at=at,
            )
        )
        async with self._sessions.begin() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def cases(
        self,
        *,
        room_id: str | None = None,
        statuses: Sequence[str] = (),
        since: datetime | None = None,
        mode: str | None = None,
        limit: int = 200,
    ) -> list[CaseState]:
        """The account's cases, newest first."""
        stmt = select(ModerationCase).where(ModerationCase.account_id == self.account_id)
        if room_id is not None:
            stmt = stmt.where(ModerationCase.room_id == room_id)
        if statuses:
            stmt = stmt.where(ModerationCase.status.in_(tuple(statuses)))
        if since is not None:
            stmt = stmt.where(ModerationCase.created_at >= require_aware(since, "since"))
        if mode is not None:
            stmt = stmt.where(ModerationCase.mode == mode)
        stmt = stmt.order_by(ModerationCase.id.desc()).limit(limit)
        async with self._sessions() as session:
            return [_case(r) for r in (await session.scalars(stmt)).all()]

    # --------------------------------------------------------------- strikes

    async def add_strike(
        self, room_id: str, member_id: str, case_id: int | None, at: datetime
    ) -> None:
        async with self._sessions.begin() as session:
            session.add(
                Strike(
                    account_id=self.account_id,
                    room_id=room_id,
                    member_id=member_id,
                    case_id=case_id,
                    at=require_aware(at, "at"),
                    cleared_at=None,
                )
            )

    async def strikes(self, room_id: str, member_id: str, since: datetime) -> int:
        """Strikes on the member in the group since ``since`` that no admin cleared."""
        s = _STRIKES.c
        stmt = select(func.count()).where(
            s.account_id == self.account_id,
            s.room_id == room_id,
            s.member_id == member_id,
            s.at >= require_aware(since, "since"),
            s.cleared_at.is_(None),
        )
        async with self._sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def clear_strikes(
        self, room_id: str, member_id: str, at: datetime, case_id: int | None = None
    ) -> int:
        """Clear the member's strikes (only the case's when ``case_id`` is given)."""
        s = _STRIKES.c
        stmt = (
            update(Strike)
            .where(
                s.account_id == self.account_id,
                s.room_id == room_id,
                s.member_id == member_id,
                s.cleared_at.is_(None),
            )
            .values(cleared_at=require_aware(at, "at"))
        )
        if case_id is not None:
            stmt = stmt.where(s.case_id == case_id)
        async with self._sessions.begin() as session:
            return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------- blocklist

    async def block(
        self, member_id: str, by: str, reason: str, at: datetime, case_id: int | None = None
    ) -> bool:
        """Add to the blocklist; False if already on it."""
        async with self._sessions.begin() as session:
            stmt = (
                _insert(session, _BLOCKED)
                .values(
                    scope=self.scope,
                    member_id=member_id,
                    at=require_aware(at, "at"),
                    by=by,
                    reason=clean_text(reason, EVIDENCE_MAX_LENGTH),
                    case_id=case_id,
                )
                .on_conflict_do_nothing(index_elements=["scope", "member_id"])
                .returning(_BLOCKED.c.member_id)
            )
            return (await session.execute(stmt)).scalar_one_or_none() is not None

    async def unblock(self, member_id: str) -> bool:
        b = _BLOCKED.c
        stmt = delete(BlockedMember).where(b.scope == self.scope, b.member_id == member_id)
        async with self._sessions.begin() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def is_blocked(self, member_id: str) -> bool:
        async with self._sessions() as session:
            return await session.get(BlockedMember, (self.scope, member_id)) is not None

    async def blocked(self) -> list[tuple[str, str, datetime]]:
        """(member, reason, since) of everyone on the blocklist."""
        stmt = select(BlockedMember).where(BlockedMember.scope == self.scope)
        async with self._sessions() as session:
            rows = (await session.scalars(stmt.order_by(BlockedMember.at))).all()
            return [(r.member_id, r.reason, r.at) for r in rows]

    # ------------------------------------------------------------- allowlist

    async def allow(self, room_id: str, member_id: str, by: str, at: datetime) -> bool:
        async with self._sessions.begin() as session:
            stmt = (
                _insert(session, _ALLOWED)
                .values(
                    account_id=self.account_id,
                    room_id=room_id,
                    member_id=member_id,
                    at=require_aware(at, "at"),
                    by=by,
                )
                .on_conflict_do_nothing(index_elements=["account_id", "room_id", "member_id"])
                .returning(_ALLOWED.c.member_id)
            )
            return (await session.execute(stmt)).scalar_one_or_none() is not None

    async def allowed(self) -> list[tuple[str, str]]:
        """Every (room, member) an admin exempted."""
        stmt = select(AllowedMember).where(AllowedMember.account_id == self.account_id)
        async with self._sessions() as session:
            return [(r.room_id, r.member_id) for r in (await session.scalars(stmt)).all()]

    async def is_allowed(self, room_id: str, member_id: str) -> bool:
        async with self._sessions() as session:
            key = (self.account_id, room_id, member_id)
            return await session.get(AllowedMember, key) is not None

    # ----------------------------------------------------------------- modes

    async def set_mode(self, room_id: str, mode: str, by: str, at: datetime) -> None:
        at = require_aware(at, "at")
        async with self._sessions.begin() as session:
            ins = _insert(session, _MODES).values(
                account_id=self.account_id, room_id=room_id, mode=mode, since=at, by=by
            )
            await session.execute(
                ins.on_conflict_do_update(
                    index_elements=["account_id", "room_id"],
                    set_={"mode": mode, "since": at, "by": by},
                )
            )

    async def modes(self) -> dict[str, str]:
        """Every group's mode an owner set: room -> enforce / shadow."""
        stmt = select(ModerationMode).where(ModerationMode.account_id == self.account_id)
        async with self._sessions() as session:
            return {r.room_id: r.mode for r in (await session.scalars(stmt)).all()}

    # -------------------------------------------------------------- verdicts

    async def add_verdict(
        self, text: str, is_ad: bool, by: str, at: datetime, case_id: int | None = None
    ) -> None:
        async with self._sessions.begin() as session:
            session.add(
                AdVerdict(
                    account_id=self.account_id,
                    text=clean_text(text, EVIDENCE_MAX_LENGTH),
                    is_ad=is_ad,
                    case_id=case_id,
                    by=by,
                    at=require_aware(at, "at"),
                )
            )

    async def verdicts(self, limit: int = 5000) -> list[tuple[str, bool]]:
        """The admins' verdicts, oldest first (the classifier learns them in order)."""
        stmt = (
            select(AdVerdict)
            .where(AdVerdict.account_id == self.account_id)
            .order_by(AdVerdict.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.scalars(stmt)).all()
            return [(r.text, r.is_ad) for r in reversed(rows)]
