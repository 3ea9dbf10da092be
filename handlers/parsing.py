"""Command parsing shared by every feature: prefix, name, arguments, @mentions.

``#签到``, ``＃签到`` (full-width, as Chinese keyboards type it) and
``# 签到`` are the same command.  Mentioned members come as account ids from
the message (``mention_ids``), never from the display names in the text; their
``@name`` is taken out of the arguments.  A message is a command only when its
name is short and contains no second prefix: ``#今日话题# 大家周末去哪玩`` is
chat.  Pure and cheap: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.vocab.events import MessageEvent, MessageKind

MAX_NAME_LENGTH = 8
MAX_COMMAND_LENGTH = 200
# "@阿甲\u2005": WeChat ends a mention with a four-per-em space.
_MENTION = re.compile(r"@[^\s\u2005]{1,40}[\u2005 ]?")


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: ``name`` lower-cased, ``args`` without the @mentions."""

    name: str
    args: str
    mentions: tuple[str, ...]  # account ids, in the message's order
    prefix: str  # as configured (for replies that quote a command)
    message: MessageEvent

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.args.split())

    @property
    def sender_id(self) -> str:
        return self.message.sender_id

    @property
    def room_id(self) -> str | None:
        return self.message.room_id


def prefixes(prefix: str) -> tuple[str, ...]:
    """The prefix as configured, its full-width and its NFKC forms."""
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in prefix)
    narrow = unicodedata.normalize("NFKC", prefix)
    return tuple(dict.fromkeys((prefix, wide, narrow)))


def parse_command(event: MessageEvent, prefix: str) -> Command | None:
    """The command in ``event``, or None when it is ordinary chat."""
    if event.kind is not MessageKind.TEXT:
        return None
    text = event.text.strip()
    if len(text) > MAX_COMMAND_LENGTH:
        return None
    used = next((p for p in prefixes(prefix) if text.startswith(p)), None)
    if used is None:
        return None
    name, _, args = text[len(used) :].strip().partition(" ")
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(p in name for p in prefixes(prefix)):
        return None
    if event.mention_ids:
        args = _MENTION.sub(" ", args)
    args = " ".join(args.split())
    return Command(
        name=name.lower(),
        args=args,
        mentions=tuple(dict.fromkeys(event.mention_ids)),
        prefix=prefix,
        message=event,
    )
