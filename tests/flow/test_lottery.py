"""The ``lottery`` kind through the whole app (issue 10 point 7): it opens with
the seed's hash, members enter by keyword or by checking in (confirmed in one
folded message), the draw posts the seed, the list and the winners — which
anyone can recompute — and each winner holds one prize coupon, once, even when
the draw is resumed after a crash.

The calendar's runtime is the lead's: these tests hand the kind's runner a
``Run`` themselves and give its result to the doer, as the runtime will.  The
``tick`` job runs on the harness's clock.  The clock starts on Monday
2026-01-05 at 09:00 in Shanghai.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bot.vocab.actions import Say
from handlers.base import Context
from sop.entries import Entry
from sop.kinds import Run
from sop.lottery import fair
from sop.lottery import feature as lottery
from storage.coupons import CouponStore
from tests.flow.expect import Has, Like
from tests.flow.harness import ADMIN, ROOM, Harness

COUPONS = """
profiles:
  super:
    welcome: {enabled: false}
    engagement:
      checkin: {fold_seconds: 0}
      coupons:
        types:
          gift: {name: 礼品券, value: "¥20", valid_days: 14}
"""
MEMBERS = ["wxid_b", "wxid_c"]  # wxid_a is in the group already


def _entry(**content: object) -> Entry:
    lottery_content = {"keyword": "抽奖", "open_minutes": 30, "coupon_type": "gift"} | content
    return Entry.model_validate(
        {"id": "tuesday", "kind": "lottery", "cron": "0 20 * * tue", "lottery": lottery_content}
    )


def _ctx(bot: Harness) -> Context:
    return replace(bot.app.context_for_job(), policy=bot.app.policies.get(ROOM))


async def _open(bot: Harness, entry: Entry) -> int:
    """Run the kind as the calendar's runtime would; returns the draw's number."""
    now = bot.clock.now()
    run = Run(entry, ROOM, now, now + timedelta(hours=1))
    result = await lottery.run_lottery(_ctx(bot), run)
    assert result is not None
    await bot.app.doer.do(result, lottery.feature.name, run.key)
    await bot.settle()
    draw = await lottery.store_of(_ctx(bot)).by_run_key(run.key)
    assert draw is not None
    return draw.id


async def _started(tmp_path: Path, extra: str = COUPONS) -> Harness:
    bot = Harness(tmp_path, extra)
    await bot.start()
    await bot.puppet.join(ROOM, MEMBERS, ADMIN)
    await bot.settle()
    bot.actions.new()
    return bot


def _texts(bot: Harness) -> list[str]:
    return [str(c.args["message"]) for c in bot.sent(ROOM)]


def _said_since(bot: Harness) -> list[Say]:
    return [a for a, status in bot.actions.new() if isinstance(a, Say) and status == "done"]


async def _holdings(bot: Harness, member: str) -> list[str]:
    store = CouponStore(bot.app.services.sessions, account_id=bot.app.repo.account_id)
    return [c.name for c in await store.holdings(f"room:{ROOM}", member)]


async def test_members_enter_by_keyword_and_check_in_and_the_winners_hold_coupons(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    draw_id = await _open(bot, _entry(by_checkin=True, winners=2))
    opening = _texts(bot)[-1]
    hash_posted = re.search(r"\b[0-9a-f]{64}\b", opening)
    assert hash_posted is not None and "发送「抽奖」或「#签到」参与" in opening
    assert "09:30 开奖" in opening and f"第 {draw_id} 期" in opening

    await bot.puppet.member_says(ROOM, "wxid_a", "抽奖")
    await bot.puppet.member_says(ROOM, "wxid_b", "＃签到")  # full-width: a check-in too
    await bot.puppet.member_says(ROOM, "wxid_c", "#抽奖")  # as a command: entered, no reply
    await bot.puppet.member_says(ROOM, "wxid_a", " 抽 奖 ")  # once is enough
    await bot.settle()
    await bot.advance(60)
    confirmations = [t for t in _texts(bot) if "已参与抽奖" in t]
    assert confirmations == ["🎟 阿甲、阿乙、阿丙 已参与抽奖，目前共 3 人，09:30 开奖。"]

    await bot.advance(30 * 60)
    texts = _texts(bot)
    result = next(t for t in texts if "抽奖开奖" in t)
    listing = next(t for t in texts if "期参与名单（" in t)
    seed = re.search(r"种子：([0-9a-f]{64})", result)
    assert seed is not None and fair.seed_hash(seed[1]) == hash_posted[0]
    ids = re.findall(r"（(wxid_\w+)）", listing)
    assert ids == ["wxid_a", "wxid_b", "wxid_c"]
    assert f"参与名单哈希：{fair.list_hash(ids)}" in result
    winners = fair.draw(seed[1], ids, 2)
    names = {"wxid_a": "阿甲", "wxid_b": "阿乙", "wxid_c": "阿丙"}
    for rank, member in enumerate(winners, 1):
        assert f"{rank}. {ids.index(member) + 1} 号 {names[member]}" in result
    assert "礼品券¥20" in result
    for member in ids:
        assert await _holdings(bot, member) == (["礼品券"] if member in winners else [])
    [posted] = [a for a in _said_since(bot) if "抽奖开奖" in a.text]
    assert set(posted.mention_ids) == set(winners)
    await bot.stop()


async def test_silent_members_recent_winners_and_admins_are_told_they_may_not_enter(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    rules = {"spoke_within_days": 7, "not_won_last_draws": 1}
    await bot.puppet.member_says(ROOM, "wxid_a", "早上好")
    await bot.puppet.member_says(ROOM, "wxid_b", "大家好")
    await bot.advance(3600)
    await _open(bot, _entry(winners=1, eligibility={"spoke_within_days": 7}))
    await bot.puppet.member_says(ROOM, "wxid_a", "抽奖")  # the only entrant: wins
    await bot.advance(31 * 60)
    assert await _holdings(bot, "wxid_a") == ["礼品券"]

    await bot.advance(60)
    await _open(bot, _entry(winners=1, eligibility=rules))
    for member in ("wxid_a", "wxid_b", "wxid_c", ADMIN):  # wxid_c never spoke
        await bot.puppet.member_says(ROOM, member, "抽奖")
    await bot.settle()
    await bot.advance(60)
    folded = _texts(bot)[-1]
    assert "阿乙 已参与抽奖，目前共 1 人" in folded
    assert "阿甲 暂不能参与本期抽奖：最近 1 期中过奖" in folded
    assert "阿丙 暂不能参与本期抽奖：开奖前 7 天内需要在群里发过言" in folded
    assert "管理员 暂不能参与本期抽奖：群主和群管不参与抽奖" in folded

    await bot.advance(30 * 60)
    result = [t for t in _texts(bot) if "抽奖开奖" in t][-1]
    assert "共 1 人参与" in result and "1. 1 号 阿乙" in result
    assert await _holdings(bot, "wxid_b") == ["礼品券"]
    assert await _holdings(bot, "wxid_c") == []
    await bot.stop()


async def test_a_draw_claimed_by_a_run_that_died_is_finished_once_by_the_next(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    draw_id = await _open(bot, _entry(winners=2))
    await bot.puppet.member_says(ROOM, "wxid_a", "抽奖")
    await bot.puppet.member_says(ROOM, "wxid_b", "抽奖")
    await bot.advance(29 * 60)
    store = lottery.store_of(_ctx(bot))
    # A run claims the draw at its time and dies before recording or posting anything.
    await bot.clock.advance(60)
    now = bot.clock.now()
    assert await store.claim(draw_id, now, stale_before=now - timedelta(minutes=1))
    await bot.advance(5 * 60)  # the next ticks see the claim go stale and take it over
    results = [t for t in _texts(bot) if "抽奖开奖" in t]
    assert len(results) == 1 and "共 2 人参与" in results[0]
    # Running the job again (a retry, another restart) draws, gives and posts nothing more.
    for _ in range(2):
        again = await lottery.tick(_ctx(bot), bot.clock.now())
        assert again is None  # nothing was due
    await bot.settle()
    assert len([t for t in _texts(bot) if "抽奖开奖" in t]) == 1
    assert await _holdings(bot, "wxid_a") == ["礼品券"]
    assert await _holdings(bot, "wxid_b") == ["礼品券"]
    draw = await store.get(draw_id)
    assert draw is not None and draw.status == "announced"
    await bot.stop()


async def test_a_crash_after_the_draw_resumes_it_with_the_same_winners_and_one_post(
    tmp_path: Path,
) -> None:
    first = await _started(tmp_path)
    draw_id = await _open(first, _entry(winners=1))
    for member in ("wxid_a", "wxid_b", "wxid_c"):
        await first.puppet.member_says(ROOM, member, "抽奖")
    await first.advance(29 * 60)
    store = lottery.store_of(_ctx(first))
    await first.clock.advance(60)
    now = first.clock.now()
    assert await store.claim(draw_id, now, stale_before=now)
    drawn = await store.record(draw_id, at=now)  # winners recorded, nothing posted yet
    [winner] = [e.member_id for e in await store.entrants(draw_id) if e.rank == 1]
    await first.crash()

    second = Harness(tmp_path, COUPONS, clock=first.clock)
    await second.start()
    await second.advance(3 * 60)
    results = [t for t in _texts(second) if "抽奖开奖" in t]
    assert len(results) == 1 and f"种子：{drawn.seed}" in results[0]
    assert await _holdings(second, winner) == ["礼品券"]
    assert fair.draw(drawn.seed, ["wxid_a", "wxid_b", "wxid_c"], 1) == [winner]
    await second.stop()


async def test_only_an_admin_can_draw_the_lottery_early(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    draw_id = await _open(bot, _entry())
    await bot.puppet.member_says(ROOM, "wxid_a", "抽奖")
    await bot.settle()
    bot.actions.new()
    await bot.puppet.member_says(ROOM, "wxid_b", "#开奖")
    await bot.settle()
    bot.actions.expect(Like(Say, room=ROOM, mention_ids=("wxid_b",), text=Has("只有群管可以使用")))
    await bot.advance(60)
    assert not [t for t in _texts(bot) if "抽奖开奖" in t]

    await bot.puppet.member_says(ROOM, ADMIN, "#开奖")
    await bot.settle()
    assert f"第 {draw_id} 期抽奖马上开奖" in _texts(bot)[-1]
    await bot.advance(60)
    assert len([t for t in _texts(bot) if "抽奖开奖" in t]) == 1
    await bot.stop()


async def test_nobody_entering_posts_the_seed_and_gives_nothing(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await bot.puppet.member_says(ROOM, "wxid_a", "#抽奖")
    await bot.settle()
    assert _texts(bot)[-1] == "@阿甲 现在没有进行中的抽奖。"
    draw_id = await _open(bot, _entry())
    await bot.advance(31 * 60)
    draw = await lottery.store_of(_ctx(bot)).get(draw_id)
    assert draw is not None
    assert f"第 {draw_id} 期抽奖没有人参与，下次再来吧！本期种子：{draw.seed}" in _texts(bot)
    await bot.stop()
