"""The project's own action types: what handlers and the calendar return.

Actions are data.  Nothing in ``handlers`` or ``sop`` talks to WeChat; they
return these, and ``bot.executor`` hands each to the governor and then the
transport, writing an audit row.  ``kind`` is what the governor paces on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ActionKind(enum.StrEnum):
    MESSAGE = "message"  # plain text (with or without @mentions)
    RICH = "rich"  # link, mini program, contact card, file, image
    REMOVE = "remove"  # remove a member from a group
    INVITE = "invite"  # add / invite a member into a group
    ACCEPT = "accept"  # accept a room invitation or friend request
    FRIEND_REQUEST = "friend_request"
    ROOM_CREATE = "room_create"
    ROOM_ADMIN = "room_admin"  # topic / announcement / quit


class Priority(enum.IntEnum):
    """Lower goes first when several actions are ready."""

    MODERATION = 0
    WELCOME = 1
    REPLY = 2
    BROADCAST = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    reason: str = ""  # why: written to the audit log
    priority: Priority = Priority.REPLY
    key: str = ""  # idempotency key; the executor fills one in if empty

    kind: ActionKind = field(init=False, default=ActionKind.MESSAGE)

    @property
    def room_id(self) -> str | None:
        return getattr(self, "room", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Say(Action):
    """Post text into a group (or to a contact when ``room`` is None)."""

    room: str | None
    text: str
    mention_ids: tuple[str, ...] = ()
    to_contact: str | None = None
    kind: ActionKind = field(init=False, default=ActionKind.MESSAGE)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendLink(Action):
    room: str
    url: str
    title: str
    description: str = ""
    thumbnail_url: str = ""
    kind: ActionKind = field(init=False, default=ActionKind.RICH)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveMember(Action):
    room: str
    member_id: str
    kind: ActionKind = field(init=False, default=ActionKind.REMOVE)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptRoomInvitation(Action):
    invitation_id: str
    inviter_id: str = ""
    kind: ActionKind = field(init=False, default=ActionKind.ACCEPT)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptFriendship(Action):
    friendship_id: str
    contact_id: str = ""
    kind: ActionKind = field(init=False, default=ActionKind.ACCEPT)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAnnouncement(Action):
    room: str
    text: str
    kind: ActionKind = field(init=False, default=ActionKind.ROOM_ADMIN)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTopic(Action):
    room: str
    topic: str
    kind: ActionKind = field(init=False, default=ActionKind.ROOM_ADMIN)
