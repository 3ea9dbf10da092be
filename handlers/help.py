"""``#帮助`` and ``#规则``: the commands every group has.

Their texts are the group's ``commands.help`` and ``welcome.rules`` (or
``commands.no_rules``); the reply @mentions the asker (``handlers.command_router``).
"""

from __future__ import annotations

from bot.vocab.texts import render, rules_text
from handlers.base import Context
from handlers.feature import Feature, Stage
from handlers.parsing import Command

feature = Feature("help", stage=Stage.COMMANDS)


@feature.command("帮助", "help")
async def help_text(cmd: Command, ctx: Context) -> str:
    assert ctx.policy is not None
    return render(ctx.policy.commands.help, ctx.policy)


@feature.command("规则", "群规", "rules")
async def rules(cmd: Command, ctx: Context) -> str:
    assert ctx.policy is not None
    rules = ctx.policy.welcome.rules
    return rules_text(rules) if rules else render(ctx.policy.commands.no_rules, ctx.policy)
