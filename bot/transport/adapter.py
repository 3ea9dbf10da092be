"""The Wechaty boundary: SDK events in, project events out; actions executed.

``WechatyTransport`` drives the real Wechaty SDK over any ``wechaty_puppet``
puppet: the in-process :class:`~bot.transport.sandbox_puppet.SandboxPuppet`
or the gRPC :class:`~bot.transport.service.ServicePuppet`.

Why it listens to the raw puppet events instead of ``Wechaty.start()``'s
event bridge (see shared/wechaty-notes.md):

* the bridge builds an inviter ``Contact`` even when the puppet sent none,
  and the join is lost (defect 2): here the inviter is optional;
* the bridge starts the plugin manager on login, which waits for port 5000
  (defect 9): here it is never started;
* ``Wechaty.start()`` swallows exceptions with ``print(e)`` and restarts
  itself after 60 s with a broken scheduler (defect 6);
* pyee runs each async listener as its own task, so two messages of one room
  can finish loading out of order.  Here a synchronous listener records each
  event in arrival order; conversions run concurrently but are delivered in
  that order;
* exceptions in listeners are logged as "internal error" without traceback
  (defect 11): every conversion here is wrapped and logged with its traceback.

It still uses the SDK for everything else: ``Message``/``Room``/``Contact``/
``RoomInvitation``/``Friendship`` objects, their caches, ``room.say`` with
@mentions, ``room.delete``, and so on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

from bot import compat
from bot.member_lists import MaybeNotInRoom, MemberList
from bot.transport.base import ActionFailed, Sink
from bot.transport.quotes import QuotedReply, parse_quoted
from bot.transport.supervisor import Supervisor
from bot.transport.timeutil import puppet_time
from bot.transport.wechaty_actions import WechatyActions
from bot.vocab.clock import Clock
from bot.vocab.events import (
    Attachment,
    BotJoinedRoomEvent,
    ConnectionEvent,
    Event,
    FriendshipEvent,
    JoinEvent,
    LeaveEvent,
    LoginEvent,
    LogoutEvent,
    MessageEvent,
    MessageKind,
    Quote,
    RoomInviteEvent,
)

log = logging.getLogger(__name__)

_KINDS = {
    "MESSAGE_TYPE_TEXT": MessageKind.TEXT,
    "MESSAGE_TYPE_IMAGE": MessageKind.IMAGE,
    "MESSAGE_TYPE_URL": MessageKind.LINK,
    "MESSAGE_TYPE_MINI_PROGRAM": MessageKind.MINI_PROGRAM,
    "MESSAGE_TYPE_CONTACT": MessageKind.CONTACT_CARD,
    "MESSAGE_TYPE_ATTACHMENT": MessageKind.FILE,
    "MESSAGE_TYPE_AUDIO": MessageKind.AUDIO,
    "MESSAGE_TYPE_VIDEO": MessageKind.VIDEO,
    "MESSAGE_TYPE_EMOTICON": MessageKind.EMOTICON,
    "MESSAGE_TYPE_LOCATION": MessageKind.LOCATION,
    "MESSAGE_TYPE_CHAT_HISTORY": MessageKind.CHAT_HISTORY,
    "MESSAGE_TYPE_TRANSFER": MessageKind.TRANSFER,
    "MESSAGE_TYPE_RED_ENVELOPE": MessageKind.RED_ENVELOPE,
    "MESSAGE_TYPE_RECALLED": MessageKind.RECALLED,
}

# Raw puppet events we convert; the rest are only logged / fed to a watchdog.
_CONVERTED = ("message", "room-join", "room-leave", "room-invite", "friendship", "login", "logout")
_OBSERVED = ("error", "heartbeat", "dong", "ready", "scan", "room-topic")


def free_port() -> int:
    """A free loopback port, so the SDK's plugin manager never claims 5000."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message_kind(sdk_type: Any) -> MessageKind:
    """Map the SDK's ``MessageType`` (by name, never by number) to ours."""
    return _KINDS.get(getattr(sdk_type, "name", ""), MessageKind.OTHER)


