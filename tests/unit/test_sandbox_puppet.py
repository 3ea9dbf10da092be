"""SandboxPuppet behind the real Wechaty SDK (no gRPC, no network, no wall-clock sleeps)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import compat
from bot.transport.sandbox_puppet import (
    PuppetCall,
    SandboxPuppet,
    SandboxPuppetError,
    file_box_bytes,
)
from bot.vocab.clock import ManualClock

wechaty = compat.load()
from wechaty_puppet import (  # noqa: E402
    FileBox,
    MessageType,
    PuppetOptions,
    UrlLinkPayload,
)

BOT = "wxid_bot"
ROOM = "r1@chatroom"
OTHER_ROOM = "r2@chatroom"  # the bot is a plain member here
WAIT = 2.0  # bound for event waits; events arrive within a few loop turns


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Harness:
    puppet: SandboxPuppet
    bot: Any
    clock: ManualClock
    messages: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    joins: asyncio.Queue[tuple[Any, ...]] = field(default_factory=asyncio.Queue)
    leaves: asyncio.Queue[tuple[Any, ...]] = field(default_factory=asyncio.Queue)
    topics: asyncio.Queue[tuple[Any, ...]] = field(default_factory=asyncio.Queue)
    invites: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    friendships: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    dongs: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    async def next(self, queue: asyncio.Queue[Any]) -> Any:
        async with asyncio.timeout(WAIT):
            return await queue.get()

    async def message(self) -> Any:
        return await self.next(self.messages)


def build_puppet(clock: ManualClock) -> SandboxPuppet:
    puppet = SandboxPuppet(BOT, "群管家", now=clock.now)
    for cid, name in [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]:
        puppet.add_contact(cid, name)
    puppet.add_room(ROOM, "测试群", ["alice", "bob", "carol"], owner_id=BOT)
    puppet.add_room(OTHER_ROOM, "别人的群", ["alice", "bob"], owner_id="alice")
    return puppet


async def start_bot(puppet: SandboxPuppet) -> Any:
    bot = wechaty.Wechaty(
        wechaty.WechatyOptions(puppet=puppet, puppet_options=PuppetOptions(), port=free_port())
    )
    logged_in = asyncio.Event()
    bot.on("login", lambda contact: logged_in.set())
    await bot.start()  # init_puppet(), init_puppet_event_bridge(), puppet.start()
    async with asyncio.timeout(WAIT):
        await logged_in.wait()
    return bot


async def stop_bot(bot: Any, puppet: SandboxPuppet) -> None:
    await puppet.settle()
    await bot.stop()
    scheduler = bot._plugin_manager.scheduler  # the SDK never shuts its scheduler down
    if scheduler.running:
        scheduler.shutdown(wait=False)


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    clock = ManualClock()
    puppet = build_puppet(clock)
    bot = await start_bot(puppet)
    harness = Harness(puppet, bot, clock)
    bot.on("message", harness.messages.put_nowait)
    bot.on("room-join", lambda *a: harness.joins.put_nowait(a))
    bot.on("room-leave", lambda *a: harness.leaves.put_nowait(a))
    bot.on("room-topic", lambda *a: harness.topics.put_nowait(a))
    bot.on("room-invite", harness.invites.put_nowait)
    bot.on("friendship", harness.friendships.put_nowait)
    bot.on("dong", harness.dongs.put_nowait)
    yield harness
    await stop_bot(harness.bot, puppet)


# ---------------------------------------------------------------- messages in


async def test_member_message_arrives_as_sdk_message(h: Harness) -> None:
    sent_at = h.clock.now()
    mid = await h.puppet.member_says(ROOM, "alice", "大家好 @Bob", mention_ids=["bob"])
    msg = await h.message()

    assert msg.message_id == mid and len(mid) == 32
    assert msg.text() == "大家好 @Bob"
    assert msg.type() == MessageType.MESSAGE_TYPE_TEXT
    assert msg.room().room_id == ROOM and msg.room().payload.topic == "测试群"
    assert msg.talker().contact_id == "alice" and msg.talker().name == "Alice"
    assert not msg.is_self()
    assert [c.contact_id for c in await msg.mention_list()] == ["bob"]
    # Timestamps are epoch milliseconds, as the gateway delivers them ...
    assert msg.payload.timestamp == int(sent_at.timestamp() * 1000)
    aware = datetime.fromtimestamp(msg.payload.timestamp / 1000, UTC)
    assert aware == sent_at
    # ... and the SDK's own date() is naive local time.
    assert msg.date().tzinfo is None
    assert msg.date() == aware.astimezone().replace(tzinfo=None)


async def test_direct_message_has_no_room(h: Harness) -> None:
    await h.puppet.direct_message("bob", "私聊")
    msg = await h.message()
    assert msg.room() is None
    assert msg.talker().contact_id == "bob"
    assert msg.to().contact_id == BOT
    assert msg.text() == "私聊"


async def test_message_ids_are_unique(h: Harness) -> None:
    ids = {await h.puppet.member_says(ROOM, "bob", "same text") for _ in range(50)}
    assert len(ids) == 50


async def test_non_member_cannot_speak(h: Harness) -> None:
    with pytest.raises(ValueError, match="not a member"):
        await h.puppet.member_says(OTHER_ROOM, "carol", "hi")


# ---------------------------------------------------------------- bot actions


async def test_room_say_with_mentions_is_recorded_and_echoed(h: Harness) -> None:
    room = h.bot.Room.load(ROOM)
    await room.ready()
    sent = await room.say("欢迎", mention_ids=["alice"])

    call = await h.puppet.wait_for_call("message_send_text")
    assert call.ok and call.result == sent.message_id and len(call.result) == 32
    assert call.args == {
        "conversation_id": ROOM,
        "message": "@Alice 欢迎",  # the SDK prefixes the @names itself
        "mention_ids": ["alice"],
    }
    assert call.at == h.clock.now() and call.at.tzinfo is UTC

    echo = await h.message()  # like a real puppet, the bot hears itself
    assert echo.message_id == sent.message_id
    assert echo.is_self()
    assert echo.payload.mention_ids == ["alice"]

    again = await room.say("欢迎")
    assert again.message_id != sent.message_id


async def test_echo_can_be_turned_off(h: Harness) -> None:
    h.puppet.echo_own_messages = False
    await h.bot.Room.load(ROOM).say("quiet")
    await h.puppet.settle()
    assert h.messages.empty()


async def test_room_delete_removes_member_and_emits_leave(h: Harness) -> None:
    room = h.bot.Room.load(ROOM)
    alice = h.bot.Contact.load("alice")
    await room.delete(alice)

    call = await h.puppet.wait_for_call("room_delete")
    assert call.ok and call.args == {"room_id": ROOM, "contact_id": "alice"}
    assert "alice" not in h.puppet.room_state(ROOM).members
    assert "alice" not in await h.puppet.room_members(ROOM)

    _room, leavers, remover, _date = await h.next(h.leaves)
    assert [c.contact_id for c in leavers] == ["alice"]
    assert remover.contact_id == BOT


async def test_room_delete_fails_unless_owner_or_admin(h: Harness) -> None:
    room = h.bot.Room.load(OTHER_ROOM)
    with pytest.raises(SandboxPuppetError, match="owner or an admin"):
        await room.delete(h.bot.Contact.load("bob"))
    failed = await h.puppet.wait_for_call("room_delete")
    assert not failed.ok and "owner or an admin" in (failed.error or "")
    assert "bob" in h.puppet.room_state(OTHER_ROOM).members

    h.puppet.set_admins(OTHER_ROOM, [BOT])
    await room.delete(h.bot.Contact.load("bob"))
    assert "bob" not in h.puppet.room_state(OTHER_ROOM).members


async def test_room_add_emits_join_by_the_bot(h: Harness) -> None:
    h.puppet.add_contact("dave", "Dave")
    await h.bot.Room.load(ROOM).add(h.bot.Contact.load("dave"))
    assert (await h.puppet.wait_for_call("room_add")).ok
    _room, invitees, inviter, _date = await h.next(h.joins)
    assert [c.contact_id for c in invitees] == ["dave"] and inviter.contact_id == BOT
    member = await h.puppet.room_member_payload(ROOM, "dave")
    assert member.inviter_id == BOT


async def test_topic_and_announcement(h: Harness) -> None:
    room = h.bot.Room.load(ROOM)
    assert await room.topic("新群名") == "新群名"
    assert (await h.puppet.wait_for_call("room_topic")).args["new_topic"] == "新群名"
    _room, new, old, changer, _date = await h.next(h.topics)
    assert (new, old, changer.contact_id) == ("新群名", "测试群", BOT)

    await room.announce("群公告")
    assert (await h.puppet.wait_for_call("room_announce")).ok
    assert await room.announce() == "群公告"

    with pytest.raises(SandboxPuppetError, match="owner or an admin"):
        await h.bot.Room.load(OTHER_ROOM).announce("不行")


async def test_recall_only_own_messages(h: Harness) -> None:
    sent = await h.bot.Room.load(ROOM).say("oops")
    assert await sent.recall() is True
    assert h.puppet.is_recalled(sent.message_id)
    other = await h.puppet.member_says(ROOM, "bob", "mine")
    assert await h.puppet.message_recall(other) is False


async def test_bot_sends_rich_messages(h: Harness) -> None:
    room = h.bot.Room.load(ROOM)
    # Not UrlLink.create(): it fetches the page over the network for metadata.
    link = h.bot.UrlLink(
        UrlLinkPayload(url="https://example.com/a", title="标题", description="描述")
    )
    sent_link = await room.say(link)
    assert sent_link.type() == MessageType.MESSAGE_TYPE_URL
    assert (await sent_link.to_url_link()).payload.url == "https://example.com/a"
    assert (await h.puppet.wait_for_call("message_send_url")).args["url"]["title"] == "标题"

    mini = h.bot.MiniProgram.create_from_json({"appid": "wx123", "title": "签到"})
    sent_mini = await room.say(mini)
    assert sent_mini.type() == MessageType.MESSAGE_TYPE_MINI_PROGRAM
    assert (await sent_mini.to_mini_program()).payload.appid == "wx123"

    sent_card = await room.say(h.bot.Contact.load("carol"))
    assert sent_card.type() == MessageType.MESSAGE_TYPE_CONTACT
    assert (await sent_card.to_contact()).contact_id == "carol"

    data = bytes(range(256)) * 100
    sent_file = await room.say(FileBox.from_buffer(data, "poster.png"))
    assert sent_file.type() == MessageType.MESSAGE_TYPE_IMAGE
    assert file_box_bytes(await sent_file.to_file_box()) == data
    call = await h.puppet.wait_for_call("message_send_file")
    assert call.args == {"conversation_id": ROOM, "file": "poster.png", "size": len(data)}


async def test_sending_to_a_room_the_bot_left_fails(h: Harness) -> None:
    room = h.bot.Room.load(OTHER_ROOM)
    await room.ready()  # SDK quirk: Room.__str__ raises on an unready room, and quit() logs it
    await room.quit()
    assert (await h.puppet.wait_for_call("room_quit")).ok
    _room, leavers, _remover, _date = await h.next(h.leaves)
    assert [c.contact_id for c in leavers] == [BOT]
    with pytest.raises(SandboxPuppetError, match="not a member"):
        await h.puppet.message_send_text(OTHER_ROOM, "hello?")
    assert OTHER_ROOM not in await h.puppet.room_list()


async def test_room_create_returns_a_chatroom_id(h: Harness) -> None:
    room = await h.bot.Room.create([h.bot.Contact.load("alice"), h.bot.Contact.load("bob")], "新群")
    assert room.room_id.endswith("@chatroom")
    assert room.payload.owner_id == BOT
    assert set(room.payload.member_ids) == {BOT, "alice", "bob"}
    assert (await h.puppet.wait_for_call("room_create")).result == room.room_id


# ---------------------------------------------------------------- member content


async def test_link_mini_program_card_image_and_file_from_members(h: Harness) -> None:
    p = h.puppet
    await p.member_sends_link(ROOM, "alice", "https://ad.example/x", "加微信领券", "点我")
    link_msg = await h.message()
    assert link_msg.type() == MessageType.MESSAGE_TYPE_URL
    link = (await link_msg.to_url_link()).payload
    assert (link.url, link.title, link.description) == (
        "https://ad.example/x",
        "加微信领券",
        "点我",
    )

    await p.member_sends_mini_program(ROOM, "bob", "wxapp1", "拼团", "pages/index")
    mini_msg = await h.message()
    assert mini_msg.type() == MessageType.MESSAGE_TYPE_MINI_PROGRAM
    mini = await mini_msg.to_mini_program()
    assert (mini.app_id, mini.title, mini.page_path) == ("wxapp1", "拼团", "pages/index")

    await p.member_sends_card(ROOM, "carol", "stranger")  # unknown ids become contacts
    card_msg = await h.message()
    assert card_msg.type() == MessageType.MESSAGE_TYPE_CONTACT
    assert (await card_msg.to_contact()).contact_id == "stranger"

    image = bytes((i * 7) % 256 for i in range(200 * 1024))  # 200 KB, every byte value
    image_id = await p.member_sends_image(ROOM, "alice", image, "photo.jpg")
    image_msg = await h.message()
    assert image_msg.type() == MessageType.MESSAGE_TYPE_IMAGE
    assert file_box_bytes(await image_msg.to_file_box()) == image
    assert file_box_bytes(await p.message_image(image_id)) == image
    assert image_msg.payload.filename == "photo.jpg"

    await p.member_sends_file(ROOM, "bob", b"%PDF-1.4 ...", "rules.pdf")
    file_msg = await h.message()
    assert file_msg.type() == MessageType.MESSAGE_TYPE_ATTACHMENT
    box = await file_msg.to_file_box()
    assert box.name == "rules.pdf" and file_box_bytes(box) == b"%PDF-1.4 ..."

    with pytest.raises(
        SandboxPuppetError, match=re.escape("message_url() does not apply to a MESSAGE_TYPE_IMAGE")
    ):
        await p.message_url(image_id)


# ---------------------------------------------------------------- membership events


async def test_join_with_inviter_reaches_the_sdk(h: Harness) -> None:
    await h.puppet.join(ROOM, ["dave"], "alice")
    _room, invitees, inviter, date = await h.next(h.joins)
    assert [c.contact_id for c in invitees] == ["dave"] and inviter.contact_id == "alice"
    assert date == h.clock.now().astimezone().replace(tzinfo=None)  # SDK: naive local
    assert "dave" in h.puppet.room_state(ROOM).members


async def test_room_join_without_inviter_can_be_emitted(h: Harness) -> None:
    raw: asyncio.Queue[Any] = asyncio.Queue()
    h.puppet.on("room-join", raw.put_nowait)

    await h.puppet.join(ROOM, ["dave"], None)
    payload = await h.next(raw)
    assert payload.invited_ids == ["dave"] and payload.inviter_id == ""
    assert payload.timestamp == int(h.clock.now().timestamp() * 1000)
    assert "dave" in h.puppet.room_state(ROOM).members

    h.puppet.emit_room_join(ROOM, ["erin"], None)
    payload = await h.next(raw)
    assert payload.invited_ids == ["erin"] and payload.inviter_id is None

    # The SDK's own bridge loads a Contact for the missing inviter and drops
    # the join (defect 2), exactly as with the gateway.
    await h.puppet.settle()
    assert h.joins.empty()


async def test_leave_events_and_silent_leave(h: Harness) -> None:
    await h.puppet.leave(ROOM, ["bob"])  # voluntary: the leaver is the remover
    _room, leavers, remover, _date = await h.next(h.leaves)
    assert [c.contact_id for c in leavers] == ["bob"] and remover.contact_id == "bob"

    h.puppet.leave_silently(ROOM, "carol")
    await h.puppet.settle()
    assert h.leaves.empty()
    assert h.puppet.room_state(ROOM).member_ids == ["alice", BOT]


async def test_invite_bot_then_accept(h: Harness) -> None:
    invitation_id = await h.puppet.invite_bot("alice", "r9@chatroom", "新朋友群", ["alice", "bob"])
    invitation = await h.next(h.invites)
    assert invitation.invitation_id == invitation_id
    assert "r9@chatroom" not in await h.puppet.room_list()

    # SDK quirk: RoomInvitation.load() builds the *base* class, not bound to any
    # puppet, so the object the bridge hands out cannot accept().
    with pytest.raises(AttributeError, match="puppet not set"):
        await invitation.accept()

    bound = h.bot.RoomInvitation(invitation_id)
    assert await bound.topic() == "新朋友群"
    assert (await bound.inviter()).contact_id == "alice"
    assert await bound.member_count() == 2
    await bound.accept()

    call = await h.puppet.wait_for_call("room_invitation_accept")
    assert call.ok and call.args == {"room_invitation_id": invitation_id}
    room, invitees, inviter, _date = await h.next(h.joins)
    assert room.room_id == "r9@chatroom"
    assert [c.contact_id for c in invitees] == [BOT] and inviter.contact_id == "alice"
    assert BOT in h.puppet.room_state("r9@chatroom").members
    assert "r9@chatroom" in await h.puppet.room_list()

    with pytest.raises(SandboxPuppetError, match="already accepted"):
        await h.puppet.room_invitation_accept(invitation_id)


async def test_friend_request_accept(h: Harness) -> None:
    friendship_id = await h.puppet.friend_request("dave", "我是 Dave")
    friendship = await h.next(h.friendships)
    assert friendship.friendship_id == friendship_id
    assert friendship.hello() == "我是 Dave"
    assert friendship.contact().contact_id == "dave"
    await friendship.accept()
    assert (await h.puppet.wait_for_call("friendship_accept")).ok
    assert h.puppet.contact_state("dave").friend is True

    await h.bot.Friendship.add(h.bot.Contact.load("alice"), "你好")
    assert (await h.puppet.wait_for_call("friendship_add")).args["hello"] == "你好"


async def test_ding_emits_dong(h: Harness) -> None:
    await h.puppet.ding("ping-1")
    assert await h.next(h.dongs) == "ping-1"


# ---------------------------------------------------------------- recording


async def test_wait_for_call_is_event_driven(h: Harness) -> None:
    room = h.bot.Room.load(ROOM)
    waiter = asyncio.ensure_future(
        h.puppet.wait_for_call("message_send_text", lambda c: "second" in c.args["message"])
    )
    await asyncio.sleep(0)
    assert not waiter.done()
    await room.say("first")
    await asyncio.sleep(0)
    assert not waiter.done()
    await room.say("second")
    call = await asyncio.wait_for(waiter, WAIT)
    assert call.args["message"] == "second"

    # Earlier calls count, each handed out once, in order.
    assert (await h.puppet.wait_for_call("message_send_text")).args["message"] == "first"
    with pytest.raises(TimeoutError, match="no message_send_text call"):
        await h.puppet.wait_for_call("message_send_text", timeout=0.01)


async def test_only_actions_and_interesting_reads_are_recorded(h: Harness) -> None:
    await h.puppet.member_says(ROOM, "alice", "hi")
    await h.message()  # payload reads happened (message, contact, room)
    assert h.puppet.calls == []
    await h.bot.Room.load(ROOM).member_list()
    assert [c.method for c in h.puppet.calls] == ["room_members"]


async def test_fail_next_raises_then_recovers(h: Harness) -> None:
    seen: list[PuppetCall] = []
    h.puppet.on_call.append(seen.append)
    room = h.bot.Room.load(ROOM)
    h.puppet.fail_next("message_send_text", times=2, message="操作过于频繁")

    for _ in range(2):
        with pytest.raises(SandboxPuppetError) as info:
            await room.say("广告提醒")
        assert str(info.value) == "操作过于频繁"
    sent = await room.say("广告提醒")

    assert [(c.method, c.error) for c in seen] == [
        ("message_send_text", "操作过于频繁"),
        ("message_send_text", "操作过于频繁"),
        ("message_send_text", None),
    ]
    assert seen[-1].result == sent.message_id
    assert h.puppet.message_count == 1  # failed sends stored nothing

    h.puppet.fail_next("room_payload", message="timeout")  # reads can fail too
    with pytest.raises(SandboxPuppetError, match="timeout"):
        await h.puppet.room_payload(ROOM)
    assert h.puppet.calls[-1].method == "room_payload" and not h.puppet.calls[-1].ok
    with pytest.raises(ValueError, match="no method"):
        h.puppet.fail_next("no_such_method")


async def test_call_times_follow_the_injected_clock(h: Harness) -> None:
    await h.clock.advance(90)
    await h.bot.Room.load(ROOM).say("later")
    call = await h.puppet.wait_for_call("message_send_text")
    assert call.at == datetime(2026, 1, 5, 1, 0, tzinfo=UTC) + timedelta(seconds=90)


# ---------------------------------------------------------------- lifecycle


async def test_start_logs_in_and_stop_drops_listeners(h: Harness) -> None:
    assert h.puppet.self_id() == BOT
    assert h.bot.user_self().contact_id == BOT
    assert h.puppet.listener_count("message") >= 1

    await h.puppet.logout()
    with pytest.raises(SandboxPuppetError, match="not logged in"):
        await h.bot.Room.load(ROOM).say("anyone?")
    await h.puppet.login(BOT)
    assert (await h.bot.Room.load(ROOM).say("back")).is_self()

    await h.puppet.stop()
    assert h.puppet.listener_count("message") == 0
    with pytest.raises(Exception, match="before logined"):
        h.puppet.self_id()


async def test_a_second_bot_does_not_reuse_sdk_objects_of_the_first(h: Harness) -> None:
    first_room = h.bot.Room.load(ROOM)
    await stop_bot(h.bot, h.puppet)

    puppet2 = build_puppet(ManualClock())
    puppet2.room_state(ROOM).topic = "第二个"
    bot2 = await start_bot(puppet2)
    try:
        room = bot2.Room.load(ROOM)
        assert room is not first_room and room.puppet is puppet2
        await room.ready()
        assert room.payload.topic == "第二个"
    finally:
        await stop_bot(bot2, puppet2)
    h.bot = await start_bot(h.puppet)  # for the fixture's teardown


# ---------------------------------------------------------------- fast payloads


def test_fast_payload_builders_match_the_schema_constructors() -> None:
    from wechaty_puppet import EventMessagePayload, MessagePayload

    from bot.transport.sandbox_puppet import _event_message, _Ids, _message_payload

    values = dict(
        id="m1",
        filename="",
        text="你好",
        timestamp=1_767_574_800_000,
        type=MessageType.MESSAGE_TYPE_TEXT,
        from_id="alice",
        room_id=ROOM,
        to_id="",
        mention_ids=["bob"],
    )
    fast, slow = _message_payload(**values), MessagePayload(**values)
    assert isinstance(fast, MessagePayload)
    assert fast.to_dict() == slow.to_dict() and bytes(fast) == bytes(slow)
    assert _event_message("m1") == EventMessagePayload(message_id="m1")

    new_id = _Ids()
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and i[12] == "4" and i[16] in "89ab" for i in ids)  # uuid4 layout
