"""A toy feature, whole in one module: a section, a command and a daily job.

It proves the shape: adding a feature touches neither the dispatcher nor the
app (tests/flow/test_features.py hands it to the app's feature list).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, ClassVar

from pydantic import Field

from bot.config import register_section
from bot.config.fields import Template
from bot.config.sections import Model
from bot.vocab.actions import Action, Priority, Say
from bot.vocab.keys import action_key
from bot.vocab.texts import render
from handlers.base import Context
from handlers.feature import Feature, Stage
from handlers.parsing import Command
from sop.calendar import daily


@register_section
class ToyPolicy(Model):
    section: ClassVar[str] = "toy"

    enabled: bool = False
    morning: Annotated[str, Template(placeholders={"group", "bot_name"})] = Field(
        default="早上好，「{group}」！"
    )
    reply: Annotated[str, Template(placeholders={"group", "bot_name", "who"})] = Field(
        default="{who} 打卡成功"
    )


toy = Feature("toy", stage=Stage.CHAT, section=ToyPolicy)


@toy.command("打卡", "daka")
async def punch(cmd: Command, ctx: Context) -> str:
    assert ctx.policy is not None
    who = " ".join(cmd.mentions) or cmd.sender_id
    return render(ctx.policy.get(ToyPolicy).reply, ctx.policy, who=who)


@toy.job("morning", lambda tz, config: daily(time(9, 0), tz))
async def morning(ctx: Context, at: datetime) -> list[Action]:
    posts: list[Action] = []
    for room_id in ctx.policies.managed_rooms():
        policy = ctx.policies.get(room_id)
        if policy is None or not toy.enabled(policy):
            continue
        posts.append(
            Say(
                room=room_id,
                text=render(policy.get(ToyPolicy).morning, policy),
                priority=Priority.BROADCAST,
                reason="the toy's morning post",
                key=action_key("toy-morning", room_id, at.date().isoformat()),
            )
        )
    return posts
