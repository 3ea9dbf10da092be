"""Creating a group, sending an image into it and leaving it, over real gRPC
against the peer: the new group's id comes back as the action's result."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from bot.vocab.actions import AddFriend, CreateRoom, QuitRoom, SendImage
from tests.e2e.conftest import BOT, LiveBot, eventually

pytestmark = pytest.mark.e2e

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 100  # over 20 KB


async def test_the_bot_creates_a_room_sends_an_image_into_it_and_quits(
    live: LiveBot, tmp_path: Path
) -> None:
    peer = live.peer
    mark = peer.mark()
    await live.app.submit(
        [CreateRoom(topic="快闪群", member_ids=("wxid_a", "wxid_b"), ref="e2e", key="e2e:create")]
    )
    created = await peer.wait_for_call("roomCreate", since=mark, timeout=30)
    assert created["error"] is None
    room_id = created["result"]
    assert "@chatroom" in room_id

    async def recorded() -> bool:
        item = await live.repo.outbox_get("e2e:create")
        return item is not None and item.status == "done"

    await eventually(recorded)
    item = await live.repo.outbox_get("e2e:create")
    assert item is not None and item.result == room_id  # whoever asked reads it here
    state = (await peer.state())["rooms"][room_id]
    assert state["topic"] == "快闪群" and state["ownerId"] == BOT
    assert set(state["memberIds"]) == {BOT, "wxid_a", "wxid_b"}

    path = tmp_path / "poster.png"
    path.write_bytes(IMAGE)
    sha = hashlib.sha256(IMAGE).hexdigest()
    await live.app.submit([SendImage(room=room_id, path=str(path), sha256=sha, key="e2e:img")])
    sent = await peer.wait_for_call("messageSendFile", since=mark, timeout=30)
    assert sent["error"] is None and sent["args"][0] == room_id
    box = sent["args"][1]
    assert box["name"] == "poster.png"
    assert base64.b64decode(box["base64"]) == IMAGE

    await live.app.submit([AddFriend(contact_id="wxid_b", hello="你好", key="e2e:friend")])
    await peer.wait_for_call("friendshipAdd", since=mark, timeout=30)
    requests = (await peer.state())["friendRequests"]
    assert [(r["contactId"], r["hello"]) for r in requests] == [("wxid_b", "你好")]

    await live.app.submit([QuitRoom(room=room_id, key="e2e:quit")])
    quit_call = await peer.wait_for_call("roomQuit", since=mark, timeout=30)
    assert quit_call["error"] is None
    assert BOT not in (await peer.state())["rooms"][room_id]["memberIds"]
