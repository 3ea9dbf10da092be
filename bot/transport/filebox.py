"""The bytes of a ``wechaty_puppet.FileBox`` (any transport)."""

from __future__ import annotations

import base64
from typing import Any

from bot import compat

compat.apply()

from wechaty_puppet.file_box.type import FileBoxType  # noqa: E402


def file_box_bytes(file_box: Any) -> bytes:
    """The content of a ``wechaty_puppet.FileBox`` held in memory (base64/buffer/stream/file).

    URL and QR-code boxes have no local bytes: a ``ValueError`` says so (no network).
    """
    box_type = file_box.type()
    if box_type == FileBoxType.Base64:
        return base64.b64decode(file_box.base64)
    if box_type == FileBoxType.Buffer:
        return bytes(file_box.buffer)
    if box_type == FileBoxType.Stream:
        return bytes(file_box.stream)
    if box_type == FileBoxType.File:
        with open(file_box.localPath, "rb") as fh:
            return fh.read()
    raise ValueError(f"FileBox of type {box_type.name} has no local content")
