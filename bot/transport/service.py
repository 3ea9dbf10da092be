"""The gRPC puppet: the SDK's ``PuppetService`` with its stream-killing defects fixed.

Connects to a Wechaty puppet service (a Node gateway in front of a real
WeChat protocol, or the test peer).  Differences from upstream, each for a
defect in shared/wechaty-notes.md:

* the event loop converts each event on its own: a payload the SDK's
  dataclasses reject (``error`` carries ``{gerror}``, defect 1; ``room-join``
  without ``inviterId``, defect 2) is repaired or skipped and logged, and the
  stream goes on;
* an unknown TS message type (Post = 16, defect 5) becomes UNSPECIFIED
  instead of an IndexError;
* the token is never logged (upstream's constructor prints it in warnings);
  no discovery service and no port probe: the endpoint is required.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot import compat

compat.apply()

from grpclib.client import Channel  # noqa: E402
from wechaty_puppet import (  # noqa: E402
    EventDongPayload,
    EventErrorPayload,
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
    EventScanPayload,
    MessageType,
    Puppet,
    PuppetOptions,
    ScanStatus,
)
from wechaty_puppet_service import PuppetService  # noqa: E402
from wechaty_puppet_service.puppet import _map_message_type  # noqa: E402

log = logging.getLogger(__name__)

# The token travels in the HTTP/2 :authority header, and hpack logs every
# header it encodes at DEBUG.  Keep the HTTP/2 stack quiet even when the bot
# runs with -v, so the token never reaches a log.
for _chatty in ("hpack", "h2"):
    logging.getLogger(_chatty).setLevel(logging.INFO)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _join(d: dict[str, Any]) -> EventRoomJoinPayload:
    return EventRoomJoinPayload(
        invited_ids=list(d.get("inviteeIdList") or []),
        inviter_id=_s(d.get("inviterId")),  # optional on real puppets (defect 2)
        room_id=_s(d.get("roomId")),
        timestamp=d.get("timestamp") or 0,
    )


def _leave(d: dict[str, Any]) -> EventRoomLeavePayload:
    return EventRoomLeavePayload(
        removed_ids=list(d.get("removeeIdList") or []),
        remover_id=_s(d.get("removerId")),
        room_id=_s(d.get("roomId")),
        timestamp=d.get("timestamp") or 0,
    )


def _topic(d: dict[str, Any]) -> EventRoomTopicPayload:
    return EventRoomTopicPayload(
        changer_id=_s(d.get("changerId")),
        new_topic=_s(d.get("newTopic")),
        old_topic=_s(d.get("oldTopic")),
        room_id=_s(d.get("roomId")),
        timestamp=d.get("timestamp") or 0,
    )


# event type name (EventType member, minus the prefix) -> (puppet event, payload builder)
_BUILDERS: dict[str, tuple[str, Any]] = {
    "SCAN": (
        "scan",
        lambda d: EventScanPayload(
            status=ScanStatus(d.get("status", 0)), qrcode=d.get("qrcode"), data=d.get("data")
        ),
    ),
    "DONG": ("dong", lambda d: EventDongPayload(data=_s(d.get("data")))),
    "MESSAGE": ("message", lambda d: EventMessagePayload(message_id=_s(d["messageId"]))),
    "HEARTBEAT": ("heartbeat", lambda d: EventHeartbeatPayload(data=_s(d.get("data")))),
    # The gateway sends {gerror: ...}; upstream requires `data` (defect 1).
    "ERROR": (
        "error",
        lambda d: EventErrorPayload(data=_s(d.get("data") or d.get("gerror") or json.dumps(d))),
    ),
    "FRIENDSHIP": (
        "friendship",
        lambda d: EventFriendshipPayload(friendship_id=_s(d["friendshipId"])),
    ),
    "ROOM_JOIN": ("room-join", _join),
    "ROOM_INVITE": (
        "room-invite",
        lambda d: EventRoomInvitePayload(room_invitation_id=_s(d["roomInvitationId"])),
    ),
    "ROOM_LEAVE": ("room-leave", _leave),
    "ROOM_TOPIC": ("room-topic", _topic),
    "READY": ("ready", lambda d: EventReadyPayload(data=_s(d.get("data")))),
    "LOGIN": ("login", lambda d: EventLoginPayload(contact_id=_s(d["contactId"]))),
    "LOGOUT": (
        "logout",
        lambda d: EventLogoutPayload(contact_id=_s(d["contactId"]), data=_s(d.get("data"))),
    ),
}


class ServicePuppet(PuppetService):
    """``PuppetService`` that survives malformed events and keeps its token secret."""

    blocks_while_streaming = True

    def __init__(self, endpoint: str, token: str, name: str = "qunbot") -> None:
        if not endpoint:
            raise ValueError("a puppet service endpoint (host:port) is required")
        options = PuppetOptions()
        options.end_point = endpoint
        options.token = token
        # Skip PuppetService.__init__: it logs the token and reads env vars itself.
        Puppet.__init__(self, options, name)
        from pyee.asyncio import AsyncIOEventEmitter

        self.channel = None
        self._puppet_stub = None
        self._event_stream = AsyncIOEventEmitter()
        self.login_user_id = None
        self.skipped_events = 0

    def __repr__(self) -> str:  # never show the token
        return f"ServicePuppet(endpoint={self.options.end_point!r})"

    def _init_puppet(self) -> None:
        from wechaty_grpc.wechaty import PuppetStub

        host, _, port = str(self.options.end_point).rpartition(":")
        self.channel = Channel(host=host or "127.0.0.1", port=int(port))
        # The gateway reads the token from the HTTP/2 :authority header.
        self.channel._authority = self.options.token
        self._puppet_stub = PuppetStub(self.channel)

    async def message_payload(self, message_id: str) -> Any:
        response = await self.puppet_stub.message_payload(id=message_id)
        if isinstance(response.type, int) and not 0 <= response.type <= 15:
            response.type = MessageType.MESSAGE_TYPE_UNSPECIFIED  # defect 5
        return _map_message_type(response)

    async def room_invitation_payload(self, room_invitation_id: str, payload: Any = None) -> Any:
        # Upstream rebuilds the payload from ``response.to_dict()``, whose keys
        # are camelCase, and raises TypeError.  The response already is the
        # payload type (``RoomInvitationPayload`` aliases the gRPC message).
        return await self.puppet_stub.room_invitation_payload(id=room_invitation_id)

    async def _listen_for_event(self) -> None:
        from wechaty_grpc.wechaty.puppet import EventType

        names = {int(member.value): member.name.replace("EVENT_TYPE_", "") for member in EventType}
        async for response in self.puppet_stub.event():
            if response is None:
                continue
            kind = names.get(int(response.type), "UNKNOWN")
            try:
                data = json.loads(response.payload) if response.payload else {}
                if not isinstance(data, dict):
                    raise ValueError("payload is not an object")
                if kind == "LOGIN":
                    self.login_user_id = _s(data.get("contactId")) or None
                elif kind == "LOGOUT":
                    self.login_user_id = None
                builder = _BUILDERS.get(kind)
                if builder is None:
                    continue  # UNSPECIFIED, RESET and anything new: nothing to do
                event, build = builder
                payload = build(data)
            except Exception:
                self.skipped_events += 1
                log.warning(
                    "skipped a malformed %s event: %.200r", kind, response.payload, exc_info=True
                )
                continue
            self._event_stream.emit(event, payload)
