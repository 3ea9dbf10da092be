"""Moderation over real gRPC against the peer: an ad is warned, then its sender removed;
a QR-code image is caught after its bytes are read through the streaming RPC."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOM, LiveBot
from tests.e2e.peer import NodePeer
from tests.unit.qr_images import embed, jpeg, photo, qr_image

pytestmark = pytest.mark.e2e

ENFORCE = """
profiles:
  member: {moderation: {shadow_days: 0}}
"""
AD = "加我微信 abc_12345 领取免费资料，兼职日结，扫码进群"


@pytest.fixture
async def enforcing(peer: NodePeer, tmp_path: Path) -> AsyncIterator[LiveBot]:
    bot = LiveBot(peer, tmp_path, ENFORCE)
    await bot.start()
    yield bot
    await bot.stop()


async def test_an_ad_is_warned_and_the_second_removes_the_sender(enforcing: LiveBot) -> None:
    peer = enforcing.peer
    mark = peer.mark()
    await peer.cmd("say", sender="wxid_a", room=ROOM, text=AD)
    warning = await peer.wait_for_call(
        "messageSendText", lambda c: c["args"][0] == ROOM, timeout=30, since=mark
    )
    assert warning["args"][2] == ["wxid_a"] and "请勿" in warning["args"][1]

    mark = peer.mark()
    await peer.cmd("say", sender="wxid_a", room=ROOM, text="再发一次 " + AD)
    removal = await peer.wait_for_call("roomDel", timeout=30, since=mark)
    assert removal["args"] == [ROOM, "wxid_a"]
    told = [c for c in peer.calls_of("messageSendText", mark) if c["args"][0] == ROOM]
    assert told and "申诉" in told[0]["args"][1]
    assert peer.calls.index(told[0]) < peer.calls.index(removal)  # told before the removal


async def test_a_qr_code_image_is_caught(enforcing: LiveBot) -> None:
    peer = enforcing.peer
    image = jpeg(embed(photo(800, 600), qr_image(), at=(0.5, 0.5)))
    mark = peer.mark()
    await peer.cmd(
        "send_image", sender="wxid_a", room=ROOM, base64=base64.b64encode(image).decode()
    )
    warning = await peer.wait_for_call(
        "messageSendText", lambda c: c["args"][0] == ROOM, timeout=30, since=mark
    )
    assert warning["args"][2] == ["wxid_a"]
    [case] = await enforcing.app.services.shared["moderation"].store.cases()
    assert any(r["name"] == "qr_code" and r["hit"] for r in case.reasons)
