"""``moderation.appeals``: a removed member's appeal (#申诉) and the admins' answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model

_BASE = {"group", "bot_name", "prefix", "case"}


def _text(*extra: str) -> Template:
    return Template(placeholders=_BASE | set(extra))


class AppealPolicy(Model):
    # Texts (Chinese by default).  {member} is the member's name and account id.
    received_text: Annotated[str, _text()] = Field(
        default="已收到你对案件 {case} 的申诉，管理员会尽快处理，结果会私聊告诉你。",
        description="The reply to the member's #申诉.",
    )
    admin_text: Annotated[str, _text("member", "appeal", "action", "reasons", "text")] = Field(
        default="【{group}】案件 {case} 收到申诉\n成员：{member}\n申诉：{appeal}\n"
        "原处理：{action}（{reasons}）\n原文：{text}\n"
        "回复「{prefix}误判 {case}」撤销并恢复，或「{prefix}驳回 {case}」维持原处理。",
        description="What each admin of the case's group is told privately.",
    )
    rejected_text: Annotated[str, _text()] = Field(
        default="你对案件 {case} 的申诉未获通过，维持原处理。",
        description="Told to the member privately when an admin rejects the appeal.",
    )
    admin_rejected_text: Annotated[str, _text("member")] = Field(
        default="已驳回案件 {case} 的申诉，并已私聊告知 {member}。"
    )
    not_found_text: Annotated[str, _text()] = Field(
        default="没有找到你的案件 {case}，请核对案件编号。"
    )
    closed_text: Annotated[str, _text()] = Field(
        default="案件 {case} 已申诉过或已处理，无需再次申诉。"
    )
    not_appealed_text: Annotated[str, _text()] = Field(default="案件 {case} 没有待处理的申诉。")
    usage_text: Annotated[str, _text()] = Field(
        default="用法：私聊我发送「{prefix}申诉 案件编号 说明」，"
        "例如 {prefix}申诉 12 我是来分享活动的，不是广告。"
    )
    private_only_text: Annotated[str, _text()] = Field(
        default="申诉请私聊我发送「{prefix}申诉 案件编号 说明」，不必在群里发。"
    )
    reject_usage_text: Annotated[str, _text()] = Field(default="用法：{prefix}驳回 案件编号")
    list_empty_text: Annotated[str, _text()] = Field(default="目前没有待处理的申诉。")
    list_header_text: Annotated[str, _text("count")] = Field(
        default="待处理的申诉（{count}）：回复「{prefix}误判 编号」撤销，「{prefix}驳回 编号」维持。"
    )
    list_item_text: Annotated[str, _text("member", "appeal")] = Field(
        default="案件 {case}【{group}】{member}：{appeal}"
    )
