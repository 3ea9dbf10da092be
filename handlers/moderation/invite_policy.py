"""``moderation.invites``: who may bring people in, and how fast a group may grow.

Every text is a template; besides ``{group}`` and ``{bot_name}`` each declares
the placeholders it may use (checked when the config is loaded).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from bot.config.fields import Template
from bot.config.sections import Model

JoinPolicy = Literal["allow", "review", "remove"]

_BASE = {"group", "bot_name", "prefix"}
_JOIN = _BASE | {"members", "inviter"}
_REQUEST = _BASE | {"n", "requester", "invitee", "hours"}
_ANSWER = _REQUEST | {"decision"}
_RAID = _BASE | {"limit", "minutes", "action"}
Text = Annotated[str, Field(min_length=1)]


def _text(default: str, placeholders: set[str], description: str) -> Any:
    return Field(default=default, description=f"{description} Placeholders: {sorted(placeholders)}")


class InvitePolicy(Model):
    enabled: bool = True
    approval_hours: float = Field(
        default=24, gt=0, le=720, description="An admin's #同意 holds this long."
    )
    request_hours: float = Field(
        default=24, gt=0, le=720, description="A #邀请 request no admin answered lapses after this."
    )
    qr_joins: JoinPolicy = Field(
        default="review", description="Joins by QR code (no inviter): allow, review or remove."
    )
    unknown_inviter: JoinPolicy = Field(
        default="review", description="Joins whose inviter the gateway did not say."
    )
    reconciled_joins: JoinPolicy = Field(
        default="review", description="Members found only by a member-list read (no join event)."
    )
    size_cap: int = Field(default=500, ge=3, le=500, description="Most members the group may have.")
    joins_per_hour: int = Field(
        default=30, ge=1, le=500, description="More joins than this in an hour is a raid."
    )
    raid_lock_minutes: float = Field(
        default=60, gt=0, le=1440, description="How long a raid keeps the group locked."
    )
    raid_action: Literal["review", "remove"] = Field(
        default="review", description="What happens to joiners while the group is locked."
    )
    # Texts (Chinese by default).
    unapproved_text: Annotated[Text, Template(placeholders=_JOIN)] = _text(
        "{members} 入群还没有经过群管同意，已先请出群。想邀请朋友，请先在群里发送"
        "「{prefix}邀请 名字」，群管同意后再拉人。",
        _JOIN,
        "To the inviter (@-mentioned) when their unapproved invitee is removed.",
    )
    not_approved_text: Annotated[Text, Template(placeholders=_JOIN)] = _text(
        "{members} 入群没有经过群管同意，已先请出群。如需入群请联系群管。",
        _JOIN,
        "In the group when a join by QR code, by an unknown inviter or found by a "
        "member list is removed.",
    )
    full_text: Annotated[Text, Template(placeholders=_JOIN | {"cap"})] = _text(
        "本群已满（最多 {cap} 人），{members} 暂时无法加入，已请出群，抱歉。",
        _JOIN | {"cap"},
        "In the group when a join would exceed the size cap.",
    )
    locked_text: Annotated[Text, Template(placeholders=_JOIN)] = _text(
        "本群暂时停止入群，{members} 已请出群，请稍后再联系群管。",
        _JOIN,
        "In the group when a joiner is removed while the group is locked after a raid.",
    )
    admin_text: Annotated[Text, Template(placeholders=_BASE | {"lines"})] = _text(
        "【{group}】入群提醒：\n{lines}\n如有误判，回复「{prefix}误判 案件号」。",
        _BASE | {"lines"},
        "To each admin privately: what happened to the joiners that were not simply fine.",
    )
    raid_text: Annotated[Text, Template(placeholders=_RAID)] = _text(
        "【{group}】一小时内入群超过 {limit} 人，疑似有人批量拉人：已锁定入群 {minutes} 分钟，"
        "期间新成员{action}。",
        _RAID,
        "To each admin privately, once per lock.",
    )
    request_admin_text: Annotated[Text, Template(placeholders=_REQUEST)] = _text(
        "【{group}】{requester} 想邀请「{invitee}」入群（申请 {n}）。回复「{prefix}同意 {n}」"
        "同意（{hours} 小时内有效），或「{prefix}拒绝 {n}」。",
        _REQUEST,
        "To each admin privately when a member asks to invite someone.",
    )
    request_ack_text: Annotated[Text, Template(placeholders=_REQUEST)] = _text(
        "已提交邀请「{invitee}」的申请（编号 {n}），群管同意后会通知你。",
        _REQUEST,
        "Reply to the member who asked.",
    )
    request_usage_text: Annotated[Text, Template(placeholders=_BASE)] = _text(
        "用法：{prefix}邀请 名字（或 @某人）", _BASE, "Reply to #邀请 without a name."
    )
    request_admin_self_text: Annotated[Text, Template(placeholders=_BASE)] = _text(
        "群管邀请的人可以直接拉进群，不用申请。", _BASE, "Reply to an admin's #邀请."
    )
    approved_text: Annotated[Text, Template(placeholders=_REQUEST)] = _text(
        "群管同意了你邀请「{invitee}」（申请 {n}），请在 {hours} 小时内拉入群。",
        _REQUEST,
        "To the requester (@-mentioned in the group) when an admin approves.",
    )
    declined_text: Annotated[Text, Template(placeholders=_REQUEST)] = _text(
        "群管没有同意你邀请「{invitee}」（申请 {n}）。", _REQUEST, "To the requester on #拒绝."
    )
    decided_text: Annotated[Text, Template(placeholders=_REQUEST | {"decision"})] = _text(
        "已{decision}申请 {n}（{requester} 邀请「{invitee}」）。",
        _REQUEST | {"decision"},
        "Reply to the admin who approved or declined.",
    )
    unknown_request_text: Annotated[Text, Template(placeholders=_BASE | {"n"})] = _text(
        "没有找到申请 {n}。用法：{prefix}同意 编号 / {prefix}拒绝 编号",
        _BASE | {"n"},
        "Reply when the request number is unknown.",
    )
    expired_request_text: Annotated[Text, Template(placeholders=_ANSWER)] = _text(
        "申请 {n}（{requester} 邀请「{invitee}」）在 {hours} 小时内无人处理，已失效，"
        "无法再{decision}。如仍需邀请，请让 {requester} 重新发送「{prefix}邀请 {invitee}」。",
        _ANSWER,
        "Reply to #同意 / #拒绝 when the request lapsed unanswered ({hours}: request_hours).",
    )
    expired_approval_text: Annotated[Text, Template(placeholders=_ANSWER)] = _text(
        "申请 {n} 已同意过，但「{invitee}」没有在 {hours} 小时内入群，这次同意已过期，"
        "无法再{decision}。如仍需邀请，请让 {requester} 重新发送「{prefix}邀请 {invitee}」。",
        _ANSWER,
        "Reply to #同意 / #拒绝 when the request's approval expired unused "
        "({hours}: approval_hours).",
    )
    lapsed_text: Annotated[Text, Template(placeholders=_REQUEST)] = _text(
        "你邀请「{invitee}」的申请（编号 {n}）在 {hours} 小时内无人处理，已失效；"
        "如仍需邀请，请重新发送「{prefix}邀请 {invitee}」。",
        _REQUEST,
        "To the requester (@-mentioned in the group) when nobody answered their request "
        "within request_hours ({hours}).",
    )
    expired_text: Annotated[Text, Template(placeholders=_REQUEST)] = _text(
        "群管已同意的邀请（编号 {n}）已过期：「{invitee}」没有在 {hours} 小时内入群。"
        "如仍需邀请，请重新发送「{prefix}邀请 {invitee}」。",
        _REQUEST,
        "To the requester (@-mentioned in the group) when nobody joined on an approval "
        "within approval_hours ({hours}).",
    )
    closed_request_text: Annotated[Text, Template(placeholders=_REQUEST | {"status"})] = _text(
        "申请 {n} 已经处理过了（{status}）。", _REQUEST | {"status"}, "Reply when already answered."
    )
