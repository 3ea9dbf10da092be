"""Coupons on SQLite and PostgreSQL alike: one owner at every moment, every
transition recorded, and races (claims, transfers, redemptions) with one winner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage.coupons import (
    CODE_ALPHABET,
    CODE_LENGTH,
    CouponKind,
    CouponStore,
    new_code,
    normalize_code,
)
from storage.db import session_factory
from tests.unit.conftest import Store

AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
ROOM = "r1@chatroom"
ROOM2 = "r2@chatroom"
SCOPE = f"room:{ROOM}"
ADMIN = "wxid_admin"
KIND = CouponKind("coffee", "咖啡券", "¥10", valid_days=7, transferable=True, per_member_limit=1)
FIXED = CouponKind("vip", "会员券", "", valid_days=7, transferable=False, per_member_limit=2)


def _store(store: Store, account: str = "default") -> CouponStore:
    return CouponStore(store.sessions, account_id=account)


def _separate(store: Store) -> CouponStore:
    """A store on its own session factory: concurrent calls use their own sessions."""
    return CouponStore(session_factory(store.engine), account_id="default")


async def _drop(coupons: CouponStore, count: int = 3, kind: CouponKind = KIND) -> int:
    drop = await coupons.open_drop(
        scope=SCOPE,
        room_id=ROOM,
        kind=kind,
        count=count,
        by=ADMIN,
        at=AT,
        closes_at=AT + timedelta(hours=1),
    )
    return drop.id


async def _claimed(coupons: CouponStore, member: str = "wxid_a", kind: CouponKind = KIND) -> int:
    await _drop(coupons, 1, kind)
    claim = await coupons.claim(ROOM, member, AT)
    assert claim.outcome == "claimed" and claim.coupon is not None
    return claim.coupon.id


def test_codes_are_ten_unambiguous_characters_and_typed_forms_are_understood() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set("01OIL") & set(CODE_ALPHABET)
    assert normalize_code("abcde-fghjk") == "ABCDEFGHJK"
    assert normalize_code("ＡＢＣＤＥ ＦＧＨＪＫ") == "ABCDEFGHJK"  # full width
    assert normalize_code("ABCDEFGHJ0") is None and normalize_code("ABC") is None


async def test_a_drop_issues_coupons_owned_by_the_issuer_until_claimed(store: Store) -> None:
    coupons = _store(store)
    drop_id = await _drop(coupons, 2)
    assert await coupons.remaining(drop_id) == 2
    claim = await coupons.claim(ROOM, "wxid_a", AT + timedelta(minutes=1))
    assert claim.outcome == "claimed" and claim.coupon is not None
    coupon = claim.coupon
    assert (coupon.status, coupon.owner_id, coupon.issued_by) == ("claimed", "wxid_a", ADMIN)
    assert coupon.expires_at == AT + timedelta(days=7)
    assert await coupons.remaining(drop_id) == 1
    events = await coupons.events(coupon.id)
    assert [(e.from_status, e.to_status, e.from_owner, e.to_owner) for e in events] == [
        (None, "issued", None, ADMIN),
        ("issued", "claimed", ADMIN, "wxid_a"),
    ]
    assert [c.id for c in await coupons.holdings(SCOPE, "wxid_a")] == [coupon.id]


async def test_a_member_claims_up_to_the_limit_and_a_closed_drop_gives_nothing(
    store: Store,
) -> None:
    coupons = _store(store)
    assert (await coupons.claim(ROOM, "wxid_a", AT)).outcome == "none"
    await _drop(coupons, 5, FIXED)  # two each
    assert (await coupons.claim(ROOM, "wxid_a", AT)).outcome == "claimed"
    assert (await coupons.claim(ROOM, "wxid_a", AT)).outcome == "claimed"
    assert (await coupons.claim(ROOM, "wxid_a", AT)).outcome == "limit"
    assert (await coupons.claim(ROOM2, "wxid_b", AT)).outcome == "none"  # another group
    assert (await coupons.claim(ROOM, "wxid_b", AT + timedelta(hours=1))).outcome == "none"


async def test_members_racing_for_the_last_coupon_one_gets_it(store: Store) -> None:
    coupons = _store(store)
    drop_id = await _drop(coupons, 1)
    racers = [f"wxid_{i}" for i in range(6)]
    claims = await asyncio.gather(*(_separate(store).claim(ROOM, m, AT) for m in racers))
    assert sorted(c.outcome for c in claims) == ["claimed"] + ["sold_out"] * 5
    assert await coupons.remaining(drop_id) == 0


async def test_many_racing_claimers_get_each_coupon_once(store: Store) -> None:
    coupons = _store(store)
    await _drop(coupons, 5)
    racers = [f"wxid_{i}" for i in range(12)]
    claims = await asyncio.gather(*(_separate(store).claim(ROOM, m, AT) for m in racers))
    won = [c.coupon for c in claims if c.coupon is not None]
    assert len(won) == 5 and len({c.id for c in won}) == 5
    assert len({c.owner_id for c in won}) == 5


async def test_one_member_claiming_twice_at_once_gets_one_coupon(store: Store) -> None:
    coupons = _store(store)
    await _drop(coupons, 5)
    claims = await asyncio.gather(*(_separate(store).claim(ROOM, "wxid_a", AT) for _ in range(4)))
    assert sorted(c.outcome for c in claims) == ["claimed", "limit", "limit", "limit"]
    assert len(await coupons.holdings(SCOPE, "wxid_a")) == 1


async def test_a_transfer_accepted_changes_the_owner_and_records_each_step(store: Store) -> None:
    coupons = _store(store)
    coupon_id = await _claimed(coupons)
    until = AT + timedelta(hours=1)
    offered = await coupons.offer(
        coupon_id, giver="wxid_a", recipient="wxid_b", room_id=ROOM, at=AT, until=until, note="送你"
    )
    assert offered is not None and offered.status == "pending_transfer"
    assert offered.owner_id == "wxid_a"  # still the giver's until accepted
    assert [c.id for c in await coupons.incoming(SCOPE, "wxid_b", AT)] == [coupon_id]
    [handover] = await coupons.accept(SCOPE, "wxid_b", room_id=ROOM2, at=AT + timedelta(minutes=5))
    assert handover.giver == "wxid_a" and handover.note == "送你"
    assert (handover.coupon.status, handover.coupon.owner_id) == ("claimed", "wxid_b")
    assert await coupons.holdings(SCOPE, "wxid_a") == []
    events = await coupons.events(coupon_id)
    assert [(e.to_status, e.to_owner, e.actor) for e in events[2:]] == [
        ("pending_transfer", "wxid_a", "wxid_a"),
        ("claimed", "wxid_b", "wxid_b"),
    ]


async def test_a_transfer_not_accepted_in_time_returns_to_the_giver(store: Store) -> None:
    coupons = _store(store)
    coupon_id = await _claimed(coupons)
    until = AT + timedelta(hours=1)
    await coupons.offer(
        coupon_id, giver="wxid_a", recipient="wxid_b", room_id=ROOM, at=AT, until=until
    )
    assert await coupons.return_lapsed(until - timedelta(seconds=1)) == []
    assert await coupons.accept(SCOPE, "wxid_b", room_id=ROOM, at=until) == []  # too late
    [back] = await coupons.return_lapsed(until)
    assert (back.coupon.status, back.coupon.owner_id, back.recipient) == (
        "claimed",
        "wxid_a",
        "wxid_b",
    )
    assert back.coupon.pending_to is None
    assert (await coupons.events(coupon_id))[-1].note.startswith("not accepted by wxid_b")


async def test_two_transfers_of_one_coupon_at_once_exactly_one_succeeds(store: Store) -> None:
    coupon_id = await _claimed(_store(store))
    until = AT + timedelta(hours=1)
    offers = await asyncio.gather(
        *(
            _separate(store).offer(
                coupon_id, giver="wxid_a", recipient=r, room_id=ROOM, at=AT, until=until
            )
            for r in ("wxid_b", "wxid_c", "wxid_d", "wxid_e")
        )
    )
    won = [o for o in offers if o is not None]
    assert len(won) == 1
    coupon = await _store(store).get(coupon_id)
    assert coupon is not None and coupon.pending_to == won[0].pending_to
    transitions = [e.to_status for e in await _store(store).events(coupon_id)]
    assert transitions.count("pending_transfer") == 1


async def test_only_the_owner_transfers_and_only_a_transferable_coupon(store: Store) -> None:
    coupons = _store(store)
    until = AT + timedelta(hours=1)
    coupon_id = await _claimed(coupons)
    assert (
        await coupons.offer(
            coupon_id, giver="wxid_x", recipient="wxid_b", room_id=ROOM, at=AT, until=until
        )
        is None
    )
    fixed_id = await _claimed(coupons, kind=FIXED)
    assert (
        await coupons.offer(
            fixed_id, giver="wxid_a", recipient="wxid_b", room_id=ROOM, at=AT, until=until
        )
        is None
    )


async def test_a_code_redeems_once_and_the_second_attempt_learns_when_and_by_whom(
    store: Store,
) -> None:
    coupons = _store(store)
    coupon = await coupons.get(await _claimed(coupons))
    assert coupon is not None
    later = AT + timedelta(hours=2)
    first = await coupons.redeem(
        coupon.code.lower(), by="wxid_shop", room_id=ROOM, scope=SCOPE, at=later
    )
    assert first.outcome == "redeemed" and first.coupon is not None
    assert (first.coupon.redeemed_by, first.coupon.redeemed_room) == ("wxid_shop", ROOM)
    second = await coupons.redeem(coupon.code, by=ADMIN, room_id=ROOM, scope=SCOPE, at=later)
    assert second.outcome == "already" and second.coupon is not None
    assert (second.coupon.redeemed_at, second.coupon.redeemed_by) == (later, "wxid_shop")
    assert (
        await coupons.redeem("ZZZZZZZZZZ", by=ADMIN, room_id=ROOM, scope=SCOPE, at=later)
    ).outcome == "unknown"


async def test_racing_redemptions_of_one_code_redeem_it_once(store: Store) -> None:
    coupons = _store(store)
    coupon = await coupons.get(await _claimed(coupons))
    assert coupon is not None
    results = await asyncio.gather(
        *(
            _separate(store).redeem(coupon.code, by=f"wxid_m{i}", room_id=ROOM, scope=SCOPE, at=AT)
            for i in range(4)
        )
    )
    assert sorted(r.outcome for r in results) == ["already"] * 3 + ["redeemed"]


async def test_redemption_is_refused_elsewhere_while_pending_and_after_expiry(store: Store) -> None:
    coupons = _store(store)
    coupon = await coupons.get(await _claimed(coupons))
    assert coupon is not None
    other = await coupons.redeem(coupon.code, by=ADMIN, room_id=ROOM2, scope=f"room:{ROOM2}", at=AT)
    assert other.outcome == "elsewhere"
    await coupons.offer(
        coupon.id,
        giver="wxid_a",
        recipient="wxid_b",
        room_id=ROOM,
        at=AT,
        until=AT + timedelta(hours=1),
    )
    pending = await coupons.redeem(coupon.code, by=ADMIN, room_id=ROOM, scope=SCOPE, at=AT)
    assert pending.outcome == "pending"
    late = await coupons.redeem(
        coupon.code, by=ADMIN, room_id=ROOM, scope=SCOPE, at=coupon.expires_at
    )
    assert late.outcome == "expired"


async def test_coupons_expire_on_their_date_and_unclaimed_ones_when_the_drop_closes(
    store: Store,
) -> None:
    coupons = _store(store)
    drop_id = await _drop(coupons, 2)
    held = await coupons.claim(ROOM, "wxid_a", AT)
    assert held.coupon is not None
    closed = await coupons.expire(AT + timedelta(hours=1))
    assert [(c.drop_id, c.status, c.owner_id) for c in closed] == [(drop_id, "expired", ADMIN)]
    assert await coupons.expire(AT + timedelta(days=7) - timedelta(seconds=1)) == []
    [dated] = await coupons.expire(AT + timedelta(days=7))
    assert (dated.id, dated.status, dated.owner_id) == (held.coupon.id, "expired", "wxid_a")
    assert (await coupons.events(dated.id))[-1].from_status == "claimed"
    assert await coupons.expire(AT + timedelta(days=8)) == []


async def test_reminders_are_due_once_before_expiry(store: Store) -> None:
    coupons = _store(store)
    coupon_id = await _claimed(coupons)
    expires = AT + timedelta(days=7)
    assert await coupons.due_for_reminder(AT, expires - timedelta(seconds=1)) == []
    [due] = await coupons.due_for_reminder(AT, expires)
    assert due.id == coupon_id
    assert await coupons.mark_reminded([coupon_id], AT) == 1
    assert await coupons.due_for_reminder(AT, expires) == []


async def test_a_coupon_given_directly_is_claimed_by_the_member(store: Store) -> None:
    coupons = _store(store)
    given = await coupons.give(
        scope=SCOPE, room_id=ROOM, kind=KIND, member_id="wxid_b", by=ADMIN, at=AT
    )
    assert (given.status, given.owner_id, given.drop_id) == ("claimed", "wxid_b", None)
    assert [e.to_status for e in await coupons.events(given.id)] == ["issued", "claimed"]


async def test_another_account_sees_and_moves_none_of_the_coupons(store: Store) -> None:
    coupon_id = await _claimed(_store(store))
    other = _store(store, "other")
    assert await other.get(coupon_id) is None
    assert (await other.claim(ROOM, "wxid_b", AT)).outcome == "none"
    until = AT + timedelta(hours=1)
    assert (
        await other.offer(
            coupon_id, giver="wxid_a", recipient="wxid_b", room_id=ROOM, at=AT, until=until
        )
        is None
    )
    assert await other.expire(AT + timedelta(days=30)) == []
    assert await other.export() == []


async def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await _store(store).claim(ROOM, "wxid_a", datetime(2026, 3, 1))  # noqa: DTZ001
