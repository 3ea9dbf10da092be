"""ServicePuppet's fixes for defects 3 and 4, without a gateway.

Defect 3: the request messages must carry the value in field 3 (what the
Node gateway reads), and the value of a response is read from field 2.
Defect 4: a file is rebuilt from the stream's chunks (name first, then data).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import betterproto
import pytest
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from wechaty_grpc.wechaty.puppet import FileBoxChunk, RoomAnnounceResponse, RoomTopicRequest

from bot.transport.filebox import file_box_bytes
from bot.transport.service import (
    NodeContactAliasResponse,
    NodeRoomAnnounceResponse,
    NodeRoomTopicResponse,
    ServicePuppet,
    _SilentStream,
    alias_request,
    announce_request,
    file_box_from_chunks,
    topic_request,
)

# Plain messages of the gateway's shape, written independently of service.py.


@dataclasses.dataclass(eq=False, repr=False)
class Field3Request(betterproto.Message):
    id: str = betterproto.string_field(1)
    value: str = betterproto.string_field(3)


@dataclasses.dataclass(eq=False, repr=False)
class Field2Response(betterproto.Message):
    value: str = betterproto.string_field(2)


def wire(message: Any) -> bytes:
    """The bytes grpclib sends for a request (it calls SerializeToString)."""
    return ProtoCodec().encode(message, type(message))


def fields(data: bytes) -> dict[int, bytes]:
    """Top-level length-delimited fields of a message: number -> payload."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = betterproto.decode_varint(data, pos)
        assert key & 7 == 2, "only length-delimited fields expected"
        size, pos = betterproto.decode_varint(data, pos)
        out[key >> 3] = data[pos : pos + size]
        pos += size
    return out


BUILDERS = [topic_request, announce_request, alias_request]


@pytest.mark.parametrize("build", BUILDERS)
def test_a_set_puts_the_value_in_field_3(build: Any) -> None:
    data = wire(build("r1@chatroom", "新群名"))
    parsed = Field3Request().parse(data)
    assert parsed.id == "r1@chatroom" and parsed.value == "新群名"
    raw = fields(data)
    assert raw[3] == "新群名".encode()
    # Field 2 carries the same value as a StringValue, for gateways older than 1.0.
    assert raw[2] == b"\n" + bytes([len(raw[3])]) + raw[3]


@pytest.mark.parametrize("build", BUILDERS)
def test_an_empty_set_is_still_sent_in_field_3(build: Any) -> None:
    # proto3 `optional`: "" set on purpose is a SET (clear), not a GET.
    raw = fields(wire(build("r1@chatroom", "")))
    assert raw[3] == b""
    assert raw[2] == b""  # an empty StringValue is present too


@pytest.mark.parametrize("build", BUILDERS)
def test_a_get_sends_neither_field(build: Any) -> None:
    assert fields(wire(build("r1@chatroom", None))) == {1: b"r1@chatroom"}


def test_upstreams_request_is_what_the_gateway_ignores() -> None:
    # The defect itself: upstream's stub sends field 2 only.
    raw = fields(wire(RoomTopicRequest(id="r", topic="t")))
    assert 3 not in raw and 2 in raw


@pytest.mark.parametrize(
    ("response_type", "attr"),
    [
        (NodeRoomTopicResponse, "topic"),
        (NodeRoomAnnounceResponse, "text"),
        (NodeContactAliasResponse, "alias"),
    ],
)
def test_a_response_is_read_from_field_2(response_type: Any, attr: str) -> None:
    data = bytes(Field2Response(value="群公告"))
    assert getattr(response_type().parse(data), attr) == "群公告"
    assert RoomAnnounceResponse().parse(data).text is None  # upstream reads field 1


# ------------------------------------------------------ through ServicePuppet


class FakeStub:
    """Answers ``_unary_unary`` with a canned field-2 response; records requests."""

    def __init__(self, value: str = "") -> None:
        self.value = value
        self.requests: list[tuple[str, bytes]] = []

    async def _unary_unary(self, route: str, request: Any, response_type: Any) -> Any:
        self.requests.append((route, wire(request)))
        return response_type().parse(bytes(Field2Response(value=self.value)))


def puppet_with(stub: Any) -> ServicePuppet:
    puppet = ServicePuppet("127.0.0.1:1", "insecure_test")
    puppet._puppet_stub = stub
    return puppet


async def test_the_puppet_reads_and_sets_topic_announcement_and_alias() -> None:
    stub = FakeStub("当前值")
    puppet = puppet_with(stub)
    assert await puppet.room_topic("r1@chatroom") == "当前值"
    assert await puppet.room_announce("r1@chatroom") == "当前值"
    assert await puppet.contact_alias("wxid_a") == "当前值"
    assert await puppet.room_topic("r1@chatroom", "新") == "新"
    assert await puppet.room_announce("r1@chatroom", "") == ""
    assert await puppet.contact_alias("wxid_a", "甲") == "甲"
    routes = [route for route, _ in stub.requests]
    assert (
        routes
        == [
            "/wechaty.Puppet/RoomTopic",
            "/wechaty.Puppet/RoomAnnounce",
            "/wechaty.Puppet/ContactAlias",
        ]
        * 2
    )
    sent = [Field3Request().parse(data) for _, data in stub.requests[3:]]
    assert [(r.id, r.value) for r in sent] == [
        ("r1@chatroom", "新"),
        ("r1@chatroom", ""),
        ("wxid_a", "甲"),
    ]
    assert 3 not in fields(stub.requests[0][1])  # the GETs carry no value