class WechatyTransport(WechatyActions):
    """The only place that calls the Wechaty SDK."""

    def __init__(
        self,
        puppet: Any,
        *,
        clock: Clock,
        name: str = "qunbot",
        watchdog_timeout: float = 60.0,
        ding_timeout: float = 15.0,
        max_backlog: int = 10_000,
        read_aliases: bool = True,
    ) -> None:
        self._puppet = puppet
        self._read_aliases = read_aliases
        self._clock = clock
        self._name = name
        self._bot: Any = None
        self._sink: Sink | None = None
        self._order: asyncio.Queue[asyncio.Future[list[Event]] | None] = asyncio.Queue()
        self._deliverer: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self.supervisor: Supervisor | None = None
        if getattr(puppet, "blocks_while_streaming", False):
            self.supervisor = Supervisor(
                self._puppet.start,
                clock=clock,
                ding=self._puppet.ding,
                teardown=self._teardown,
                on_state=self._connection_state,
                watchdog_timeout=watchdog_timeout,
                ding_timeout=ding_timeout,
            )
        self.logged_in = asyncio.Event()
        self.stream_ended = asyncio.Event()
        self.observers: list[Callable[[str, Any], None]] = []  # e.g. a watchdog
        self.dropped = 0  # malformed events skipped
        self._undelivered = 0
        self._delivered = asyncio.Event()
        self._delivered.set()
        # Back-pressure: past ``max_backlog`` events received and not yet
        # delivered, a puppet that reads a stream (gRPC) stops reading it until
        # there is room, so memory stays bounded and the gateway is held back.
        self.max_backlog = max_backlog
        self._has_room = asyncio.Event()
        self._has_room.set()
        if hasattr(puppet, "backpressure"):
            puppet.backpressure = self.room_for_more
        # Told of each puppet read outside the member-list reader (the room payload
        # when the bot joins a group), so the app counts it on the reader's budget.
        self.on_extra_read: Callable[[], None] | None = None

    @property
    def puppet(self) -> Any:
        return self._puppet

    @property
    def self_id(self) -> str | None:
        try:
            return str(self._puppet.self_id()) or None
        except Exception:
            return None

    async def start(self, sink: Sink) -> None:
        wechaty = compat.load()
        from wechaty_puppet import PuppetOptions

        self._sink = sink
        options = wechaty.WechatyOptions(
            name=self._name,
            puppet=self._puppet,
            puppet_options=PuppetOptions(),  # never the shared class default (compat patch 1)
            port=free_port(),
        )
        self._bot = wechaty.Wechaty(options)
        await self._bot.init_puppet()  # binds Message/Room/Contact/... to this puppet
        # The SDK caches Contact/Room objects in class-level pools shared by
        # every Wechaty in the process, so a cached Room keeps calling the
        # puppet of whichever bot loaded it first.  Each bound class gets its own.
        for bound in ("Contact", "ContactSelf", "Room", "Tag"):
            getattr(self._bot, bound)._pool = {}
        for name in _CONVERTED + _OBSERVED:
            self._puppet.on(name, partial(self._on_raw, name))
        self._deliverer = asyncio.create_task(self._deliver(), name="wechaty-deliver")
        if self.supervisor is not None:
            # A gRPC puppet's start() returns only when its event stream ends:
            # the supervisor runs it, and again after each loss.
            self.supervisor.start()
        else:
            self._runner = asyncio.create_task(self._run_puppet(), name="wechaty-puppet")

    async def _run_puppet(self) -> None:
        try:
            await self._puppet.start()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the puppet failed to start")
            self.stream_ended.set()

    async def _teardown(self) -> None:
        """Drop a dead connection (frozen or half-open) without logging out."""
        channel = getattr(self._puppet, "channel", None)
        if channel is not None:
            channel.close()
            self._puppet.channel = None

    def _connection_state(self, state: str, detail: str) -> None:
        if state == "disconnected":
            self.logged_in.clear()
            self.stream_ended.set()
        self._emit(ConnectionEvent(state, self._clock.now(), detail))

    def _emit(self, event: Event) -> None:
        """Deliver an event of our own, in order with the puppet's."""
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        future.set_result([event])
        self._undelivered += 1
        self._delivered.clear()
        self._order.put_nowait(future)

    async def stop(self) -> None:
        """Stop listening and close the connection, leaving the account logged in.

        ``puppet.stop()`` is the puppet's own: ``ServicePuppet`` only closes its
        gRPC channel (the gateway's ``Stop()`` would log the account out), the
        sandbox puppet stops in-process.  Nothing here calls ``logout``.
        """
        if self.supervisor is not None:
            await self.supervisor.stop()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        with contextlib.suppress(Exception):
            await self._puppet.stop()
        if self._deliverer is not None:
            self._order.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
        self._deliverer = self._runner = None

    # ------------------------------------------------------------------ events

    def _on_raw(self, name: str, payload: Any = None) -> None:
        """Synchronous pyee listener: fixes the arrival order of events."""
        if self.supervisor is not None:
            self.supervisor.feed()
        if name == "login" and self.stream_ended.is_set():
            self.stream_ended.clear()
            self._emit(ConnectionEvent("connected", self._clock.now(), "logged in again"))
        for observer in self.observers:
            try:
                observer(name, payload)
            except Exception:
                log.exception("observer failed on %s", name)
        if name not in _CONVERTED:
            if name == "error":
                log.warning("puppet error event: %s", getattr(payload, "data", payload))
            return
        if name == "login":
            self.logged_in.set()
        elif name == "logout":
            self.logged_in.clear()
        task = asyncio.ensure_future(self._convert(name, payload))
        self._undelivered += 1
        self._delivered.clear()
        self._order.put_nowait(task)

    async def _deliver(self) -> None:
        while True:
            task = await self._order.get()
            if task is None:
                return
            try:
                events = await task
            except asyncio.CancelledError:
                raise
            except Exception:
                self.dropped += 1
                log.exception("skipped a malformed or unreadable puppet event")
                events = []
            assert self._sink is not None
            for event in events:
                try:
                    held = self._sink(event)
                    if held is not None:
                        await held  # the dispatcher is full: wait, lose nothing
                except Exception:
                    log.exception("the event sink failed on %s", type(event).__name__)
            self._undelivered -= 1
            if self._undelivered < self.max_backlog:
                self._has_room.set()
            if self._undelivered == 0:
                self._delivered.set()

    async def room_for_more(self) -> None:
        """Wait while the backlog of undelivered events is full.

        The stream is alive while we choose not to read it: the watchdog is
        fed meanwhile, so a busy bot is not mistaken for a frozen connection.
        """
        while self._undelivered >= self.max_backlog:
            self._has_room.clear()
            if self.supervisor is not None:
                self.supervisor.feed()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._has_room.wait(), 5.0)

    async def drain(self) -> None:
        """Wait until every event received so far has been delivered."""
        await self._delivered.wait()

    async def _convert(self, name: str, p: Any) -> list[Event]:
        now = self._clock.now()
        if name == "message":
            return await self._message(p.message_id)
        if name == "room-join":
            return await self._join(p, now)
        if name == "room-leave":
            removed = tuple(str(i) for i in (p.removed_ids or ()) if i)
            if not p.room_id or not removed:
                raise ValueError(f"room-leave without room or members: {p!r}")
            at = puppet_time(p.timestamp, now)
            return [LeaveEvent(str(p.room_id), removed, p.remover_id or None, at)]
        if name == "room-invite":
            return [await self._invitation(p.room_invitation_id, now)]
        if name == "friendship":
            return [await self._friendship(p.friendship_id, now)]
        if name == "login":
            contact = self._bot.ContactSelf.load(p.contact_id)
            with contextlib.suppress(Exception):
                await contact.ready()
            # No member lists here: the app's reader refreshes the stale ones in the
            # background, on its budget, while events keep flowing.
            return [LoginEvent(str(p.contact_id), now, _name_of(contact))]
        if name == "logout":
            return [LogoutEvent(str(p.contact_id), now, str(getattr(p, "data", "") or ""))]
        raise ValueError(f"unexpected event {name}")

    async def _message(self, message_id: str) -> list[Event]:
        msg = self._bot.Message.load(message_id)
        await msg.ready()
        payload = msg.payload
        if msg.is_self():
            return []  # the bot hears its own messages; answering them would loop
        kind = message_kind(payload.type)
        talker = msg.talker()
        text = payload.text or ""
        quote: Quote | None = None
        if kind in _QUOTABLE:
            quoted = _quoted(text, message_id)
            if quoted is not None:  # a quote reply: the text is the reply alone
                kind, text, quote = MessageKind.TEXT, quoted.reply, quoted.quote
        attachment: Attachment | None = None
        try:
            if quote is not None:
                pass  # its "link" is the quote itself: nothing attached to read
            elif kind is MessageKind.LINK:
                link = (await msg.to_url_link()).payload
                attachment = Attachment(
                    title=link.title or "", description=link.description or "", url=link.url or ""
                )
            elif kind is MessageKind.MINI_PROGRAM:
                mp = (await msg.to_mini_program()).payload
                attachment = Attachment(
                    title=mp.title or "",
                    description=mp.description or "",
                    url=mp.pagePath or "",
                    app_id=mp.appid or "",
                )
            elif kind is MessageKind.CONTACT_CARD:
                card = await msg.to_contact()
                attachment = Attachment(contact_id=card.contact_id, title=_name_of(card))
        except Exception:
            log.warning(
                "could not read the %s attached to message %s", kind, message_id, exc_info=True
            )
        return [
            MessageEvent(
                message_id=str(message_id),
                room_id=payload.room_id or None,
                sender_id=str(payload.from_id),
                sender_name=_name_of(talker),
                kind=kind,
                text=text,
                at=puppet_time(payload.timestamp, self._clock.now()),
                mention_ids=tuple(payload.mention_ids or ()),
                attachment=attachment,
                quote=quote,
            )
        ]

    async def _join(self, p: Any, now: Any) -> list[Event]:
        invited = tuple(str(i) for i in (p.invited_ids or ()) if i)
        if not p.room_id or not invited:
            raise ValueError(f"room-join without room or invitees: {p!r}")
        room_id = str(p.room_id)
        inviter = str(p.inviter_id) if p.inviter_id else None
        at = puppet_time(p.timestamp, now)
        me = self.self_id
        events: list[Event] = []
        if me and me in invited:
            topic = ""
            members: tuple[str, ...] = ()
            try:
                if self.on_extra_read is not None:
                    self.on_extra_read()
                payload = await self._puppet.room_payload(room_id)
                topic = payload.topic or ""
                members = tuple(payload.member_ids or ())
            except Exception:
                log.warning("could not read room %s after joining it", room_id, exc_info=True)
            # Who is there and who owns it comes from one member-list read by the
            # app's reader (cached): not read here a second time.
            events.append(BotJoinedRoomEvent(room_id, inviter, at, topic, members))
            invited = tuple(i for i in invited if i != me)
        if invited:
            names = []
            for contact_id in invited:
                contact = self._bot.Contact.load(contact_id)
                with contextlib.suppress(Exception):
                    await contact.ready()
                names.append(_name_of(contact))
            events.append(JoinEvent(room_id, invited, inviter, at, tuple(names)))
        return events

    async def room_ids(self) -> set[str]:
        """The rooms the puppet says the bot is in (no member lists are read):
        one unpaced read; the app reads it through its member-list reader."""
        return {str(r) for r in await self._puppet.room_list()}

    async def read_member_list(self, room_id: str) -> MemberList:
        """One member-list read of ``room_id`` (use the app's paced, cached reader).

        ``room.member_list()``, not the payload's member ids, which go stale
        after joins (defect 8).  The list's ``read_at`` is when the read
        began: a member who joins while it is read joined after it, and is
        not taken for a leaver by the diff.  Raises
        :class:`~bot.member_lists.MaybeNotInRoom` when the read fails or the
        list leaves the bot out: the reader checks its (paced, cached) room
        list to tell a removal from a glitch.
        """
        if self._bot is None:
            raise ActionFailed("the transport is not started")
        read_at = self._clock.now()
        try:
            room = self._bot.Room.load(room_id)
            # Room.ready(force_sync=True) returns early on a cached room
            # (defect 8): reload the payload for the owner and admins.
            room.payload = await self._puppet.room_payload(room_id)
            members = await room.member_list()
        except Exception as exc:
            raise MaybeNotInRoom(room_id, f"{type(exc).__name__}: {exc}") from exc
        ids = tuple(str(m.contact_id) for m in members)
        aliases = await self._room_aliases(room, members) if self._read_aliases else ()
        payload = room.payload
        listed = MemberList(
            str(room_id),
            ids,
            read_at,
            payload.topic or "",
            tuple(_name_of(m) for m in members),
            owner_id=payload.owner_id or None,
            admin_ids=tuple(payload.admin_ids or ()),
            member_aliases=aliases,
        )
        me = self.self_id
        if me and me not in ids:
            raise MaybeNotInRoom(room_id, "the member list leaves the bot out", listed)
        return listed

    async def _room_aliases(self, room: Any, members: list[Any]) -> tuple[str, ...]:
        """The members' group aliases (群昵称) for name-card checks; () when the
        puppet cannot tell (a member whose payload fails reads as "")."""
        aliases: list[str] = []
        for member in members:
            try:
                aliases.append(str(await room.alias(member) or ""))
            except Exception:
                aliases.append("")
        return tuple(aliases) if any(aliases) else ()

    async def snapshots(self, room_ids: list[str] | None = None) -> list[Event]:
        """Who is in each room now, unpaced and uncached: one read per room.
        The app reads through its :class:`~bot.member_lists.MemberListReader`."""
        events: list[Event] = []
        for room_id in room_ids if room_ids is not None else sorted(await self.room_ids()):
            try:
                events.append((await self.read_member_list(room_id)).snapshot())
            except Exception:
                log.warning("could not list the members of %s", room_id, exc_info=True)
        return events

    async def _invitation(self, invitation_id: str, now: Any) -> Event:
        # ``RoomInvitation.load()`` builds the unbound base class ("puppet not
        # set"); read the payload from the puppet, as the SDK object would.
        p = await self._puppet.room_invitation_payload(invitation_id)
        if not p.inviter_id:
            raise ValueError(f"room invitation {invitation_id} has no inviter")
        return RoomInviteEvent(
            str(invitation_id), str(p.inviter_id), p.topic or "", now, int(p.member_count or 0)
        )

    async def _friendship(self, friendship_id: str, now: Any) -> Event:
        friendship = self._bot.Friendship.load(friendship_id)
        await friendship.ready()
        contact = friendship.contact()
        kind = getattr(friendship.type(), "name", "").replace("FRIENDSHIP_TYPE_", "").lower()
        return FriendshipEvent(
            str(friendship_id), str(contact.contact_id), friendship.hello() or "", now, kind
        )

    async def image_bytes(self, message_id: str) -> bytes:
        """The bytes of an image or file message, of any size.

        ``Message.to_file_box()`` asks the puppet's ``message_image`` (images)
        or ``message_file`` (the rest); ``ServicePuppet`` reads both through the
        streaming RPCs, so files over 20 KB work too (defect 4).  A message
        without a file raises the SDK's or the puppet's error.
        """
        if self._bot is None:
            raise ActionFailed("the transport is not started")
        from bot.transport.filebox import file_box_bytes

        msg = self._bot.Message.load(message_id)
        await msg.ready()
        return file_box_bytes(await msg.to_file_box())


# The SDK types a quote reply arrives as: Text (padlocal, wechat4u), the raw
# appmsg as Url or Unknown (puppets that pass the XML on).
_QUOTABLE = (MessageKind.TEXT, MessageKind.LINK, MessageKind.OTHER)


def _quoted(text: str, message_id: str) -> QuotedReply | None:
    """The quote reply in ``text`` (bot.transport.quotes), never an exception."""
    try:
        return parse_quoted(text)
    except Exception:  # the parser is total; a bug in it must not lose the message
        log.warning("could not read the quote in message %s", message_id, exc_info=True)
        return None


def _name_of(contact: Any) -> str:
    try:
        return str(contact.name or "")
    except Exception:
        return ""
