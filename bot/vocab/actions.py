"""The project's own action types: what handlers and the calendar return.

Actions are data.  Nothing in ``handlers`` or ``sop`` talks to WeChat; they
return these, and ``bot.executor`` hands each to the governor and then the
transport, writing an audit row.  ``kind`` is what the governor paces on.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
    key: str = ""  # idempotency key; the doer fills one in if empty (keys.stamp)
    not_after: datetime | None = None  # still worth doing until then (aware UTC)
    rule: str = ""  # the deciding feature's rule (e.g. "ads"): its shadow switch reads it
    after: str = ""  # the key of an action to finish first (tell the member, then remove)

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
class AddMember(Action):
    """Bring a contact (back) into a group: WeChat adds a friend directly, or
    sends a friend who is not one an invitation, depending on the group."""

    room: str
    member_id: str
    kind: ActionKind = field(init=False, default=ActionKind.INVITE)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SendImage(Action):
    """Send an image file (a chart, a poster) into a group or to a contact.

    ``path`` is a file the bot wrote (kept until sent: the outbox may resend
    it after a restart); ``sha256`` of its bytes makes the key content-true."""

    room: str | None
    path: str
    sha256: str = ""
    to_contact: str | None = None
    kind: ActionKind = field(init=False, default=ActionKind.RICH)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendMiniProgram(Action):
    room: str
    app_id: str
    title: str
    page_path: str = ""
    description: str = ""
    thumbnail_url: str = ""
    username: str = ""  # the mini program's gh_… id
    kind: ActionKind = field(init=False, default=ActionKind.RICH)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRoom(Action):
    """Create a group with these contacts (WeChat needs at least two besides
    the bot) and this topic.  ``ref`` names it for whoever asked (a flash
    group's campaign): the new room id is reported with the outcome."""

    topic: str
    member_ids: tuple[str, ...]
    ref: str
    kind: ActionKind = field(init=False, default=ActionKind.ROOM_CREATE)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuitRoom(Action):
    """The bot leaves a group (after a flash group is dissolved)."""

    room: str
    kind: ActionKind = field(init=False, default=ActionKind.ROOM_ADMIN)


@dataclass(frozen=True, slots=True, kw_only=True)
class AddFriend(Action):
    """Send a friend request (budgeted: a few a day on a real account)."""

    contact_id: str
    hello: str = ""
    room: str | None = None  # the group the contact was met in (for the audit)
    kind: ActionKind = field(init=False, default=ActionKind.FRIEND_REQUEST)


def say_to_each(
    contacts: Iterable[str], text: str, *, priority: Priority, reason: str
) -> list[Say]:
    """The same private message to each of ``contacts`` (e.g. the owners)."""
    return [
        Say(room=None, to_contact=c, text=text, priority=priority, reason=reason) for c in contacts
    ]


ACTIONS: dict[str, type[Action]] = {}


def action_name(action: Action | type[Action]) -> str:
    """``SetAnnouncement`` -> ``set_announcement`` (the outbox and audit log's name)."""
    cls = action if isinstance(action, type) else type(action)
    return "".join("_" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("_")


for _cls in (
    Say,
    SendLink,
    RemoveMember,
    AddMember,
    AcceptRoomInvitation,
    AcceptFriendship,
    SetAnnouncement,
    SetTopic,
    SendImage,
    SendMiniProgram,
    CreateRoom,
    QuitRoom,
    AddFriend,
):
    ACTIONS[action_name(_cls)] = _cls


def to_payload(action: Action) -> dict[str, Any]:
    """The action as JSON-ready data (for the outbox)."""
    data = {f.name: getattr(action, f.name) for f in dataclasses.fields(action) if f.init}
    data["priority"] = int(action.priority)
    if action.not_after is not None:
        data["not_after"] = action.not_after.isoformat()
    for name, value in data.items():
        if isinstance(value, tuple):
            data[name] = list(value)
    return data


def from_payload(name: str, data: dict[str, Any]) -> Action:
    """Rebuild an action stored by :func:`to_payload`; KeyError for an unknown name."""
    cls = ACTIONS[name]
    values = dict(data)
    values["priority"] = Priority(values.get("priority", Priority.REPLY))
    if values.get("not_after"):
        values["not_after"] = datetime.fromisoformat(values["not_after"])
    for f in dataclasses.fields(cls):
        if f.init and isinstance(values.get(f.name), list):
            values[f.name] = tuple(values[f.name])
    return cls(**values)
