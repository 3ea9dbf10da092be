"""``moderation.links``: link approval (报备)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model

_BASE = {"group", "bot_name", "prefix", "number", "link"}


def _text(*extra: str) -> Template:
    return Template(placeholders=_BASE | set(extra))


class LinkPolicy(Model):
    approval_hours: float = Field(
        default=24,
        gt=0,
        le=720,
        description="An approved link (or domain) may be posted this long.",
    )
    approve_domain: bool = Field(
        default=False, description="Approve the whole domain of a link, not only the link."
    )
    # Texts (Chinese by default); {link} is the link, or domain_label for a domain.
    asked_text: Annotated[str, _text()] = Field(
        default="已提交报备（编号 {number}），管理员同意后即可在本群发送这个链接。",
        description="The reply to a member's #报备 (in the group).",
    )
    admin_text: Annotated[str, _text("member", "hours")] = Field(
        default="【{group}】{member}申请报备链接（编号 {number}）：\n{link}\n"
        "回复「{prefix}同意报备 {number}」允许在本群发送 {hours} 小时，"
        "或「{prefix}拒绝报备 {number}」。",
        description="What each admin is asked privately.",
    )
    approved_text: Annotated[str, _text("hours")] = Field(
        default="你报备的链接（编号 {number}）已通过：{link}，{hours} 小时内可在本群发送。",
        description="Told to the member in the group (@-mentioned).",
    )
    declined_text: Annotated[str, _text()] = Field(
        default="你报备的链接（编号 {number}）未获同意，请勿在本群发送：{link}",
        description="Told to the member in the group (@-mentioned).",
    )
    admin_approved_text: Annotated[str, _text("member", "hours")] = Field(
        default="已同意报备 {number}（{member}）：{link}，{hours} 小时内可在「{group}」发送。"
    )
    admin_declined_text: Annotated[str, _text("member")] = Field(
        default="已拒绝报备 {number}（{member}）：{link}。"
    )
    already_text: Annotated[str, _text("hours")] = Field(
        default="这个链接已报备通过，可以直接在本群发送。"
    )
    usage_text: Annotated[str, _text()] = Field(
        default="用法：{prefix}报备 链接，例如 {prefix}报备 https://example.com/活动"
    )
    decide_usage_text: Annotated[str, _text()] = Field(
        default="用法：{prefix}同意报备 编号，或 {prefix}拒绝报备 编号。"
    )
    unknown_text: Annotated[str, _text()] = Field(
        default="没有待处理的报备 {number}（编号不对，或已处理过）。"
    )
    domain_label: Annotated[str, Template(placeholders={"domain"})] = Field(
        default="{domain} 域名下的所有链接",
        description="How {link} reads when the whole domain is approved.",
    )
