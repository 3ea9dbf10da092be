"""The Wechaty transport's doing side: each project action as SDK / puppet
calls (a mixin of :class:`bot.transport.adapter.WechatyTransport`, which owns
the bot, the puppet and the event stream).  The returned string, if any, is
the action's result: a sent message's id, a created group's id.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from typing import Any

from bot.transport.base import ActionFailed
from bot.vocab.actions import (
    AcceptFriendship,
    AcceptRoomInvitation,
    Action,
    AddFriend,
    AddMember,
    CreateRoom,
    QuitRoom,
    RemoveMember,
    Say,
    SendImage,
    SendLink,
    SendMiniProgram,
    SetAnnouncement,
    SetTopic,
)


class WechatyActions:
    """``execute`` and its helpers; needs ``_bot``, ``_puppet`` and ``self_id``."""

    _bot: Any
    _puppet: Any

    @property
    def self_id(self) -> str | None:  # pragma: no cover - the transport's
        raise NotImplementedError

    async def execute(self, action: Action) -> str | None:
        if self._bot is None:
            raise ActionFailed("the transport is not started")
        if isinstance(action, Say):
            return await self._say(action)
        if isinstance(action, SendLink):
            from wechaty_puppet import UrlLinkPayload

            # Not UrlLink.create(): it fetches the page over the network.
            payload = UrlLinkPayload(
                url=action.url,
                title=action.title,
                thumbnailUrl=action.thumbnail_url,
                description=action.description,
            )
            return _id_of(await (await self._room(action.room)).say(self._bot.UrlLink(payload)))
        if isinstance(action, RemoveMember):
            room = await self._room(action.room)
            await room.delete(self._bot.Contact.load(action.member_id))
            return None
        if isinstance(action, AddMember):
            room = await self._room(action.room)
            await room.add(self._bot.Contact.load(action.member_id))
            return None
        if isinstance(action, AcceptRoomInvitation):
            # The SDK's RoomInvitation.accept() re-reads the payload afterwards
            # and fails on the gateway; the accept itself is this one call.
            await self._puppet.room_invitation_accept(action.invitation_id)
            return None
        if isinstance(action, AcceptFriendship):
            friendship = self._bot.Friendship.load(action.friendship_id)
            await friendship.ready()
            await friendship.accept()
            return None
        if isinstance(action, SetAnnouncement):
            await (await self._room(action.room)).announce(action.text)
            return None
        if isinstance(action, SetTopic):
            # Room.topic(new) only logs a failed SET: ask the puppet, so errors surface.
            await self._puppet.room_topic(action.room, action.topic)
            return None
        if isinstance(action, SendImage):
            return await self._send_image(action)
        if isinstance(action, SendMiniProgram):
            from wechaty_puppet import MiniProgramPayload

            mini = MiniProgramPayload(
                appid=action.app_id,
                title=action.title,
                pagePath=action.page_path,
                description=action.description,
                thumbUrl=action.thumbnail_url,
                username=action.username,
            )
            room = await self._room(action.room)
            return _id_of(await room.say(self._bot.MiniProgram(mini)))
        if isinstance(action, CreateRoom):
            return await self._create_room(action)
        if isinstance(action, QuitRoom):
            await (await self._room(action.room)).quit()
            return None
        if isinstance(action, AddFriend):
            await self._bot.Friendship.add(self._bot.Contact.load(action.contact_id), action.hello)
            return None
        raise ActionFailed(f"{type(action).__name__} is not supported by this transport")

    async def _room(self, room_id: str) -> Any:
        room = self._bot.Room.load(room_id)
        await room.ready()
        return room

    async def _send_image(self, action: SendImage) -> str | None:
        """The file as a base64 FileBox: a ``File`` box cannot be serialised for
        the gateway (``to_json_str``), and the bytes are read when sent, so a
        file changed after the action was queued is caught by its ``sha256``."""
        from wechaty_puppet import FileBox

        try:
            data = await asyncio.to_thread(_read_bytes, action.path)
        except OSError as exc:
            raise ActionFailed(f"cannot read the image {action.path}: {exc}") from exc
        if action.sha256 and hashlib.sha256(data).hexdigest() != action.sha256:
            raise ActionFailed(f"the image {action.path} changed since it was queued")
        box = FileBox.from_base64(base64.b64encode(data), name=os.path.basename(action.path))
        if action.room is not None:
            return _id_of(await (await self._room(action.room)).say(box))
        if not action.to_contact:
            raise ActionFailed("a SendImage needs a room or a contact")
        contact = self._bot.Contact.load(action.to_contact)
        await contact.ready()
        return _id_of(await contact.say(box))

    async def _create_room(self, action: CreateRoom) -> str:
        """Create the group; its id is the action's result (the outbox row's
        ``result`` and the audit row's ``detail["result"]``): whoever asked reads
        it there by the action's key."""
        me = self.self_id
        ids = [c for c in dict.fromkeys(action.member_ids) if c and c != me]
        if len(ids) < 2:
            raise ActionFailed(
                "WeChat needs at least two contacts besides the bot to create a group"
            )
        contacts = [self._bot.Contact.load(c) for c in ids]
        room = await self._bot.Room.create(contacts, action.topic)
        room_id = str(room.room_id or "")
        if not room_id:
            raise ActionFailed("the puppet created a group but gave no id")
        return room_id

    async def _say(self, action: Say) -> str | None:
        if action.room is None:
            if not action.to_contact:
                raise ActionFailed("a Say needs a room or a contact")
            contact = self._bot.Contact.load(action.to_contact)
            await contact.ready()
            return _id_of(await contact.say(action.text))
        room = await self._room(action.room)
        mentions = list(action.mention_ids) or None
        return _id_of(await room.say(action.text, mention_ids=mentions))


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _id_of(message: Any) -> str | None:
    return getattr(message, "message_id", None) if message is not None else None
