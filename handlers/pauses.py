"""``#解除暂停 KIND``: an owner closes a risk-control pause early.

Owners are the account ids in the config's ``owners`` (never a display name:
anyone can rename themselves to look like the owner); anyone else gets a
polite refusal.  Works in a managed group and in a direct message to the bot.
Decide, then do: this handler returns a :class:`~bot.governor.ClosePause`
decision with the reply; the executor closes the pause, records it and
audits it.  It never touches the governor itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.governor import ClosePause
from bot.vocab.actions import Action, ActionKind, Priority, Say
from bot.vocab.events import Event, MessageEvent, MessageKind
from bot.vocab.keys import action_key, valid_until
from handlers.base import STOP, BaseHandler, Context, Result
from handlers.commands import MemberLimits

if TYPE_CHECKING:
    from storage.pauses import PauseStore

WORDS = ("解除暂停", "unpause")
ALL = ("all", "全部")

# What an owner may write for each kind, besides its own name.
ALIASES: dict[str, ActionKind] = {
    "消息": ActionKind.MESSAGE,
    "发消息": ActionKind.MESSAGE,
    "链接": ActionKind.RICH,
    "移人": ActionKind.REMOVE,
    "踢人": ActionKind.REMOVE,
    "邀请": ActionKind.INVITE,
    "加好友": ActionKind.FRIEND_REQUEST,
}


@dataclass(frozen=True, slots=True)
class PauseTexts:
    """The replies (placeholders: {kind}, {kinds}; usage also {prefix})."""

    cleared: str = "已解除「{kind}」类操作的风控暂停，恢复正常处理。请留意是否再次出现风控提示。"
    not_paused: str = "「{kind}」类操作目前没有暂停，无需解除。"
    usage: str = "用法：{prefix}解除暂停 类型（可选：{kinds}，或 all 表示全部）。"
    refused: str = "抱歉，只有群主可以解除风控暂停哦～"


def parse_kind(word: str) -> ActionKind | str | None:
    """An ActionKind, "all", or None when the word names no kind."""
    word = word.strip().lower()
    if word in ALL:
        return "all"
    if word in ALIASES:
        return ALIASES[word]
    try:
        return ActionKind(word)
    except ValueError:
        return None


class PauseCommands(BaseHandler):
    name = "pauses"

    def __init__(self, pauses: PauseStore | None = None, texts: PauseTexts | None = None) -> None:
        """``pauses``: read to tell the owner whether anything was paused
        (None: always confirm)."""
        self._pauses = pauses
        self._texts = texts or PauseTexts()
        self.limits = MemberLimits()  # the same per-member limits as other commands

    def command_args(self, event: Event, ctx: Context) -> str | None:
        """The arguments when ``event`` is this command, else None (cheap, no I/O)."""
        if not isinstance(event, MessageEvent) or event.kind is not MessageKind.TEXT:
            return None
        if event.room_id is not None and ctx.policy is None:
            return None
        prefix = ctx.config.commands.prefix
        text = event.text.strip()
        if not text.startswith(prefix) or len(text) > 100:
            return None
        word, _, args = text[len(prefix) :].strip().partition(" ")
        if word.lower() not in WORDS:
            return None
        return args.strip()

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        args = self.command_args(event, ctx)
        if args is None:
            return None
        assert isinstance(event, MessageEvent)
        t = self._texts
        cfg = ctx.config.commands
        member = (event.room_id or "", event.sender_id)
        now = ctx.clock.monotonic()
        if self.limits.over_limit(member, now, cfg.max_per_member, cfg.limit_window_seconds):
            return STOP  # quiet, like every other command
        self.limits.answered(member, "#解除暂停", now, cfg.limit_window_seconds)
        if event.sender_id not in ctx.config.owners:  # by account id, never by name
            return self._reply(event, ctx, t.refused, "refused: not an owner", [])
        kind = parse_kind(args) if args else None
        kinds = ", ".join(k.value for k in ActionKind)
        if kind is None:
            return self._reply(
                event,
                ctx,
                t.usage.format(kinds=kinds, kind=args, prefix=ctx.config.commands.prefix),
                "usage",
                [],
            )
        label = kind if isinstance(kind, str) else kind.value
        if self._pauses is not None:
            paused = {
                p.kind for p in await self._pauses.open_pauses(ctx.repo.account_id, ctx.clock.now())
            }
            if (kind == "all" and not paused) or (kind != "all" and label not in paused):
                return self._reply(
                    event, ctx, t.not_paused.format(kind=label, kinds=kinds), "none", []
                )
        decision = ClosePause(
            pause_kind=label,
            by=event.sender_id,
            reason=f"owner {event.sender_id} closed the {label} pause early",
        )
        return self._reply(
            event, ctx, t.cleared.format(kind=label, kinds=kinds), "cleared", [decision]
        )

    @staticmethod
    def _reply(
        event: MessageEvent, ctx: Context, text: str, why: str, first: list[Action]
    ) -> Result:
        """The answer: an owner's clearing goes ahead of other replies; a refusal
        or a usage line is an ordinary reply (keyed by the command's message, and
        dropped if it cannot go out in time)."""
        direct = event.room_id is None
        say = Say(
            room=event.room_id,
            to_contact=event.sender_id if direct else None,
            text=text,
            mention_ids=() if direct else (event.sender_id,),
            priority=Priority.MODERATION if first else Priority.REPLY,
            reason=f"#解除暂停: {why}",
            key=action_key("reply", event.room_id or event.sender_id, event.message_id),
            not_after=valid_until(event.at, ctx.config.commands.reply_valid_seconds),
        )
        return Result([*first, say], stop=True)
