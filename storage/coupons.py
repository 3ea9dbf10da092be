"""Coupons as assets: drops, claims, transfers, redemption and expiry, on SQLite and PostgreSQL.

    store = CouponStore(sessions, account_id="default")
    drop = await store.open_drop(scope="room:r1", room_id="r1", kind=kind, count=10,
                                 by=admin, at=now, closes_at=now + timedelta(hours=1))
    claim = await store.claim("r1", member, now)        # claim.outcome == "claimed"
    await store.offer(claim.coupon.id, giver=member, recipient=friend, room_id="r1",
                      at=now, until=now + timedelta(hours=1), note="送你")
    await store.accept("room:r1", friend, room_id="r1", at=now)
    await store.redeem(claim.coupon.code, by=merchant, room_id="r1", scope="room:r1", at=now)

The state machine: ``issued`` (waiting in a drop; its owner is the issuer) ->
``claimed`` -> ``pending_transfer`` (still the giver's) -> ``claimed`` (by the
recipient, or back to the giver when not accepted in time) -> ``redeemed`` /
``expired``.  A coupon has exactly one owner (``owner_id``) at every moment.

Every transition is one conditional ``UPDATE … WHERE status = <expected>``
(with ``RETURNING``) and its :class:`CouponEvent` row in the same transaction,
so two members racing for the last coupon, or two transfers of one coupon at
once, end with exactly one winner on either backend: on PostgreSQL the loser's
``UPDATE`` waits for the winner's row lock and then finds the status changed.
A member's claims from a drop are numbered (``claim_slot``) under a unique
constraint, so even two claims of one member at once cannot pass the limit.

Codes are ten characters from an alphabet without look-alikes (no 0/O, 1/I/L),
drawn with :mod:`secrets` (about 50 bits) and unique in the table.  Scoped by
the bot's account; takes the same session factory as
:class:`storage.repo.Repository`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.coupon_types import (
    CLAIM_TRIES as CLAIM_TRIES,
)
from storage.coupon_types import (  # re-exported: callers import them from here
    CODE_ALPHABET as CODE_ALPHABET,
)
from storage.coupon_types import (
    CODE_LENGTH as CODE_LENGTH,
)
from storage.coupon_types import (
    LIVE as LIVE,
)
from storage.coupon_types import (
    MAX_DROP_COUNT as MAX_DROP_COUNT,
)
from storage.coupon_types import (
    NOTE_MAX_LENGTH as NOTE_MAX_LENGTH,
)
from storage.coupon_types import (
    Claim as Claim,
)
from storage.coupon_types import (
    ClaimOutcome as ClaimOutcome,
)
from storage.coupon_types import (
    CouponInfo as CouponInfo,
)
from storage.coupon_types import (
    CouponKind as CouponKind,
)
from storage.coupon_types import (
    Drop as Drop,
)
from storage.coupon_types import (
    Event as Event,
)
from storage.coupon_types import (
    Handover as Handover,
)
from storage.coupon_types import (
    RedeemOutcome as RedeemOutcome,
)
from storage.coupon_types import (
    Redemption as Redemption,
)
from storage.coupon_types import (
    new_code as new_code,
)
from storage.coupon_types import (
    normalize_code as normalize_code,
)
from storage.models import Coupon, CouponDrop, CouponEvent
from storage.types import clean_text, require_aware

_COUPONS = cast(Table, Coupon.__table__)
_DROPS = cast(Table, CouponDrop.__table__)
_EVENTS = cast(Table, CouponEvent.__table__)


_COUPON_COLUMNS = tuple(_COUPONS.c[f.name] for f in fields(CouponInfo))
_DROP_COLUMNS = tuple(_DROPS.c[f.name] for f in fields(Drop))


def _coupon(row: Mapping[Any, Any]) -> CouponInfo:
    return CouponInfo(**{f.name: row[f.name] for f in fields(CouponInfo)})


def _drop(row: Mapping[Any, Any]) -> Drop:
    return Drop(**{f.name: row[f.name] for f in fields(Drop)})


class CouponStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, account_id: str) -> None:
        self._sessions = sessions
        self.account_id = account_id

    # ------------------------------------------------------------- helpers

    async def _event(
        self,
        session: AsyncSession,
        coupon_id: int,
        *,
        at: datetime,
        actor: str,
        from_status: str | None,
        to_status: str,
        from_owner: str | None,
        to_owner: str,
        room_id: str | None,
        note: str = "",
    ) -> None:
        await session.execute(
            insert(_EVENTS).values(
                account_id=self.account_id,
                coupon_id=coupon_id,
                at=at,
                actor=actor,
                from_status=from_status,
                to_status=to_status,
                from_owner=from_owner,
                to_owner=to_owner,
                room_id=room_id,
                note=clean_text(note, 500),
            )
        )

    async def _move(
        self, session: AsyncSession, where: Sequence[Any], values: Mapping[str, Any]
    ) -> CouponInfo | None:
        """One conditional transition: the coupon as it is after, or None if no row matched."""
        stmt = (
            update(_COUPONS)
            .where(_COUPONS.c.account_id == self.account_id, *where)
            .values(**values)
            .returning(*_COUPON_COLUMNS)
        )
        row = (await session.execute(stmt)).mappings().first()
        return None if row is None else _coupon(row)

    def _coupons(self) -> Any:
        return select(*_COUPON_COLUMNS).where(_COUPONS.c.account_id == self.account_id)

    # --------------------------------------------------------------- issuing

    async def open_drop(
        self,
        *,
        scope: str,
        room_id: str,
        kind: CouponKind,
        count: int,
        by: str,
        at: datetime,
        closes_at: datetime,
        announced: bool = True,
    ) -> Drop:
        """Issue ``count`` coupons of ``kind`` (owned by ``by`` until claimed),
        open for claiming in ``room_id`` until ``closes_at``.  ``announced``:
        False when the bot should announce it (a drop opened by the CLI)."""
        if not 1 <= count <= MAX_DROP_COUNT:
            raise ValueError(f"a drop holds 1 to {MAX_DROP_COUNT} coupons, not {count}")
        at = require_aware(at, "at")
        closes_at = require_aware(closes_at, "closes_at")
        for _ in range(3):  # a code collision (about never) retries with fresh codes
            try:
                async with self._sessions.begin() as session:
                    drop_id = (
                        await session.execute(
                            insert(_DROPS)
                            .values(
                                account_id=self.account_id,
                                scope=scope,
                                room_id=room_id,
                                type_id=kind.type_id,
                                name=kind.name,
                                value=kind.value,
                                count=count,
                                per_member_limit=kind.per_member_limit,
                                valid_days=kind.valid_days,
                                opened_by=by,
                                opened_at=at,
                                closes_at=closes_at,
                                announced_at=at if announced else None,
                            )
                            .returning(_DROPS.c.id)
                        )
                    ).scalar_one()
                    ids = await self._issue(session, scope, room_id, kind, count, by, at, drop_id)
                    for coupon_id in ids:
                        await self._event(
                            session,
                            coupon_id,
                            at=at,
                            actor=by,
                            from_status=None,
                            to_status="issued",
                            from_owner=None,
                            to_owner=by,
                            room_id=room_id,
                            note=f"drop {drop_id}",
                        )
                    row = (
                        (
                            await session.execute(
                                select(*_DROP_COLUMNS).where(_DROPS.c.id == drop_id)
                            )
                        )
                        .mappings()
                        .one()
                    )
                    return _drop(row)
            except IntegrityError:
                continue
        raise RuntimeError("could not draw unique coupon codes")

    async def _issue(
        self,
        session: AsyncSession,
        scope: str,
        room_id: str,
        kind: CouponKind,
        count: int,
        by: str,
        at: datetime,
        drop_id: int | None,
        **extra: Any,
    ) -> list[int]:
        expires_at = at + timedelta(days=kind.valid_days)
        rows = [
            {
                "account_id": self.account_id,
                "code": new_code(),
                "scope": scope,
                "room_id": room_id,
                "drop_id": drop_id,
                "type_id": kind.type_id,
                "name": kind.name,
                "value": kind.value,
                "transferable": kind.transferable,
                "status": "issued",
                "owner_id": by,
                "issued_by": by,
                "issued_at": at,
                "expires_at": expires_at,
                "updated_at": at,
            }
            | extra
            for _ in range(count)
        ]
        ids: list[int] = []
        for row in rows:  # one by one: every backend hands back each id
            result = await session.execute(insert(_COUPONS).values(**row).returning(_COUPONS.c.id))
            ids.append(result.scalar_one())
        return ids

    async def give(
        self,
        *,
        scope: str,
        room_id: str,
        kind: CouponKind,
        member_id: str,
        by: str,
        at: datetime,
    ) -> CouponInfo:
        """Issue one coupon of ``kind`` straight to ``member_id`` (an admin's #发券 @x)."""
        at = require_aware(at, "at")
        for _ in range(3):
            try:
                async with self._sessions.begin() as session:
                    [coupon_id] = await self._issue(session, scope, room_id, kind, 1, by, at, None)
                    await self._event(
                        session,
                        coupon_id,
                        at=at,
                        actor=by,
                        from_status=None,
                        to_status="issued",
                        from_owner=None,
                        to_owner=by,
                        room_id=room_id,
                        note="given",
                    )
                    coupon = await self._move(
                        session,
                        [_COUPONS.c.id == coupon_id, _COUPONS.c.status == "issued"],
                        {
                            "status": "claimed",
                            "owner_id": member_id,
                            "claimed_by": member_id,
                            "claimed_at": at,
                            "updated_at": at,
                        },
                    )
                    assert coupon is not None
                    await self._event(
                        session,
                        coupon_id,
                        at=at,
                        actor=by,
                        from_status="issued",
                        to_status="claimed",
                        from_owner=by,
                        to_owner=member_id,
                        room_id=room_id,
                        note="given",
                    )
                    return coupon
            except IntegrityError:
                continue
        raise RuntimeError("could not draw a unique coupon code")

    # --------------------------------------------------------------- drops

    async def open_drops(self, room_id: str, now: datetime) -> list[Drop]:
        """The drops open in ``room_id`` now, oldest first."""
        now = require_aware(now, "now")
        c = _DROPS.c
        stmt = (
            select(*_DROP_COLUMNS)
            .where(
                c.account_id == self.account_id,
                c.room_id == room_id,
                c.opened_at <= now,
                c.closes_at > now,
            )
            .order_by(c.id)
        )
        async with self._sessions() as session:
            return [_drop(r) for r in (await session.execute(stmt)).mappings().all()]

    async def unannounced(self, now: datetime) -> list[Drop]:
        """Open drops nobody announced yet (opened by the CLI)."""
        now = require_aware(now, "now")
        c = _DROPS.c
        stmt = (
            select(*_DROP_COLUMNS)
            .where(c.account_id == self.account_id, c.announced_at.is_(None), c.closes_at > now)
            .order_by(c.id)
        )
        async with self._sessions() as session:
            return [_drop(r) for r in (await session.execute(stmt)).mappings().all()]

    async def mark_announced(self, drop_id: int, at: datetime) -> bool:
        c = _DROPS.c
        stmt = (
            update(_DROPS)
            .where(c.id == drop_id, c.account_id == self.account_id, c.announced_at.is_(None))
            .values(announced_at=require_aware(at, "at"))
        )
        async with self._sessions.begin() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def remaining(self, drop_id: int) -> int:
        """Coupons of the drop still waiting to be claimed."""
        c = _COUPONS.c
        stmt = select(func.count()).where(
            c.account_id == self.account_id, c.drop_id == drop_id, c.status == "issued"
        )
        async with self._sessions() as session:
            return int((await session.scalar(stmt)) or 0)

    # ---------------------------------------------------------------- claims

    async def claim(self, room_id: str, member_id: str, at: datetime) -> Claim:
        """One coupon from a drop open in ``room_id`` for ``member_id``: from the
        oldest open drop where the member is under its limit and coupons remain.
        ``none``: no drop is open; ``limit``: the member claimed their share of
        every open drop; ``sold_out``: nothing left."""
        at = require_aware(at, "at")
        drops = await self.open_drops(room_id, at)
        if not drops:
            return Claim("none")
        refused: Claim = Claim("sold_out", drop=drops[-1])
        for drop in drops:
            for _ in range(3):
                try:
                    got = await self._claim_from(drop, room_id, member_id, at)
                except IntegrityError:
                    continue  # the member's own concurrent claim took the slot: count again
                break
            else:
                got = Claim("limit", drop=drop)
            if got.outcome == "claimed":
                return got
            if got.outcome == "limit" or refused.outcome != "limit":
                refused = got
        return refused

    async def hand_out(
        self, drop: Drop, member_ids: Sequence[str], at: datetime
    ) -> list[CouponInfo]:
        """One coupon of ``drop`` to each member (a member-day drop to the
        eligible members): each a claim of its own, never two for one member."""
        given = []
        for member_id in member_ids:
            got = await self._claim_from(drop, drop.room_id, member_id, require_aware(at, "at"))
            if got.coupon is not None:
                given.append(got.coupon)
        return given

    async def _claim_from(self, drop: Drop, room_id: str, member_id: str, at: datetime) -> Claim:
        c = _COUPONS.c
        async with self._sessions.begin() as session:
            mine = await session.scalar(
                select(func.count()).where(c.drop_id == drop.id, c.claimed_by == member_id)
            )
            if (mine or 0) >= drop.per_member_limit:
                return Claim("limit", drop=drop)
            for _ in range(CLAIM_TRIES):
                pick = (
                    select(c.id)
                    .where(c.drop_id == drop.id, c.status == "issued")
                    .order_by(c.id)
                    .limit(1)
                    .scalar_subquery()
                )
                coupon = await self._move(
                    session,
                    [c.id == pick, c.status == "issued"],
                    {
                        "status": "claimed",
                        "owner_id": member_id,
                        "claimed_by": member_id,
                        "claim_slot": (mine or 0) + 1,
                        "claimed_at": at,
                        "room_id": room_id,
                        "updated_at": at,
                    },
                )
                if coupon is not None:
                    await self._event(
                        session,
                        coupon.id,
                        at=at,
                        actor=member_id,
                        from_status="issued",
                        to_status="claimed",
                        from_owner=coupon.issued_by,
                        to_owner=member_id,
                        room_id=room_id,
                        note=f"drop {drop.id}",
                    )
                    return Claim("claimed", coupon, drop)
                # Another claimer took the one picked (PostgreSQL): any left?
                left = await session.scalar(
                    select(func.count()).where(c.drop_id == drop.id, c.status == "issued")
                )
                if not left:
                    break
            return Claim("sold_out", drop=drop)

    # ------------------------------------------------------------- holdings

    async def get(self, coupon_id: int) -> CouponInfo | None:
        async with self._sessions() as session:
            stmt = self._coupons().where(_COUPONS.c.id == coupon_id)
            row = (await session.execute(stmt)).mappings().first()
            return None if row is None else _coupon(row)

    async def by_code(self, code: str) -> CouponInfo | None:
        normal = normalize_code(code)
        if normal is None:
            return None
        async with self._sessions() as session:
            stmt = self._coupons().where(_COUPONS.c.code == normal)
            row = (await session.execute(stmt)).mappings().first()
            return None if row is None else _coupon(row)

    async def holdings(
        self, scope: str, member_id: str, *, statuses: Sequence[str] = (), limit: int = 100
    ) -> list[CouponInfo]:
        """The member's coupons in ``scope``, soonest to expire first."""
        c = _COUPONS.c
        stmt = self._coupons().where(c.scope == scope, c.owner_id == member_id)
        stmt = stmt.where(c.status.in_(statuses or ("claimed", "pending_transfer")))
        stmt = stmt.order_by(c.expires_at, c.id).limit(limit)
        async with self._sessions() as session:
            return [_coupon(r) for r in (await session.execute(stmt)).mappings().all()]

    async def incoming(self, scope: str, member_id: str, now: datetime) -> list[CouponInfo]:
        """Transfers offered to the member in ``scope`` and still open."""
        c = _COUPONS.c
        stmt = (
            self._coupons()
            .where(
                c.scope == scope,
                c.status == "pending_transfer",
                c.pending_to == member_id,
                c.pending_until > require_aware(now, "now"),
            )
            .order_by(c.pending_until, c.id)
        )
        async with self._sessions() as session:
            return [_coupon(r) for r in (await session.execute(stmt)).mappings().all()]

    async def events(self, coupon_id: int) -> list[Event]:
        """The coupon's transitions, oldest first."""
        e = _EVENTS.c
        stmt = (
            select(_EVENTS)
            .where(e.account_id == self.account_id, e.coupon_id == coupon_id)
            .order_by(e.id)
        )
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).mappings().all()
        return [Event(**{f.name: r[f.name] for f in fields(Event)}) for r in rows]

    async def export(self, room_id: str | None = None) -> list[CouponInfo]:
        """Every coupon of the account (of a group: issued for it or living there), by id."""
        c = _COUPONS.c
        stmt = self._coupons()
        if room_id is not None:
            stmt = stmt.where(or_(c.room_id == room_id, c.scope == f"room:{room_id}"))
        async with self._sessions() as session:
            rows = (await session.execute(stmt.order_by(c.id))).mappings().all()
        return [_coupon(r) for r in rows]

    # ------------------------------------------------------------ transfers

    async def offer(
        self,
        coupon_id: int,
        *,
        giver: str,
        recipient: str,
        room_id: str,
        at: datetime,
        until: datetime,
        note: str = "",
    ) -> CouponInfo | None:
        """Offer the giver's claimed, transferable, unexpired coupon to
        ``recipient`` until ``until``; None if it is not in that state (any
        more): of two offers of one coupon at once, exactly one succeeds."""
        at = require_aware(at, "at")
        c = _COUPONS.c
        note = clean_text(note, NOTE_MAX_LENGTH)
        async with self._sessions.begin() as session:
            coupon = await self._move(
                session,
                [
                    c.id == coupon_id,
                    c.status == "claimed",
                    c.owner_id == giver,
                    c.transferable.is_(True),
                    c.expires_at > at,
                ],
                {
                    "status": "pending_transfer",
                    "pending_to": recipient,
                    "pending_until": require_aware(until, "until"),
                    "pending_note": note,
                    "pending_room": room_id,
                    "updated_at": at,
                },
            )
            if coupon is not None:
                await self._event(
                    session,
                    coupon_id,
                    at=at,
                    actor=giver,
                    from_status="claimed",
                    to_status="pending_transfer",
                    from_owner=giver,
                    to_owner=giver,
                    room_id=room_id,
                    note=f"offered to {recipient}" + (f": {note}" if note else ""),
                )
            return coupon

    async def accept(
        self, scope: str, recipient: str, *, room_id: str, at: datetime, code: str | None = None
    ) -> list[Handover]:
        """Accept the transfers offered to ``recipient`` in ``scope`` (only the
        one with ``code`` if given) that are still open at ``at``."""
        at = require_aware(at, "at")
        c = _COUPONS.c
        offered = await self.incoming(scope, recipient, at)
        if code is not None:
            offered = [o for o in offered if o.code == normalize_code(code)]
        done: list[Handover] = []
        for o in offered:
            async with self._sessions.begin() as session:
                coupon = await self._move(
                    session,
                    [
                        c.id == o.id,
                        c.status == "pending_transfer",
                        c.pending_to == recipient,
                        c.owner_id == o.owner_id,
                        c.pending_until > at,
                    ],
                    {
                        "status": "claimed",
                        "owner_id": recipient,
                        "room_id": room_id,
                        "pending_to": None,
                        "pending_until": None,
                        "pending_note": None,
                        "pending_room": None,
                        "updated_at": at,
                    },
                )
                if coupon is None:
                    continue  # returned or expired a moment ago
                await self._event(
                    session,
                    o.id,
                    at=at,
                    actor=recipient,
                    from_status="pending_transfer",
                    to_status="claimed",
                    from_owner=o.owner_id,
                    to_owner=recipient,
                    room_id=room_id,
                    note="accepted",
                )
            done.append(
                Handover(coupon, o.owner_id, recipient, o.pending_room, o.pending_note or "")
            )
        return done

    async def return_lapsed(self, now: datetime, *, limit: int = 500) -> list[Handover]:
        """Transfers not accepted by their time go back to the giver."""
        now = require_aware(now, "now")
        c = _COUPONS.c
        stmt = (
            self._coupons()
            .where(c.status == "pending_transfer", c.pending_until <= now)
            .order_by(c.pending_until, c.id)
            .limit(limit)
        )
        async with self._sessions() as session:
            lapsed = [_coupon(r) for r in (await session.execute(stmt)).mappings().all()]
        done: list[Handover] = []
        for o in lapsed:
            async with self._sessions.begin() as session:
                coupon = await self._move(
                    session,
                    [c.id == o.id, c.status == "pending_transfer", c.pending_until <= now],
                    {
                        "status": "claimed",
                        "pending_to": None,
                        "pending_until": None,
                        "pending_note": None,
                        "pending_room": None,
                        "updated_at": now,
                    },
                )
                if coupon is None:
                    continue  # accepted just in time
                await self._event(
                    session,
                    o.id,
                    at=now,
                    actor="bot",
                    from_status="pending_transfer",
                    to_status="claimed",
                    from_owner=o.owner_id,
                    to_owner=o.owner_id,
                    room_id=o.pending_room,
                    note=f"not accepted by {o.pending_to} in time: returned",
                )
            assert o.pending_to is not None
            done.append(
                Handover(coupon, o.owner_id, o.pending_to, o.pending_room, o.pending_note or "")
            )
        return done

    # ------------------------------------------------------------ redemption

    async def redeem(
        self, code: str, *, by: str, room_id: str, scope: str, at: datetime
    ) -> Redemption:
        """Redeem a claimed, unexpired coupon of ``scope`` once; otherwise say why not
        (``already``: see the coupon's ``redeemed_*`` for when, by whom, where)."""
        at = require_aware(at, "at")
        c = _COUPONS.c
        for _ in range(2):
            found = await self.by_code(code)
            if found is None:
                return Redemption("unknown")
            if found.scope != scope:
                return Redemption("elsewhere", found)
            if found.status == "redeemed":
                return Redemption("already", found)
            if found.status == "expired" or found.expires_at <= at:
                return Redemption("expired", found)
            if found.status == "pending_transfer":
                return Redemption("pending", found)
            if found.status != "claimed":
                return Redemption("not_claimed", found)
            async with self._sessions.begin() as session:
                coupon = await self._move(
                    session,
                    [c.id == found.id, c.status == "claimed", c.expires_at > at],
                    {
                        "status": "redeemed",
                        "redeemed_at": at,
                        "redeemed_by": by,
                        "redeemed_room": room_id,
                        "updated_at": at,
                    },
                )
                if coupon is None:
                    continue  # changed under us (redeemed or offered just now): look again
                await self._event(
                    session,
                    found.id,
                    at=at,
                    actor=by,
                    from_status="claimed",
                    to_status="redeemed",
                    from_owner=found.owner_id,
                    to_owner=found.owner_id,
                    room_id=room_id,
                    note="redeemed",
                )
                return Redemption("redeemed", coupon)
        found = await self.by_code(code)
        return Redemption("already" if found and found.status == "redeemed" else "pending", found)

    # ---------------------------------------------------------------- expiry

    async def expire(self, now: datetime, *, limit: int = 1000) -> list[CouponInfo]:
        """Coupons past their date expire; so do the unclaimed coupons of closed drops."""
        now = require_aware(now, "now")
        c, d = _COUPONS.c, _DROPS.c
        closed = select(d.id).where(d.account_id == self.account_id, d.closes_at <= now)
        stmt = (
            self._coupons()
            .where(
                or_(
                    (c.status.in_(LIVE)) & (c.expires_at <= now),
                    (c.status == "issued") & c.drop_id.in_(closed),
                )
            )
            .order_by(c.id)
            .limit(limit)
        )
        async with self._sessions() as session:
            due = [_coupon(r) for r in (await session.execute(stmt)).mappings().all()]
        done: list[CouponInfo] = []
        for o in due:
            dated = o.expires_at <= now
            async with self._sessions.begin() as session:
                coupon = await self._move(
                    session,
                    [c.id == o.id, c.status == o.status],
                    {
                        "status": "expired",
                        "pending_to": None,
                        "pending_until": None,
                        "pending_note": None,
                        "pending_room": None,
                        "updated_at": now,
                    },
                )
                if coupon is None:
                    continue
                await self._event(
                    session,
                    o.id,
                    at=now,
                    actor="bot",
                    from_status=o.status,
                    to_status="expired",
                    from_owner=o.owner_id,
                    to_owner=o.owner_id,
                    room_id=o.room_id,
                    note="expired" if dated else f"drop {o.drop_id} closed unclaimed",
                )
            done.append(coupon)
        return done

    async def due_for_reminder(self, now: datetime, until: datetime) -> list[CouponInfo]:
        """Held coupons expiring after ``now`` and by ``until`` whose holder was not reminded."""
        c = _COUPONS.c
        stmt = (
            self._coupons()
            .where(
                c.status.in_(("claimed", "pending_transfer")),
                c.reminded_at.is_(None),
                c.expires_at > require_aware(now, "now"),
                c.expires_at <= require_aware(until, "until"),
            )
            .order_by(c.room_id, c.expires_at, c.id)
        )
        async with self._sessions() as session:
            return [_coupon(r) for r in (await session.execute(stmt)).mappings().all()]

    async def mark_reminded(self, coupon_ids: Sequence[int], at: datetime) -> int:
        if not coupon_ids:
            return 0
        c = _COUPONS.c
        stmt = (
            update(_COUPONS)
            .where(
                c.account_id == self.account_id,
                c.id.in_(list(coupon_ids)),
                c.reminded_at.is_(None),
            )
            .values(reminded_at=require_aware(at, "at"))
        )
        async with self._sessions.begin() as session:
            return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]
