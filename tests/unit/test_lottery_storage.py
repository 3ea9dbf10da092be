"""The lottery's tables on SQLite and PostgreSQL: a run opens one draw, an entry
after the claim stays out of the list, a claim is taken once (or over, when
stale), and a winner's coupon is given exactly once however often it is asked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sop.lottery import fair
from sop.lottery.store import LotteryStore
from storage.coupons import CouponKind, CouponStore
from storage.db import session_factory
from tests.unit.conftest import Store

AT = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
ROOM = "r1@chatroom"
SCOPE = f"room:{ROOM}"
KIND = CouponKind("gift", "礼品券", "¥20", valid_days=14)


def _store(store: Store, account: str = "default") -> LotteryStore:
    return LotteryStore(store.sessions, account_id=account)


async def _open(lottery: LotteryStore, key: str = "sop:tue:r1:1", winners: int = 2) -> int:
    draw, _ = await lottery.open(
        run_key=key,
        entry_id="tue",
        room_id=ROOM,
        scope=SCOPE,
        winners=winners,
        content="{}",
        prize=None,
        at=AT,
        draws_at=AT + timedelta(minutes=30),
    )
    return draw.id


async def test_a_run_key_opens_one_draw_and_only_its_hash_is_new(store: Store) -> None:
    lottery = _store(store)
    first, new = await lottery.open(
        run_key="k",
        entry_id="tue",
        room_id=ROOM,
        scope=SCOPE,
        winners=1,
        content="{}",
        prize=None,
        at=AT,
        draws_at=AT + timedelta(minutes=30),
    )
    again, again_new = await lottery.open(
        run_key="k",
        entry_id="tue",
        room_id=ROOM,
        scope=SCOPE,
        winners=1,
        content="{}",
        prize=None,
        at=AT,
        draws_at=AT + timedelta(minutes=30),
    )
    assert new and not again_new and again.id == first.id and again.seed == first.seed
    assert first.seed_hash == fair.seed_hash(first.seed) and first.status == "open"
    assert await _store(store, "other").get(first.id) is None  # another account's


async def test_entries_count_once_and_not_after_the_claim(store: Store) -> None:
    lottery = _store(store)
    draw_id = await _open(lottery)
    _, new = await lottery.enter(draw_id, "wxid_a", name="阿甲", via="keyword", at=AT)
    _, twice = await lottery.enter(draw_id, "wxid_a", name="阿甲", via="keyword", at=AT)
    assert new and not twice
    due = AT + timedelta(minutes=30)
    assert await lottery.claim(draw_id, due, stale_before=due - timedelta(minutes=1))
    late, _ = await lottery.enter(draw_id, "wxid_b", name="阿乙", via="keyword", at=AT)
    assert late is None
    drawn = await lottery.record(draw_id, at=due)
    assert drawn.status == "drawn" and drawn.entrant_count == 1
    assert drawn.entrants_hash == fair.list_hash(["wxid_a"])


async def test_racing_entries_and_the_claim_leave_a_list_that_matches_its_hash(
    store: Store,
) -> None:
    lottery = _store(store)
    draw_id = await _open(lottery, winners=3)
    due = AT + timedelta(minutes=30)

    async def enter(i: int) -> None:
        other = LotteryStore(session_factory(store.engine), account_id="default")
        await other.enter(draw_id, f"wxid_{i:02d}", name=str(i), via="keyword", at=AT)

    async def claim() -> bool:
        other = LotteryStore(session_factory(store.engine), account_id="default")
        return await other.claim(draw_id, due, stale_before=due - timedelta(minutes=1))

    *_, claimed = await asyncio.gather(*(enter(i) for i in range(20)), claim())
    assert claimed
    drawn = await lottery.record(draw_id, at=due)
    listed = [e.member_id for e in await lottery.entrants(draw_id, status="entered")]
    assert drawn.entrants_hash == fair.list_hash(listed) and drawn.entrant_count == len(listed)
    winners = [
        e.member_id
        for e in sorted(
            (e for e in await lottery.entrants(draw_id) if e.rank), key=lambda e: e.rank or 0
        )
    ]
    assert winners == fair.draw(drawn.seed, listed, 3)


async def test_a_claim_is_taken_once_and_taken_over_only_when_stale(store: Store) -> None:
    lottery = _store(store)
    draw_id = await _open(lottery)
    due = AT + timedelta(minutes=30)
    assert not await lottery.claim(draw_id, AT, stale_before=AT)  # not yet its time
    assert await lottery.claim(draw_id, due, stale_before=due - timedelta(minutes=1))
    assert not await lottery.claim(draw_id, due, stale_before=due - timedelta(minutes=1))
    later = due + timedelta(minutes=2)
    assert await lottery.claim(draw_id, later, stale_before=later - timedelta(minutes=1))


async def test_a_winner_is_given_one_coupon_however_often_it_is_asked(store: Store) -> None:
    lottery = _store(store)
    draw_id = await _open(lottery, winners=1)
    await lottery.enter(draw_id, "wxid_a", name="阿甲", via="keyword", at=AT)
    due = AT + timedelta(minutes=30)
    await lottery.claim(draw_id, due, stale_before=due)
    await lottery.record(draw_id, at=due)
    [winner] = await lottery.entrants(draw_id)

    async def give() -> int | None:
        other = LotteryStore(session_factory(store.engine), account_id="default")
        return await other.give_prize(
            winner.id, kind=KIND, scope=SCOPE, room_id=ROOM, by="bot", at=due
        )

    given = await asyncio.gather(*(give() for _ in range(4)))
    given.append(await give())
    assert len(set(given)) == 1 and given[0] is not None
    held = await CouponStore(store.sessions, account_id="default").holdings(SCOPE, "wxid_a")
    assert [(c.id, c.name) for c in held] == [(given[0], "礼品券")]
