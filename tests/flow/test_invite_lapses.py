"""Invite requests past their time (issue 8.4): the requester is told once.

A ``#邀请`` nobody answers within ``request_hours`` lapses, an approval nobody
joins on within ``approval_hours`` expires; the invites' lapse job closes them
and tells the requester in the group, @-mentioned, once: not again on the next
run, after a restart, or when two runs race.  An answered request is never
told it lapsed, and ``#同意`` / ``#拒绝`` on one past its time says what
happened to it.  Here requests lapse after 1 hour and approvals after 2.
"""

from __future__ import annotations

from pathlib import Path

from bot.vocab.actions import Action, RemoveMember, Say
from bot.vocab.clock import ManualClock
from bot.vocab.keys import action_key
from handlers.base import Result
from handlers.features import FEATURES
from handlers.moderation import invites
from handlers.moderation.invites import lapse
from storage.invites import InviteStore
from tests.flow.expect import Has, Like
from tests.flow.harness import ACCOUNT, ADMIN, OWNER, ROOM, Harness

NEW = "wxid_new"
HOUR = 3600.0
LAPSES = """
profiles:
  super:
    welcome: {enabled: false}
    moderation:
      shadow_days: 0
      invites: {request_hours: 1, approval_hours: 2}
  member:
    welcome: {enabled: false}
    moderation: {shadow_days: 0}
"""
#: The same in a group still in its first days of shadow mode.
SHADOW = """
profiles:
  super:
    welcome: {enabled: false}
    moderation:
      invites: {request_hours: 1, approval_hours: 2}
"""


def _bot(
    tmp_path: Path, yaml: str = LAPSES, clock: ManualClock | None = None, calendar: bool = True
) -> Harness:
    features = [*(f for f in FEATURES if f is not invites.feature), invites.feature]
    bot = Harness(tmp_path, yaml, clock, features=features, calendar=calendar)
    bot.puppet.add_contact(NEW, "小新")
    return bot


async def _started(tmp_path: Path, yaml: str = LAPSES, calendar: bool = True) -> Harness:
    bot = _bot(tmp_path, yaml, calendar=calendar)
    await bot.start()
    bot.actions.new()
    return bot


def _done(bot: Harness) -> list[Action]:
    return [a for a, status in bot.actions.new() if status == "done"]


def _exactly(bot: Harness, *patterns: Like) -> None:
    done = _done(bot)
    assert len(done) == len(patterns), f"{patterns!r} != {done!r}"
    for p in patterns:
        assert any(p.matches(a, "done") for a in done), f"{p!r} not in {done!r}"


def _requests(bot: Harness) -> InviteStore:
    return InviteStore(bot.app.services.sessions, account_id=ACCOUNT)


async def _ask(bot: Harness, *names: str) -> None:
    for name in names:
        await bot.puppet.member_says(ROOM, "wxid_a", f"#邀请 {name}")
    await bot.settle()


async def _status(bot: Harness, n: int) -> str:
    request = await _requests(bot).get(n)
    assert request is not None
    return request.status


async def _run_job(bot: Harness) -> Result | None:
    """One run of the lapse job, decided now (for tests without the calendar)."""
    return await lapse.sweep(bot.app.context_for_job(), bot.clock.now())


async def _do(bot: Harness, result: Result | None, run: str) -> None:
    if result is not None:
        await bot.app.doer.do(result, "invites", run)
    await bot.settle()


LAPSED_TOLD = Like(
    Say,
    room=ROOM,
    mention_ids=("wxid_a",),
    text=Has("你邀请「小新」的申请（编号 1）", "1 小时内无人处理", "已失效", "#邀请 小新"),
)


