"""``lottery:`` of a calendar entry: how members enter, who may, what is won, and the texts.

Every text is a template: ``{group}``, ``{bot_name}`` and ``{prefix}`` (the
command prefix) everywhere, plus what each one declares.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from bot.config.fields import Template
from bot.config.sections import Model

_BASE = frozenset({"group", "bot_name", "prefix"})


def _text(*extra: str) -> Template:
    return Template(placeholders=_BASE | set(extra))


def normalize_keyword(text: str) -> str:
    """A keyword as people type it: NFKC (full-width letters), no spaces, lower case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


class Eligibility(Model):
    """Who may enter (checked when a member enters; the others are told why not)."""

    spoke_within_days: float | None = Field(
        default=None,
        gt=0,
        le=365,
        description="Only members who spoke in the group in the days before the lottery opened.",
    )
    not_won_last_draws: int = Field(
        default=0, ge=0, le=100, description="Not members who won one of the group's last N draws."
    )
    include_admins: bool = Field(
        default=False, description="Owners and admins may enter too (the bot never does)."
    )


class LotteryContent(Model):
    """``lottery:`` of a calendar entry (kind ``lottery``)."""

    keyword: str | None = Field(
        default="抽奖",
        max_length=20,
        description="A member who sends this while the lottery is open enters (null: none).",
    )
    by_checkin: bool = Field(
        default=False, description="A member who checks in (#签到) while it is open enters."
    )
    open_minutes: float = Field(
        default=60, gt=0, le=7 * 1440, description="The draw is this long after the opening."
    )
    winners: int = Field(default=1, ge=1, le=100)
    eligibility: Eligibility = Field(default_factory=Eligibility)
    coupon_type: str | None = Field(
        default=None,
        max_length=40,
        description="Each winner receives one coupon of this type (engagement.coupons.types).",
    )
    prize: str = Field(default="", max_length=200, description="The prize as announced.")
    confirm_max_names: int = Field(
        default=30, ge=1, le=200, description="Most names one folded confirmation lists."
    )
    list_lines: int = Field(
        default=100, ge=10, le=500, description="Entrants per message of the published list."
    )

    # ---- texts (Chinese by default)
    open_text: Annotated[
        str, _text("how", "draw_time", "minutes", "winners", "prize", "hash", "draw_id")
    ] = Field(
        default="🎁 抽奖开始啦（第 {draw_id} 期）！{how}，{draw_time} 开奖，抽 {winners} 人，"
        "奖品：{prize}。\n公平承诺：本期随机种子的 SHA-256 哈希是\n{hash}\n"
        "开奖时公布种子和参与名单，人人都能验证结果。",
        max_length=1000,
    )
    how_keyword_text: Annotated[str, _text("keyword")] = Field(default="发送「{keyword}」参与")
    how_checkin_text: Annotated[str, _text()] = Field(default="发送「{prefix}签到」参与")
    how_both_text: Annotated[str, _text("keyword")] = Field(
        default="发送「{keyword}」或「{prefix}签到」参与"
    )
    prize_default_text: Annotated[str, _text()] = Field(default="神秘小礼物")
    entered_text: Annotated[str, _text("names", "more", "count", "draw_time")] = Field(
        default="🎟 {names}{more} 已参与抽奖，目前共 {count} 人，{draw_time} 开奖。",
        description="One folded confirmation for the members who entered since the last one.",
    )
    more_text: Annotated[str, _text("more")] = Field(
        default=" 等 {more} 人", description="How the names past confirm_max_names read."
    )
    ineligible_text: Annotated[str, _text("names", "reason")] = Field(
        default="{names} 暂不能参与本期抽奖：{reason}。"
    )
    reason_staff: Annotated[str, _text()] = Field(default="群主和群管不参与抽奖")
    reason_silent: Annotated[str, _text("days")] = Field(
        default="开奖前 {days} 天内需要在群里发过言"
    )
    reason_recent_winner: Annotated[str, _text("draws")] = Field(
        default="最近 {draws} 期中过奖，把机会留给其他人"
    )
    result_text: Annotated[
        str,
        _text("draw_id", "count", "winners", "prize", "seed", "hash", "list_hash", "algorithm"),
    ] = Field(
        default="🎉 第 {draw_id} 期抽奖开奖！共 {count} 人参与，恭喜：\n{winners}\n{prize}\n"
        "—— 公平验证 ——\n种子：{seed}\n种子哈希（开始时已公布）：{hash}\n"
        "参与名单哈希：{list_hash}\n"
        "算法 {algorithm}：按 README「抽奖可验证」用种子和名单即可算出同样的中奖者。",
        max_length=2000,
    )
    winner_line: Annotated[str, Template(placeholders={"rank", "number", "name"})] = Field(
        default="{rank}. {number} 号 {name}", max_length=200
    )
    prize_coupon_text: Annotated[str, _text("name", "value")] = Field(
        default="奖品「{name}{value}」已放进中奖者的券包，发送「{prefix}我的券」查看。"
    )
    prize_text: Annotated[str, _text("prize")] = Field(default="奖品：{prize}，请联系群管领取。")
    list_text: Annotated[str, _text("draw_id", "count", "part", "parts", "lines")] = Field(
        default="第 {draw_id} 期参与名单（按账号 ID 排序，共 {count} 人，{part}/{parts}）：\n{lines}",
        max_length=1000,
    )
    list_line: Annotated[str, Template(placeholders={"number", "name", "id"})] = Field(
        default="{number}. {name}（{id}）", max_length=200
    )
    no_entrants_text: Annotated[str, _text("draw_id", "seed", "hash")] = Field(
        default="第 {draw_id} 期抽奖没有人参与，下次再来吧！本期种子：{seed}"
    )
    draw_now_text: Annotated[str, _text("draw_id")] = Field(
        default="好的，第 {draw_id} 期抽奖马上开奖。"
    )
    none_open_text: Annotated[str, _text()] = Field(default="现在没有进行中的抽奖。")

    @field_validator("keyword")
    @classmethod
    def _keyword(cls, value: str | None) -> str | None:
        if value is not None and not normalize_keyword(value):
            return None
        return value

    @model_validator(mode="after")
    def _some_way_in(self) -> LotteryContent:
        if self.keyword is None and not self.by_checkin:
            raise ValueError("members need a way in: set 'keyword' or 'by_checkin: true'")
        return self
