"""``moderation``: the section every profile and group may set (issue 8).

Decisions map to an escalation ladder per profile and group; owners, admins
and allowlisted members are exempt; a group runs in shadow mode for its first
``shadow_days`` (then enforces), or as an owner switches it.  Every field has
a default, so a partial override in a group is valid as written.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from bot.config.fields import ContactId, Template
from bot.config.sections import Model, register_section
from handlers.moderation.appeal_policy import AppealPolicy
from handlers.moderation.invite_policy import InvitePolicy
from handlers.moderation.link_policy import LinkPolicy

Rung = Literal["warn", "remove", "remove_and_block"]
#: The moderation rules; each may run in shadow mode on its own.
RULES = ("ads", "flood", "invites", "blocklist")
Rule = Literal["ads", "flood", "invites", "blocklist"]

_GROUP = {"group", "bot_name"}
_CASE = {"group", "bot_name", "case", "reasons", "prefix"}
Text = Annotated[str, Field(min_length=1)]


class ModerationPolicy(Model):
    section: ClassVar[str] = "moderation"

    enabled: bool = True
    shadow_days: float = Field(
        default=3,
        ge=0,
        le=365,
        description="A group the bot newly manages runs in shadow mode this many days: "
        "decisions are recorded, nothing is done to members. 0: enforce at once.",
    )
    shadow_rules: tuple[Rule, ...] = Field(
        default=(), description="Rules kept in shadow mode even when the group enforces."
    )
    ladder: tuple[Rung, ...] = Field(
        default=("warn", "remove"),
        min_length=1,
        description="What the 1st, 2nd, … ad within strike_window_hours leads to "
        "(the last rung repeats).",
    )
    strike_window_hours: float = Field(default=24, gt=0, le=24 * 90)
    review_threshold: float = Field(default=0.5, gt=0, lt=1)
    ad_threshold: float = Field(default=0.8, gt=0, le=1)
    review_action: Literal["none", "notify"] = Field(
        default="notify", description="A 'review' verdict: tell the admins, or only record it."
    )
    allowed_domains: tuple[str, ...] = Field(default=(), description="Links that are never ads.")
    allowed_app_ids: tuple[str, ...] = Field(default=(), description="Mini programs allowed.")
    allowed_contacts: tuple[ContactId, ...] = Field(
        default=(), description="Contact cards that may be shared (account ids)."
    )
    allowlist: tuple[ContactId, ...] = Field(
        default=(), description="Members never acted on (besides owners and admins)."
    )
    probation_hours: float = Field(default=72, ge=0, le=720)
    probation_messages: int = Field(default=5, ge=0, le=100)
    flood_messages: int = Field(default=8, ge=2, le=100)
    flood_seconds: float = Field(default=30, gt=0, le=3600)
    duplicate_groups: int = Field(
        default=3, ge=2, le=50, description="The same text in this many of the bot's groups."
    )
    digest_hour: int = Field(
        default=21, ge=0, le=23, description="Local hour of the shadow-mode digest to admins."
    )
    invites: InvitePolicy = Field(default_factory=InvitePolicy)
    links: LinkPolicy = Field(default_factory=LinkPolicy)
    appeals: AppealPolicy = Field(default_factory=AppealPolicy)
    # Texts (Chinese by default); each declares its placeholders.
    warn_text: Annotated[str, Template(placeholders=_CASE)] = Field(
        default="请勿在群里发广告或引流信息（{reasons}）。再次发送将被移出群聊。"
    )
    removed_text: Annotated[str, Template(placeholders=_CASE)] = Field(
        default="你因发送广告被移出「{group}」（案件 {case}）。如有误会，请私聊我发送："
        "{prefix}申诉 {case} 说明。"
    )
    admin_text: Annotated[str, Template(placeholders=_CASE | {"member", "text", "action"})] = Field(
        default="【{group}】案件 {case}：{member} 发送了疑似广告，已{action}。\n"
        "原文：{text}\n依据：{reasons}\n回复「{prefix}误判 {case}」撤销，「{prefix}广告 {case}」确认。"
    )


register_section(ModerationPolicy)
