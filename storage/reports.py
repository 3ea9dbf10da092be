"""A group's week in numbers, and members' name cards (issue 11).

:class:`ReportStore` reads one group's week with a handful of aggregate
queries on the rollups and the features' own tables — never the event log:
member_days (active members, messages per day, the core members),
member_stays (joins and leaves), memberships (members now), checkins,
coupon_events, moderation_cases (ads), invite_joins (invites blocked) and
the audit rows the lurkers feature writes (warned / removed).

It also keeps ``name_cards``: each member's group alias (群昵称) as the last
member list showed it, and the alias a reminder was sent for, so a member is
reminded once per alias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    AuditLog,
    Checkin,
    Contact,
    CouponEvent,
    Group,
    JoinRecord,
    LurkerWarning,
    MemberDay,
    Membership,
    MemberStay,
    ModerationCase,
    NameCard,
)
from storage.sql import _insert
from storage.types import clean_text, require_aware

_DAYS = cast(Table, MemberDay.__table__)
_STAYS = cast(Table, MemberStay.__table__)
_MEMBERS = cast(Table, Membership.__table__)
_CHECKINS = cast(Table, Checkin.__table__)
_COUPON_EVENTS = cast(Table, CouponEvent.__table__)
_CASES = cast(Table, ModerationCase.__table__)
_JOINS = cast(Table, JoinRecord.__table__)
_AUDIT = cast(Table, AuditLog.__table__)
_CONTACTS = cast(Table, Contact.__table__)
_GROUPS = cast(Table, Group.__table__)
_CARDS = cast(Table, NameCard.__table__)

ALIAS_MAX_LENGTH = 128


def week_of(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def last_full_week(now: datetime, tz: tzinfo) -> date:
    """The Monday of the last week that has ended by ``now`` (local time)."""
    return week_of(now.astimezone(tz).date()) - timedelta(days=7)


@dataclass(frozen=True, slots=True)
class CoreMember:
    member_id: str
    name: str
    messages: int


@dataclass(frozen=True, slots=True)
class WeeklyFigures:
    """One group's week (Monday to Sunday, local days)."""

    room_id: str
    topic: str
    first_day: date
    joined: int = 0
    left: int = 0
    members_now: int = 0
    active_members: int = 0
    messages_per_day: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 0)
    checkins: int = 0
    coupons_issued: int = 0
    coupons_transferred: int = 0
    coupons_redeemed: int = 0
    ads_blocked: int = 0
    invites_blocked: int = 0
    lurkers_warned: int = 0
    lurkers_removed: int = 0
    core: tuple[CoreMember, ...] = field(default=())

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(self.first_day + timedelta(days=i) for i in range(7))

    @property
    def messages(self) -> int:
        return sum(self.messages_per_day)

    @property
    def active_ratio(self) -> float:
        """Active members over members now (0 when the group is empty)."""
        return self.active_members / self.members_now if self.members_now else 0.0

    @property
    def group_name(self) -> str:
        return self.topic or self.room_id


@dataclass(frozen=True, slots=True)
class NameCardRow:
    member_id: str
    alias: str
    reminded_alias: str | None


