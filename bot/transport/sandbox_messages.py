"""The sandbox puppet's message API: what the SDK reads, and what the bot sends."""

from __future__ import annotations

import base64
import dataclasses
import json
import mimetypes
from collections.abc import Callable, Iterable
from typing import Any

from bot import compat

compat.apply()

from wechaty_puppet import (  # noqa: E402  (compat.apply() must run first)
    FileBox,
    ImageType,
    MessageType,
    MiniProgramPayload,
    UrlLinkPayload,
)

from bot.transport.filebox import file_box_bytes  # noqa: E402
from bot.transport.sandbox_world import (  # noqa: E402
    _FILE_TYPES,
    SandboxPuppetError,
    SandboxWorld,
    _type_for_name,
)


class MessageApi(SandboxWorld):
    """``message_*`` puppet methods (a mixin of the puppet)."""

    # ------------------------------------------------------------------ messages (reads)

    async def message_payload(self, message_id: str) -> Any:
        if self._failures:
            self._read("message_payload", lambda: {"message_id": message_id})
        try:
            return self._messages[message_id]
        except KeyError:
            raise SandboxPuppetError(f"message {message_id!r} not found") from None

    async def message_search(self, query: Any = None) -> list[str]:
        self._read("message_search", lambda: {"query": query})
        if query is None:
            return list(self._messages)
        out = []
        for mid, p in self._messages.items():
            if query.id and mid != query.id:
                continue
            if query.from_id and p.from_id != query.from_id:
                continue
            if query.room_id and p.room_id != query.room_id:
                continue
            if query.to_id and p.to_id != query.to_id:
                continue
            if query.type is not None and p.type != query.type:
                continue
            if query.text and query.text not in p.text:
                continue
            out.append(mid)
        return out

    def _typed_attachment(self, message_id: str, method: str, types: Iterable[Any]) -> Any:
        self._read(method, lambda: {"message_id": message_id})
        payload = self._message(message_id)
        if payload.type not in types:
            raise SandboxPuppetError(
                f"{method}() does not apply to a {payload.type.name} message ({message_id})"
            )
        return self._attachments[message_id]

    async def message_url(self, message_id: str) -> Any:
        url = self._typed_attachment(message_id, "message_url", {MessageType.MESSAGE_TYPE_URL})
        return dataclasses.replace(url)

    async def message_mini_program(self, message_id: str) -> Any:
        mini = self._typed_attachment(
            message_id, "message_mini_program", {MessageType.MESSAGE_TYPE_MINI_PROGRAM}
        )
        return dataclasses.replace(mini)

    async def message_contact(self, message_id: str) -> str:
        return str(
            self._typed_attachment(
                message_id, "message_contact", {MessageType.MESSAGE_TYPE_CONTACT}
            )
        )

    async def message_file(self, message_id: str) -> Any:
        name, data, media = self._typed_attachment(message_id, "message_file", _FILE_TYPES)
        return self._file_box(name, data, media)

    async def message_image(
        self, message_id: str, image_type: Any = ImageType.IMAGE_TYPE_HD
    ) -> Any:
        name, data, media = self._typed_attachment(
            message_id, "message_image", {MessageType.MESSAGE_TYPE_IMAGE}
        )
        return self._file_box(name, data, media)

    @staticmethod
    def _file_box(name: str, data: bytes, media_type: str | None) -> Any:
        box = FileBox.from_base64(base64.b64encode(data), name=name)
        box.mediaType = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return box

    # ------------------------------------------------------------------ messages (bot sends)

    def _bot_send(
        self,
        method: str,
        args: dict[str, Any],
        conversation_id: str,
        check: Callable[[], object] | None = None,
        **message: Any,
    ) -> str:
        def send() -> str:
            if check is not None:
                check()
            me = self._account_id
            if conversation_id in self._rooms:
                self._require_bot_in(self._rooms[conversation_id])
                return self._store(from_id=me, room_id=conversation_id, **message)
            self._contact(conversation_id)
            return self._store(from_id=me, to_id=conversation_id, **message)

        message_id = str(self._act(method, args, send))
        if self.echo_own_messages:
            self._emit_message(message_id)
        return message_id

    async def message_send_text(
        self, conversation_id: str, message: str, mention_ids: list[str] | None = None
    ) -> str:
        mentions = list(mention_ids or [])
        return self._bot_send(
            "message_send_text",
            {"conversation_id": conversation_id, "message": message, "mention_ids": mentions},
            conversation_id,
            msg_type=MessageType.MESSAGE_TYPE_TEXT,
            text=message,
            mention_ids=mentions,
        )

    async def message_send_url(self, conversation_id: str, url: str) -> str:
        data = json.loads(url) if isinstance(url, str) else dataclasses.asdict(url)
        payload = UrlLinkPayload(**data)
        return self._bot_send(
            "message_send_url",
            {"conversation_id": conversation_id, "url": data},
            conversation_id,
            msg_type=MessageType.MESSAGE_TYPE_URL,
            text=payload.title or "",
            attachment=payload,
        )

    async def message_send_mini_program(self, conversation_id: str, mini_program: Any) -> str:
        data = dataclasses.asdict(mini_program)
        return self._bot_send(
            "message_send_mini_program",
            {"conversation_id": conversation_id, "mini_program": data},
            conversation_id,
            msg_type=MessageType.MESSAGE_TYPE_MINI_PROGRAM,
            text=mini_program.title or "",
            attachment=MiniProgramPayload(**data),
        )

    async def message_send_contact(self, contact_id: str, conversation_id: str) -> str:
        return self._bot_send(
            "message_send_contact",
            {"conversation_id": conversation_id, "contact_id": contact_id},
            conversation_id,
            check=lambda: self._contact(contact_id),
            msg_type=MessageType.MESSAGE_TYPE_CONTACT,
            attachment=contact_id,
        )

    async def message_send_file(self, conversation_id: str, file: Any) -> str:
        name = file.name or "file.dat"
        data = file_box_bytes(file)
        media = getattr(file, "mediaType", None) or None
        return self._bot_send(
            "message_send_file",
            {"conversation_id": conversation_id, "file": name, "size": len(data)},
            conversation_id,
            msg_type=_type_for_name(name, media),
            filename=name,
            attachment=(name, data, media),
        )

    async def message_forward(self, to_id: str, message_id: str) -> str:
        src = self._messages.get(message_id)
        return self._bot_send(
            "message_forward",
            {"to_id": to_id, "message_id": message_id},
            to_id,
            check=lambda: self._message(message_id),
            msg_type=src.type if src else MessageType.MESSAGE_TYPE_UNSPECIFIED,
            text=src.text if src else "",
            filename=src.filename if src else "",
            attachment=self._attachments.get(message_id),
        )

    async def message_recall(self, message_id: str) -> bool:
        def recall() -> bool:
            payload = self._message(message_id)
            if payload.from_id != self._account_id:
                return False  # WeChat only lets you recall your own messages
            self._recalled.add(message_id)
            return True

        return bool(self._act("message_recall", {"message_id": message_id}, recall))
