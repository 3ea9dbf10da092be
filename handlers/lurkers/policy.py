"""``lurkers``: the section every profile and group may set (issue 11).

Who is a lurker (silent ``silent_days``, what counts as activity), who is
exempt, what the bot does (``report`` only, or ``warn_then_remove``), how
members are ranked into tiers, and when a group nearing its size cap alerts
its admins.  Texts are Chinese by default; an operator changes them here.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from bot.config.fields import Template
from bot.config.sections import Model, register_section

_BASE = {"group", "bot_name", "prefix"}


def _text(*extra: str) -> Template:
    return Template(placeholders=_BASE | set(extra))


class ActivityCounts(Model):
    """What counts as activity (besides being present)."""

    messages: bool = True
    checkins: bool = Field(default=True, description="A daily #签到 counts as activity.")
    redemptions: bool = Field(default=True, description="Redeeming a coupon counts.")


class TierWeights(Model):
    """The score that ranks members; the top ``core_percent`` are core (积极分子)."""

    messages_7d: float = Field(default=3.0, ge=0, le=1000)
    messages_30d: float = Field(default=1.0, ge=0, le=1000)
    checkins_30d: float = Field(default=2.0, ge=0, le=1000)
    redemptions_30d: float = Field(default=2.0, ge=0, le=1000)


class CapacityPolicy(Model):
    size_cap: int = Field(default=0, ge=0, le=10_000, description="0: no capacity alert.")
    alert_at: int = Field(default=0, ge=0, le=10_000, description="0: 90% of size_cap.")
    top: int = Field(default=20, ge=1, le=200, description="Lurkers listed in the alert.")

    @property
    def mark(self) -> int:
        """The member count that alerts (0: never)."""
        if self.size_cap <= 0:
            return 0
        return self.alert_at or max(1, self.size_cap * 9 // 10)

    @model_validator(mode="after")
    def _below_cap(self) -> CapacityPolicy:
        if self.size_cap and self.alert_at > self.size_cap:
            raise ValueError("alert_at must not exceed size_cap")
        return self


class LurkersPolicy(Model):
    section: ClassVar[str] = "lurkers"

    enabled: bool = True
    silent_days: int = Field(default=30, ge=1, le=3650, description="Silent this long: a lurker.")
    active_days: int = Field(default=7, ge=1, le=365, description="Active within: tier active.")
    activity: ActivityCounts = Field(default_factory=ActivityCounts)
    newcomer_grace_days: float = Field(default=14, ge=0, le=3650)
    exempt_allowlisted: bool = Field(default=True, description="#白名单 members are exempt.")
    allowlist: tuple[str, ...] = Field(default=(), description="Account ids never listed.")
    same_tag_activity: bool = Field(
        default=False,
        description="A member active in another group sharing a tag with this one is exempt.",
    )
    mode: Literal["report", "warn_then_remove"] = "report"
    automatic: bool = Field(default=False, description="Remove without #确认清理.")
    warn_via: Literal["group", "private"] = Field(
        default="group",
        description="'private': a private message where the bot is a friend, else the group.",
    )
    grace_hours: float = Field(default=48, ge=0, le=24 * 60)
    batch_size: int = Field(default=10, ge=1, le=200, description="Members per removal batch.")
    max_mentions: int = Field(default=20, ge=1, le=50, description="@-mentions per message.")
    list_top: int = Field(default=30, ge=1, le=500, description="Lurkers #潜水 lists.")
    core_percent: float = Field(default=10, ge=0, le=100)
    weights: TierWeights = Field(default_factory=TierWeights)
    capacity: CapacityPolicy = Field(default_factory=CapacityPolicy)
    # Texts (Chinese by default).
    warn_text: Annotated[str, _text("hours", "days")] = Field(
        default="【冒泡提醒】以上成员已经 {days} 天没有发言啦。请在 {hours} 小时内在群里说句话"
        "（或签到），就会保留在群里；否则将按群规移出，给新朋友腾位置。",
        description="The folded @-message in the group.",
    )
    private_warn_text: Annotated[str, _text("hours", "days")] = Field(
        default="【冒泡提醒】你在「{group}」已经 {days} 天没有发言啦。请在 {hours} 小时内在群里"
        "说句话（或签到），就会保留在群里；否则将按群规移出。",
    )
    admin_batch_text: Annotated[str, _text("batch", "count", "lines")] = Field(
        default="【{group}】潜水清理名单 #{batch}（{count} 人，提醒后仍未发言）：\n{lines}\n"
        "在群里发送「{prefix}确认清理 {batch}」确认移出。",
    )
    admin_auto_text: Annotated[str, _text("batch", "count", "lines")] = Field(
        default="【{group}】潜水清理 #{batch}：以下 {count} 人提醒后仍未发言，将自动分批移出：\n"
        "{lines}\n如需找回，在群里发送「{prefix}恢复 @成员」。",
    )
    admin_report_text: Annotated[str, _text("count", "lines", "days")] = Field(
        default="【{group}】潜水成员报告：{count} 人超过 {days} 天未发言（仅报告，不做处理）：\n"
        "{lines}",
    )
    line_text: Annotated[str, Template(placeholders={"rank", "name", "member", "days"})] = Field(
        default="{rank}. {name}（{member}）{days}",
        description="One member's line in a list ({days}: e.g. 已 35 天未发言 / 从未发言).",
    )
    silent_days_text: Annotated[str, Template(placeholders={"days"})] = Field(
        default="已 {days} 天未发言"
    )
    never_spoke_text: Annotated[str, Template(placeholders=set())] = Field(default="从未发言")
    removing_text: Annotated[str, _text("count")] = Field(
        default="以上 {count} 位成员长期未发言，按群规移出。想回来随时联系群管，"
        "群管发送「{prefix}恢复 @你」即可重新邀请。",
        description="The folded goodbye in the group before removals (members not friends).",
    )
    goodbye_text: Annotated[str, _text()] = Field(
        default="你因长期未在「{group}」发言被移出了群，欢迎随时回来：联系群管，"
        "群管发送「{prefix}恢复 @你」即可重新邀请你入群。",
        description="The private goodbye to a removed member who is a friend.",
    )
    list_text: Annotated[str, _text("count", "shown", "lines", "days")] = Field(
        default="【{group}】潜水成员 {count} 人（超过 {days} 天未发言，显示前 {shown} 位）：\n"
        "{lines}",
    )
    none_text: Annotated[str, _text("days")] = Field(default="本群没有超过 {days} 天未发言的成员。")
    capacity_text: Annotated[str, _text("members", "cap", "count", "lines")] = Field(
        default="【{group}】群人数已到 {members}/{cap}，快满了。可腾出位置的潜水成员 {count} 人：\n"
        "{lines}",
    )
    confirmed_text: Annotated[str, _text("batch", "count")] = Field(
        default="已确认清理 #{batch}：{count} 人将分批移出。"
    )
    no_batch_text: Annotated[str, _text("batch")] = Field(
        default="本群没有待确认的清理名单 #{batch}。"
    )
    restored_text: Annotated[str, _text("member")] = Field(
        default="好的，正在重新邀请 {member} 入群，并清除其潜水记录。"
    )
    sweep_text: Annotated[str, _text("count", "warned")] = Field(
        default="潜水检查完成：{count} 人超过期限未发言，本次提醒 {warned} 人。"
    )


register_section(LurkersPolicy)
