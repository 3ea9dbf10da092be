"""Policy sections: what a profile (and a group) may set, one model per section.

A profile (``profiles.<name>``) and a group (``groups.<room_id>``) hold one
mapping per section.  Adding a feature's section is adding its model to
:data:`SECTIONS`: profiles, group overrides, ``extends``, deep merge, error
locations and the JSON Schema all follow.  Every field of a section model has
a default, so a partial mapping (an override) is valid as written; the same
model validates the merged result — there are no "all optional" copies.

The built-in profiles of the three-group strategy (三群策略) are data here:
:data:`BUILTIN_PROFILES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bot.config.fields import GroupText, NonEmptyText, placeholders_text
from bot.vocab.texts import rules_text


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------
# Built-in profiles (三群策略)
# --------------------------------------------------------------------------

_COMMON_RULES = (
    "禁止发广告、外链、拼团、二维码和他人名片，违者先警告、再移出。",
    "未经群管同意，请勿私自拉人进群；想邀请朋友请先私聊群管。",
)

#: Sections of the built-in profiles, as an operator would write them.
BUILTIN_PROFILES: Mapping[str, Mapping[str, Any]] = {
    "super": {  # 超用群: invite-only, the full welcome ritual
        "welcome": {
            "enabled": True,
            "window_seconds": 10,
            "max_mentions": 10,
            "reminder_after_hours": 24,
            "template": (
                "欢迎加入「{group}」！🎉\n"
                "这里是核心用户的专属交流群，很高兴认识你。\n"
                "\n"
                "📌 群规（请花一分钟看完）：\n"
                "{rules}\n"
                "\n"
                "👋 请先做个自我介绍：{self_intro_prompt}\n"
                "🏷️ 请把群昵称改为「{name_card_format}」，方便大家认识你。"
            ),
            "reminder_template": (
                "还没看到你的自我介绍哦～\n"
                "花一分钟介绍一下自己吧：{self_intro_prompt}\n"
                "也别忘了把群昵称改为「{name_card_format}」。"
            ),
            "rules": [
                *_COMMON_RULES,
                "友善交流，不人身攻击、不刷屏、不发与本群无关的敏感话题。",
                "多分享干货和真实体验，优质分享有积分奖励。",
                "有问题请 @群管，或私聊群主。",
            ],
            "name_card_format": "城市-行业-昵称",
            "self_intro_prompt": "你在哪个城市、做什么行业、为什么来到这里、能为大家提供什么帮助。",
        }
    },
    "member": {  # 会员群: standardised, light operation
        "welcome": {
            "enabled": True,
            "window_seconds": 10,
            "max_mentions": 10,
            "reminder_after_hours": 24,
            "template": (
                "欢迎加入「{group}」！\n"
                "我是{bot_name}，签到、抽奖、会员日等活动都会在群里通知，记得常来看看～\n"
                "\n"
                "📌 群规：\n"
                "{rules}\n"
                "\n"
                "👋 {self_intro_prompt}\n"
                "🏷️ 请把群昵称改为「{name_card_format}」。"
            ),
            "reminder_template": (
                "提醒一下：{self_intro_prompt}\n群昵称请改为「{name_card_format}」，谢谢～"
            ),
            "rules": [*_COMMON_RULES, "文明交流，不刷屏。"],
            "name_card_format": "城市-昵称",
            "self_intro_prompt": "简单介绍一下自己吧：来自哪里、平时喜欢什么。",
        }
    },
    "flash": {  # 快闪群: one campaign, short welcome, no reminder
        "welcome": {
            "enabled": True,
            "window_seconds": 30,
            "max_mentions": 20,
            "reminder_after_hours": 0,
            "template": "欢迎来到「{group}」！活动福利都在这里发布，请留意群公告～\n{rules}",
            "reminder_template": "活动进行中，别错过群公告里的福利哦～",
            "rules": ["本群仅用于本次活动，活动结束后将解散。", "禁止广告和私自拉人。"],
            "name_card_format": "昵称",
            "self_intro_prompt": "",
        }
    },
}
#: The profile of a group an owner invited the bot into, unless bot.yaml says.
DEFAULT_PROFILE = "member"

_MEMBER_WELCOME: Mapping[str, Any] = BUILTIN_PROFILES["member"]["welcome"]


def default_texts(prefix: str) -> dict[str, str]:
    """Default texts that name commands, written with the configured prefix."""
    return {
        "help": (
            f"我是{{bot_name}}，为「{{group}}」服务。可以发送：\n"
            f"{prefix}帮助 — 查看这条说明\n"
            f"{prefix}规则 — 查看群规\n"
            "其他问题请 @群管。"
        ),
        "unknown": f"没有这个指令哦～发送 {prefix}帮助 看看我能做什么。",
        "intro": (
            "大家好，我是{bot_name}，从今天起为「{group}」服务："
            "欢迎新朋友、维护群规、组织签到和活动。"
            f"发送 {prefix}帮助 看看我能做什么～"
        ),
    }


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------

WindowSeconds = Annotated[float, Field(gt=0, le=300)]
MaxMentions = Annotated[int, Field(ge=1, le=20)]
ReminderHours = Annotated[float, Field(ge=0, le=720)]
WelcomeValidMinutes = Annotated[float, Field(gt=0, le=1440)]
NameCardFormat = Annotated[str, Field(min_length=1, max_length=40)]


class WelcomePolicy(Model):
    """``welcome``: the welcome ritual (仪式感) for newcomers of a group."""

    section: ClassVar[str] = "welcome"

    enabled: bool = True
    window_seconds: WindowSeconds = Field(
        default=10, description="Newcomers who join within this many seconds share one welcome."
    )
    max_mentions: MaxMentions = Field(
        default=10, description="At most this many @ per welcome message."
    )
    reminder_after_hours: ReminderHours = Field(
        default=24,
        description="Remind once after this many hours if no self-introduction; 0: never.",
    )
    template: GroupText = Field(default=_MEMBER_WELCOME["template"], description="Welcome text.")
    reminder_template: GroupText = Field(
        default=_MEMBER_WELCOME["reminder_template"], description="Reminder text."
    )
    rules: tuple[NonEmptyText, ...] = Field(
        default=tuple(_MEMBER_WELCOME["rules"]), description="Group rules, numbered in {rules}."
    )
    name_card_format: NameCardFormat = Field(
        default=_MEMBER_WELCOME["name_card_format"],
        description="Group nickname format newcomers are asked to use.",
    )
    self_intro_prompt: str = Field(
        default=_MEMBER_WELCOME["self_intro_prompt"],
        description="What to say in the self-introduction.",
    )
    valid_minutes: WelcomeValidMinutes = Field(
        default=60,
        description="A welcome not sent within this many minutes of the join (the bot was "
        "down, or busy) is dropped and audited, not sent late.",
    )
    welcome_found_within_hours: ReminderHours = Field(
        default=0,
        description="Members found only by reconciliation (no join event) are welcomed when "
        "found within this many hours of their join; 0: never.",
    )

    def placeholder_values(self) -> dict[str, str]:
        """What this section lends the group's texts (``bot.vocab.texts.render``)."""
        return {
            "rules": rules_text(self.rules),
            "name_card_format": self.name_card_format,
            "self_intro_prompt": self.self_intro_prompt,
        }


