"""The account lease, on every backend: one holder at a time, taken over after its ttl.

SQLite always; PostgreSQL when ``QUNBOT_TEST_PG_URL`` is set (tests/unit/conftest.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import current_revision, head_revision, session_factory, upgrade
from storage.lease import LeaseHeld, Leases, LeaseState, new_holder
from tests.unit.conftest import Store

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
TTL = 30.0
ME = "host-a:101:aaaa"
OTHER = "host-b:202:bbbb"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def leases(store: Store) -> Leases:
    return Leases(store.sessions)


async def test_the_first_process_takes_a_free_account(leases: Leases) -> None:
    state = await leases.acquire("default", ME, at(0), TTL)
    assert state == LeaseState("default", ME, at(0), at(0), at(30), None)
    assert await leases.get("default") == state


async def test_a_second_process_is_refused_while_the_lease_is_live(leases: Leases) -> None:
    await leases.acquire("default", ME, at(0), TTL)
    with pytest.raises(LeaseHeld) as refused:
        await leases.acquire("default", OTHER, at(12), TTL)
    assert str(refused.value) == (
        "another qunbot process (host-a:101) holds the account 'default' since "
        "2026-01-05 01:00:00 UTC; stop it first, or wait 18 s if it was killed"
    )
    assert refused.value.state.holder == ME
    assert (await leases.get("default")) is not None


async def test_renewing_keeps_the_lease_past_its_first_ttl(leases: Leases) -> None:
    await leases.acquire("default", ME, at(0), TTL)
    renewed = await leases.renew("default", ME, at(20), TTL)
    assert renewed is not None and renewed.expires_at == at(50)
    with pytest.raises(LeaseHeld):
        await leases.acquire("default", OTHER, at(40), TTL)


async def test_a_stale_lease_is_taken_over_after_its_ttl_and_the_old_holder_loses_it(
    leases: Leases,
) -> None:
    await leases.acquire("default", ME, at(0), TTL)
    with pytest.raises(LeaseHeld):
        await leases.acquire("default", OTHER, at(29), TTL)
    taken = await leases.acquire("default", OTHER, at(30), TTL)
    assert taken.holder == OTHER and taken.acquired_at == at(30)
    assert await leases.renew("default", ME, at(31), TTL) is None  # the killed one is out


async def test_taking_the_own_lease_again_keeps_its_start(leases: Leases) -> None:
    await leases.acquire("default", ME, at(0), TTL)
    again = await leases.acquire("default", ME, at(10), TTL)
    assert again.acquired_at == at(0) and again.expires_at == at(40)


async def test_a_released_lease_is_free_at_once(leases: Leases) -> None:
    await leases.acquire("default", ME, at(0), TTL)
    assert await leases.release("default", OTHER, at(1)) is False  # not theirs to release
    assert await leases.release("default", ME, at(2)) is True
    assert (await leases.acquire("default", OTHER, at(2), TTL)).holder == OTHER


async def test_accounts_are_leased_independently(leases: Leases) -> None:
    await leases.acquire("shop-a", ME, at(0), TTL)
    assert (await leases.acquire("shop-b", OTHER, at(0), TTL)).holder == OTHER
    assert await leases.renew("shop-b", ME, at(1), TTL) is None


async def test_of_many_processes_racing_for_one_account_exactly_one_wins(
    leases: Leases,
) -> None:
    holders = [f"host:{pid}:x" for pid in range(8)]
    results = await asyncio.gather(
        *(leases.acquire("default", h, at(0), TTL) for h in holders), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, LeaseState)]
    assert len(won) == 1
    assert all(isinstance(r, LeaseHeld) for r in results if r is not won[0])

    # And again when they race to take over the expired lease.
    results = await asyncio.gather(
        *(leases.acquire("default", h, at(60), TTL) for h in holders if h != won[0].holder),
        return_exceptions=True,
    )
    assert sum(isinstance(r, LeaseState) for r in results) == 1


async def test_the_login_is_recorded_and_another_live_account_with_that_wechat_id_found(
    leases: Leases,
) -> None:
    await leases.acquire("shop-a", ME, at(0), TTL)
    first = await leases.record_login("shop-a", ME, "wxid_bot", at(1))
    assert first.held and first.previous_wechat_id is None and first.others == ()

    await leases.acquire("shop-b", OTHER, at(2), TTL)
    clash = await leases.record_login("shop-b", OTHER, "wxid_bot", at(3))
    assert [o.account_id for o in clash.others] == ["shop-a"]

    # Once shop-a's lease has expired it no longer counts.
    await leases.renew("shop-b", OTHER, at(40), TTL)
    later = await leases.record_login("shop-b", OTHER, "wxid_bot", at(41))
    assert later.others == () and later.previous_wechat_id == "wxid_bot"


async def test_recording_a_login_on_a_lease_taken_over_says_so(leases: Leases) -> None:
    await leases.acquire("default", ME, at(0), TTL)
    await leases.acquire("default", OTHER, at(31), TTL)
    check = await leases.record_login("default", ME, "wxid_bot", at(32))
    assert check.held is False
    assert (await leases.get("default")) == LeaseState(
        "default", OTHER, at(31), at(31), at(61), None
    )


def test_a_holder_names_host_pid_and_a_random_part() -> None:
    host, pid, rand = new_holder().rsplit(":", 2)
    assert host and int(pid) > 0 and len(rand) == 8
    assert new_holder() != new_holder()


async def test_two_processes_migrating_at_once_both_succeed(engine: AsyncEngine) -> None:
    # On PostgreSQL an advisory lock makes the second wait, then find nothing to do;
    # without it both would create the same tables.
    # (Without the lock they were seen to block each other for good: bounded, to fail.)
    await asyncio.wait_for(asyncio.gather(upgrade(engine), upgrade(engine), upgrade(engine)), 120)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert "leases" in tables
    await Leases(session_factory(engine)).acquire("default", ME, at(0), TTL)
