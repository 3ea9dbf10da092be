"""The project's own event types: what handlers receive.

The transport converts every SDK event into one of these at one boundary
(``bot.transport.adapter``).  Times are aware UTC; ids are WeChat account /
room ids, never display names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class MessageKind(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    LINK = "link"
    MINI_PROGRAM = "mini_program"
    CONTACT_CARD = "contact_card"
    FILE = "file"
    AUDIO = "audio"
    VIDEO = "video"
    EMOTICON = "emoticon"
    LOCATION = "location"
    CHAT_HISTORY = "chat_history"
    TRANSFER = "transfer"
    RED_ENVELOPE = "red_envelope"
    RECALLED = "recalled"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Attachment:
    """What a non-text message carries (link, mini program, contact card)."""

    title: str = ""
    description: str = ""
    url: str = ""
    app_id: str = ""  # mini program
    contact_id: str = ""  # contact card


@dataclass(frozen=True, slots=True)
class Quote:
    """The message a reply quotes (WeChat's 引用), as far as the puppet told.

    Puppets differ: the raw appmsg XML names the quoted sender's account id;
    padlocal and wechat4u turn it into text that keeps only the display name.
    Empty strings are unknown.  A display name is never an identity.
    """

    message_id: str = ""  # the quoted message's server id (svrid)
    sender_id: str = ""  # the quoted sender's account id
    sender_name: str = ""  # as WeChat showed it (group alias or nickname)
    text: str = ""  # the quoted text ("" when it was not text)


@dataclass(frozen=True, slots=True)
class MessageEvent:
    message_id: str
    room_id: str | None  # None: a direct message to the bot
    sender_id: str
    sender_name: str
    kind: MessageKind
    text: str
    at: datetime
    mention_ids: tuple[str, ...] = ()
    attachment: Attachment | None = None
    #: a reply's quoted message; ``text`` is then only the reply
    quote: Quote | None = None


@dataclass(frozen=True, slots=True)
class JoinEvent:
    room_id: str
    member_ids: tuple[str, ...]
    inviter_id: str | None  # unknown on some puppets: treat as a hint
    at: datetime
    member_names: tuple[str, ...] = ()
    source: str = "event"  # "event" or "reconcile"
    # True when no event said so: a member list showed them present and storage
    # did not know them (handlers.membership).  Counted as a join all the same.
    found_by_reconciliation: bool = False


@dataclass(frozen=True, slots=True)
class LeaveEvent:
    room_id: str
    member_ids: tuple[str, ...]
    remover_id: str | None
    at: datetime
    source: str = "event"
    # True when no event said so: a member list no longer showed them.
    found_by_reconciliation: bool = False


@dataclass(frozen=True, slots=True)
class RoomInviteEvent:
    """Somebody invited the bot into a group."""

    invitation_id: str
    inviter_id: str
    room_topic: str
    at: datetime
    member_count: int = 0


@dataclass(frozen=True, slots=True)
class FriendshipEvent:
    friendship_id: str
    contact_id: str
    hello: str
    at: datetime
    kind: str = "receive"  # receive / confirm / verify / unknown


@dataclass(frozen=True, slots=True)
class LoginEvent:
    account_id: str
    at: datetime
    name: str = ""


@dataclass(frozen=True, slots=True)
class LogoutEvent:
    account_id: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BotJoinedRoomEvent:
    """The bot itself entered a group (after accepting an invitation)."""

    room_id: str
    inviter_id: str | None
    at: datetime
    topic: str = ""
    member_ids: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RoomSnapshotEvent:
    """Who is in a room right now, as the puppet lists it (at login, on reconcile)."""

    room_id: str
    member_ids: tuple[str, ...]
    at: datetime
    topic: str = ""
    member_names: tuple[str, ...] = ()
    owner_id: str | None = None
    admin_ids: tuple[str, ...] = ()
    #: group aliases (群昵称) in the order of member_ids ("" unset); () when not read
    member_aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """The link to the puppet changed: connected, disconnected, reconnecting, stalled."""

    state: str
    at: datetime
    detail: str = ""


Event = (
    MessageEvent
    | JoinEvent
    | LeaveEvent
    | RoomInviteEvent
    | FriendshipEvent
    | LoginEvent
    | LogoutEvent
    | BotJoinedRoomEvent
    | RoomSnapshotEvent
    | ConnectionEvent
)


def room_of(event: Event) -> str | None:
    """The room an event belongs to (its ordering key), or None."""
    return getattr(event, "room_id", None)
