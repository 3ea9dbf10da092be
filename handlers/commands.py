"""Member commands (``#帮助``, ``#规则``): a reply that @mentions the asker."""

from __future__ import annotations

from collections.abc import Callable

from bot.actions import Priority, Say
from bot.events import Event, MessageEvent, MessageKind
from handlers.base import BaseHandler, Context, Result
from handlers.texts import render, rules_text

CommandFn = Callable[[MessageEvent, Context, str], str]


def _help(event: MessageEvent, ctx: Context, args: str) -> str:
    assert ctx.policy is not None
    return render(ctx.config.commands.help, ctx.policy)


def _rules(event: MessageEvent, ctx: Context, args: str) -> str:
    assert ctx.policy is not None
    rules = ctx.policy.welcome.rules
    return rules_text(rules) if rules else ctx.config.commands.no_rules


COMMANDS: dict[str, CommandFn] = {
    "帮助": _help,
    "help": _help,
    "规则": _rules,
    "群规": _rules,
    "rules": _rules,
}


class Commands(BaseHandler):
    name = "commands"

    def __init__(self, commands: dict[str, CommandFn] | None = None) -> None:
        self._commands = dict(commands or COMMANDS)

    async def handle(self, event: Event, ctx: Context) -> Result | None:
        if not isinstance(event, MessageEvent) or event.kind is not MessageKind.TEXT:
            return None
        if event.room_id is None or ctx.policy is None:
            return None
        prefix = ctx.config.commands.prefix
        text = event.text.strip()
        if not text.startswith(prefix) or len(text) > 200:
            return None
        word, _, args = text[len(prefix) :].strip().partition(" ")
        command = self._commands.get(word.lower())
        if command is None:
            if not word or len(word) > 8 or args:
                return None  # "#话题# ..." in normal chat is not a command
            reply = render(ctx.config.commands.unknown, ctx.policy)
        else:
            reply = command(event, ctx, args.strip())
        return Result(
            [
                Say(
                    room=event.room_id,
                    text=reply,
                    mention_ids=(event.sender_id,),
                    priority=Priority.REPLY,
                    reason=f"command {prefix}{word}",
                )
            ],
            stop=True,
        )
