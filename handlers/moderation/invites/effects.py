"""The invites feature's own records, applied by ``bot.doer`` (decide, then do)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerts import Alert, AlertKind
from bot.vocab.effects import Effect
from handlers.moderation.invites.feature import feature
from handlers.services import Services
from storage.invites import InviteStore, JoinRow
from storage.moderation import ModerationStore

log = logging.getLogger(__name__)

#: Joins are kept this long (the pace looks back an hour; the audit log keeps the rest).
JOINS_KEPT = timedelta(days=2)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordJoins(Effect):
    """The joins decided on: the pace counts them (a replayed join counts once)."""

    rows: tuple[JoinRow, ...]
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class UseApproval(Effect):
    """An admin's approval let this joiner in: it is used up."""

    request_id: int
    member_id: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AddStrike(Effect):
    """A strike on a member who brought someone in without approval."""

    room: str
    member_id: str
    case_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LockGroup(Effect):
    """A raid: joiners are held or removed until ``until``; the owners are alerted
    through the alerter once per lock (the admins' messages are actions)."""

    room: str
    at: datetime
    until: datetime
    what: str
    where: str


def invite_store(services: Services) -> InviteStore:
    return InviteStore(services.sessions, account_id=services.account_id)


@feature.effect(RecordJoins)
async def _record_joins(effect: RecordJoins, services: Services) -> None:
    store = invite_store(services)
    await store.record_joins(effect.rows)
    await store.prune_joins(effect.at - JOINS_KEPT)


@feature.effect(UseApproval)
async def _use_approval(effect: UseApproval, services: Services) -> None:
    await invite_store(services).use(effect.request_id, effect.member_id, effect.at)


@feature.effect(AddStrike)
async def _add_strike(effect: AddStrike, services: Services) -> None:
    store = ModerationStore(services.sessions, account_id=services.account_id)
    await store.add_strike(effect.room, effect.member_id, effect.case_id, effect.at)


@feature.effect(LockGroup)
async def _lock_group(effect: LockGroup, services: Services) -> None:
    if not await invite_store(services).lock(effect.room, effect.at, effect.until):
        return  # already locked: alerted when it began
    log.warning("raid in %s: joins locked until %s", effect.room, effect.until.isoformat())
    services.alerter.alert(
        Alert(
            kind=AlertKind.RAID,
            what=effect.what,
            where=effect.where,
            account_id=services.account_id,
            key=f"{effect.room}@{effect.at.isoformat()}",
        )
    )
