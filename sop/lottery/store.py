"""The lottery's tables: draws and their entrants, on SQLite and PostgreSQL.

    store = LotteryStore(sessions, account_id="default")
    draw = await store.open(run_key=run.key, entry_id="tuesday", room_id=room, scope=scope,
                            winners=3, content="{}", prize=None, at=now, draws_at=later)
    await store.enter(draw.id, member, name="阿甲", via="keyword", at=now)
    if await store.claim(draw.id, now, stale_before=now - timedelta(minutes=1)):
        draw = await store.record(draw.id, at=now)          # numbers, winners, list hash
        await store.give_prize(entrant_id, kind=kind, by="bot", at=now)  # once per winner
        ...post...
        await store.mark_announced(draw.id, now)

A draw's way: ``open`` -> ``drawing`` (claimed with a conditional UPDATE, so
one process draws it; a claim older than ``stale_before`` is taken over: the
claimer died) -> ``drawn`` (the entrants numbered and the winners recorded in
one transaction; the draw is a pure function of the stored seed and list, so
a resumed draw finds the same winners) -> ``announced``.  Each step is a
conditional ``UPDATE … WHERE status = …``: done once whatever restarts.

An entry takes the draw's row lock first (``UPDATE … SET entrant_count =
entrant_count + 1 WHERE status = 'open'``), so on PostgreSQL an entry and the
claim are serialized: nobody is added to a list after it was claimed.

A prize coupon is issued in the same transaction that records it on the
winner's row (``coupon_id IS NULL`` -> the coupon's id), so a winner gets
exactly one, across crashes and retries.  Scoped by the bot's account.

A store given a ``watcher`` (:class:`DrawWatcher`) tells it when a draw opens,
when its time is brought forward and when it stops being open (claimed): the
app's cache of each group's open draws (:mod:`sop.lottery.runtime`) listens,
so a message in a group without an open draw costs no query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sop.lottery import fair
from storage.coupons import CouponKind, CouponStore
from storage.models import ActivityEvent, LotteryDraw, LotteryEntrant, MemberStats
from storage.types import clean_text, require_aware

_DRAWS = cast(Table, LotteryDraw.__table__)
_ENTRANTS = cast(Table, LotteryEntrant.__table__)
_EVENTS = cast(Table, ActivityEvent.__table__)
_STATS = cast(Table, MemberStats.__table__)

NAME_MAX_LENGTH = 128
#: Statuses of a draw whose winners are known.
DRAWN = ("drawn", "announced")


@dataclass(frozen=True, slots=True)
class Draw:
    id: int
    run_key: str
    entry_id: str
    room_id: str
    scope: str
    status: str
    algorithm: str
    seed: str
    seed_hash: str
    winners: int
    content: str
    prize: str | None
    entrant_count: int
    entrants_hash: str | None
    opened_at: datetime
    draws_at: datetime
    claimed_at: datetime | None
    drawn_at: datetime | None
    announced_at: datetime | None

    @property
    def drawn(self) -> bool:
        return self.status in DRAWN


@dataclass(frozen=True, slots=True)
class Entrant:
    id: int
    draw_id: int
    member_id: str
    name: str
    status: str  # entered | ineligible
    reason: str | None
    via: str  # keyword | checkin
    message_id: str | None
    entered_at: datetime
    confirm_key: str | None
    confirmed_at: datetime | None
    number: int | None
    rank: int | None
    coupon_id: int | None


_DRAW_COLUMNS = tuple(_DRAWS.c[f.name] for f in fields(Draw))
_ENTRANT_COLUMNS = tuple(_ENTRANTS.c[f.name] for f in fields(Entrant))


def _draw(row: Mapping[Any, Any]) -> Draw:
    return Draw(**{f.name: row[f.name] for f in fields(Draw)})


def _entrant(row: Mapping[Any, Any]) -> Entrant:
    return Entrant(**{f.name: row[f.name] for f in fields(Entrant)})


class _Same:
    """``async with`` that hands out one already open session and leaves its
    transaction alone (the outer one commits or rolls back)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def __aenter__(self) -> AsyncSession:
        return self._session

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class _Within:
    """A session factory for :class:`CouponStore` that runs its work inside
    our transaction: the coupon and the winner's row commit together."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def __call__(self) -> _Same:
        return _Same(self._session)

    def begin(self) -> _Same:
        return _Same(self._session)


class _AlreadyGiven(Exception):
    """Raised inside a transaction to roll back a coupon another run gave first."""


class DrawWatcher(Protocol):
    """Told of every change to which draws are open (after it is committed)."""

    def opened(self, draw: Draw) -> None: ...

    def moved(self, draw_id: int, draws_at: datetime) -> None: ...

    def closed(self, draw_id: int) -> None: ...


class LotteryStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        account_id: str,
        watcher: DrawWatcher | None = None,
    ) -> None:
        self._sessions = sessions
        self.account_id = account_id
        self.watcher = watcher

    def _draws(self) -> Any:
        return select(*_DRAW_COLUMNS).where(_DRAWS.c.account_id == self.account_id)

    def _entrants(self) -> Any:
        return select(*_ENTRANT_COLUMNS).where(_ENTRANTS.c.account_id == self.account_id)

    # ------------------------------------------------------------- opening

    async def open(
        self,
        *,
        run_key: str,
        entry_id: str,
        room_id: str,
        scope: str,
        winners: int,
        content: str,
        prize: str | None,
        at: datetime,
        draws_at: datetime,
        seed: str | None = None,
    ) -> tuple[Draw, bool]:
        """The draw of ``run_key``, opened now with a fresh secret seed unless it
        exists already (then it is returned as it is).  Returns (draw, new)."""
        at, draws_at = require_aware(at, "at"), require_aware(draws_at, "draws_at")
        found = await self.by_run_key(run_key)
        if found is not None:
            if self.watcher is not None and found.status == "open":
                self.watcher.opened(found)
            return found, False
        seed = seed or fair.new_seed()
        try:
            async with self._sessions.begin() as session:
                await session.execute(
                    insert(_DRAWS).values(
                        account_id=self.account_id,
                        run_key=run_key,
                        entry_id=entry_id,
                        room_id=room_id,
                        scope=scope,
                        status="open",
                        algorithm=fair.ALGORITHM,
                        seed=seed,
                        seed_hash=fair.seed_hash(seed),
                        winners=winners,
                        content=content,
                        prize=prize,
                        entrant_count=0,
                        opened_at=at,
                        draws_at=draws_at,
                    )
                )
        except IntegrityError:  # opened by a racing run of the same key
            pass
        found = await self.by_run_key(run_key)
        assert found is not None
        if self.watcher is not None and found.status == "open":
            self.watcher.opened(found)
        return found, found.seed == seed

    async def by_run_key(self, run_key: str) -> Draw | None:
        async with self._sessions() as session:
            row = (
                (await session.execute(self._draws().where(_DRAWS.c.run_key == run_key)))
                .mappings()
                .first()
            )
        return None if row is None else _draw(row)

    async def get(self, draw_id: int) -> Draw | None:
        async with self._sessions() as session:
            row = (
                (await session.execute(self._draws().where(_DRAWS.c.id == draw_id)))
                .mappings()
                .first()
            )
        return None if row is None else _draw(row)

    async def draws(self, room_id: str | None = None, *, limit: int = 50) -> list[Draw]:
        """The newest draws first (of one group, or all)."""
        stmt = self._draws().order_by(_DRAWS.c.opened_at.desc(), _DRAWS.c.id.desc()).limit(limit)
        if room_id is not None:
            stmt = stmt.where(_DRAWS.c.room_id == room_id)
        async with self._sessions() as session:
            return [_draw(r) for r in (await session.execute(stmt)).mappings()]

    async def all_open(self) -> list[Draw]:
        """Every open draw of the account (whatever its time), oldest first."""
        d = _DRAWS.c
        stmt = self._draws().where(d.status == "open").order_by(d.opened_at, d.id)
        async with self._sessions() as session:
            return [_draw(r) for r in (await session.execute(stmt)).mappings()]

    async def open_draws(self, room_id: str, at: datetime) -> list[Draw]:
        """The draws a member can enter in ``room_id`` at ``at``, oldest first."""
        at = require_aware(at, "at")
        d = _DRAWS.c
        stmt = (
            self._draws()
            .where(d.room_id == room_id, d.status == "open", d.opened_at <= at, d.draws_at > at)
            .order_by(d.opened_at, d.id)
        )
        async with self._sessions() as session:
            return [_draw(r) for r in (await session.execute(stmt)).mappings()]

    # ------------------------------------------------------------ entering

    async def entrant(self, draw_id: int, member_id: str) -> Entrant | None:
        e = _ENTRANTS.c
        stmt = self._entrants().where(e.draw_id == draw_id, e.member_id == member_id)
        async with self._sessions() as session:
            row = (await session.execute(stmt)).mappings().first()
        return None if row is None else _entrant(row)

    async def enter(
        self,
        draw_id: int,
        member_id: str,
        *,
        name: str,
        via: str,
        at: datetime,
        message_id: str | None = None,
        status: str = "entered",
        reason: str | None = None,
    ) -> tuple[Entrant | None, bool]:
        """Record ``member_id`` in the draw (or that they may not enter: ``status``
        ``ineligible``).  Returns (their row, new); (None, False) when the draw
        is no longer open (claimed, or its time has passed)."""
        at = require_aware(at, "at")
        known = await self.entrant(draw_id, member_id)
        if known is not None:
            return known, False
        d = _DRAWS.c
        try:
            async with self._sessions.begin() as session:
                # The draw's row lock first: a claim waits for this entry, or this
                # entry sees the claim and stays out of the list.
                locked = await session.execute(
                    update(_DRAWS)
                    .where(
                        d.account_id == self.account_id,
                        d.id == draw_id,
                        d.status == "open",
                        d.draws_at > at,
                    )
                    .values(entrant_count=d.entrant_count + (1 if status == "entered" else 0))
                    .returning(d.id)
                )
                if locked.first() is None:
                    return None, False
                await session.execute(
                    insert(_ENTRANTS).values(
                        account_id=self.account_id,
                        draw_id=draw_id,
                        member_id=member_id,
                        name=clean_text(name or member_id, NAME_MAX_LENGTH),
                        status=status,
                        reason=reason,
                        via=via,
                        message_id=message_id,
                        entered_at=at,
                    )
                )
        except IntegrityError:  # the same member at the same moment: the first counts
            return await self.entrant(draw_id, member_id), False
        return await self.entrant(draw_id, member_id), True

    async def entrants(self, draw_id: int, *, status: str | None = None) -> list[Entrant]:
        """The draw's entrants: in list order once drawn, else in order of entry."""
        e = _ENTRANTS.c
        stmt = (
            self._entrants()
            .where(e.draw_id == draw_id)
            .order_by(e.number.is_(None), e.number, e.id)  # NULLs last on every backend
        )
        if status is not None:
            stmt = stmt.where(e.status == status)
        async with self._sessions() as session:
            return [_entrant(r) for r in (await session.execute(stmt)).mappings()]

    # --------------------------------------------------------- eligibility

    async def won_recently(self, room_id: str, member_id: str, *, before: Draw, last: int) -> bool:
        """Whether ``member_id`` won one of the group's ``last`` draws before ``before``."""
        if last <= 0:
            return False
        d, e = _DRAWS.c, _ENTRANTS.c
        recent = (
            select(d.id)
            .where(
                d.account_id == self.account_id,
                d.room_id == room_id,
                d.status.in_(DRAWN),
                d.id != before.id,
                d.draws_at <= before.opened_at,
            )
            .order_by(d.draws_at.desc(), d.id.desc())
            .limit(last)
        )
        async with self._sessions() as session:
            ids = list((await session.execute(recent)).scalars())
            if not ids:
                return False
            won = select(e.id).where(
                e.account_id == self.account_id,
                e.draw_id.in_(ids),
                e.member_id == member_id,
                e.rank.is_not(None),
            )
            return (await session.execute(won.limit(1))).first() is not None

    async def spoke_between(
        self, room_id: str, member_id: str, since: datetime, until: datetime
    ) -> bool:
        """Whether ``member_id`` said anything in ``room_id`` in ``[since, until)``.

        ``member_stats.last_spoke_at`` answers most cases at once; only a member
        who spoke again since ``until`` (entering by a message, say) needs the
        activity log's messages of the window."""
        since, until = require_aware(since, "since"), require_aware(until, "until")
        s, ev = _STATS.c, _EVENTS.c
        async with self._sessions() as session:
            last = (
                await session.execute(
                    select(s.last_spoke_at).where(s.room_id == room_id, s.contact_id == member_id)
                )
            ).scalar_one_or_none()
            if last is None or last < since:
                return False
            if last < until:
                return True
            found = await session.execute(
                select(
                    exists().where(
                        ev.room_id == room_id,
                        ev.contact_id == member_id,
                        ev.kind == "message",
                        ev.at >= since,
                        ev.at < until,
                    )
                )
            )
            return bool(found.scalar())

    # ------------------------------------------------------- confirmations

    async def unconfirmed(self) -> dict[int, list[Entrant]]:
        """Entrants of open draws not yet confirmed in the group, by draw
        (those already given a confirmation key included: a crash left them)."""
        e, d = _ENTRANTS.c, _DRAWS.c
        out: dict[int, list[Entrant]] = {}
        async with self._sessions() as session:
            open_ids = list(
                (
                    await session.execute(
                        select(d.id).where(d.account_id == self.account_id, d.status == "open")
                    )
                ).scalars()
            )
            if not open_ids:
                return out
            stmt = (
                self._entrants()
                .where(e.draw_id.in_(open_ids), e.confirmed_at.is_(None))
                .order_by(e.draw_id, e.id)
            )
            for row in (await session.execute(stmt)).mappings():
                out.setdefault(row["draw_id"], []).append(_entrant(row))
        return out

    async def assign_confirmation(self, entrant_ids: Sequence[int], key: str) -> list[int]:
        """Give entrants without one the key of the message confirming them;
        returns those that took it."""
        if not entrant_ids:
            return []
        e = _ENTRANTS.c
        async with self._sessions.begin() as session:
            rows = await session.execute(
                update(_ENTRANTS)
                .where(
                    e.account_id == self.account_id,
                    e.id.in_(list(entrant_ids)),
                    e.confirm_key.is_(None),
                )
                .values(confirm_key=key)
                .returning(e.id)
            )
            return sorted(rows.scalars())

    async def mark_confirmed(self, keys: Sequence[str], at: datetime) -> int:
        """The messages with these keys are in the outbox: their entrants are confirmed."""
        if not keys:
            return 0
        e = _ENTRANTS.c
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(_ENTRANTS)
                .where(
                    e.account_id == self.account_id,
                    e.confirm_key.in_(list(keys)),
                    e.confirmed_at.is_(None),
                )
                .values(confirmed_at=require_aware(at, "at"))
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # -------------------------------------------------------------- drawing

    async def due(self, now: datetime, *, stale_before: datetime) -> list[Draw]:
        """Draws with work left: open past their time, claimed by a run that
        died (claimed before ``stale_before``), drawn but not announced."""
        d = _DRAWS.c
        now = require_aware(now, "now")
        stmt = (
            self._draws()
            .where(
                or_(
                    and_(d.status == "open", d.draws_at <= now),
                    and_(d.status == "drawing", d.claimed_at <= stale_before),
                    d.status == "drawn",
                )
            )
            .order_by(d.draws_at, d.id)
        )
        async with self._sessions() as session:
            return [_draw(r) for r in (await session.execute(stmt)).mappings()]

    async def claim(self, draw_id: int, now: datetime, *, stale_before: datetime) -> bool:
        """Take the draw (open -> drawing), or take over a claim older than
        ``stale_before``; False when someone else has it or it is done."""
        d = _DRAWS.c
        async with self._sessions.begin() as session:
            got = await session.execute(
                update(_DRAWS)
                .where(
                    d.account_id == self.account_id,
                    d.id == draw_id,
                    or_(
                        and_(d.status == "open", d.draws_at <= now),
                        and_(d.status == "drawing", d.claimed_at <= stale_before),
                    ),
                )
                .values(status="drawing", claimed_at=require_aware(now, "now"))
                .returning(d.id)
            )
            took = got.first() is not None
        if took and self.watcher is not None:
            self.watcher.closed(draw_id)
        return took

    async def record(self, draw_id: int, *, at: datetime) -> Draw:
        """Number the entrants, draw the winners (:func:`fair.draw`) and record
        both with the list's hash (drawing -> drawn), in one transaction."""
        d, e = _DRAWS.c, _ENTRANTS.c
        async with self._sessions.begin() as session:
            row = (
                (await session.execute(self._draws().where(d.id == draw_id, d.status == "drawing")))
                .mappings()
                .first()
            )
            if row is not None:
                draw = _draw(row)
                entered = list(
                    (
                        await session.execute(
                            select(e.id, e.member_id).where(
                                e.account_id == self.account_id,
                                e.draw_id == draw_id,
                                e.status == "entered",
                            )
                        )
                    ).all()
                )
                ids = {member: row_id for row_id, member in entered}
                numbers = fair.numbered(ids)
                ranks = {m: n for n, m in enumerate(fair.draw(draw.seed, ids, draw.winners), 1)}
                for member, number in numbers.items():
                    await session.execute(
                        update(_ENTRANTS)
                        .where(e.id == ids[member])
                        .values(number=number, rank=ranks.get(member))
                    )
                await session.execute(
                    update(_DRAWS)
                    .where(d.account_id == self.account_id, d.id == draw_id, d.status == "drawing")
                    .values(
                        status="drawn",
                        entrants_hash=fair.list_hash(ids),
                        entrant_count=len(ids),
                        drawn_at=require_aware(at, "at"),
                    )
                )
        found = await self.get(draw_id)
        assert found is not None
        return found

    async def give_prize(
        self,
        entrant_id: int,
        *,
        kind: CouponKind,
        scope: str,
        room_id: str,
        by: str,
        at: datetime,
    ) -> int | None:
        """Give the winner of row ``entrant_id`` one coupon of ``kind``, once:
        the coupon and the row's ``coupon_id`` commit together.  Returns the
        coupon's id (the one given earlier, if it was)."""
        e = _ENTRANTS.c
        try:
            async with self._sessions.begin() as session:
                row = (
                    await session.execute(
                        select(e.member_id, e.coupon_id, e.rank).where(
                            e.account_id == self.account_id, e.id == entrant_id
                        )
                    )
                ).first()
                if row is None or row.rank is None:
                    return None
                if row.coupon_id is not None:
                    return int(row.coupon_id)
                coupons = CouponStore(_Within(session), account_id=self.account_id)  # type: ignore[arg-type]
                coupon = await coupons.give(
                    scope=scope, room_id=room_id, kind=kind, member_id=row.member_id, by=by, at=at
                )
                took = await session.execute(
                    update(_ENTRANTS)
                    .where(
                        e.account_id == self.account_id,
                        e.id == entrant_id,
                        e.coupon_id.is_(None),
                    )
                    .values(coupon_id=coupon.id)
                    .returning(e.id)
                )
                if took.first() is None:
                    raise _AlreadyGiven
                return coupon.id
        except _AlreadyGiven:
            async with self._sessions() as session:
                given = await session.execute(select(e.coupon_id).where(e.id == entrant_id))
                value = given.scalar_one_or_none()
                return None if value is None else int(value)

    async def mark_announced(self, draw_id: int, at: datetime) -> bool:
        d = _DRAWS.c
        async with self._sessions.begin() as session:
            got = await session.execute(
                update(_DRAWS)
                .where(d.account_id == self.account_id, d.id == draw_id, d.status == "drawn")
                .values(status="announced", announced_at=require_aware(at, "at"))
                .returning(d.id)
            )
            return got.first() is not None

    async def draw_now(self, draw_id: int, at: datetime) -> bool:
        """Bring an open draw's time forward to ``at`` (an admin's #开奖)."""
        d = _DRAWS.c
        async with self._sessions.begin() as session:
            got = await session.execute(
                update(_DRAWS)
                .where(
                    d.account_id == self.account_id,
                    d.id == draw_id,
                    d.status == "open",
                    d.draws_at > at,
                )
                .values(draws_at=require_aware(at, "at"))
                .returning(d.id)
            )
            moved = got.first() is not None
        if moved and self.watcher is not None:
            self.watcher.moved(draw_id, at)
        return moved


def stale_before(now: datetime, minutes: float = 1.0) -> datetime:
    """Claims made before this are of a run that died."""
    return now - timedelta(minutes=minutes)
