"""The ``checkin`` kind: opens a check-in round in each target group, closes
it after a while and posts a summary with the streak leaders."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model
from handlers.feature import Feature

_BASE = {"group", "bot_name", "prefix", "date", "weekday"}


class CheckinRoundContent(Model):
    """``checkin:`` of a calendar entry."""

    open_text: Annotated[str, Template(placeholders=_BASE | {"minutes"})] = Field(
        default="☀️ {date} {weekday} 签到开始啦！发送「{prefix}签到」打卡领积分，{minutes} 分钟后公布今日签到榜。",
        max_length=1000,
    )
    close_after_minutes: float = Field(default=120, gt=0, le=1440)
    summary_text: Annotated[str, Template(placeholders=_BASE | {"count", "leaders"})] = Field(
        default="📋 今日签到结束：共 {count} 人签到。\n连续签到榜：\n{leaders}",
        max_length=1000,
    )
    leader_line: Annotated[str, Template(placeholders={"rank", "name", "streak"})] = Field(
        default="{rank}. {name}：连续 {streak} 天", max_length=200
    )
    leaders: int = Field(default=5, ge=0, le=20, description="Streak leaders in the summary.")


feature = Feature("checkin_rounds")


@feature.kind("checkin", CheckinRoundContent, description="A check-in round with its summary.")
async def run_checkin(ctx, run):  # type: ignore[no-untyped-def]  # filled in by the lead
    return None
