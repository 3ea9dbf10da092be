"""The lottery's entry handler asks the database nothing where no draw is open.

Every short text in every group reaches the entry handler; the app keeps each
group's open draws in memory (``sop.lottery.runtime``), filled by one query at
first use and kept up to date by the store.  These tests count the SQL
statements that touch the lottery's tables while members chat (the calendar
is off: the ``tick`` job runs only when a test runs it), and check that the
members who enter are still entered — after a restart too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from handlers.base import Context
from sop.entries import Entry
from sop.kinds import Run
from sop.lottery import feature as lottery
from sop.lottery.runtime import OpenDraws
from sop.lottery.store import LotteryStore
from tests.flow.harness import ADMIN, ROOM, ROOM2, Harness

CONFIG = """
profiles:
  super:
    welcome: {enabled: false}
    engagement:
      checkin: {fold_seconds: 0}
"""
CHAT = ["早上好", "抽奖", "#签到", " 抽 奖 ", "今天吃什么", "#抽奖"]


def _ctx(bot: Harness) -> Context:
    return replace(bot.app.context_for_job(), policy=bot.app.policies.get(ROOM))


def _cache(bot: Harness) -> OpenDraws:
    cache = lottery.cache_of(bot.app.services)
    assert cache is not None
    return cache


async def _started(tmp_path: Path, clock: Any = None) -> Harness:
    bot = Harness(tmp_path, CONFIG, clock, calendar=False)
    await bot.start()
    await bot.puppet.join(ROOM, ["wxid_b", "wxid_c"], ADMIN)
    await bot.settle()
    return bot


async def _open(bot: Harness, keyword: str = "抽奖") -> int:
    entry = Entry.model_validate(
        {
            "id": "tuesday",
            "kind": "lottery",
            "cron": "0 20 * * tue",
            "lottery": {"keyword": keyword, "open_minutes": 30},
        }
    )
    now = bot.clock.now()
    run = Run(entry, ROOM, now, now + timedelta(hours=1))
    result = await lottery.run_lottery(_ctx(bot), run)
    assert result is not None
    await bot.app.doer.do(result, lottery.feature.name, run.key)
    await bot.settle()
    draw = await lottery.store_of(_ctx(bot)).by_run_key(run.key)
    assert draw is not None
    return draw.id


async def _tick(bot: Harness) -> list[str]:
    """Run the ``tick`` job (the folded confirmations); the group's texts after it."""
    await lottery.tick(_ctx(bot), bot.clock.now())
    await bot.settle()
    return [str(c.args["message"]) for c in bot.sent(ROOM)]


@contextmanager
def _lottery_sql(bot: Harness) -> Iterator[list[str]]:
    """The SQL statements on the lottery's tables run inside the block."""
    seen: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "lottery_" in statement:
            seen.append(statement)

    engine = bot.app.engine.sync_engine
    event.listen(engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", spy)


async def _chat(bot: Harness, room: str, member: str, texts: list[str]) -> None:
    for text in texts:
        await bot.puppet.member_says(room, member, text)
    await bot.settle()


async def test_chat_in_a_group_without_an_open_draw_runs_no_lottery_query(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    with _lottery_sql(bot) as seen:
        await _chat(bot, ROOM, "wxid_a", CHAT * 5)
        await _chat(bot, ROOM2, "wxid_b", CHAT)
    assert len(seen) == 1  # the cache filled once, for the whole account
    assert _cache(bot).loads == 1
    assert "@阿甲 现在没有进行中的抽奖。" in [str(c.args["message"]) for c in bot.sent(ROOM)]
    await bot.stop()


async def test_a_group_with_an_open_draw_gets_entries_and_plain_chat_there_costs_no_query(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    await _chat(bot, ROOM, "wxid_a", ["早上好"])  # the cache is filled
    await _open(bot)
    with _lottery_sql(bot) as seen:
        await _chat(bot, ROOM, "wxid_a", ["早上好", "今天吃什么"] * 10)
        await _chat(bot, ROOM2, "wxid_b", CHAT)  # another group: no draw there
    assert seen == []
    with _lottery_sql(bot) as seen:
        await _chat(bot, ROOM, "wxid_a", ["抽奖"])
        await _chat(bot, ROOM, "wxid_b", [" 抽 奖 "])
    assert seen  # an entry is checked against the database
    texts = await _tick(bot)
    assert texts[-1] == "🎟 阿甲、阿乙 已参与抽奖，目前共 2 人，09:30 开奖。"
    await bot.stop()


async def test_after_a_restart_the_open_draw_is_still_entered(tmp_path: Path) -> None:
    first = await _started(tmp_path)
    await _open(first)
    await first.stop()

    second = Harness(tmp_path, CONFIG, first.clock, calendar=False)
    await second.start()
    await _chat(second, ROOM, "wxid_a", ["抽奖"])
    texts = await _tick(second)
    assert texts[-1] == "🎟 阿甲 已参与抽奖，目前共 1 人，09:30 开奖。"
    assert _cache(second).loads == 1
    await second.stop()


async def test_a_draw_closed_behind_the_caches_back_is_dropped_at_the_next_entry(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    draw_id = await _open(bot)
    # Claimed through a store the app's cache does not hear from (another tool).
    blind = LotteryStore(bot.app.services.sessions, account_id=bot.app.repo.account_id)
    now = bot.clock.now()
    assert await blind.draw_now(draw_id, now)
    assert await blind.claim(draw_id, now, stale_before=now)
    assert _cache(bot).candidates(ROOM, now) != []  # the cache still thinks it open

    await bot.clock.advance(1)
    await _chat(bot, ROOM, "wxid_a", ["抽奖"])
    assert await blind.entrants(draw_id) == []
    assert _cache(bot).candidates(ROOM, bot.clock.now()) == []
    with _lottery_sql(bot) as seen:
        await _chat(bot, ROOM, "wxid_b", ["抽奖"])
    assert seen == []
    await bot.stop()
