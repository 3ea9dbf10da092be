"""The sandbox puppet's driver: the people on the other side act.

Members speak, share links and cards, join and leave; someone invites the bot
or asks to be its friend.  Each changes the world and raises the event a
real gateway would send.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from typing import Any

from bot import compat

compat.apply()

from wechaty_puppet import (  # noqa: E402  (compat.apply() must run first)
    EventFriendshipPayload,
    EventRoomInvitePayload,
    FriendshipPayload,
    FriendshipType,
    MessageType,
    MiniProgramPayload,
    UrlLinkPayload,
)

from bot.transport.sandbox_world import SandboxWorld  # noqa: E402
from bot.transport.sandbox_world_types import SandboxInvitation, SandboxMember  # noqa: E402


class SandboxDriver(SandboxWorld):
    """The driver API (a mixin of the puppet)."""

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

    async def friend_request(self, contact_id: str, hello: str, *, confirm: bool = False) -> str:
        """``contact_id`` asks to be the bot's friend (``confirm``: the friendship
        is made, e.g. the bot's own request was accepted); emits ``friendship``."""
        self._ensure_contact(contact_id)
        friendship_id = self._new_id()
        kind = (
            FriendshipType.FRIENDSHIP_TYPE_CONFIRM
            if confirm
            else FriendshipType.FRIENDSHIP_TYPE_RECEIVE
        )
        self._friendships[friendship_id] = FriendshipPayload(
            id=friendship_id,
            contact_id=contact_id,
            hello=hello,
            type=kind,
        )
        self._emitter.emit("friendship", EventFriendshipPayload(friendship_id=friendship_id))
        return friendship_id
