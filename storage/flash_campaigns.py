"""Flash group campaigns (快闪群): one row per calendar run, per account.

A campaign is a state machine (``storage.models.FLASH_STATUSES``).  Every step
is claimed with a conditional UPDATE (:meth:`FlashCampaigns.claim`): the step
is done only by whoever moved the row from the state it was in, so two ticks,
or a tick after a restart, never do the same step twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import FlashCampaign
from storage.sql import _insert
from storage.types import require_aware

_T = cast(Table, FlashCampaign.__table__)

ACTIVE = ("planned", "creating", "open", "ended", "dissolving", "quitting")


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    entry_id: str
    run_key: str
    topic: str
    content: dict[str, Any]
    sources: tuple[str, ...]
    members: tuple[str, ...]
    status: str
    room_id: str | None
    posts_done: int
    remove_round: int
    create_at: datetime
    event_start: datetime
    event_end: datetime
    dissolve_at: datetime
    step_at: datetime


@dataclass(frozen=True, slots=True)
class NewCampaign:
    entry_id: str
    run_key: str
    topic: str
    content: dict[str, Any]
    sources: Sequence[str]
    create_at: datetime
    event_start: datetime
    event_end: datetime
    dissolve_at: datetime


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        entry_id=row.entry_id,
        run_key=row.run_key,
        topic=row.topic,
        content=json.loads(row.content),
        sources=tuple(json.loads(row.sources)),
        members=tuple(json.loads(row.members)),
        status=row.status,
        room_id=row.room_id,
        posts_done=row.posts_done,
        remove_round=row.remove_round,
        create_at=row.create_at,
        event_start=row.event_start,
        event_end=row.event_end,
        dissolve_at=row.dissolve_at,
        step_at=row.step_at,
    )


class FlashCampaigns:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, account_id: str) -> None:
        if not account_id:
            raise ValueError("flash campaigns belong to an account")
        self._sessions = sessions
        self.account_id = account_id

    async def open(self, new: NewCampaign, now: datetime) -> bool:
        """Record a campaign (``planned``); False if this run already has one."""
        for t in (new.create_at, new.event_start, new.event_end, new.dissolve_at, now):
            require_aware(t)
        values = {
            "account_id": self.account_id,
            "entry_id": new.entry_id,
            "run_key": new.run_key,
            "topic": new.topic,
            "content": json.dumps(new.content, ensure_ascii=False),
            "sources": json.dumps(list(new.sources)),
            "members": "[]",
            "status": "planned",
            "room_id": None,
            "posts_done": 0,
            "remove_round": 0,
            "create_at": new.create_at,
            "event_start": new.event_start,
            "event_end": new.event_end,
            "dissolve_at": new.dissolve_at,
            "step_at": now,
            "created_at": now,
            "updated_at": now,
        }
        async with self._sessions() as session, session.begin():
            stmt = _insert(session, _T).values(**values)
            stmt = stmt.on_conflict_do_nothing(index_elements=["account_id", "run_key"])
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    async def active(self) -> list[Campaign]:
        stmt = (
            select(_T)
            .where(_T.c.account_id == self.account_id, _T.c.status.in_(ACTIVE))
            .order_by(_T.c.id)
        )
        async with self._sessions() as session:
            return [_campaign(r) for r in (await session.execute(stmt)).all()]

    async def get(self, campaign_id: int) -> Campaign | None:
        stmt = select(_T).where(_T.c.account_id == self.account_id, _T.c.id == campaign_id)
        async with self._sessions() as session:
            row = (await session.execute(stmt)).first()
            return None if row is None else _campaign(row)

    async def by_run(self, run_key: str) -> Campaign | None:
        stmt = select(_T).where(_T.c.account_id == self.account_id, _T.c.run_key == run_key)
        async with self._sessions() as session:
            row = (await session.execute(stmt)).first()
            return None if row is None else _campaign(row)

    async def claim(
        self,
        campaign: Campaign,
        status: str,
        now: datetime,
        *,
        room_id: str | None = None,
        members: Sequence[str] | None = None,
        posts_done: int | None = None,
        remove_round: int | None = None,
    ) -> bool:
        """Move ``campaign`` from the state it was read in to ``status`` (and the
        given fields); False when someone else moved it first."""
        require_aware(now)
        values: dict[str, Any] = {"status": status, "step_at": now, "updated_at": now}
        if room_id is not None:
            values["room_id"] = room_id
        if members is not None:
            values["members"] = json.dumps(list(members))
        if posts_done is not None:
            values["posts_done"] = posts_done
        if remove_round is not None:
            values["remove_round"] = remove_round
        stmt = (
            update(_T)
            .where(
                _T.c.account_id == self.account_id,
                _T.c.id == campaign.id,
                _T.c.status == campaign.status,
                _T.c.posts_done == campaign.posts_done,
                _T.c.remove_round == campaign.remove_round,
            )
            .values(**values)
        )
        async with self._sessions() as session, session.begin():
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))