async def test_the_deprecated_field_1_is_read_when_field_2_is_empty() -> None:
    class OldGateway(FakeStub):
        async def _unary_unary(self, route: str, request: Any, response_type: Any) -> Any:
            return response_type().parse(bytes(RoomAnnounceResponse(text="旧公告")))

    assert await puppet_with(OldGateway()).room_announce("r1@chatroom") == "旧公告"


# ---------------------------------------------------------------- defect 4


def test_a_file_box_is_rebuilt_from_the_chunks() -> None:
    data = bytes(range(256)) * 1000
    chunks = [
        FileBoxChunk(name="photo.jpg"),
        FileBoxChunk(data=data[:100_000]),
        FileBoxChunk(data=data[100_000:200_000]),
        FileBoxChunk(data=data[200_000:]),
    ]
    # Through the wire format, as the chunks arrive.
    box = file_box_from_chunks(FileBoxChunk().parse(bytes(c)) for c in chunks)
    assert file_box_bytes(box) == data
    assert box.name == "photo.jpg" and box.mediaType == "image/jpeg"


def test_an_empty_file_is_a_name_alone() -> None:
    box = file_box_from_chunks([FileBoxChunk(name="empty.dat")])
    assert file_box_bytes(box) == b"" and box.mediaType == "application/octet-stream"


@pytest.mark.parametrize(
    "chunks",
    [[], [FileBoxChunk(data=b"x")], [FileBoxChunk(name="a"), FileBoxChunk(name="b")]],
)
def test_a_malformed_stream_is_an_error(chunks: list[Any]) -> None:
    with pytest.raises(ValueError):
        file_box_from_chunks(chunks)


class UnaryStub:
    def __init__(self, filebox: str | Exception) -> None:
        self.filebox = filebox
        self.calls = 0

    async def message_image(self, *, id: str, type: Any) -> Any:
        return await self.message_file(id=id)

    async def message_file(self, *, id: str) -> Any:
        self.calls += 1
        if isinstance(self.filebox, Exception):
            raise self.filebox
        return type("Response", (), {"filebox": self.filebox})()


def base64_box_json(data: bytes, name: str) -> str:
    return json.dumps({"boxType": 1, "name": name, "base64": base64.b64encode(data).decode()})


def streaming(puppet: ServicePuppet, outcome: Any) -> None:
    async def stream(route: str, request: Any, response_type: Any) -> Any:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    puppet._stream_file_box = stream  # type: ignore[method-assign]


async def test_the_stream_is_used_and_the_unary_rpc_is_not() -> None:
    stub = UnaryStub(base64_box_json(b"small", "a.jpg"))
    puppet = puppet_with(stub)
    streaming(puppet, file_box_from_chunks([FileBoxChunk(name="a.jpg"), FileBoxChunk(data=b"big")]))
    assert file_box_bytes(await puppet.message_image("m1")) == b"big"
    assert file_box_bytes(await puppet.message_file("m1")) == b"big"
    assert stub.calls == 0


async def test_a_gateway_without_the_stream_rpc_gets_the_unary_one() -> None:
    stub = UnaryStub(base64_box_json(b"small", "a.jpg"))
    puppet = puppet_with(stub)
    streaming(puppet, GRPCError(Status.UNIMPLEMENTED, "no such method"))
    assert file_box_bytes(await puppet.message_image("m1")) == b"small"
    stub.filebox = json.dumps({"boxType": 7, "uuid": "a6519c5f", "name": "big.jpg"})
    with pytest.raises(ValueError, match="UUID"):
        await puppet.message_file("m1")


async def test_a_silent_stream_reports_the_puppets_error() -> None:
    puppet = puppet_with(UnaryStub(GRPCError(Status.UNKNOWN, "message m1 has no file")))
    streaming(puppet, _SilentStream("no answer"))
    with pytest.raises(GRPCError, match="has no file"):
        await puppet.message_image("m1")


async def test_a_silent_stream_of_a_large_file_times_out() -> None:
    puppet = puppet_with(UnaryStub(json.dumps({"boxType": 7, "uuid": "x", "name": "big.jpg"})))
    streaming(puppet, _SilentStream("no answer"))
    with pytest.raises(TimeoutError):
        await puppet.message_file("m1")


async def test_other_stream_errors_propagate() -> None:
    stub = UnaryStub(base64_box_json(b"small", "a.jpg"))
    puppet = puppet_with(stub)
    streaming(puppet, GRPCError(Status.UNAVAILABLE, "gone"))
    with pytest.raises(GRPCError):
        await puppet.message_image("m1")
    assert stub.calls == 0