CommandName = Annotated[str, Field(min_length=1, max_length=8, pattern=r"^\S+$")]


class CommandPolicy(Model):
    """``commands`` in a profile or a group: which commands, how often, what replies.

    The top-level ``commands:`` section sets the defaults of every profile
    (and the prefix, which is the same everywhere)."""

    section: ClassVar[str] = "commands"

    disabled: tuple[CommandName, ...] = Field(
        default=(),
        description="Commands not answered in these groups, by any of their names "
        "(e.g. ['规则']): the bot stays silent as if it were ordinary chat.",
    )
    help: GroupText = Field(default=default_texts("#")["help"], description="Reply to #帮助.")
    unknown: GroupText = Field(
        default=default_texts("#")["unknown"], description="Reply to an unknown command."
    )
    no_rules: GroupText = Field(
        default="本群暂未设置群规，有问题请 @群管。",
        description="Reply to #规则 when the group has no rules.",
    )
    admins_only: GroupText = Field(
        default="抱歉，这个指令只有群管可以使用哦～",
        description="Reply to a member who uses an admin command.",
    )
    owners_only: GroupText = Field(
        default="抱歉，这个指令只有群主可以使用哦～",
        description="Reply to anyone but an owner who uses an owner command.",
    )
    # One member cannot drown the bot (issue 6.5).
    max_per_member: int = Field(
        default=5,
        strict=True,
        ge=1,
        le=100,
        description="At most this many commands answered per member per group within "
        "limit_window_seconds; beyond it the member is quietly ignored.",
    )
    limit_window_seconds: float = Field(default=60.0, ge=1, le=3600, strict=True)
    repeat_window_seconds: float = Field(
        default=60.0,
        strict=True,
        ge=0,
        le=3600,
        description="The same reply is not sent to the same member twice within this "
        "many seconds (0: off).",
    )
    reply_valid_seconds: float = Field(
        default=120.0,
        strict=True,
        ge=10,
        le=3600,
        description="A reply not sent within this many seconds of the command is "
        "dropped (audited as expired), never sent late.",
    )


#: Every section a profile has, by key.  A feature adds its model with
#: :func:`register_section` when its module is imported (``handlers.features``).
SECTIONS: dict[str, type[BaseModel]] = {
    "welcome": WelcomePolicy,
    "commands": CommandPolicy,
}


def register_section(model: type[Model]) -> type[Model]:
    """Add a feature's section model (its ``section`` key); usable as a decorator.

    Every field needs a default (a group's override is validated by the same
    model).  Registering the same model twice is harmless; another model
    under a taken key is a programming error."""
    key = getattr(model, "section", "")
    if not key:
        raise TypeError(f"{model.__name__} has no `section` key")
    known = SECTIONS.get(key)
    if known is not None and known is not model:
        raise ValueError(f"section {key!r} is taken by {known.__name__}")
    missing = [n for n, f in model.model_fields.items() if f.is_required()]
    if missing:
        raise TypeError(f"section {key!r}: fields without a default: {missing}")
    SECTIONS[key] = model
    _describe_templates([model])
    return model


def _describe_templates(models: Iterable[type[BaseModel]]) -> None:
    """Append each template field's placeholders to its description (schema, docs)."""
    for model in models:
        for name, f in model.model_fields.items():
            names = placeholders_text(model, name)
            if names and "Placeholders:" not in (f.description or ""):
                f.description = f"{f.description or ''} Placeholders: {names}".strip()
        model.model_rebuild(force=True)


_describe_templates(SECTIONS.values())
