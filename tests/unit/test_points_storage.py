"""The points ledger on SQLite and PostgreSQL alike: streaks by local day, one
payment per key, balances equal to the ledger's sum under any sequence of
operations, no negative balance, and folded confirmations that a crash cannot
lose or send twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bot.vocab.actions import Action, Say
from bot.vocab.clock import ManualClock
from handlers.engagement.points import local_day, send_folds, week_start
from storage.points import PointsStore, checkin_points, points_key
from tests.unit.conftest import Store

AT = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
SCOPE = "room:r1@chatroom"
ROOM = "r1@chatroom"
RULE = (10, 2, 20)


def _points(store: Store, account: str = "default") -> PointsStore:
    return PointsStore(store.sessions, account_id=account)


def test_checkin_points_grow_with_the_streak_up_to_the_cap() -> None:
    assert [checkin_points(s, *RULE) for s in (1, 2, 3, 10, 11, 12, 100)] == [
        10,
        12,
        14,
        28,
        30,
        30,
        30,
    ]


async def test_a_streak_runs_across_a_month_end_and_a_missed_day_starts_it_again(
    store: Store,
) -> None:
    points = _points(store)
    days = [date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 3)]
    for day in days:
        at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        await points.check_in(SCOPE, ROOM, "wxid_a", day, at, rule=RULE)
    assert await points.checkins_of(SCOPE, "wxid_a") == [
        ("2026-01-30", 1, 10),
        ("2026-01-31", 2, 12),
        ("2026-02-01", 3, 14),
        ("2026-02-03", 1, 10),  # 2 February was missed
    ]
    assert await points.balance(SCOPE, "wxid_a") == 46 == await points.ledger_sum(SCOPE, "wxid_a")


async def test_a_year_end_and_a_leap_day_keep_the_streak(store: Store) -> None:
    points = _points(store)
    for day in (date(2027, 12, 31), date(2028, 1, 1), date(2028, 2, 28), date(2028, 2, 29)):
        at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        await points.check_in(SCOPE, ROOM, "wxid_a", day, at, rule=RULE)
    streaks = [s for _, s, _ in await points.checkins_of(SCOPE, "wxid_a")]
    assert streaks == [1, 2, 1, 2]


async def test_checking_in_twice_a_day_pays_once(store: Store) -> None:
    points = _points(store)
    first = await points.check_in(SCOPE, ROOM, "wxid_a", date(2026, 1, 5), AT, rule=RULE)
    again = await points.check_in(
        SCOPE, ROOM, "wxid_a", date(2026, 1, 5), AT + timedelta(hours=3), rule=RULE
    )
    assert first.new and not again.new
    assert (again.streak, again.rank, again.balance) == (1, 1, 10)
    assert len(await points.ledger(scopes=[SCOPE])) == 1


async def test_concurrent_checkins_of_one_member_pay_once(store: Store) -> None:
    points = _points(store)
    day = date(2026, 1, 5)
    results = await asyncio.gather(
        *(points.check_in(SCOPE, ROOM, "wxid_a", day, AT, rule=RULE) for _ in range(5))
    )
    assert sum(r.new for r in results) == 1
    assert await points.balance(SCOPE, "wxid_a") == 10


async def test_the_rank_counts_the_days_checkins_in_the_group(store: Store) -> None:
    points = _points(store)
    day = date(2026, 1, 5)
    ranks = [
        (await points.check_in(SCOPE, ROOM, m, day, AT, rule=RULE)).rank
        for m in ("wxid_a", "wxid_b", "wxid_c")
    ]
    assert ranks == [1, 2, 3]


def test_the_local_day_turns_at_the_groups_midnight() -> None:
    @dataclass
    class P:
        timezone: str

    shanghai: Any = P("Asia/Shanghai")
    assert local_day(datetime(2026, 1, 5, 15, 59, 59, tzinfo=UTC), shanghai) == date(2026, 1, 5)
    assert local_day(datetime(2026, 1, 5, 16, 0, tzinfo=UTC), shanghai) == date(2026, 1, 6)
    # Monday 00:00 in Shanghai is Sunday 16:00 UTC.
    assert week_start(datetime(2026, 1, 7, 3, tzinfo=UTC), shanghai) == datetime(
        2026, 1, 4, 16, tzinfo=UTC
    )
    assert week_start(datetime(2026, 1, 4, 15, 59, tzinfo=UTC), shanghai) == datetime(
        2025, 12, 28, 16, tzinfo=UTC
    )


async def test_a_deduction_beyond_the_balance_is_refused_unless_allowed(store: Store) -> None:
    points = _points(store)
    add = await points.change(SCOPE, "wxid_a", 5, kind="admin", reason="奖励", key="k1", at=AT)
    take = await points.change(SCOPE, "wxid_a", -8, kind="admin", reason="扣", key="k2", at=AT)
    assert add.applied and take.refused and take.balance == 5
    allowed = await points.change(
        SCOPE, "wxid_a", -8, kind="admin", reason="扣", key="k2", at=AT, allow_negative=True
    )
    assert allowed.applied and allowed.balance == -3
    assert [r.amount for r in await points.ledger(scopes=[SCOPE])] == [5, -8]


async def test_the_same_key_pays_once(store: Store) -> None:
    points = _points(store)
    key = points_key("admin", SCOPE, "msg-1")
    one = await points.change(SCOPE, "wxid_a", 7, kind="admin", reason="x", key=key, at=AT)
    two = await points.change(SCOPE, "wxid_a", 7, kind="admin", reason="x", key=key, at=AT)
    assert one.applied and two.duplicate and two.balance == 7


async def test_two_deductions_at_once_cannot_both_take_the_last_points(store: Store) -> None:
    points = _points(store)
    await points.change(SCOPE, "wxid_a", 10, kind="admin", reason="x", key="seed", at=AT)
    results = await asyncio.gather(
        *(
            points.change(SCOPE, "wxid_a", -10, kind="admin", reason="y", key=f"t{i}", at=AT)
            for i in range(4)
        )
    )
    assert sum(r.applied for r in results) == 1
    assert await points.balance(SCOPE, "wxid_a") == 0 == await points.ledger_sum(SCOPE, "wxid_a")


async def test_activity_points_stop_at_the_daily_cap(store: Store) -> None:
    points = _points(store)
    got = [
        await points.earn_activity(
            SCOPE, "wxid_a", 2, cap=5, local_date="2026-01-05", key=f"m{i}", at=AT
        )
        for i in range(4)
    ]
    assert [g.balance if g else None for g in got] == [2, 4, 5, None]
    next_day = await points.earn_activity(
        SCOPE, "wxid_a", 2, cap=5, local_date="2026-01-06", key="m9", at=AT + timedelta(days=1)
    )
    assert next_day is not None and next_day.balance == 7


async def test_the_week_board_counts_only_this_weeks_points(store: Store) -> None:
    points = _points(store)
    await points.change(SCOPE, "wxid_a", 50, kind="admin", reason="x", key="old", at=AT)
    later = AT + timedelta(days=7)
    await points.change(SCOPE, "wxid_b", 5, kind="admin", reason="x", key="new", at=later)
    assert await points.top(SCOPE) == [("wxid_a", 50), ("wxid_b", 5)]
    assert await points.top(SCOPE, since=later - timedelta(hours=1)) == [("wxid_b", 5)]


# ------------------------------------------------------- the ledger invariant

MEMBERS = ("wxid_a", "wxid_b", "wxid_c")
SCOPES = ("room:r1@chatroom", "tag:brandA")
operation = st.one_of(
    st.tuples(
        st.just("change"),
        st.sampled_from(SCOPES),
        st.sampled_from(MEMBERS),
        st.integers(-50, 50),
        st.integers(0, 8),  # key: repeats are retries
        st.booleans(),  # allow negative
    ),
    st.tuples(
        st.just("checkin"),
        st.sampled_from(SCOPES),
        st.sampled_from(MEMBERS),
        st.integers(0, 6),  # the day
    ),
    st.tuples(
        st.just("activity"),
        st.sampled_from(SCOPES),
        st.sampled_from(MEMBERS),
        st.integers(0, 3),  # the day
        st.integers(0, 8),  # the message
    ),
)


async def _apply(points: PointsStore, ops: Sequence[tuple[Any, ...]]) -> set[tuple[str, str]]:
    """Returns the (scope, member)s some change was allowed to take below zero."""
    may_go_negative: set[tuple[str, str]] = set()
    for op in ops:
        if op[0] == "change":
            _, scope, member, amount, key, negative = op
            if negative:
                may_go_negative.add((scope, member))
            await points.change(
                scope,
                member,
                amount,
                kind="admin",
                reason="随机",
                key=f"{scope}:{key}",
                at=AT,
                allow_negative=negative,
            )
        elif op[0] == "checkin":
            _, scope, member, day = op
            when = date(2026, 1, 5) + timedelta(days=day)
            await points.check_in(scope, ROOM, member, when, AT + timedelta(days=day), rule=RULE)
        else:
            _, scope, member, day, message = op
            await points.earn_activity(
                scope,
                member,
                3,
                cap=7,
                local_date=f"d{day}",
                key=f"act:{scope}:{message}",
                at=AT,
            )
    return may_go_negative


async def _invariant(points: PointsStore, may_go_negative: set[tuple[str, str]]) -> None:
    balances = await points.balances()
    sums = await points.ledger_sums()
    assert set(sums) <= set(balances)
    for scope_member, value in balances.items():
        assert value == sums.get(scope_member, 0)
    rows = await points.ledger()
    assert len({r.key for r in rows}) == len(rows)  # a key pays once
    assert all(v >= 0 for k, v in balances.items() if k not in may_go_negative)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(operation, max_size=40))
async def test_the_balance_is_the_sum_of_the_ledger_after_any_operations(
    store: Store, ops: list[tuple[Any, ...]]
) -> None:
    points = _points(store)
    async with store.sessions.begin() as session:  # each example from an empty ledger
        for table in ("points_ledger", "points_balances", "checkins", "checkin_folds"):
            await session.execute(text(f"DELETE FROM {table}"))
    await _invariant(points, await _apply(points, ops))


# ------------------------------------------------------- folded confirmations


@dataclass
class _Ctx:
    clock: ManualClock
    policies: Any


class _Policies:
    def __init__(self, policy: Any) -> None:
        self._policy = policy

    def get(self, room_id: str) -> Any:
        return self._policy if room_id == self._policy.room_id else None


def _policy() -> Any:
    from bot.config import validate_config_text
    from bot.policies import PolicyBook

    config = validate_config_text(
        "owners: [wxid_owner]\ngroups:\n  r1@chatroom: {name: 测试一群}\n", "t.yaml"
    )
    return PolicyBook(config).get(ROOM)


async def _fold_three(points: PointsStore, clock: ManualClock) -> None:
    day = date(2026, 1, 5)
    for member in ("wxid_a", "wxid_b", "wxid_c"):
        await points.check_in(
            SCOPE, ROOM, member, day, clock.now(), rule=RULE, fold_seconds=120, now=clock.now()
        )


async def test_folded_confirmations_wait_for_their_batch_then_go_in_one_message(
    store: Store,
) -> None:
    points, clock = _points(store), ManualClock(AT)
    await _fold_three(points, clock)  # the first is answered at once, two wait
    sent: list[Action] = []

    async def submit(actions: Sequence[Action]) -> None:
        sent.extend(actions)

    ctx: Any = _Ctx(clock, _Policies(_policy()))
    assert await send_folds(points, ctx, submit) == 0
    await clock.advance(121)
    assert await send_folds(points, ctx, submit) == 2
    assert len(sent) == 1 and isinstance(sent[0], Say)
    assert sent[0].mention_ids == ("wxid_b", "wxid_c")
    assert await send_folds(points, ctx, submit) == 0
    assert {f.status for f in await points.folds()} == {"sent"}


async def test_a_batch_whose_submit_failed_is_sent_again_under_the_same_key(
    store: Store,
) -> None:
    points, clock = _points(store), ManualClock(AT)
    await _fold_three(points, clock)
    await clock.advance(121)
    ctx: Any = _Ctx(clock, _Policies(_policy()))

    async def crash(actions: Sequence[Action]) -> None:
        raise RuntimeError("the process died before the outbox had it")

    with pytest.raises(RuntimeError):
        await send_folds(points, ctx, crash)
    assert {f.status for f in await points.folds()} == {"submitted"}
    sent: list[Action] = []

    async def submit(actions: Sequence[Action]) -> None:
        sent.extend(actions)

    assert await send_folds(points, ctx, submit) == 2
    key = (await points.folds())[0].action_key
    assert [a.key for a in sent] == [key]  # the outbox drops it if it had it after all
    assert {f.status for f in await points.folds()} == {"sent"}


async def test_confirmations_belong_to_the_account_that_sends_them(store: Store) -> None:
    a, b = _points(store, "bot_a"), _points(store, "bot_b")
    clock = ManualClock(AT)
    await _fold_three(a, clock)
    assert len(await a.folds()) == 2 and await b.folds() == []
    assert await b.due_folds(AT + timedelta(hours=1)) == []
