"""Coupons over real gRPC against the peer: a member claims one from an admin's
drop, transfers it to another, who accepts it and then holds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storage.coupons import CouponStore
from tests.e2e.conftest import ADMIN, ROOM, LiveBot
from tests.e2e.peer import NodePeer

pytestmark = pytest.mark.e2e

COUPONS = """
commands: {reply_valid_seconds: 3600}
profiles:
  member:
    welcome: {enabled: false}
    engagement:
      coupons:
        types:
          coffee: {name: 咖啡券, value: ¥10, valid_days: 7}
"""


@pytest.fixture
async def bot(peer: NodePeer, tmp_path: Path) -> AsyncIterator[LiveBot]:
    live = LiveBot(peer, tmp_path, COUPONS)
    await live.start()
    await peer.cmd("join", room=ROOM, members=["wxid_b"], inviter=ADMIN)
    yield live
    await live.stop()


async def said_in_room(peer: NodePeer, mark: int, *, to: str, contains: str) -> dict[str, Any]:
    """The bot's message in the group that @-mentions ``to`` and says ``contains``."""
    return await peer.wait_for_call(
        "messageSendText",
        lambda c: c["args"][0] == ROOM and to in (c["args"][2] or []) and contains in c["args"][1],
        timeout=30,
        since=mark,
    )


async def test_a_coupon_is_transferred_and_accepted(bot: LiveBot) -> None:
    peer = bot.peer
    mark = peer.mark()
    await peer.cmd("say", sender=ADMIN, room=ROOM, text="#发券 coffee 1 30")
    await peer.wait_for_call(
        "messageSendText", lambda c: "【发券】咖啡券" in c["args"][1], timeout=30, since=mark
    )
    mark = peer.mark()
    await peer.cmd("say", sender="wxid_a", room=ROOM, text="#领券")
    await said_in_room(peer, mark, to="wxid_a", contains="领到一张咖啡券")
    store = CouponStore(bot.app.services.sessions, account_id=bot.app.services.account_id)
    [coupon] = await store.holdings(f"room:{ROOM}", "wxid_a")

    mark = peer.mark()
    await peer.cmd(
        "say",
        sender="wxid_a",
        room=ROOM,
        text=f"#转赠 @阿乙\u2005{coupon.code} 请你喝咖啡",
        mentions=["wxid_b"],
    )
    offer = await said_in_room(peer, mark, to="wxid_b", contains="转赠给你")
    assert "请你喝咖啡" in offer["args"][1]

    mark = peer.mark()
    await peer.cmd("say", sender="wxid_b", room=ROOM, text="#接受")
    accepted = await said_in_room(peer, mark, to="wxid_b", contains="已收下")
    assert coupon.code in accepted["args"][1]
    await said_in_room(peer, mark, to="wxid_a", contains="已收下你转赠的咖啡券")
    [now_theirs] = await store.holdings(f"room:{ROOM}", "wxid_b")
    assert now_theirs.id == coupon.id
    assert await store.holdings(f"room:{ROOM}", "wxid_a") == []
