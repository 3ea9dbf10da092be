"""``engagement.coupons``: coupon types, drops, transfers, redemption, expiry, and their texts.

Every text is a template: ``{group}``, ``{bot_name}`` and ``{prefix}`` (the
command prefix) everywhere, plus what each one declares.  A coupon reads as
``{name}`` (the type's name) and ``{value}`` (what it is worth, may be empty).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.config.fields import ContactId, Template
from bot.config.sections import Model

BASE_PLACEHOLDERS = frozenset({"group", "bot_name", "prefix"})
_COUPON = ("name", "value", "code", "expires")


def _text(*extra: str) -> Template:
    return Template(placeholders=BASE_PLACEHOLDERS | set(extra))


class CouponType(Model):
    name: str = Field(default="优惠券", min_length=1, max_length=40)
    value: str = Field(default="", max_length=40, description="What it is worth, as shown.")
    valid_days: float = Field(default=30, gt=0, le=3650)
    transferable: bool = True
    per_member_limit: int = Field(
        default=1, ge=1, le=1000, description="How many a member may claim from one drop."
    )


class CouponPolicy(Model):
    enabled: bool = True
    types: dict[str, CouponType] = Field(default_factory=dict, description="By type id.")
    transfer_accept_minutes: float = Field(default=60, gt=0, le=10_080)
    expiry_reminder_hours: float = Field(default=24, ge=0, le=720)
    merchants: tuple[ContactId, ...] = Field(
        default=(), description="Members who may redeem (#核销) besides admins."
    )
    drop_minutes: float = Field(
        default=60, gt=0, le=10_080, description="How long a drop stays open when no time is given."
    )
    max_drop_count: int = Field(default=200, ge=1, le=10_000, description="Most coupons a drop.")
    max_mentions: int = Field(
        default=20, ge=1, le=50, description="Most members one expiry reminder @-mentions."
    )

    # ---- texts (Chinese by default)
    drop_text: Annotated[str, _text("name", "value", "count", "limit", "until", "days")] = Field(
        default="【发券】{name}{value} 共 {count} 张，发送「{prefix}领券」领取，"
        "每人限领 {limit} 张，{until} 截止，领到后 {days} 天内有效。",
        description="Announces a drop in the group.",
    )
    drop_usage_text: Annotated[str, _text("types")] = Field(
        default="用法：{prefix}发券 类型 张数 [分钟]，或 {prefix}发券 @成员 类型。可用类型：{types}"
    )
    unknown_type_text: Annotated[str, _text("type", "types")] = Field(
        default="没有「{type}」这种券。可用类型：{types}"
    )
    no_types_text: Annotated[str, _text()] = Field(
        default="本群还没有配置券的类型（engagement.coupons.types）。"
    )
    given_text: Annotated[str, _text(*_COUPON, "member")] = Field(
        default="送给{member}一张{name}{value}，券码 {code}，有效期至 {expires}。"
        "发送「{prefix}我的券」查看。",
        description="Told in the group (the member @-mentioned) after an admin's #发券 @成员.",
    )
    claimed_text: Annotated[str, _text(*_COUPON)] = Field(
        default="领到一张{name}{value}！券码 {code}，有效期至 {expires}。"
    )
    no_drop_text: Annotated[str, _text()] = Field(default="现在没有可以领的券。")
    limit_text: Annotated[str, _text("name", "limit")] = Field(
        default="这次的{name}每人限领 {limit} 张，你已经领过了。"
    )
    sold_out_text: Annotated[str, _text("name")] = Field(default="手慢了，{name}已经领完了。")
    mine_text: Annotated[str, _text("count", "lines")] = Field(
        default="你的券（{count} 张）：\n{lines}"
    )
    mine_line_text: Annotated[str, _text(*_COUPON, "state")] = Field(
        default="{name}{value} 券码 {code}，{state}，有效期至 {expires}"
    )
    mine_empty_text: Annotated[str, _text()] = Field(default="你还没有券。")
    state_claimed: Annotated[str, _text()] = Field(default="可使用")
    state_pending: Annotated[str, _text("recipient")] = Field(default="转赠中，待{recipient}接受")
    state_incoming: Annotated[str, _text("giver")] = Field(
        default="{giver}转赠给你，发送「{prefix}接受」收下"
    )
    transfer_usage_text: Annotated[str, _text()] = Field(
        default="用法：{prefix}转赠 @成员 [券码或券名] [留言]"
    )
    transfer_none_text: Annotated[str, _text()] = Field(default="你没有可以转赠的券。")
    not_transferable_text: Annotated[str, _text("name")] = Field(default="{name}不能转赠。")
    transfer_self_text: Annotated[str, _text()] = Field(default="不能转赠给自己。")
    transfer_offer_text: Annotated[str, _text(*_COUPON, "giver", "note", "minutes")] = Field(
        default="{giver}要把一张{name}{value}转赠给你{note}。"
        "{minutes} 分钟内发送「{prefix}接受」收下，过时券会退回。",
        description="Told to the recipient in the group (@-mentioned).",
    )
    transfer_note_text: Annotated[str, Template(placeholders={"note"})] = Field(
        default="，留言：「{note}」", description="How a note reads inside {note}."
    )
    transfer_sent_text: Annotated[str, _text(*_COUPON, "recipient", "minutes")] = Field(
        default="已把{name}转赠给{recipient}，等对方在 {minutes} 分钟内接受。"
    )
    transfer_busy_text: Annotated[str, _text("code")] = Field(
        default="券码 {code} 正在转赠中、已使用或已过期，不能转赠。"
    )
    accept_none_text: Annotated[str, _text()] = Field(default="没有等你接受的转赠。")
    accepted_text: Annotated[str, _text(*_COUPON, "giver")] = Field(
        default="已收下{giver}转赠的{name}{value}，券码 {code}，有效期至 {expires}。"
    )
    accepted_giver_text: Annotated[str, _text(*_COUPON, "recipient")] = Field(
        default="{recipient}已收下你转赠的{name}。",
        description="Told to the giver (@-mentioned).",
    )
    returned_text: Annotated[str, _text(*_COUPON, "giver", "recipient", "minutes")] = Field(
        default="{recipient}没有在 {minutes} 分钟内接受转赠，{name}（券码 {code}）已退回给{giver}。",
        description="Told to both (@-mentioned) when a transfer lapses.",
    )
    redeem_usage_text: Annotated[str, _text()] = Field(default="用法：{prefix}核销 券码")
    redeem_refused_text: Annotated[str, _text()] = Field(default="只有管理员和商家可以核销券。")
    redeem_unknown_text: Annotated[str, _text("code")] = Field(
        default="没有这个券码：{code}，请核对后再试。"
    )
    redeemed_text: Annotated[str, _text(*_COUPON, "holder")] = Field(
        default="核销成功：{name}{value}（券码 {code}），持有人 {holder}。"
    )
    already_redeemed_text: Annotated[str, _text(*_COUPON, "when", "by", "where")] = Field(
        default="券码 {code} 已于 {when} 由 {by} 在「{where}」核销过，不能重复核销。"
    )
    redeem_expired_text: Annotated[str, _text(*_COUPON)] = Field(
        default="券码 {code} 已过期（有效期至 {expires}），不能核销。"
    )
    redeem_pending_text: Annotated[str, _text(*_COUPON)] = Field(
        default="券码 {code} 正在转赠中，对方接受或退回后才能核销。"
    )
    redeem_elsewhere_text: Annotated[str, _text(*_COUPON)] = Field(
        default="券码 {code} 不是本群的券，不能在这里核销。"
    )
    redeem_unclaimed_text: Annotated[str, _text(*_COUPON)] = Field(
        default="券码 {code} 还没有人领取，不能核销。"
    )
    reminder_text: Annotated[str, _text("hours")] = Field(
        default="你的券将在 {hours} 小时内过期，发送「{prefix}我的券」查看，别忘了使用。",
        description="Folded: one message per group @-mentions the holders.",
    )
