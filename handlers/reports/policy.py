"""``reports``: the weekly report and name-card compliance (issue 11).

A profile or a group sets when the report is made (the calendar's ``report``
kind runs it; ``weekday`` / ``time`` are the example schedule the docs use),
how many core members it names, its texts, and the name-card rule: the
pattern a group alias (群昵称) must match (derived from the welcome's
``name_card_format``, e.g. 城市-行业-昵称, when not given), whether members are
reminded, and — opt-in only, never by default — removal.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import Field, field_validator

from bot.config.fields import Template
from bot.config.sections import Model, WelcomePolicy, register_section
from bot.vocab.policy import GroupPolicy

SUMMARY_PLACEHOLDERS = frozenset(
    {
        "group",
        "bot_name",
        "week",  # 12月1日–12月7日
        "joined",
        "left",
        "members",
        "active",
        "ratio",  # 35%
        "messages",
        "checkins",
        "coupons_issued",
        "coupons_transferred",
        "coupons_redeemed",
        "ads",
        "invites",
        "lurkers_warned",
        "lurkers_removed",
        "core",  # the core members' names, joined by 、
    }
)
REMIND_PLACEHOLDERS = frozenset({"group", "bot_name", "name_card_format"})
LIST_PLACEHOLDERS = frozenset({"group", "bot_name", "name_card_format", "count", "members"})


class NameCardPolicy(Model):
    """``reports.name_card``: the group alias rule."""

    pattern: str = Field(
        default="",
        max_length=200,
        description="A regular expression a group alias must match; empty: derived from "
        "welcome.name_card_format (as many '-'-separated parts).",
    )
    remind: bool = Field(default=True, description="Remind non-compliant members once.")
    max_mentions: int = Field(
        default=20, ge=1, le=50, description="At most this many @ per message."
    )
    enforce_by_removal: bool = Field(
        default=False,
        description="Opt-in only: admins may confirm removing members who ignore the reminder. "
        "Not done by the bot on its own.",
    )
    remind_text: Annotated[str, Template(placeholders=REMIND_PLACEHOLDERS)] = Field(
        default="🏷️ 请以上朋友把群昵称改为「{name_card_format}」，方便大家互相认识，谢谢配合～",
        min_length=1,
    )
    list_text: Annotated[str, Template(placeholders=LIST_PLACEHOLDERS)] = Field(
        default="群昵称不符合「{name_card_format}」的成员（{count}人）：\n{members}",
        min_length=1,
    )
    all_ok_text: Annotated[str, Template(placeholders=REMIND_PLACEHOLDERS)] = Field(
        default="本群成员的群昵称都符合「{name_card_format}」👍", min_length=1
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class ReportsPolicy(Model):
    section: ClassVar[str] = "reports"

    enabled: bool = True
    weekday: int = Field(default=1, ge=1, le=7, description="1 = Monday: the example schedule.")
    time: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    core_count: int = Field(default=5, ge=0, le=30, description="Core members named in the report.")
    summary_text: Annotated[str, Template(placeholders=SUMMARY_PLACEHOLDERS)] = Field(
        default=(
            "📊「{group}」周报 {week}\n"
            "新进 {joined} 人，退出 {left} 人，现有 {members} 人\n"
            "发言 {active} 人（活跃率 {ratio}），消息 {messages} 条，签到 {checkins} 次\n"
            "优惠券：发放 {coupons_issued}，转赠 {coupons_transferred}，核销 {coupons_redeemed}\n"
            "拦截广告 {ads} 次，拦截未经同意的邀请 {invites} 次\n"
            "潜水提醒 {lurkers_warned} 人，清理 {lurkers_removed} 人\n"
            "积极分子：{core}"
        ),
        min_length=1,
    )
    overview_text: str = Field(
        default="📊 各群周报总览 {week}：共 {groups} 个群，新进 {joined} 人，退出 {left} 人，消息 {messages} 条。",
        min_length=1,
    )
    name_card: NameCardPolicy = Field(default_factory=NameCardPolicy)


register_section(ReportsPolicy)


def format_pattern(name_card_format: str) -> str:
    """The pattern of a format like 城市-行业-昵称: as many non-empty parts
    separated by '-' (or a full-width －, —), no spaces inside a part."""
    parts = [p for p in re.split(r"[-－—]", name_card_format) if p.strip()]
    n = max(len(parts), 1)
    part = r"[^-－—\s]+"
    return "^" + part + (r"[-－—]" + part) * (n - 1) + "$"


def name_card_format(policy: GroupPolicy) -> str:
    welcome = policy.sections.get("welcome")
    fmt = getattr(welcome, "name_card_format", None)
    return fmt if isinstance(fmt, str) and fmt else WelcomePolicy().name_card_format


def name_card_pattern(policy: GroupPolicy) -> re.Pattern[str]:
    """The group's name-card pattern (its own, or derived from its format)."""
    given = policy.get(ReportsPolicy).name_card.pattern
    return re.compile(given or format_pattern(name_card_format(policy)))


def compliant(alias: str, pattern: re.Pattern[str]) -> bool:
    return bool(alias) and pattern.fullmatch(alias.strip()) is not None
