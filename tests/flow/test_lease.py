"""One account, one process: the lease in the database, with the injected clock."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import update

from storage.lease import LeaseHeld
from storage.models import Lease
from tests.flow.harness import ROOM, Harness


async def renew(bot: Harness, times: int = 1) -> None:
    """Let the clock reach the next renewal, ``times`` times, each one done in the database."""
    lease = bot.app.lease
    for _ in range(times):
        done = lease.renewals
        await bot.clock.advance(lease.renew_every)
        for _ in range(5000):  # the write goes through a database thread: real time
            if lease.renewals > done:
                break
            await asyncio.sleep(0.001)
        else:
            raise AssertionError("the lease was not renewed")


async def asks_for_help(bot: Harness) -> int:
    """A member asks for help; how many replies the bot posted in the room."""
    before = len(bot.sent(ROOM))
    await bot.puppet.member_says(ROOM, "wxid_a", "#帮助")
    await bot.settle()
    return len(bot.sent(ROOM)) - before


async def test_a_second_bot_on_the_same_database_refuses_to_start(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    await first.start()
    await renew(first, times=10)  # 100 s: renewed all along
    second = Harness(tmp_path, clock=first.clock)
    with pytest.raises(LeaseHeld, match=r"holds the account 'default' since .*; stop it first"):
        await second.app.start()
    assert second.puppet.calls == []  # it never connected
    assert await asks_for_help(first) == 1  # the first keeps serving
    await first.stop()


async def test_after_a_clean_stop_the_next_bot_starts_at_once(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    await first.start()
    await first.stop()
    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    assert await asks_for_help(second) == 1
    await second.stop()


async def test_a_killed_bots_account_is_taken_over_only_after_the_ttl(tmp_path: Path) -> None:
    first = Harness(tmp_path, "bot: {lease_ttl_seconds: 30, lease_renew_seconds: 10}\n")
    await first.start()
    await first.app.lease.stop(release=False)  # SIGKILL: no renewal, no release
    await first.app.executor.stop()
    await first.transport.stop()
    await first.app.engine.dispose()

    await first.clock.advance(25)
    early = Harness(tmp_path, clock=first.clock)
    with pytest.raises(LeaseHeld, match="wait 5 s if it was killed"):
        await early.app.start()

    await first.clock.advance(5)
    second = Harness(tmp_path, clock=first.clock)
    await second.start()
    assert await asks_for_help(second) == 1
    await second.stop()


async def test_a_bot_whose_lease_is_taken_stops_acting_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = Harness(tmp_path)
    await bot.start()
    async with bot.app.engine.begin() as conn:  # another process took the account
        await conn.execute(update(Lease).values(holder="elsewhere:99:ffff"))
    with caplog.at_level(logging.ERROR):
        await renew(bot)
    assert bot.app.lease_lost.is_set()
    assert any(
        r.levelno == logging.ERROR and "lost the lease of account 'default'" in r.getMessage()
        for r in caplog.records
    )
    assert await asks_for_help(bot) == 0  # nothing more goes out
    await bot.app.stop()
    async with bot.app.engine.connect() as conn:
        holder = (await conn.execute(Lease.__table__.select())).one().holder
    await bot.app.engine.dispose()
    assert holder == "elsewhere:99:ffff"  # stopping does not release someone else's lease


async def test_two_account_names_logged_in_as_one_wechat_account_stop_the_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = Harness(tmp_path, "bot: {account: shop-a}\n")
    await first.start()
    second = Harness(tmp_path, "bot: {account: shop-b}\n", clock=first.clock)
    with caplog.at_level(logging.ERROR):
        await second.start()  # the sandbox logs in as the same wxid_bot
        await second.settle()
    assert second.app.lease_lost.is_set()
    assert "already served by account 'shop-a'" in caplog.text
    assert not first.app.lease_lost.is_set()
    assert await asks_for_help(first) == 1
    await second.app.stop()
    await first.stop()


async def test_a_welcome_pending_when_the_lease_is_lost_is_left_to_the_new_holder(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path)
    await bot.start()
    bot.puppet.add_contact("wxid_new", "新人")
    await bot.puppet.join(ROOM, ["wxid_new"], "wxid_owner")
    await bot.settle()  # queued for the welcome window
    async with bot.app.engine.begin() as conn:  # another process took the account
        await conn.execute(update(Lease).values(holder="elsewhere:99:ffff"))
    await renew(bot)
    assert bot.app.lease_lost.is_set()
    await bot.app.stop()
    assert [c for c in bot.sent(ROOM) if "wxid_new" in c.args["mention_ids"]] == []
    # Still pending in the database, for the process that holds the account now.
    store = bot.app.welcome_store
    rows = await store.welcomes_of(bot.app.repo.account_id, ROOM, "wxid_new")
    await bot.app.engine.dispose()
    assert [r.status for r in rows] == ["pending"]
