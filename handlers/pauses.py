"""``#解除暂停 KIND``: an owner closes a risk-control pause early.

Owners are the account ids in the config's ``owners`` (never a display name:
anyone can rename themselves to look like the owner); anyone else gets the
command router's polite refusal.  Works in a managed group and in a direct
message to the bot.  Decide, then do: the command returns a
:class:`~bot.vocab.effects.ClosePause` effect with the reply; ``bot.doer``
has the executor close the pause, record it and audit it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.vocab.actions import ActionKind
from bot.vocab.effects import ClosePause
from handlers.base import Context
from handlers.command_router import Reply
from handlers.feature import Feature, Stage
from handlers.parsing import Command
from storage.pauses import PauseStore

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


TEXTS = PauseTexts()
feature = Feature("pauses", stage=Stage.COMMANDS)


@feature.command("解除暂停", "unpause", owner_only=True, direct=True)
async def unpause(cmd: Command, ctx: Context) -> Reply | str:
    t = TEXTS
    kind = parse_kind(cmd.args) if cmd.args else None
    kinds = ", ".join(k.value for k in ActionKind)
    if kind is None:
        return t.usage.format(kinds=kinds, kind=cmd.args, prefix=cmd.prefix)
    label = kind if isinstance(kind, str) else kind.value
    if ctx.sessions is not None:  # tell the owner whether anything was paused
        store = PauseStore(ctx.sessions)
        paused = {p.kind for p in await store.open_pauses(ctx.repo.account_id, ctx.clock.now())}
        if (kind == "all" and not paused) or (kind != "all" and label not in paused):
            return t.not_paused.format(kind=label, kinds=kinds)
    decision = ClosePause(
        pause_kind=label,
        by=cmd.sender_id,
        reason=f"owner {cmd.sender_id} closed the {label} pause early",
    )
    return Reply(t.cleared.format(kind=label, kinds=kinds), effects=[decision], urgent=True)