async def test_a_request_nobody_answers_is_told_once_even_after_a_restart(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    await _ask(bot, "小新")
    bot.actions.new()
    await bot.advance(HOUR - 60)
    bot.actions.nothing()  # not yet
    await bot.advance(10 * 60)
    _exactly(bot, LAPSED_TOLD)
    assert await _status(bot, 1) == "lapsed"
    assert await _requests(bot).pending(ROOM, bot.clock.now()) == []
    [audit] = await bot.repo.recent_audit(key=action_key("invite-lapse-record", 1, "lapsed"))
    assert (audit.action, audit.reason, audit.target_id) == ("invite_request", "lapsed", "wxid_a")
    await bot.advance(HOUR)  # later runs: nothing more
    bot.actions.nothing()
    await bot.stop()

    again = _bot(tmp_path, clock=bot.clock)
    await again.start()
    again.actions.new()
    await again.advance(HOUR)
    again.actions.nothing()
    assert len(await again.repo.recent_audit(key=audit.key)) == 1
    await again.stop()


async def test_an_approval_nobody_uses_is_told_once_that_it_expired(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await _ask(bot, "小新")
    await bot.puppet.direct_message(ADMIN, "#同意 1")
    await bot.settle()
    bot.actions.new()
    await bot.advance(2 * HOUR + 10 * 60)
    _exactly(
        bot,
        Like(
            Say,
            room=ROOM,
            mention_ids=("wxid_a",),
            text=Has("已同意的邀请（编号 1）已过期", "「小新」没有在 2 小时内入群", "#邀请 小新"),
        ),
    )
    assert await _status(bot, 1) == "expired"
    await bot.advance(HOUR)
    bot.actions.nothing()
    await bot.puppet.join(ROOM, [NEW], "wxid_a")  # too late: an unapproved invite now
    await bot.settle()
    assert [(a.room, a.member_id) for a in _done(bot) if isinstance(a, RemoveMember)] == [
        (ROOM, NEW)
    ]
    await bot.stop()


async def test_an_answered_request_is_never_told_it_lapsed(tmp_path: Path) -> None:
    bot = await _started(tmp_path)
    await _ask(bot, "阿丙", "小新")
    await bot.puppet.direct_message(ADMIN, "#拒绝 1")
    await bot.puppet.direct_message(ADMIN, "#同意 2")
    await bot.settle()
    await bot.puppet.join(ROOM, [NEW], "wxid_a")  # 小新, on the approval
    await bot.settle()
    bot.actions.new()
    await bot.advance(4 * HOUR)
    bot.actions.nothing()
    assert [await _status(bot, n) for n in (1, 2)] == ["declined", "used"]
    await bot.stop()


async def test_answering_a_request_past_its_time_says_it_lapsed_or_expired(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path)
    await _ask(bot, "小新", "阿丙")
    await bot.puppet.direct_message(OWNER, "#同意 2")
    await bot.settle()
    bot.actions.new()
    await bot.advance(2 * HOUR + 10 * 60)  # both told (the job)
    assert len(_done(bot)) == 2
    await bot.puppet.direct_message(OWNER, "#同意 1")
    await bot.puppet.direct_message(ADMIN, "#拒绝 2")
    await bot.settle()
    _exactly(
        bot,
        Like(
            Say,
            to_contact=OWNER,
            text=Has("申请 1（阿甲 邀请「小新」）在 1 小时内无人处理，已失效，无法再同意"),
        ),
        Like(
            Say,
            to_contact=ADMIN,
            text=Has("申请 2 已同意过", "没有在 2 小时内入群", "已过期，无法再拒绝"),
        ),
    )
    assert [await _status(bot, n) for n in (1, 2)] == ["lapsed", "expired"]
    await bot.stop()


async def test_approving_a_lapsed_request_before_the_job_ran_says_it_lapsed(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path, calendar=False)
    await _ask(bot, "小新")
    bot.actions.new()
    await bot.clock.advance(HOUR)
    await bot.puppet.direct_message(ADMIN, "#同意 1")
    await bot.settle()
    _exactly(bot, Like(Say, to_contact=ADMIN, text=Has("申请 1", "已失效，无法再同意")))
    assert await _status(bot, 1) == "pending"  # the job closes it and tells the requester
    await _do(bot, await _run_job(bot), "run-1")
    _exactly(bot, LAPSED_TOLD)
    await bot.stop()


async def test_two_runs_at_once_tell_the_requester_once(tmp_path: Path) -> None:
    bot = await _started(tmp_path, calendar=False)
    await _ask(bot, "小新")
    bot.actions.new()
    await bot.clock.advance(HOUR)
    first, second = await _run_job(bot), await _run_job(bot)  # both saw it due
    await _do(bot, first, "process-1")
    await _do(bot, second, "process-2")
    _exactly(bot, LAPSED_TOLD)
    assert len(await bot.repo.recent_audit(key=action_key("invite-lapse-record", 1, "lapsed"))) == 1
    await bot.stop()


async def test_a_run_that_died_after_closing_is_told_by_the_next_run_once(
    tmp_path: Path,
) -> None:
    bot = await _started(tmp_path, calendar=False)
    await _ask(bot, "小新")
    bot.actions.new()
    await bot.clock.advance(HOUR)
    # Closed, then the process died before the telling was queued.
    assert await _requests(bot).close(1, "pending", bot.clock.now())
    await bot.clock.advance(10 * 60)
    await _do(bot, await _run_job(bot), "run-2")
    _exactly(bot, LAPSED_TOLD)
    assert await _run_job(bot) is None  # queued already: the next run has nothing to do
    await bot.stop()


async def test_a_group_in_shadow_mode_still_tells_the_requester(tmp_path: Path) -> None:
    bot = await _started(tmp_path, SHADOW, calendar=False)
    await _ask(bot, "小新")
    bot.actions.new()
    await bot.clock.advance(HOUR)
    await _do(bot, await _run_job(bot), "run-1")
    _exactly(bot, LAPSED_TOLD)
    await bot.stop()
