"""The dispatcher's eviction hook: state kept outside the handlers (the member-list
reader) is told of an idle room too (issue 6, item 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.dispatcher import Dispatcher
from bot.vocab.clock import ManualClock
from bot.vocab.events import Event, MessageEvent, MessageKind
from handlers.base import BaseHandler, Context, Result
from handlers.membership import MembershipSync

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


class Nothing(BaseHandler):
    name = "nothing"

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        return None


def msg(room: str) -> MessageEvent:
    return MessageEvent(f"{room}:hi", room, "wxid_a", "阿甲", MessageKind.TEXT, "hi", T0)


async def test_an_idle_room_is_passed_to_the_eviction_hook_once() -> None:
    clock = ManualClock(T0)
    evicted: list[str] = []

    async def submit(actions: Any) -> None:
        return None

    d = Dispatcher(
        [[Nothing()]],
        lambda e: object(),  # type: ignore[arg-type,return-value]
        submit,
        clock=clock,
        on_evict=evicted.append,
    )
    d.feed(msg("quiet@chatroom"))
    await d.join()
    await clock.advance(24 * 3600 + 1)
    d.feed(msg("busy@chatroom"))
    await d.join()
    d.evict_idle()
    assert evicted == ["quiet@chatroom"]
    await d.close()


def test_membership_sync_forgets_an_idle_rooms_roles_and_listing() -> None:
    sync = MembershipSync(store=None, emit=lambda e: None)  # type: ignore[arg-type]
    sync._special["r1"] = {"wxid_owner": "owner"}
    sync._listed.add("r1")
    sync._special["r2"] = {"wxid_owner": "owner"}
    sync.forget_room("r1")
    assert "r1" not in sync._special and "r1" not in sync._listed
    assert "r2" in sync._special
