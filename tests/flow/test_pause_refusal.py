"""While a pause is open, what is queued of that kind is refused promptly and
the stored pauses are re-read once for each action about to be refused (an
owner may have closed the pause from the command line) — on a clock that
moves as real time does, not only when a test advances it."""

from __future__ import annotations

from pathlib import Path

from bot.vocab.actions import ActionKind, Priority, Say
from bot.vocab.clock import ManualClock
from tests.flow.harness import ACCOUNT, ROOM, Harness


class TickingClock(ManualClock):
    """Every reading of the monotonic clock finds it a microsecond later."""

    def monotonic(self) -> float:
        self._set(self._mono + 1e-6)
        return self._mono


async def test_a_paused_kind_is_refused_at_once_without_hammering_the_database(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path, clock=TickingClock())
    await bot.start()
    bot.puppet.fail_next("message_send_text", 1, "操作过于频繁")
    await bot.app.executor.submit([Say(room=ROOM, text="早安", reason="a post")])
    await bot.settle()  # the risk-control error opened a pause, stored for the account
    paused = await bot.app.pauses.open_pauses(ACCOUNT, bot.clock.now())
    assert [p.kind for p in paused] == ["message"]
    reads = 0
    real = bot.app.pauses.open_pauses

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal reads
        reads += 1
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    bot.app.pauses.open_pauses = counted  # type: ignore[method-assign]
    await bot.app.executor.submit([Say(room=ROOM, text="公告", reason="test")])
    await bot.settle()
    assert bot.sent() == []  # only the failed first try reached WeChat
    audit = await bot.repo.recent_audit(5)
    assert [(a.action, a.status) for a in audit] == [("say", "refused"), ("say", "failed")]
    assert bot.app.executor.governor.is_open(ActionKind.MESSAGE, bot.clock.monotonic())
    assert reads <= 2  # not once per turn of the loop
    await bot.stop()


async def test_a_member_repeating_the_owners_command_is_limited_like_any_command(
    tmp_path: Path,
) -> None:
    bot = Harness(tmp_path, "commands: {max_per_member: 3, repeat_window_seconds: 0}\n")
    await bot.start()
    for _ in range(20):
        await bot.puppet.member_says(ROOM, "wxid_a", "#解除暂停 message")
    await bot.settle()
    refusals = [c for c in bot.sent(ROOM) if "只有群主" in c.args["message"]]
    assert len(refusals) == 3  # then quiet, like any other command
    audit = await bot.repo.recent_audit(10)
    rows = [await bot.repo.outbox_get(a.key) for a in audit if a.key]
    assert {r.priority for r in rows if r is not None} == {
        int(Priority.REPLY)
    }  # not ahead of welcomes
    await bot.stop()
