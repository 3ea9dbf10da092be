"""The action types flash groups and reports need, executed by the Wechaty
transport over the in-process puppet (the real SDK), and stored by the outbox."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.governor import GovernorSettings
from bot.transport.adapter import WechatyTransport
from bot.transport.base import ActionFailed
from bot.transport.sandbox_puppet import SandboxPuppet
from bot.vocab.actions import (
    ActionKind,
    AddFriend,
    CreateRoom,
    QuitRoom,
    SendImage,
    SendMiniProgram,
    from_payload,
    to_payload,
)
from bot.vocab.clock import ManualClock
from bot.vocab.events import Event, JoinEvent, LeaveEvent

BOT = "wxid_bot"
ROOM = "r1@chatroom"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # over 20 KB, like a real chart


class Running:
    def __init__(self, puppet: SandboxPuppet, transport: WechatyTransport) -> None:
        self.puppet = puppet
        self.transport = transport
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    async def next_event(self, kind: type[Event]) -> Event:
        async with asyncio.timeout(2):
            while True:
                event = await self.events.get()
                if isinstance(event, kind):
                    return event


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    clock = ManualClock()
    puppet = SandboxPuppet(BOT, "群管家", now=clock.now)
    for cid in ("alice", "bob", "carol"):
        puppet.add_contact(cid, cid.title())
    puppet.add_room(ROOM, "测试群", ["alice", "bob"], owner_id=BOT)
    transport = WechatyTransport(puppet, clock=clock)
    r = Running(puppet, transport)
    await transport.start(r.events.put_nowait)
    async with asyncio.timeout(5):
        await transport.logged_in.wait()
    yield r
    await transport.stop()


async def test_an_image_file_reaches_the_room_byte_for_byte(
    running: Running, tmp_path: Path
) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(PNG)
    sha = hashlib.sha256(PNG).hexdigest()
    message_id = await running.transport.execute(SendImage(room=ROOM, path=str(path), sha256=sha))
    assert message_id
    name, data, _media = running.puppet.attachment(message_id)
    assert (name, data) == ("chart.png", PNG)
    call = running.puppet.calls_to("message_send_file")[-1]
    assert call.args == {"conversation_id": ROOM, "file": "chart.png", "size": len(PNG)}


async def test_an_image_goes_to_a_contact_privately(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "poster.jpg"
    path.write_bytes(b"jpeg-bytes")
    await running.transport.execute(SendImage(room=None, to_contact="carol", path=str(path)))
    assert running.puppet.calls_to("message_send_file")[-1].args["conversation_id"] == "carol"


async def test_an_image_changed_since_it_was_queued_is_not_sent(
    running: Running, tmp_path: Path
) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(b"new bytes")
    with pytest.raises(ActionFailed, match="changed"):
        await running.transport.execute(
            SendImage(room=ROOM, path=str(path), sha256=hashlib.sha256(b"old").hexdigest())
        )
    with pytest.raises(ActionFailed, match="cannot read"):
        await running.transport.execute(SendImage(room=ROOM, path=str(tmp_path / "gone.png")))
    assert running.puppet.calls_to("message_send_file") == []


async def test_a_mini_program_card_reaches_the_room(running: Running) -> None:
    action = SendMiniProgram(
        room=ROOM, app_id="wx123", title="报名", page_path="pages/a", username="gh_1"
    )
    message_id = await running.transport.execute(action)
    assert message_id
    mini = running.puppet.attachment(message_id)
    assert (mini.appid, mini.title, mini.pagePath, mini.username) == (
        "wx123",
        "报名",
        "pages/a",
        "gh_1",
    )


async def test_create_room_returns_the_new_room_with_its_members(running: Running) -> None:
    room_id = await running.transport.execute(
        CreateRoom(topic="快闪群", member_ids=("alice", "bob", "alice", BOT), ref="c1")
    )
    assert room_id and "@chatroom" in room_id
    state = running.puppet.room_state(room_id)
    assert state.topic == "快闪群"
    assert state.owner_id == BOT
    assert set(state.member_ids) == {BOT, "alice", "bob"}
    join = await running.next_event(JoinEvent)
    assert isinstance(join, JoinEvent)
    assert join.room_id == room_id and set(join.member_ids) == {"alice", "bob"}


async def test_create_room_with_fewer_than_two_others_fails_before_the_puppet(
    running: Running,
) -> None:
    with pytest.raises(ActionFailed, match="at least two"):
        await running.transport.execute(CreateRoom(topic="t", member_ids=("alice", BOT), ref="x"))
    assert running.puppet.calls_to("room_create") == []


async def test_quit_room_leaves_the_group(running: Running) -> None:
    await running.transport.execute(QuitRoom(room=ROOM))
    leave = await running.next_event(LeaveEvent)
    assert isinstance(leave, LeaveEvent) and leave.member_ids == (BOT,)
    assert BOT not in running.puppet.room_state(ROOM).member_ids
    assert running.puppet.room_state(ROOM).owner_id == "alice"  # WeChat hands it on


async def test_add_friend_sends_a_request_with_the_greeting(running: Running) -> None:
    await running.transport.execute(AddFriend(contact_id="carol", hello="我是群管家"))
    call = running.puppet.calls_to("friendship_add")[-1]
    assert call.ok and call.args == {"contact_id": "carol", "hello": "我是群管家"}
    assert not running.puppet.contact_state("carol").friend  # until carol answers


def test_new_actions_survive_the_outbox_round_trip() -> None:
    actions = [
        SendImage(room=ROOM, path="/tmp/a.png", sha256="ab"),
        SendMiniProgram(room=ROOM, app_id="wx1", title="t"),
        CreateRoom(topic="快闪", member_ids=("a", "b"), ref="flash:1"),
        QuitRoom(room=ROOM),
        AddFriend(contact_id="a", hello="hi", room=ROOM),
    ]
    for action in actions:
        name = type(action).__name__
        snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        assert from_payload(snake, to_payload(action)) == action


def test_new_actions_are_paced_on_their_own_budgets() -> None:
    settings = GovernorSettings()
    assert SendImage(room=ROOM, path="p").kind is ActionKind.RICH
    assert SendMiniProgram(room=ROOM, app_id="a", title="t").kind is ActionKind.RICH
    assert CreateRoom(topic="t", member_ids=(), ref="r").kind is ActionKind.ROOM_CREATE
    assert QuitRoom(room=ROOM).kind is ActionKind.ROOM_ADMIN
    assert AddFriend(contact_id="a").kind is ActionKind.FRIEND_REQUEST
    assert settings.per_day(ActionKind.FRIEND_REQUEST) == 10
    assert settings.per_day(ActionKind.ROOM_CREATE) == 3
    assert settings.per_day(ActionKind.RICH) == 100