class ReportStore:
    """Weekly figures and name cards; everything the account does is scoped by it."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, account_id: str = "default"
    ) -> None:
        self._sessions = sessions
        self.account_id = account_id

    # -- weekly figures --------------------------------------------------------

    async def weekly(
        self, room_id: str, first_day: date, tz: tzinfo, *, core_count: int = 5
    ) -> WeeklyFigures:
        """The week from ``first_day`` (local) for seven days, in ``room_id``."""
        days = [first_day + timedelta(days=i) for i in range(7)]
        start = datetime.combine(first_day, time(), tz).astimezone(UTC)
        end = datetime.combine(first_day + timedelta(days=7), time(), tz).astimezone(UTC)
        first, last = days[0].isoformat(), days[-1].isoformat()
        acct = self.account_id
        d, s, m, c = _DAYS.c, _STAYS.c, _MEMBERS.c, _COUPON_EVENTS.c
        async with self._sessions() as session:
            per_member = (
                await session.execute(
                    select(d.contact_id, d.day, d.messages).where(
                        d.room_id == room_id, d.day >= first, d.day <= last, d.messages > 0
                    )
                )
            ).all()
            joined = await _count(
                session, _STAYS, s.room_id == room_id, s.joined_at >= start, s.joined_at < end
            )
            left = await _count(
                session, _STAYS, s.room_id == room_id, s.left_at >= start, s.left_at < end
            )
            members_now = await _count(session, _MEMBERS, m.room_id == room_id, m.left_at.is_(None))
            checkins = await _count(
                session,
                _CHECKINS,
                _CHECKINS.c.room_id == room_id,
                _CHECKINS.c.local_date >= first,
                _CHECKINS.c.local_date <= last,
            )
            coupon_where = (c.account_id == acct, c.room_id == room_id, c.at >= start, c.at < end)
            issued = await _count(session, _COUPON_EVENTS, *coupon_where, c.from_status.is_(None))
            transferred = await _count(
                session,
                _COUPON_EVENTS,
                *coupon_where,
                c.from_status == "pending_transfer",
                c.to_status == "claimed",
                c.from_owner != c.to_owner,
            )
            redeemed = await _count(
                session, _COUPON_EVENTS, *coupon_where, c.to_status == "redeemed"
            )
            ads = await _count(
                session,
                _CASES,
                _CASES.c.account_id == acct,
                _CASES.c.room_id == room_id,
                _CASES.c.rule == "ads",
                _CASES.c.decision == "ad",
                _CASES.c.created_at >= start,
                _CASES.c.created_at < end,
            )
            invites = await _count(
                session,
                _JOINS,
                _JOINS.c.account_id == acct,
                _JOINS.c.room_id == room_id,
                _JOINS.c.verdict == "remove",
                _JOINS.c.at >= start,
                _JOINS.c.at < end,
            )
            warned = await _lurkers_warned(session, acct, room_id, start, end)
            removed = await _lurkers_removed(session, acct, room_id, start, end)
            topic = await self._topic(session, room_id)
        by_day = {day.isoformat(): 0 for day in days}
        by_member: dict[str, int] = {}
        for member, day, n in per_member:
            by_day[day] = by_day.get(day, 0) + int(n)
            by_member[member] = by_member.get(member, 0) + int(n)
        top = sorted(by_member.items(), key=lambda kv: (-kv[1], kv[0]))[: max(core_count, 0)]
        names = await self.names(room_id, [member for member, _ in top])
        return WeeklyFigures(
            room_id=room_id,
            topic=topic,
            first_day=first_day,
            joined=joined,
            left=left,
            members_now=members_now,
            active_members=len(by_member),
            messages_per_day=tuple(by_day[day.isoformat()] for day in days),
            checkins=checkins,
            coupons_issued=issued,
            coupons_transferred=transferred,
            coupons_redeemed=redeemed,
            ads_blocked=ads,
            invites_blocked=invites,
            lurkers_warned=warned,
            lurkers_removed=removed,
            core=tuple(CoreMember(member, names[member], n) for member, n in top),
        )

    async def _topic(self, session: AsyncSession, room_id: str) -> str:
        g = _GROUPS.c
        topic = await session.scalar(
            select(g.topic).where(g.account_id == self.account_id, g.room_id == room_id)
        )
        return topic or ""

    async def groups(self) -> list[str]:
        """The groups the account is in (its ``groups`` rows not left)."""
        g = _GROUPS.c
        async with self._sessions() as session:
            rows = await session.scalars(
                select(g.room_id)
                .where(g.account_id == self.account_id, g.left_at.is_(None))
                .order_by(g.room_id)
            )
            return list(rows)

    async def names(self, room_id: str, member_ids: Sequence[str]) -> dict[str, str]:
        """How members are called in ``room_id``: their group alias, else their
        WeChat name, else their id."""
        if not member_ids:
            return {}
        ids = list(dict.fromkeys(member_ids))
        k = _CARDS.c
        async with self._sessions() as session:
            aliases = dict(
                (
                    await session.execute(
                        select(k.member_id, k.alias).where(
                            k.account_id == self.account_id,
                            k.room_id == room_id,
                            k.member_id.in_(ids),
                            k.alias != "",
                        )
                    )
                ).all()
            )
            contacts = dict(
                (
                    await session.execute(
                        select(_CONTACTS.c.contact_id, _CONTACTS.c.name).where(
                            _CONTACTS.c.contact_id.in_(ids)
                        )
                    )
                ).all()
            )
        return {i: aliases.get(i) or contacts.get(i) or i for i in ids}

    # -- name cards ------------------------------------------------------------

    async def record_aliases(self, room_id: str, aliases: Mapping[str, str], at: datetime) -> int:
        """Store the group aliases a member list showed (one upsert)."""
        at = require_aware(at, "at")
        rows = [
            {
                "account_id": self.account_id,
                "room_id": room_id,
                "member_id": member,
                "alias": clean_text(alias or "", ALIAS_MAX_LENGTH),
                "seen_at": at,
            }
            for member, alias in aliases.items()
            if member
        ]
        if not rows:
            return 0
        async with self._sessions.begin() as session:
            ins = _insert(session, _CARDS)
            await session.execute(
                ins.on_conflict_do_update(
                    index_elements=[_CARDS.c.account_id, _CARDS.c.room_id, _CARDS.c.member_id],
                    set_={"alias": ins.excluded.alias, "seen_at": ins.excluded.seen_at},
                ),
                rows,
            )
        return len(rows)

    async def name_cards(self, room_id: str) -> list[NameCardRow]:
        """The stored aliases of the members present in ``room_id``."""
        k, m = _CARDS.c, _MEMBERS.c
        stmt = (
            select(k.member_id, k.alias, k.reminded_alias)
            .join(_MEMBERS, and_(m.room_id == k.room_id, m.contact_id == k.member_id))
            .where(k.account_id == self.account_id, k.room_id == room_id, m.left_at.is_(None))
            .order_by(k.member_id)
        )
        async with self._sessions() as session:
            return [NameCardRow(*row) for row in (await session.execute(stmt)).all()]

    async def claim_reminder(self, room_id: str, member_id: str, alias: str, at: datetime) -> bool:
        """Mark ``member_id`` reminded about ``alias``; False when they already
        were (for this alias) or the alias has changed since it was read."""
        at = require_aware(at, "at")
        k = _CARDS.c
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(_CARDS)
                .where(
                    k.account_id == self.account_id,
                    k.room_id == room_id,
                    k.member_id == member_id,
                    k.alias == alias,
                    or_(k.reminded_alias.is_(None), k.reminded_alias != alias),
                )
                .values(reminded_alias=alias, reminded_at=at)
            )
            return bool(getattr(result, "rowcount", 0))


async def _count(session: AsyncSession, table: Table, *where: Any) -> int:
    return int(
        (await session.execute(select(func.count()).select_from(table).where(*where))).scalar_one()
    )


async def _lurkers_warned(
    session: AsyncSession, account_id: str, room_id: str, start: datetime, end: datetime
) -> int:
    """Members the lurkers feature warned (冒泡提醒) in the window."""
    w = LurkerWarning.__table__.c
    stmt = select(func.count(func.distinct(w.member_id))).where(
        w.account_id == account_id, w.room_id == room_id, w.warned_at >= start, w.warned_at < end
    )
    return int((await session.execute(stmt)).scalar_one())


async def _lurkers_removed(
    session: AsyncSession, account_id: str, room_id: str, start: datetime, end: datetime
) -> int:
    """Lurkers removed in the window: the executor's audit of their removals
    (keyed ``lurk-remove:…`` by the lurkers feature), done."""
    a = _AUDIT.c
    stmt = select(func.count(func.distinct(a.target_id))).where(
        a.account_id == account_id,
        a.room_id == room_id,
        a.action == "remove_member",
        a.key.like("lurk-remove:%"),
        a.status == "done",
        a.at >= start,
        a.at < end,
    )
    return int((await session.execute(stmt)).scalar_one())
