"""``engagement.checkin`` and ``engagement.points``: check-in rewards and the ledger's rules."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model

_BASE = {"group", "bot_name", "prefix"}


def _text(*extra: str) -> Template:
    return Template(placeholders=_BASE | set(extra))


_CHECKIN = ("streak", "points", "balance", "rank")


class CheckinPolicy(Model):
    enabled: bool = True
    base_points: int = Field(default=10, ge=0, le=10_000)
    streak_bonus: int = Field(default=2, ge=0, le=10_000, description="Extra per day of streak.")
    bonus_cap: int = Field(default=20, ge=0, le=100_000, description="Most streak bonus a day.")
    fold_seconds: float = Field(
        default=120,
        ge=0,
        le=3600,
        description="Confirmations are folded into one message every this many seconds (0: each).",
    )
    immediate_per_minute: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="Across the account: beyond this many immediate confirmations a minute, "
        "every group's are folded (the account's send budget is 20 messages a minute).",
    )
    fold_max_mentions: int = Field(
        default=20, ge=1, le=50, description="Members @-mentioned in one folded confirmation."
    )
    # Texts (Chinese by default).
    checked_in_text: Annotated[str, _text(*_CHECKIN)] = Field(
        default="签到成功！已连续签到 {streak} 天，获得 {points} 积分（共 {balance} 分），"
        "今天第 {rank} 个签到。",
        description="The reply to #签到 (the member is @-mentioned).",
    )
    already_text: Annotated[str, _text(*_CHECKIN)] = Field(
        default="你今天已经签到过了：已连续签到 {streak} 天，今天第 {rank} 个签到，明天再来吧。",
        description="The reply to a second #签到 the same day.",
    )
    folded_text: Annotated[str, _text("count", "lines")] = Field(
        default="以上 {count} 位签到成功：\n{lines}",
        description="A folded confirmation: one message for the members checked in meanwhile.",
    )
    folded_line: Annotated[str, Template(placeholders={"name", *_CHECKIN})] = Field(
        default="{name}：连续 {streak} 天，+{points} 分，第 {rank} 个",
        description="One member's line in a folded confirmation.",
    )


class PointsPolicy(Model):
    scope: str = Field(
        default="group",
        description="'group': points per group; 'tag:<tag>': shared by the groups with that tag.",
        pattern=r"^(group|tag:\S{1,40})$",
    )
    allow_negative: bool = False
    per_message: int = Field(default=0, ge=0, le=1000, description="Points per message spoken.")
    message_daily_cap: int = Field(default=0, ge=0, le=100_000)
    max_adjustment: int = Field(
        default=100_000, ge=1, le=10_000_000, description="Most points one #加分 / #扣分 moves."
    )
    # Texts (Chinese by default).
    balance_text: Annotated[str, _text("balance", "week")] = Field(
        default="你现在有 {balance} 积分，本周获得 {week} 分。发送「{prefix}排行」看排行榜。",
        description="The reply to #积分.",
    )
    board_text: Annotated[str, _text("week", "all")] = Field(
        default="【{group}】积分排行\n本周：\n{week}\n总榜：\n{all}",
        description="The reply to #排行: this week's and the all-time top 10.",
    )
    board_line: Annotated[str, Template(placeholders={"rank", "name", "points"})] = Field(
        default="{rank}. {name} {points} 分"
    )
    board_empty: Annotated[str, Template(placeholders=set())] = Field(default="（暂无）")
    adjusted_text: Annotated[str, _text("member", "amount", "reason", "balance")] = Field(
        default="已为 {member} {amount} 积分（{reason}），现有 {balance} 分。",
        description="The reply to an admin's #加分 / #扣分 ({amount} is e.g. 加 5 or 扣 5).",
    )
    refused_text: Annotated[str, _text("member", "amount", "balance")] = Field(
        default="{member} 只有 {balance} 积分，不能扣 {amount} 分（积分不能为负）。",
        description="A #扣分 beyond the balance.",
    )
    adjust_usage_text: Annotated[str, _text()] = Field(
        default="用法：{prefix}加分 @成员 数量 原因，或 {prefix}扣分 @成员 数量 原因。"
    )
