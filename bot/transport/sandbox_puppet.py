"""An in-process Wechaty puppet with real state, for the sandbox, flow tests and benchmarks.

``SandboxPuppet`` is a ``wechaty_puppet.Puppet`` that the real Python SDK drives
exactly as it drives the gRPC ``PuppetService``::

    bot = wechaty.Wechaty(WechatyOptions(puppet=SandboxPuppet(), puppet_options=PuppetOptions(),
                                         port=free_port))

It keeps contacts, rooms (topic, members, owner, admins, announcement), messages
and their attachments, room invitations and friendships; every send returns a
fresh globally unique message id (uuid4 hex: the SDK drops repeated message ids
process-wide).  A *driver* API plays the people on the other side
(``member_says``, ``join``, ``invite_bot`` ...), and every action the bot takes
is recorded as a :class:`PuppetCall` (``calls``, ``on_call``, ``wait_for_call``).

Fidelity choices, so that code passing here does not fail on a real puppet:

* Event payloads are the ``wechaty_puppet`` schema dataclasses built with the
  same fields the gRPC puppet fills; ``EventMessagePayload`` carries only
  ``message_id``, as the service does.
* Timestamps (message payloads and room-join/leave/topic events, invitation
  payloads) are **integer Unix epoch milliseconds**, what the Node gateway
  forwards (``Date.now()`` in the TS puppets; the service copies it through).
  The SDK's ``timestamp_to_date`` and ``Message.date()`` treat any value above
  2145888000 as milliseconds and return *naive local* time; convert with
  ``datetime.fromtimestamp(ts / 1000, UTC)`` (``bot.transport.timeutil``).
* Payload reads return fresh copies for rooms, contacts and members, so the
  SDK's stale caches (notes, defect 8) show up here as they do for real.
* Room-join events may carry an empty or missing inviter (defect 2):
  :meth:`SandboxPuppet.join` with ``inviter_id=None`` sends ``""``;
  :meth:`SandboxPuppet.emit_room_join` can send a literal ``None``.
* Unknown contacts / rooms / messages raise :class:`SandboxPuppetError`, which
  the SDK's bridge turns into a dropped event, as with the gateway.
* ``room_delete`` fails unless the bot is the room's owner or an admin, and
  ``room_announce`` (set) likewise; sends to a room the bot is not in fail.
* ``start()`` emits ``login`` (every time, as the gateway does on each
  connect) and then ``ready``; ``stop()`` drops all listeners, like the
  service.

Payload reads (``message_payload``, ``contact_payload``, ``room_payload`` ...)
are plain dict lookups and are not recorded, so a benchmark can push tens of
thousands of messages through the SDK; ``room_members`` is recorded because
member-list fetches count against WeChat's limits.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import mimetypes
import os
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyee.asyncio import AsyncIOEventEmitter

from bot import compat

compat.apply()

from wechaty_puppet import (  # noqa: E402  (compat.apply() must run first)
    ContactPayload,
    ContactType,
    EventDongPayload,
    EventFriendshipPayload,
    EventHeartbeatPayload,
    EventLoginPayload,
    EventLogoutPayload,
    EventMessagePayload,
    EventReadyPayload,
    EventRoomInvitePayload,
    EventRoomJoinPayload,
    EventRoomLeavePayload,
    EventRoomTopicPayload,
    FileBox,
    FriendshipPayload,
    FriendshipType,
    ImageType,
    MessagePayload,
    MessageType,
    MiniProgramPayload,
    Puppet,
    PuppetOptions,
    RoomInvitationPayload,
    RoomMemberPayload,
    RoomPayload,
    UrlLinkPayload,
)
from wechaty_puppet.exceptions import WechatyPuppetOperationError  # noqa: E402

from bot.transport.filebox import file_box_bytes  # noqa: E402

log = logging.getLogger(__name__)

__all__ = [
    "PuppetCall",
    "SandboxInvitation",
    "SandboxMember",
    "SandboxPuppet",
    "SandboxPuppetError",
    "SandboxRoom",
    "file_box_bytes",
    "isolate_sdk_pools",
]

_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}
_VIDEO_EXTS = {".mp4", ".mov"}
_AUDIO_EXTS = {".sil", ".silk", ".slk", ".mp3", ".amr"}
_FILE_TYPES = {
    MessageType.MESSAGE_TYPE_ATTACHMENT,
    MessageType.MESSAGE_TYPE_IMAGE,
    MessageType.MESSAGE_TYPE_VIDEO,
    MessageType.MESSAGE_TYPE_AUDIO,
    MessageType.MESSAGE_TYPE_EMOTICON,
}


class SandboxPuppetError(Exception):
    """A puppet call failed (unknown id, not allowed, or injected by ``fail_next``).

    ``str(err)`` is exactly the message, e.g. ``"操作过于频繁"``.
    """


@dataclass
class PuppetCall:
    """One call the bot made on the puppet."""

    seq: int
    method: str
    args: dict[str, Any]
    result: Any = None
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class SandboxMember:
    inviter_id: str = ""
    room_alias: str = ""


@dataclass
class SandboxRoom:
    id: str
    topic: str
    members: dict[str, SandboxMember] = field(default_factory=dict)  # ordered
    owner_id: str = ""
    admin_ids: list[str] = field(default_factory=list)
    announcement: str = ""

    @property
    def member_ids(self) -> list[str]:
        return list(self.members)


@dataclass
class SandboxInvitation:
    id: str
    inviter_id: str
    room_id: str
    topic: str
    member_ids: list[str]
    timestamp: int
    accepted: bool = False


@dataclass
class _Waiter:
    method: str
    predicate: Callable[[PuppetCall], bool] | None
    future: asyncio.Future[PuppetCall]


def isolate_sdk_pools(puppet: Any) -> int:
    """Drop SDK-cached ``Contact``/``Room`` objects bound to another puppet; return how many.

    python-wechaty caches ``Contact`` and ``Room`` objects in class-level dicts
    shared by every ``Wechaty`` in the process; an object cached by an earlier
    bot keeps calling that bot's puppet.  Tests and the sandbox build many bots
    in one process, so :meth:`SandboxPuppet.start` calls this.
    """
    wechaty = compat.load()
    dropped = 0
    for cls in (wechaty.Contact, wechaty.Room):
        pool = cls._pool
        stale = [key for key, obj in pool.items() if obj._puppet is not puppet]
        for key in stale:
            del pool[key]
        dropped += len(stale)
    return dropped


_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (0x4000 << 64) | (0x8000 << 48)


class _Ids:
    """uuid4 hex ids from a private, OS-seeded generator.

    ``uuid.uuid4()`` reads the OS entropy pool on every call (a syscall per
    message); a private ``Random`` is ~5x cheaper and, unlike the global one,
    cannot be re-seeded by a test into repeating ids (the SDK silently drops a
    message id it has seen before anywhere in the process).
    """

    def __init__(self) -> None:
        self._rng = random.Random(os.urandom(32))

    def __call__(self) -> str:
        return f"{self._rng.getrandbits(128) & _V4_CLEAR | _V4_SET:032x}"


_EVENT_MESSAGE_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(EventMessagePayload) if f.name != "message_id"
}


def _event_message(message_id: str) -> Any:
    """``EventMessagePayload(message_id=...)`` without its generic per-field ``__init__``."""
    event = object.__new__(EventMessagePayload)
    event.__dict__.update(_EVENT_MESSAGE_DEFAULTS)
    event.message_id = message_id
    return event


def _message_payload(**values: Any) -> Any:
    """The ``MessagePayload`` that ``MessagePayload(**values)`` builds when every field is
    given, without betterproto's generic ``__init__``/``__post_init__`` (the bulk of the
    per-message cost).  The message has no oneof groups, so the group map is empty."""
    payload = object.__new__(MessagePayload)
    payload.__dict__.update(values)
    payload.__dict__.update(_serialized_on_wire=True, _unknown_fields=b"", _group_map={})
    return payload


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _type_for_name(name: str, media_type: str | None = None) -> Any:
    """Message type a real puppet gives a sent file, from its media type or extension."""
    ext = os.path.splitext(name or "")[1].lower()
    media = (media_type or mimetypes.guess_type(name or "")[0] or "").lower()
    if media.startswith("image/") or ext in _IMAGE_EXTS:
        return MessageType.MESSAGE_TYPE_IMAGE
    if media.startswith("video/") or ext in _VIDEO_EXTS:
        return MessageType.MESSAGE_TYPE_VIDEO
    if media.startswith("audio/") or ext in _AUDIO_EXTS:
        return MessageType.MESSAGE_TYPE_AUDIO
    return MessageType.MESSAGE_TYPE_ATTACHMENT


class SandboxPuppet(Puppet):
    """A real in-process puppet: state, events, and a record of every bot action.

    ``calls[i].args`` are keyed by the puppet method's own parameter names
    (``message_send_text`` -> ``conversation_id``, ``message``, ``mention_ids``);
    a sent URL / mini program is recorded as a dict, a sent file as its name and size.
    """

    # start() returns at once (a gRPC puppet's start() blocks while its stream runs).
    blocks_while_streaming = False

    def __init__(
        self,
        account_id: str = "wxid_qunbot",
        account_name: str = "群管家",
        *,
        now: Callable[[], datetime] | None = None,
        echo_own_messages: bool = True,
        isolate_pools: bool = True,
        options: Any = None,
    ) -> None:
        super().__init__(options or PuppetOptions(), name="sandbox_puppet")
        self._now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        if self._now().tzinfo is None:
            raise ValueError("SandboxPuppet needs an aware `now` (UTC)")
        self.echo_own_messages = echo_own_messages
        self.isolate_pools = isolate_pools
        self._account_id = account_id
        self._login_user_id: str | None = None
        self._emitter = AsyncIOEventEmitter()
        self._new_id = _Ids()

        self._contacts: dict[str, Any] = {}
        self._rooms: dict[str, SandboxRoom] = {}
        self._messages: dict[str, Any] = {}
        self._attachments: dict[str, Any] = {}
        self._recalled: set[str] = set()
        self._invitations: dict[str, SandboxInvitation] = {}
        self._friendships: dict[str, Any] = {}

        self.calls: list[PuppetCall] = []
        self.on_call: list[Callable[[PuppetCall], object]] = []
        self._consumed: set[int] = set()
        self._waiters: list[_Waiter] = []
        self._failures: dict[str, deque[str]] = {}

        self.add_contact(account_id, account_name)

    # ------------------------------------------------------------------ recording

    def _record(self, method: str, args: dict[str, Any], result: Any, error: str | None) -> None:
        call = PuppetCall(len(self.calls), method, args, result, error, self._now())
        self.calls.append(call)
        for callback in list(self.on_call):
            try:
                callback(call)
            except Exception:
                log.exception("SandboxPuppet on_call callback failed for %s", method)
        for waiter in self._waiters:
            if not waiter.future.done() and self._matches(waiter.method, waiter.predicate, call):
                self._consumed.add(call.seq)
                waiter.future.set_result(call)
                break

    def _injected_failure(self, method: str, args: dict[str, Any]) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        message = queue.popleft()
        if not queue:
            del self._failures[method]
        self._record(method, args, None, message)
        raise SandboxPuppetError(message)

    def _act(self, method: str, args: dict[str, Any], action: Callable[[], Any]) -> Any:
        """Run and record one recorded call (an action or an interesting read).

        Like a real puppet, nothing works while logged out.
        """
        self._injected_failure(method, args)
        try:
            if self._login_user_id is None:
                raise SandboxPuppetError("not logged in")
            result = action()
        except Exception as exc:
            self._record(method, args, None, str(exc))
            raise
        self._record(method, args, result, None)
        return result

    def _read(self, method: str, args_fn: Callable[[], dict[str, Any]]) -> None:
        """Unrecorded reads still honour ``fail_next`` (the failure is recorded)."""
        if self._failures and method in self._failures:
            self._injected_failure(method, args_fn())

    @staticmethod
    def _matches(
        method: str, predicate: Callable[[PuppetCall], bool] | None, call: PuppetCall
    ) -> bool:
        if call.method != method:
            return False
        if predicate is None:
            return True
        try:
            return bool(predicate(call))
        except Exception:
            log.exception("wait_for_call predicate failed on %s", call)
            return False

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[PuppetCall], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109  (the driver API is timeout-first, like wait_for)
    ) -> PuppetCall:
        """The next not-yet-awaited call to ``method`` (matching ``predicate``).

        Calls already recorded count; each call is handed out once, so successive
        waits walk through successive calls.  Event-driven: a future resolved by
        the recording itself, no polling.  Failed calls match too (check ``.ok``).
        """
        for call in self.calls:
            if call.seq not in self._consumed and self._matches(method, predicate, call):
                self._consumed.add(call.seq)
                return call
        waiter = _Waiter(method, predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError:
            recent = ", ".join(c.method for c in self.calls[-10:]) or "none"
            raise TimeoutError(
                f"no {method} call within {timeout}s (last calls: {recent})"
            ) from None
        finally:
            self._waiters.remove(waiter)

    def calls_to(self, method: str) -> list[PuppetCall]:
        return [c for c in self.calls if c.method == method]

    def fail_next(self, method_name: str, times: int = 1, message: str = "操作过于频繁") -> None:
        """The next ``times`` calls of ``method_name`` raise ``SandboxPuppetError(message)``."""
        if not callable(getattr(self, method_name, None)) or method_name.startswith("_"):
            raise ValueError(f"SandboxPuppet has no method {method_name!r}")
        if times < 1:
            raise ValueError("times must be >= 1")
        self._failures.setdefault(method_name, deque()).extend([message] * times)

    # ------------------------------------------------------------------ events

    def on(self, event_name: str, caller: Callable[..., Any]) -> None:
        self._emitter.on(event_name, caller)

    def listener_count(self, event_name: str) -> int:
        return len(self._emitter.listeners(event_name))

    def emit_raw(self, event_name: str, payload: Any) -> None:
        """Emit any puppet event as is (e.g. an ``error`` with a custom payload)."""
        self._emitter.emit(event_name, payload)

    def emit_heartbeat(self, data: str = "heartbeat") -> None:
        # The service emits "heartbeat"; the SDK bridge listens on "heart-beat" (defect 7).
        self._emitter.emit("heartbeat", EventHeartbeatPayload(data=data))

    def emit_room_join(
        self,
        room_id: str,
        invited_ids: Sequence[str],
        inviter_id: str | None,
        timestamp: int | None = None,
    ) -> None:
        """Emit a raw ``room-join`` without touching state; ``inviter_id=None`` stays ``None``.

        ``EventRoomJoinPayload`` refuses a ``None`` inviter in its constructor (the
        gateway's missing ``inviterId`` kills the gRPC event stream, defect 2), so
        the field is set after construction to reproduce what a defaulted payload
        looks like.
        """
        payload = EventRoomJoinPayload(
            invited_ids=list(invited_ids),
            inviter_id=inviter_id or "",
            room_id=room_id,
            timestamp=self._now_ms() if timestamp is None else timestamp,
        )
        if inviter_id is None:
            payload.inviter_id = None
        self._emitter.emit("room-join", payload)

    async def settle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every listener task this puppet's events started has finished."""
        async with asyncio.timeout(timeout):
            while not self._emitter.complete:
                await self._emitter.wait_for_complete()

    def _now_ms(self) -> int:
        return _ms(self._now())

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.isolate_pools:
            isolate_sdk_pools(self)
        await self.login(self._account_id)
        self._emitter.emit("ready", EventReadyPayload(data="ready"))

    async def stop(self) -> None:
        self._emitter.remove_all_listeners()
        self._login_user_id = None

    async def login(self, user_id: str) -> None:
        self._login_user_id = user_id
        self._emitter.emit("login", EventLoginPayload(contact_id=user_id))

    async def logout(self) -> None:
        if self._login_user_id is None:
            raise WechatyPuppetOperationError("logout before login?")
        user_id = self._login_user_id
        self._login_user_id = None
        self._emitter.emit("logout", EventLogoutPayload(contact_id=user_id, data="logout"))

    def self_id(self) -> str:
        if not self._login_user_id:
            raise WechatyPuppetOperationError('can"t call self_id() before logined')
        return self._login_user_id

    @property
    def account_id(self) -> str:
        """The bot's id, known before login."""
        return self._account_id

    async def ding(self, data: str | None = None) -> None:
        self._read("ding", lambda: {"data": data})
        self._emitter.emit("dong", EventDongPayload(data=data or ""))

    # ------------------------------------------------------------------ lookups

    def _contact(self, contact_id: str) -> Any:
        try:
            return self._contacts[contact_id]
        except KeyError:
            raise SandboxPuppetError(f"contact {contact_id!r} not found") from None

    def _room(self, room_id: str) -> SandboxRoom:
        try:
            return self._rooms[room_id]
        except KeyError:
            raise SandboxPuppetError(f"room {room_id!r} not found") from None

    def _message(self, message_id: str) -> Any:
        try:
            return self._messages[message_id]
        except KeyError:
            raise SandboxPuppetError(f"message {message_id!r} not found") from None

    def _ensure_contact(self, contact_id: str) -> None:
        if contact_id not in self._contacts:
            self.add_contact(contact_id, contact_id)

    def room_state(self, room_id: str) -> SandboxRoom:
        """The live state of a room (for tests and the console; do not mutate)."""
        return self._room(room_id)

    def contact_state(self, contact_id: str) -> Any:
        return self._contact(contact_id)

    def message_state(self, message_id: str) -> Any:
        return self._message(message_id)

    def attachment(self, message_id: str) -> Any:
        """What a message carries beyond its text: UrlLinkPayload, MiniProgramPayload,
        a contact id, or ``(name, bytes, media_type)`` for files and images."""
        return self._attachments.get(message_id)

    def is_recalled(self, message_id: str) -> bool:
        return message_id in self._recalled

    @property
    def message_count(self) -> int:
        return len(self._messages)

    # ------------------------------------------------------------------ contacts

    async def contact_list(self) -> list[str]:
        self._read("contact_list", dict)
        return list(self._contacts)

    async def contact_payload(self, contact_id: str) -> Any:
        self._read("contact_payload", lambda: {"contact_id": contact_id})
        return dataclasses.replace(self._contact(contact_id))

    async def contact_payload_dirty(self, contact_id: str) -> None:
        return None

    async def dirty_payload(self, payload_type: Any, payload_id: str) -> None:
        return None

    async def contact_alias(self, contact_id: str, alias: str | None = None) -> str:
        if alias is None:
            self._read("contact_alias", lambda: {"contact_id": contact_id})
            return str(self._contact(contact_id).alias)

        def set_alias() -> str:
            self._contact(contact_id).alias = alias
            return alias

        return str(
            self._act("contact_alias", {"contact_id": contact_id, "alias": alias}, set_alias)
        )

    async def contact_self_name(self, name: str) -> None:
        def rename() -> None:
            self._contact(self._account_id).name = name

        self._act("contact_self_name", {"name": name}, rename)

    async def friendship_search(
        self, weixin: str | None = None, phone: str | None = None
    ) -> str | None:
        self._read("friendship_search", lambda: {"weixin": weixin, "phone": phone})
        for contact in self._contacts.values():
            if weixin and contact.weixin == weixin:
                return str(contact.id)
            if phone and phone in contact.phone:
                return str(contact.id)
        return None

    # ------------------------------------------------------------------ rooms

    async def room_list(self) -> list[str]:
        self._read("room_list", dict)
        me = self._account_id
        return [rid for rid, room in self._rooms.items() if me in room.members]

    async def room_search(self, query: Any = None) -> list[str]:
        self._read("room_search", lambda: {"query": query})
        ids = await self.room_list()
        if query is None:
            return ids
        q_id = getattr(query, "id", None)
        q_topic = getattr(query, "topic", None)
        return [
            rid
            for rid in ids
            if (not q_id or rid == q_id) and (not q_topic or q_topic in self._rooms[rid].topic)
        ]

    async def room_payload(self, room_id: str) -> Any:
        self._read("room_payload", lambda: {"room_id": room_id})
        room = self._room(room_id)
        return RoomPayload(
            id=room.id,
            topic=room.topic,
            avatar="",
            owner_id=room.owner_id,
            admin_ids=list(room.admin_ids),
            member_ids=list(room.members),
        )

    async def room_members(self, room_id: str) -> list[str]:
        return list(
            self._act("room_members", {"room_id": room_id}, lambda: self._room(room_id).member_ids)
        )

    async def room_member_payload(self, room_id: str, contact_id: str) -> Any:
        self._read("room_member_payload", lambda: {"room_id": room_id, "contact_id": contact_id})
        room = self._room(room_id)
        member = room.members.get(contact_id)
        if member is None:
            raise SandboxPuppetError(f"{contact_id!r} is not a member of {room_id!r}")
        contact = self._contact(contact_id)
        return RoomMemberPayload(
            id=contact_id,
            room_alias=member.room_alias,
            inviter_id=member.inviter_id,
            avatar="",
            name=contact.name,
        )

    def _can_manage(self, room: SandboxRoom) -> bool:
        me = self._account_id
        return room.owner_id == me or me in room.admin_ids

    def _require_bot_in(self, room: SandboxRoom) -> None:
        if self._account_id not in room.members:
            raise SandboxPuppetError(f"the bot is not a member of {room.id!r}")

    async def room_add(self, room_id: str, contact_id: str) -> None:
        def add() -> None:
            room = self._room(room_id)
            self._require_bot_in(room)
            self._contact(contact_id)
            if contact_id in room.members:
                raise SandboxPuppetError(f"{contact_id!r} is already in {room_id!r}")
            room.members[contact_id] = SandboxMember(inviter_id=self._account_id)

        self._act("room_add", {"room_id": room_id, "contact_id": contact_id}, add)
        self._emit_join(room_id, [contact_id], self._account_id)

    async def room_delete(self, room_id: str, contact_id: str) -> None:
        def delete() -> None:
            room = self._room(room_id)
            self._require_bot_in(room)
            if not self._can_manage(room):
                raise SandboxPuppetError(
                    f"only the owner or an admin can remove members of {room_id!r}"
                )
            if contact_id not in room.members:
                raise SandboxPuppetError(f"{contact_id!r} is not a member of {room_id!r}")
            if contact_id == room.owner_id:
                raise SandboxPuppetError("the owner cannot be removed")
            del room.members[contact_id]
            if contact_id in room.admin_ids:
                room.admin_ids.remove(contact_id)

        self._act("room_delete", {"room_id": room_id, "contact_id": contact_id}, delete)
        self._emit_leave(room_id, [contact_id], self._account_id)

    async def room_quit(self, room_id: str) -> None:
        me = self._account_id

        def quit_room() -> None:
            room = self._room(room_id)
            self._require_bot_in(room)
            del room.members[me]

        self._act("room_quit", {"room_id": room_id}, quit_room)
        self._emit_leave(room_id, [me], me)

    async def room_topic(self, room_id: str, new_topic: str | None = None) -> str:
        if new_topic is None:
            self._read("room_topic", lambda: {"room_id": room_id})
            return self._room(room_id).topic
        old: list[str] = []

        def set_topic() -> str:
            room = self._room(room_id)
            self._require_bot_in(room)
            old.append(room.topic)
            room.topic = new_topic
            return new_topic

        self._act("room_topic", {"room_id": room_id, "new_topic": new_topic}, set_topic)
        self._emit_topic(room_id, self._account_id, new_topic, old[0])
        return new_topic

    async def room_announce(self, room_id: str, announcement: str | None = None) -> str:
        if announcement is None:
            self._read("room_announce", lambda: {"room_id": room_id})
            return self._room(room_id).announcement

        def announce() -> str:
            room = self._room(room_id)
            self._require_bot_in(room)
            if not self._can_manage(room):
                raise SandboxPuppetError(
                    f"only the owner or an admin can set the announcement of {room_id!r}"
                )
            room.announcement = announcement
            return announcement

        return str(
            self._act("room_announce", {"room_id": room_id, "announcement": announcement}, announce)
        )

    async def room_create(self, contact_ids: list[str], topic: str | None = None) -> str:
        def create() -> str:
            for cid in contact_ids:
                self._contact(cid)
            room_id = f"{self._new_id()}@chatroom"
            members = {self._account_id: SandboxMember()}
            for cid in contact_ids:
                members[cid] = SandboxMember(inviter_id=self._account_id)
            self._rooms[room_id] = SandboxRoom(
                id=room_id, topic=topic or "", members=members, owner_id=self._account_id
            )
            return room_id

        return str(
            self._act(
                "room_create", {"contact_ids": list(contact_ids), "topic": topic or ""}, create
            )
        )

    async def room_invitation_payload(self, room_invitation_id: str, payload: Any = None) -> Any:
        self._read("room_invitation_payload", lambda: {"room_invitation_id": room_invitation_id})
        try:
            inv = self._invitations[room_invitation_id]
        except KeyError:
            raise SandboxPuppetError(f"invitation {room_invitation_id!r} not found") from None
        return RoomInvitationPayload(
            id=inv.id,
            inviter_id=inv.inviter_id,
            topic=inv.topic,
            member_count=len(inv.member_ids),
            member_ids=list(inv.member_ids),
            timestamp=inv.timestamp,
            avatar="",
            invitation="",
        )

    async def room_invitation_accept(self, room_invitation_id: str) -> None:
        holder: list[SandboxInvitation] = []

        def accept() -> None:
            inv = self._invitations.get(room_invitation_id)
            if inv is None:
                raise SandboxPuppetError(f"invitation {room_invitation_id!r} not found")
            if inv.accepted:
                raise SandboxPuppetError(f"invitation {room_invitation_id!r} already accepted")
            room = self._room(inv.room_id)
            inv.accepted = True
            room.members[self._account_id] = SandboxMember(inviter_id=inv.inviter_id)
            holder.append(inv)

        self._act("room_invitation_accept", {"room_invitation_id": room_invitation_id}, accept)
        inv = holder[0]
        self._emit_join(inv.room_id, [self._account_id], inv.inviter_id)

    # ------------------------------------------------------------------ friendships

    async def friendship_payload(self, friendship_id: str, payload: Any = None) -> Any:
        self._read("friendship_payload", lambda: {"friendship_id": friendship_id})
        if payload is not None:
            self._friendships[friendship_id] = payload
        try:
            return dataclasses.replace(self._friendships[friendship_id])
        except KeyError:
            raise SandboxPuppetError(f"friendship {friendship_id!r} not found") from None

    async def friendship_accept(self, friendship_id: str) -> None:
        def accept() -> None:
            fs = self._friendships.get(friendship_id)
            if fs is None:
                raise SandboxPuppetError(f"friendship {friendship_id!r} not found")
            if fs.type != FriendshipType.FRIENDSHIP_TYPE_RECEIVE:
                raise SandboxPuppetError(f"friendship {friendship_id!r} is not a request")
            fs.type = FriendshipType.FRIENDSHIP_TYPE_CONFIRM
            self._contact(fs.contact_id).friend = True

        self._act("friendship_accept", {"friendship_id": friendship_id}, accept)

    async def friendship_add(self, contact_id: str, hello: str) -> None:
        def add() -> str:
            self._contact(contact_id)
            fid = self._new_id()
            self._friendships[fid] = FriendshipPayload(
                id=fid,
                contact_id=contact_id,
                hello=hello,
                type=FriendshipType.FRIENDSHIP_TYPE_VERIFY,
            )
            return fid

        self._act("friendship_add", {"contact_id": contact_id, "hello": hello}, add)

    # ------------------------------------------------------------------ messages (reads)

    async def message_payload(self, message_id: str) -> Any:
        if self._failures:
            self._read("message_payload", lambda: {"message_id": message_id})
        try:
            return self._messages[message_id]
        except KeyError:
            raise SandboxPuppetError(f"message {message_id!r} not found") from None

    async def message_search(self, query: Any = None) -> list[str]:
        self._read("message_search", lambda: {"query": query})
        if query is None:
            return list(self._messages)
        out = []
        for mid, p in self._messages.items():
            if query.id and mid != query.id:
                continue
            if query.from_id and p.from_id != query.from_id:
                continue
            if query.room_id and p.room_id != query.room_id:
                continue
            if query.to_id and p.to_id != query.to_id:
                continue
            if query.type is not None and p.type != query.type:
                continue
            if query.text and query.text not in p.text:
                continue
            out.append(mid)
        return out

    def _typed_attachment(self, message_id: str, method: str, types: Iterable[Any]) -> Any:
        self._read(method, lambda: {"message_id": message_id})
        payload = self._message(message_id)
        if payload.type not in types:
            raise SandboxPuppetError(
                f"{method}() does not apply to a {payload.type.name} message ({message_id})"
            )
        return self._attachments[message_id]

    async def message_url(self, message_id: str) -> Any:
        url = self._typed_attachment(message_id, "message_url", {MessageType.MESSAGE_TYPE_URL})
        return dataclasses.replace(url)

    async def message_mini_program(self, message_id: str) -> Any:
        mini = self._typed_attachment(
            message_id, "message_mini_program", {MessageType.MESSAGE_TYPE_MINI_PROGRAM}
        )
        return dataclasses.replace(mini)

    async def message_contact(self, message_id: str) -> str:
        return str(
            self._typed_attachment(
                message_id, "message_contact", {MessageType.MESSAGE_TYPE_CONTACT}
            )
        )

    async def message_file(self, message_id: str) -> Any:
        name, data, media = self._typed_attachment(message_id, "message_file", _FILE_TYPES)
        return self._file_box(name, data, media)

    async def message_image(
        self, message_id: str, image_type: Any = ImageType.IMAGE_TYPE_HD
    ) -> Any:
        name, data, media = self._typed_attachment(
            message_id, "message_image", {MessageType.MESSAGE_TYPE_IMAGE}
        )
        return self._file_box(name, data, media)

    @staticmethod
    def _file_box(name: str, data: bytes, media_type: str | None) -> Any:
        box = FileBox.from_base64(base64.b64encode(data), name=name)
        box.mediaType = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return box

    # ------------------------------------------------------------------ messages (bot sends)

    def _store(
        self,
        msg_type: Any,
        from_id: str,
        *,
        room_id: str = "",
        to_id: str = "",
        text: str = "",
        mention_ids: Sequence[str] = (),
        filename: str = "",
        attachment: Any = None,
    ) -> str:
        message_id = self._new_id()
        self._messages[message_id] = _message_payload(
            id=message_id,
            filename=filename,
            text=text,
            timestamp=self._now_ms(),
            type=msg_type,
            from_id=from_id,
            room_id=room_id,
            to_id=to_id,
            mention_ids=list(mention_ids),
        )
        if attachment is not None:
            self._attachments[message_id] = attachment
        return message_id

    def _emit_message(self, message_id: str) -> None:
        self._emitter.emit("message", _event_message(message_id))

    def _bot_send(
        self,
        method: str,
        args: dict[str, Any],
        conversation_id: str,
        check: Callable[[], object] | None = None,
        **message: Any,
    ) -> str:
        def send() -> str:
            if check is not None:
                check()
            me = self._account_id
            if conversation_id in self._rooms:
                self._require_bot_in(self._rooms[conversation_id])
                return self._store(from_id=me, room_id=conversation_id, **message)
            self._contact(conversation_id)
            return self._store(from_id=me, to_id=conversation_id, **message)

        message_id = str(self._act(method, args, send))
        if self.echo_own_messages:
            self._emit_message(message_id)
        return message_id

    async def message_send_text(
        self, conversation_id: str, message: str, mention_ids: list[str] | None = None
    ) -> str:
        mentions = list(mention_ids or [])
        return self._bot_send(
            "message_send_text",
            {"conversation_id": conversation_id, "message": message, "mention_ids": mentions},
            conversation_id,
            msg_type=MessageType.MESSAGE_TYPE_TEXT,
            text=message,
            mention_ids=mentions,
        )

    async def message_send_url(self, conversation_id: str, url: str) -> str:
        data = json.loads(url) if isinstance(url, str) else dataclasses.asdict(url)
        payload = UrlLinkPayload(**data)
        return self._bot_send(
            "message_send_url",
            {"conversation_id": conversation_id, "url": data},
            conversation_id,
            msg_type=MessageType.MESSAGE_TYPE_URL,
            text=payload.title or "",
            attachment=payload,
        )

    async def message_send_mini_program(self, conversation_id: str, mini_program: Any) -> str:
        data = dataclasses.asdict(mini_program)
        return self._bot_send(
            "message_send_mini_program",
            {"conversation_id": conversation_id, "mini_program": data},
            conversation_id,
            msg_type=MessageType.MESSAGE_TYPE_MINI_PROGRAM,
            text=mini_program.title or "",
            attachment=MiniProgramPayload(**data),
        )

    async def message_send_contact(self, contact_id: str, conversation_id: str) -> str:
        return self._bot_send(
            "message_send_contact",
            {"conversation_id": conversation_id, "contact_id": contact_id},
            conversation_id,
            check=lambda: self._contact(contact_id),
            msg_type=MessageType.MESSAGE_TYPE_CONTACT,
            attachment=contact_id,
        )

    async def message_send_file(self, conversation_id: str, file: Any) -> str:
        name = file.name or "file.dat"
        data = file_box_bytes(file)
        media = getattr(file, "mediaType", None) or None
        return self._bot_send(
            "message_send_file",
            {"conversation_id": conversation_id, "file": name, "size": len(data)},
            conversation_id,
            msg_type=_type_for_name(name, media),
            filename=name,
            attachment=(name, data, media),
        )

    async def message_forward(self, to_id: str, message_id: str) -> str:
        src = self._messages.get(message_id)
        return self._bot_send(
            "message_forward",
            {"to_id": to_id, "message_id": message_id},
            to_id,
            check=lambda: self._message(message_id),
            msg_type=src.type if src else MessageType.MESSAGE_TYPE_UNSPECIFIED,
            text=src.text if src else "",
            filename=src.filename if src else "",
            attachment=self._attachments.get(message_id),
        )

    async def message_recall(self, message_id: str) -> bool:
        def recall() -> bool:
            payload = self._message(message_id)
            if payload.from_id != self._account_id:
                return False  # WeChat only lets you recall your own messages
            self._recalled.add(message_id)
            return True

        return bool(self._act("message_recall", {"message_id": message_id}, recall))

    # ------------------------------------------------------------------ unsupported

    def _unsupported(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"SandboxPuppet does not implement {what}")

    async def contact_avatar(self, contact_id: str, file_box: Any = None) -> Any:
        raise self._unsupported("contact_avatar")

    async def contact_tag_ids(self, contact_id: str) -> list[str]:
        raise self._unsupported("contact_tag_ids")

    async def contact_self_qr_code(self) -> str:
        raise self._unsupported("contact_self_qr_code")

    async def contact_signature(self, signature: str) -> None:
        raise self._unsupported("contact_signature")

    async def room_qr_code(self, room_id: str) -> str:
        raise self._unsupported("room_qr_code")

    async def room_avatar(self, room_id: str) -> Any:
        raise self._unsupported("room_avatar")

    async def tag_contact_add(self, tag_id: str, contact_id: str) -> None:
        raise self._unsupported("tags")

    async def tag_contact_remove(self, tag_id: str, contact_id: str) -> None:
        raise self._unsupported("tags")

    async def tag_contact_delete(self, tag_id: str) -> None:
        raise self._unsupported("tags")

    async def tag_contact_list(self, contact_id: str | None = None) -> list[str]:
        raise self._unsupported("tags")

    async def tag_favorite_add(self, tag_id: str, contact_id: str) -> None:
        raise self._unsupported("tags")

    async def tag_favorite_delete(self, tag_id: str) -> None:
        raise self._unsupported("tags")

    # ------------------------------------------------------------------ event helpers

    def _emit_join(self, room_id: str, invited_ids: list[str], inviter_id: str) -> None:
        self._emitter.emit(
            "room-join",
            EventRoomJoinPayload(
                invited_ids=invited_ids,
                inviter_id=inviter_id,
                room_id=room_id,
                timestamp=self._now_ms(),
            ),
        )

    def _emit_leave(self, room_id: str, removed_ids: list[str], remover_id: str) -> None:
        self._emitter.emit(
            "room-leave",
            EventRoomLeavePayload(
                removed_ids=removed_ids,
                remover_id=remover_id,
                room_id=room_id,
                timestamp=self._now_ms(),
            ),
        )

    def _emit_topic(self, room_id: str, changer_id: str, new: str, old: str) -> None:
        self._emitter.emit(
            "room-topic",
            EventRoomTopicPayload(
                changer_id=changer_id,
                new_topic=new,
                old_topic=old,
                room_id=room_id,
                timestamp=self._now_ms(),
            ),
        )

    # ------------------------------------------------------------------ driver: state

    def add_contact(self, contact_id: str, name: str, **fields: Any) -> Any:
        """Create or replace a contact; ``fields`` are other ``ContactPayload`` fields."""
        fields.setdefault("type", ContactType.CONTACT_TYPE_PERSONAL)
        payload = ContactPayload(id=contact_id, name=name, **fields)
        self._contacts[contact_id] = payload
        return payload

    def add_room(
        self,
        room_id: str,
        topic: str,
        member_ids: Iterable[str],
        owner_id: str | None = None,
        admin_ids: Iterable[str] = (),
        *,
        bot_is_member: bool = True,
    ) -> SandboxRoom:
        """Create a room (unknown member ids become contacts named by their id).

        The bot is added as a member unless ``bot_is_member=False``; pass
        ``owner_id=puppet.account_id`` or list it in ``admin_ids`` to let the
        bot remove members.  Room ids should look like ``r1@chatroom``.
        """
        if room_id in self._rooms:
            raise ValueError(f"room {room_id!r} already exists")
        ids = list(member_ids)
        if bot_is_member and self._account_id not in ids:
            ids.append(self._account_id)
        extra = [x for x in (owner_id, *admin_ids) if x]
        for cid in (*ids, *extra):
            self._ensure_contact(cid)
        room = SandboxRoom(
            id=room_id,
            topic=topic,
            members={cid: SandboxMember() for cid in ids},
            owner_id=owner_id or "",
            admin_ids=list(admin_ids),
        )
        self._rooms[room_id] = room
        return room

    def set_admins(self, room_id: str, admin_ids: Iterable[str]) -> None:
        self._room(room_id).admin_ids = list(admin_ids)

    def leave_silently(self, room_id: str, member_id: str) -> None:
        """A member leaves without any event (as voluntary leaves often do in WeChat)."""
        room = self._room(room_id)
        if member_id not in room.members:
            raise ValueError(f"{member_id!r} is not a member of {room_id!r}")
        del room.members[member_id]
        if member_id in room.admin_ids:
            room.admin_ids.remove(member_id)

    # ------------------------------------------------------------------ driver: people act

    def _speaker(self, room_id: str, member_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            raise ValueError(f"room {room_id!r} not found")
        if member_id not in room.members:
            raise ValueError(f"{member_id!r} is not a member of {room_id!r}")

    def _member_message(self, room_id: str, member_id: str, **message: Any) -> str:
        self._speaker(room_id, member_id)
        message_id = self._store(from_id=member_id, room_id=room_id, **message)
        self._emit_message(message_id)
        return message_id

    async def member_says(
        self, room_id: str, member_id: str, text: str, mention_ids: Sequence[str] = ()
    ) -> str:
        return self._member_message(
            room_id,
            member_id,
            msg_type=MessageType.MESSAGE_TYPE_TEXT,
            text=text,
            mention_ids=mention_ids,
        )

    async def member_sends_link(
        self, room_id: str, member_id: str, url: str, title: str, description: str = ""
    ) -> str:
        link = UrlLinkPayload(url=url, title=title, description=description, thumbnailUrl="")
        return self._member_message(
            room_id, member_id, msg_type=MessageType.MESSAGE_TYPE_URL, text=title, attachment=link
        )

    async def member_sends_mini_program(
        self, room_id: str, member_id: str, app_id: str, title: str, page_path: str = ""
    ) -> str:
        mini = MiniProgramPayload(appid=app_id, title=title, pagePath=page_path)
        return self._member_message(
            room_id,
            member_id,
            msg_type=MessageType.MESSAGE_TYPE_MINI_PROGRAM,
            text=title,
            attachment=mini,
        )

    async def member_sends_card(self, room_id: str, member_id: str, contact_id: str) -> str:
        self._ensure_contact(contact_id)
        return self._member_message(
            room_id, member_id, msg_type=MessageType.MESSAGE_TYPE_CONTACT, attachment=contact_id
        )

    async def member_sends_image(
        self, room_id: str, member_id: str, data: bytes, name: str = "image.jpg"
    ) -> str:
        media = mimetypes.guess_type(name)[0] or "image/jpeg"
        return self._member_message(
            room_id,
            member_id,
            msg_type=MessageType.MESSAGE_TYPE_IMAGE,
            filename=name,
            attachment=(name, bytes(data), media),
        )

    async def member_sends_file(
        self, room_id: str, member_id: str, data: bytes, name: str = "file.dat"
    ) -> str:
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return self._member_message(
            room_id,
            member_id,
            msg_type=MessageType.MESSAGE_TYPE_ATTACHMENT,
            filename=name,
            attachment=(name, bytes(data), media),
        )

    async def direct_message(self, member_id: str, text: str) -> str:
        """A contact writes to the bot privately."""
        self._ensure_contact(member_id)
        message_id = self._store(
            MessageType.MESSAGE_TYPE_TEXT, member_id, to_id=self._account_id, text=text
        )
        self._emit_message(message_id)
        return message_id

    async def join(self, room_id: str, member_ids: Sequence[str], inviter_id: str | None) -> None:
        """Members join; emits ``room-join`` (``inviter_id=None`` is sent as ``""``)."""
        room = self._room(room_id)
        for cid in member_ids:
            if cid in room.members:
                raise ValueError(f"{cid!r} is already a member of {room_id!r}")
        for cid in member_ids:
            self._ensure_contact(cid)
            room.members[cid] = SandboxMember(inviter_id=inviter_id or "")
        self._emit_join(room_id, list(member_ids), inviter_id or "")

    async def leave(
        self, room_id: str, member_ids: Sequence[str], remover_id: str | None = None
    ) -> None:
        """Members leave with an event: removed by ``remover_id``, or each by themself."""
        room = self._room(room_id)
        for cid in member_ids:
            if cid not in room.members:
                raise ValueError(f"{cid!r} is not a member of {room_id!r}")
        for cid in member_ids:
            del room.members[cid]
            if cid in room.admin_ids:
                room.admin_ids.remove(cid)
        if remover_id is None:
            for cid in member_ids:
                self._emit_leave(room_id, [cid], cid)
        else:
            self._emit_leave(room_id, list(member_ids), remover_id)

    async def member_changes_topic(self, room_id: str, member_id: str, topic: str) -> None:
        self._speaker(room_id, member_id)
        room = self._rooms[room_id]
        old, room.topic = room.topic, topic
        self._emit_topic(room_id, member_id, topic, old)

    async def invite_bot(
        self, inviter_id: str, room_id: str, topic: str, member_ids: Sequence[str]
    ) -> str:
        """``inviter_id`` invites the bot to ``room_id`` (created if new); emits ``room-invite``."""
        room = self._rooms.get(room_id)
        if room is None:
            ids = list(member_ids)
            if inviter_id not in ids:
                ids.insert(0, inviter_id)
            room = self.add_room(room_id, topic, ids, owner_id=inviter_id, bot_is_member=False)
        elif self._account_id in room.members:
            raise ValueError(f"the bot is already in {room_id!r}")
        self._ensure_contact(inviter_id)
        invitation_id = self._new_id()
        self._invitations[invitation_id] = SandboxInvitation(
            id=invitation_id,
            inviter_id=inviter_id,
            room_id=room_id,
            topic=room.topic,
            member_ids=room.member_ids,
            timestamp=self._now_ms(),
        )
        self._emitter.emit("room-invite", EventRoomInvitePayload(room_invitation_id=invitation_id))
        return invitation_id

    def invitation_state(self, invitation_id: str) -> SandboxInvitation:
        return self._invitations[invitation_id]

    async def friend_request(self, contact_id: str, hello: str) -> str:
        """``contact_id`` asks to be the bot's friend; emits ``friendship``."""
        self._ensure_contact(contact_id)
        friendship_id = self._new_id()
        self._friendships[friendship_id] = FriendshipPayload(
            id=friendship_id,
            contact_id=contact_id,
            hello=hello,
            type=FriendshipType.FRIENDSHIP_TYPE_RECEIVE,
        )
        self._emitter.emit("friendship", EventFriendshipPayload(friendship_id=friendship_id))
        return friendship_id
