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

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot import compat

compat.apply()

from wechaty_puppet import (  # noqa: E402  (compat.apply() must run first)
    EventDongPayload,
    EventLoginPayload,
    EventLogoutPayload,
    EventReadyPayload,
    FriendshipPayload,
    FriendshipType,
    Puppet,
    PuppetOptions,
    RoomInvitationPayload,
    RoomMemberPayload,
    RoomPayload,
)
from wechaty_puppet.exceptions import WechatyPuppetOperationError  # noqa: E402

from bot.transport.filebox import file_box_bytes  # noqa: E402
from bot.transport.sandbox_calls import PuppetCall  # noqa: E402
from bot.transport.sandbox_driver import SandboxDriver  # noqa: E402
from bot.transport.sandbox_messages import MessageApi  # noqa: E402
from bot.transport.sandbox_world import (  # noqa: E402, F401  (kept importable from here)
    EventMessagePayload,
    _event_message,
    _Ids,
    _message_payload,
)
from bot.transport.sandbox_world_types import (  # noqa: E402
    SandboxInvitation,
    SandboxMember,
    SandboxPuppetError,
    SandboxRoom,
)

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


class SandboxPuppet(SandboxDriver, MessageApi, Puppet):
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
        self._init_recorder()
        self._init_world(account_id, now)
        self.echo_own_messages = echo_own_messages
        self.isolate_pools = isolate_pools
        self.add_contact(account_id, account_name)

    # ------------------------------------------------------------------ driver: quote replies

    async def member_quotes(
        self, room_id: str, member_id: str, quoted_id: str, reply: str, *, form: str = "text"
    ) -> str:
        """A member quotes (引用) message ``quoted_id`` and replies ``reply``.

        ``form="text"`` arrives as padlocal and wechat4u deliver it, a Text
        message ``「name：text」`` + separator + reply (no sender id);
        ``form="xml"`` as the raw type-57 appmsg that names the quoted sender
        (``chatusr``), typed Unknown as puppets passing it on do.
        """
        from wechaty_puppet import MessageType

        from bot.transport.quotes import render_refermsg_xml, render_text_form
        from bot.vocab.events import Quote

        quoted = self._message(quoted_id)
        room = self._room(room_id)
        sender = str(quoted.from_id)
        member = room.members.get(sender)
        name = (member.room_alias if member else "") or self._contact(sender).name or sender
        quote = Quote(message_id=quoted_id, sender_id=sender, sender_name=name, text=quoted.text)
        if form == "xml":
            kind, text = (
                MessageType.MESSAGE_TYPE_UNSPECIFIED,
                render_refermsg_xml(reply, quote, room_id),
            )
        elif form == "text":
            kind, text = MessageType.MESSAGE_TYPE_TEXT, render_text_form(reply, quote)
        else:
            raise ValueError(f"form is 'text' or 'xml', not {form!r}")
        return self._member_message(room_id, member_id, msg_type=kind, text=text)

    def last_message_of(self, room_id: str, member_id: str) -> str:
        """The id of ``member_id``'s latest message in ``room_id`` (for the console)."""
        for message_id in reversed(self._messages):
            payload = self._messages[message_id]
            if payload.room_id == room_id and payload.from_id == member_id:
                return message_id
        raise SandboxPuppetError(f"{member_id!r} has said nothing in {room_id!r}")

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
            if me in room.admin_ids:
                room.admin_ids.remove(me)
            if room.owner_id == me:  # WeChat hands the group to the next member
                room.owner_id = next(iter(room.members), "")

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
        others = [c for c in dict.fromkeys(contact_ids) if c != self._account_id]

        def create() -> str:
            for cid in others:
                self._contact(cid)
            if len(others) < 2:  # as WeChat asks
                raise SandboxPuppetError("a group needs at least 2 contacts besides the bot")
            room_id = f"{self._new_id()}@chatroom"
            members = {self._account_id: SandboxMember()}
            for cid in others:
                members[cid] = SandboxMember(inviter_id=self._account_id)
            self._rooms[room_id] = SandboxRoom(
                id=room_id, topic=topic or "", members=members, owner_id=self._account_id
            )
            return room_id

        room_id = str(
            self._act(
                "room_create", {"contact_ids": list(contact_ids), "topic": topic or ""}, create
            )
        )
        self._emit_join(room_id, others, self._account_id)  # as the gateway does
        return room_id

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
