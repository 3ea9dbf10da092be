"""The sandbox puppet's world: contacts, rooms, messages and the events they raise.

The state a real WeChat account would see, kept in dicts; reads return fresh
copies; every change the world makes is announced as the puppet event a
gateway would send (``room-join``, ``message`` ...).
"""

from __future__ import annotations

import asyncio
import dataclasses
import mimetypes
import os
import random
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pyee.asyncio import AsyncIOEventEmitter

from bot import compat

compat.apply()

from wechaty_puppet import (  # noqa: E402  (compat.apply() must run first)
    ContactPayload,
    ContactType,
    EventHeartbeatPayload,
    EventMessagePayload,
    EventRoomJoinPayload,
    EventRoomLeavePayload,
    EventRoomTopicPayload,
    MessagePayload,
    MessageType,
)

from bot.transport.sandbox_calls import CallRecorder  # noqa: E402
from bot.transport.sandbox_world_types import (  # noqa: E402
    SandboxInvitation,
    SandboxMember,
    SandboxPuppetError,
    SandboxRoom,
)

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


class SandboxWorld(CallRecorder):
    """State, lookups and events (a mixin of the puppet)."""

    echo_own_messages: bool
    _account_id: str
    _emitter: AsyncIOEventEmitter
    _new_id: _Ids
    _contacts: dict[str, Any]
    _rooms: dict[str, SandboxRoom]
    _messages: dict[str, Any]
    _attachments: dict[str, Any]
    _recalled: set[str]
    _invitations: dict[str, SandboxInvitation]
    _friendships: dict[str, Any]

    def _init_world(self, account_id: str, now: Callable[[], datetime] | None) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        if self._now().tzinfo is None:
            raise ValueError("SandboxPuppet needs an aware `now` (UTC)")
        self._account_id = account_id
        self._login_user_id = None
        self._emitter = AsyncIOEventEmitter()
        self._new_id = _Ids()
        self._contacts = {}
        self._rooms = {}
        self._messages = {}
        self._attachments = {}
        self._recalled = set()
        self._invitations = {}
        self._friendships = {}

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

    def _can_manage(self, room: SandboxRoom) -> bool:
        me = self._account_id
        return room.owner_id == me or me in room.admin_ids

    def _require_bot_in(self, room: SandboxRoom) -> None:
        if self._account_id not in room.members:
            raise SandboxPuppetError(f"the bot is not a member of {room.id!r}")
