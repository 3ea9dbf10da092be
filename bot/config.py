"""Configuration: ``bot.yaml`` → a validated, frozen :class:`BotConfig`.

Admins edit ``bot.yaml`` by hand, so every mistake is reported the way a
compiler would: ``bot.yaml:12:5: groups.r1@chatroom.tier: <message>``, one
line per problem, all problems at once (see :class:`ConfigError`).

Secrets never live in the file: the puppet-service token only comes from the
environment (``WECHATY_PUPPET_SERVICE_TOKEN``); the endpoint and the database
URL may be overridden from the environment (:func:`effective_endpoint`,
:func:`effective_database_url`).

Per-room behaviour is resolved once per room by :func:`resolve_policy`: the
group's tier defaults (``tiers``) merged field by field with the group's own
overrides (``groups.<room_id>.welcome``), plus the set of people who may
administer the room (owners ∪ global admins ∪ group admins).
"""

from __future__ import annotations

import difflib
import enum
import os
import re
import stat
import string
import types
import unicodedata
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.alerts import AlertsConfig
from bot.governor import GovernorSettings

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "ENDPOINT_ENV",
    "TOKEN_ENV",
    "WELCOME_PLACEHOLDERS",
    "ActivityConfig",
    "BotConfig",
    "BotSettings",
    "CommandsConfig",
    "ConfigError",
    "ConfigIssue",
    "DatabaseConfig",
    "GroupConfig",
    "GroupPolicy",
    "Tier",
    "TierPolicy",
    "TiersConfig",
    "TransportConfig",
    "WelcomeOverride",
    "WelcomePolicy",
    "config_json_schema",
    "database_location_problem",
    "effective_database_url",
    "effective_endpoint",
    "is_admin",
    "is_owner",
    "load_config",
    "resolve_all",
    "resolve_policy",
    "validate_config_text",
]

TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"
DATABASE_URL_ENV = "DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/qunbot.db"

#: Limits on the config file, checked before the YAML is built: a file is
#: read only if it is a regular file of at most ``MAX_CONFIG_BYTES``; its
#: nesting and its node count (with every alias expanded) are bounded.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 50_000
#: The YAML scanner builds a comment one character at a time, which can cost
#: time quadratic in the line's length: long lines are refused up front.
MAX_LINE_CHARS = 16_384

#: Placeholders every text the bot says may use (``str.format`` syntax): the
#: welcome and reminder templates, ``bot.intro``, ``commands.help`` etc.
WELCOME_PLACEHOLDERS = frozenset(
    {"group", "rules", "name_card_format", "self_intro_prompt", "bot_name"}
)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file.  ``line``/``column`` are 1-based, or
    ``None`` when the problem has no place in the file (missing file, env)."""

    file: str
    line: int | None
    column: int | None
    field: str  # dotted path, e.g. "groups.r1@chatroom.welcome.window_seconds"; "" if none
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(Exception):
    """The configuration is unusable; ``issues`` says where and why."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


Loc = tuple[str | int, ...]


def _fail(message: str, *at: str | int, key: bool = False) -> NoReturn:
    """Raise a validation error; ``at`` extends the error's location below the
    validated value (e.g. the index of a duplicate in a list); ``key``: point
    at the key rather than its value."""
    raise PydanticCustomError(
        "qunbot_config", "{message}", {"message": message, "at": list(at), "key": key}
    )


def _fail_many(issues: Sequence[tuple[Loc, str]]) -> None:
    """Raise one validation error that the loader expands into several issues."""
    if not issues:
        return
    if len(issues) == 1:
        _fail(issues[0][1], *issues[0][0])
    raise PydanticCustomError(
        "qunbot_config",
        "{message}",
        {
            "message": "; ".join(msg for _, msg in issues),
            "issues": [(list(at), msg) for at, msg in issues],
        },
    )


def _duplicates(values: Iterable[object]) -> list[tuple[int, int]]:
    """(index of a repeat, index of its first occurrence) for each repeat."""
    first: dict[object, int] = {}
    out: list[tuple[int, int]] = []
    for i, v in enumerate(values):
        if v in first:
            out.append((i, first[v]))
        else:
            first[v] = i
    return out


# --------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------

_CONTACT_ID_RE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
_ROOM_ID_RE = re.compile(r"^[^\s@]+@[^\s@]+$")
_ENDPOINT_RE = re.compile(r"^(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
_DB_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")


# Characters nobody can see in a terminal or an editor: controls (C0, C1),
# format characters (zero-width, bidi controls), separators, unassigned.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})


def _invisible(value: str) -> str | None:
    """The first invisible or control character of an id, described; or None."""
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            name = unicodedata.name(ch, "control character")
            return f"U+{ord(ch):04X} {name} at position {i + 1}"
    return None


def _check_visible(value: str) -> None:
    found = _invisible(value)
    if found is not None:
        _fail(
            f"{value!r} contains an invisible or control character ({found}); "
            "ids are copied from WeChat as plain text: retype it"
        )


def _check_contact_id(value: str) -> str:
    if not value:
        _fail("empty account id")
    _check_visible(value)
    if value.endswith("@chatroom"):
        _fail(f"{value!r} is a room id, not a WeChat account id")
    if not _CONTACT_ID_RE.match(value):
        _fail(
            f"{value!r} is not a WeChat account id (wxid): ids are ASCII without spaces. "
            "Display names cannot be used: anyone can change theirs to impersonate an admin"
        )
    return value


def _check_room_id(value: str) -> str:
    _check_visible(value)
    if not _ROOM_ID_RE.match(value):
        _fail(
            f"{value!r} is not a WeChat room id: room ids look like '12345678@chatroom' "
            "(the group's name goes in 'name', not in the id)"
        )
    return value


def _check_endpoint(value: str) -> str:
    m = _ENDPOINT_RE.match(value)
    if not m or not 1 <= int(m["port"]) <= 65535:
        _fail(f"{value!r} is not a 'host:port' endpoint, e.g. '127.0.0.1:8788'")
    return value


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        _fail(f"unknown time zone {value!r}; use an IANA name such as 'Asia/Shanghai'")
    return value


def _check_db_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep:
        _fail(f"{value!r} is not a database URL, e.g. '{DEFAULT_DATABASE_URL}'")
    if scheme not in _DB_SCHEMES:
        _fail(
            f"unsupported database driver {scheme!r}: use 'sqlite+aiosqlite:///path/to/file.db' "
            "or 'postgresql+asyncpg://user@host/dbname'"
        )
    if scheme.startswith("sqlite") and _sqlite_in_memory(rest):
        _fail(
            f"{value!r} is an in-memory database: it keeps nothing when the bot stops, so "
            "the outbox's crash safety and the risk-control pauses would vanish; "
            f"use a file, e.g. '{DEFAULT_DATABASE_URL}'"
        )
    return value


def _sqlite_in_memory(rest: str) -> bool:
    """``rest``: what follows ``sqlite+aiosqlite://`` (``/path?query``)."""
    path, _, query = rest.partition("?")
    database = path[1:] if path.startswith("/") else path
    return (
        database in ("", ":memory:", "file::memory:")
        or "mode=memory" in query
        or "mode=memory" in path
    )


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (``file:`` URIs included), or None."""
    m = re.match(r"^sqlite(?:\+\w+)?:///(.*)$", url)
    if not m:
        return None
    path = m.group(1).partition("?")[0]
    if path.startswith("file:"):
        path = path.removeprefix("file:")
    if not path or path == ":memory:":
        return None
    return Path(path).expanduser()


def database_location_problem(url: str) -> str | None:
    """Why the bot could not keep a SQLite database at ``url``, or None.

    The file (or the directory it will be created in) must be writable: the
    bot creates missing directories, and SQLite keeps its journal beside the
    file.  Other databases are checked when they are opened."""
    path = _sqlite_path(url)
    if path is None:
        return None
    path = path.absolute()
    if path.exists():
        if not path.is_file():
            return f"{path} is not a regular file"
        if not os.access(path, os.R_OK | os.W_OK):
            return f"cannot write {path} (permissions)"
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return f"cannot write in {path.parent}, where SQLite keeps its journal (permissions)"
        return None
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create {path.parent}: {existing} is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot create the database in {existing} (not writable)"
    return None


def _check_template(value: str, allowed: frozenset[str]) -> str:
    names = ", ".join("{" + n + "}" for n in sorted(allowed))
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        _fail(f"broken braces in template ({exc}); write {{{{ and }}}} for a literal brace")
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "" or field.isdigit():
            _fail(f"empty or positional placeholder '{{{field}}}'; use one of {names}")
        if field not in allowed:
            _fail(f"unknown placeholder '{{{field}}}'; use one of {names}")
        if spec or conversion:
            _fail(f"placeholder '{{{field}}}' takes no format spec or conversion")
    return value


def _check_welcome_template(value: str) -> str:
    return _check_template(value, WELCOME_PLACEHOLDERS)


ContactId = Annotated[str, AfterValidator(_check_contact_id)]
RoomId = Annotated[str, AfterValidator(_check_room_id)]
NonEmptyText = Annotated[str, Field(min_length=1)]
WelcomeTemplate = Annotated[str, Field(min_length=1), AfterValidator(_check_welcome_template)]
WindowSeconds = Annotated[float, Field(gt=0, le=300)]
MaxMentions = Annotated[int, Field(ge=1, le=20)]
ReminderHours = Annotated[float, Field(ge=0, le=720)]
WelcomeValidMinutes = Annotated[float, Field(gt=0, le=1440)]
NameCardFormat = Annotated[str, Field(min_length=1, max_length=40)]


BotText = WelcomeTemplate  # any other text the bot says: same placeholders

NOTICE_PLACEHOLDERS = frozenset(
    {"bot_name", "minutes", "action", "error", "hours", "group", "role"}
)


def _check_notice_template(value: str) -> str:
    return _check_template(value, NOTICE_PLACEHOLDERS)


NoticeText = Annotated[str, Field(min_length=1), AfterValidator(_check_notice_template)]


def _default_texts(prefix: str) -> dict[str, str]:
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


class Tier(enum.StrEnum):
    """Group tiers of the three-group strategy (三群策略)."""

    SUPER = "super"  # 超用群
    MEMBER = "member"  # 会员群
    FLASH = "flash"  # 快闪群


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


class BotSettings(_Model):
    """``bot``: who the bot is."""

    name: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        default="群管家", description="The bot's name as it speaks of itself ({bot_name})."
    )
    timezone: Annotated[str, AfterValidator(_check_timezone)] = Field(
        default="Asia/Shanghai", description="IANA time zone for schedules and reports."
    )
    intro: BotText = Field(
        default=_default_texts("#")["intro"],
        description="What the bot says in a room it has just joined. "
        "Placeholders: " + ", ".join(sorted(WELCOME_PLACEHOLDERS)),
    )
    reminder_check_minutes: float = Field(
        default=10,
        gt=0,
        le=1440,
        description="How often to look for newcomers due a self-introduction reminder.",
    )
    away_alert_minutes: float = Field(
        default=10,
        ge=0,
        le=10080,
        description="Tell the owners when the bot was disconnected at least this long (0: never).",
    )
    away_notice: NoticeText = Field(
        default="⚠️ {bot_name} 刚才与微信断开了约 {minutes} 分钟，现已恢复。断线期间的入群欢迎和消息可能有遗漏。",
        description="Sent to the owners after a long disconnection. Placeholders: {bot_name}, {minutes}",
    )
    degraded_notice: NoticeText = Field(
        default="ℹ️ {bot_name} 在「{group}」里不是群主或管理员，无法移出成员："
        "广告处理、私自拉人处理和潜水清理在该群只会提醒群管，不会自动移人。"
        "如需启用，请把 {bot_name} 设为群管理员。",
        description="Sent once to the owners per group where the bot cannot remove members. "
        "Placeholders: {bot_name}, {group}, {role}",
    )
    reconcile_minutes: float = Field(
        default=60,
        ge=10,
        le=1440,
        description="How often member lists are compared with storage (frequent member-list "
        "fetches are a risk-control trigger: keep it at 10 minutes or more).",
    )
    reconcile_rooms_per_run: int = Field(
        default=20, ge=1, le=500, description="At most this many groups are read per run."
    )
    risk_notice: NoticeText = Field(
        default="⚠️ 风控提醒：微信拒绝了「{action}」（{error}）。为保护账号，同类操作已暂停 {hours} 小时。",
        description="Sent to the owners when a risk-control error pauses a kind of action. "
        "Placeholders: {action}, {error}, {hours}, {bot_name}",
    )
    account: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ] = Field(
        default="default",
        description="Name of the WeChat account this bot runs, unique per database: only one "
        "process at a time may run it (a lease in the database). Give each account sharing "
        "a database its own name.",
    )
    lease_ttl_seconds: float = Field(
        default=30,
        ge=2,
        le=600,
        description="A killed process's hold on the account is taken over after this long.",
    )
    lease_renew_seconds: float = Field(
        default=10, gt=0, le=300, description="How often a running process renews its hold."
    )

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> BotSettings:
        if self.lease_renew_seconds * 2 > self.lease_ttl_seconds:
            _fail(
                "lease_renew_seconds must be at most half of lease_ttl_seconds, "
                "or a slow renewal lets another process take the account",
                "lease_renew_seconds",
            )
        return self

    event_queue_max: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description="Events waiting to be handled, in all groups, before new ones are held back.",
    )
    event_queue_max_per_room: int = Field(
        default=2_000,
        ge=10,
        le=1_000_000,
        description="Events waiting in one group before new ones are held back.",
    )
    idle_room_hours: float = Field(
        default=24,
        gt=0,
        le=720,
        description="What the bot keeps in memory for a group silent this long is let go.",
    )

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class TransportConfig(_Model):
    """``transport``: how the bot reaches WeChat."""

    kind: Literal["sandbox", "wechaty"] = Field(
        default="sandbox",
        description="'sandbox': a simulated WeChat from sandbox.yaml; "
        "'wechaty': a Wechaty puppet service.",
    )
    endpoint: Annotated[str, AfterValidator(_check_endpoint)] | None = Field(
        default=None,
        description=f"Puppet service 'host:port'; env {ENDPOINT_ENV} overrides. "
        f"The token only comes from env {TOKEN_ENV}.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_token(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in data:
                if isinstance(key, str) and "token" in key.lower():
                    _fail(
                        f"remove '{key}' from the file: the puppet service token is never read "
                        f"from bot.yaml, only from the environment variable {TOKEN_ENV}",
                        key,
                        key=True,
                    )
        return data


class DatabaseConfig(_Model):
    """``database``: where the bot keeps its records."""

    url: Annotated[str, AfterValidator(_check_db_url)] = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy async URL. A relative SQLite path is relative to the "
        f"config file's directory. Env {DATABASE_URL_ENV} overrides (use it for passwords).",
    )


_COMMON_RULES = (
    "禁止发广告、外链、拼团、二维码和他人名片，违者先警告、再移出。",
    "未经群管同意，请勿私自拉人进群；想邀请朋友请先私聊群管。",
)

_TIER_DEFAULTS: dict[Tier, dict[str, Any]] = {
    Tier.SUPER: {
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
    Tier.MEMBER: {
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
    Tier.FLASH: {
        "welcome": {
            "enabled": True,
            "window_seconds": 30,
            "max_mentions": 20,
            "reminder_after_hours": 0,
            "template": ("欢迎来到「{group}」！活动福利都在这里发布，请留意群公告～\n{rules}"),
            "reminder_template": "活动进行中，别错过群公告里的福利哦～",
            "rules": [
                "本群仅用于本次活动，活动结束后将解散。",
                "禁止广告和私自拉人。",
            ],
            "name_card_format": "昵称",
            "self_intro_prompt": "",
        }
    },
}


_MEMBER_WELCOME: dict[str, Any] = _TIER_DEFAULTS[Tier.MEMBER]["welcome"]


class WelcomePolicy(_Model):
    """The welcome ritual (仪式感) for newcomers of a group."""

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
    template: WelcomeTemplate = Field(
        default=_MEMBER_WELCOME["template"],
        description="Welcome text. Placeholders: " + ", ".join(sorted(WELCOME_PLACEHOLDERS)),
    )
    reminder_template: WelcomeTemplate = Field(
        default=_MEMBER_WELCOME["reminder_template"],
        description="Reminder text, same placeholders as 'template'.",
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


class WelcomeOverride(_Model):
    """A group's partial override of its tier's welcome policy (field by field)."""

    enabled: bool | None = None
    window_seconds: WindowSeconds | None = None
    max_mentions: MaxMentions | None = None
    reminder_after_hours: ReminderHours | None = None
    template: WelcomeTemplate | None = None
    reminder_template: WelcomeTemplate | None = None
    rules: tuple[NonEmptyText, ...] | None = None
    name_card_format: NameCardFormat | None = None
    self_intro_prompt: str | None = None
    valid_minutes: WelcomeValidMinutes | None = None
    welcome_found_within_hours: ReminderHours | None = None


class TierPolicy(_Model):
    """Default policies of one tier."""

    welcome: WelcomePolicy


def _deep_merge(base: Any, override: Any) -> Any:
    """``override`` laid over ``base``: mappings merge key by key, ``None``
    keeps ``base``, anything else replaces it."""
    if override is None:
        return base
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


class TiersConfig(_Model):
    """``tiers``: default policies per tier; each omitted field keeps the
    built-in default of that tier."""

    super: TierPolicy = Field(description="超用群: invite-only, full welcome ritual.")
    member: TierPolicy = Field(description="会员群: standardised, light operation.")
    flash: TierPolicy = Field(description="快闪群: one campaign, short welcome, no reminder.")

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            return data
        merged = dict(data)
        for tier in Tier:
            merged[tier.value] = _deep_merge(_TIER_DEFAULTS[tier], data.get(tier.value))
        return merged

    def get(self, tier: Tier | str) -> TierPolicy:
        policy: TierPolicy = getattr(self, Tier(tier).value)
        return policy


def _default_tiers() -> TiersConfig:
    return TiersConfig.model_validate({})


class GroupConfig(_Model):
    """One room the bot manages, keyed by its room id in ``groups``."""

    name: str | None = Field(default=None, description="A label for logs and reports (群名).")
    tier: Tier = Field(default=Tier.MEMBER, description="super | member | flash")
    admins: tuple[ContactId, ...] = Field(default=(), description="Extra admins of this room only.")
    welcome: WelcomeOverride = Field(
        default_factory=WelcomeOverride, description="Overrides of the tier's welcome policy."
    )
    managed: bool = Field(default=True, description="false: the bot stays silent in this room.")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, data: Any) -> Any:
        return {} if data is None else data

    @field_validator("admins")
    @classmethod
    def _unique_admins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _fail_many(_duplicate_issues(value))
        return value


def _duplicate_issues(values: Sequence[str], *prefix: str | int) -> list[tuple[Loc, str]]:
    return [
        ((*prefix, i), f"duplicate id {values[i]!r} (already at [{j}])")
        for i, j in _duplicates(values)
    ]


class CommandsConfig(_Model):
    """``commands``: how members and admins talk to the bot."""

    prefix: Annotated[str, Field(min_length=1, max_length=4, pattern=r"^[^\s{}]+$")] = Field(
        default="#", description="Commands start with this, e.g. '#签到'."
    )
    help: BotText = Field(
        default=_default_texts("#")["help"],
        description="Reply to #帮助. Placeholders: " + ", ".join(sorted(WELCOME_PLACEHOLDERS)),
    )
    unknown: BotText = Field(
        default=_default_texts("#")["unknown"],
        description="Reply to an unknown command, same placeholders.",
    )
    no_rules: BotText = Field(
        default="本群暂未设置群规，有问题请 @群管。",
        description="Reply to #规则 when the room has no rules, same placeholders.",
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


class ActivityConfig(_Model):
    """``activity``: the per-message activity log."""

    max_text_length: int = Field(
        default=2000, ge=100, le=100_000, description="Longer texts are cut."
    )
    flush_interval_seconds: float = Field(default=0.2, gt=0, le=60)
    flush_max_rows: int = Field(default=500, ge=1, le=100_000)


class MemberListsConfig(_Model):
    """``member_lists``: how often the bot may read a group's member list.

    Member-list reads are a risk-control trigger: every read goes through one
    budget, and a list read within ``cache_hours`` is not read again.
    """

    reads_per_minute: int = Field(
        default=10, ge=1, le=10_000, description="At most this many member-list reads a minute."
    )
    cache_hours: float = Field(
        default=6, gt=0, le=168, description="A list read less than this long ago is reused."
    )


class BotConfig(_Model):
    """The whole of ``bot.yaml``."""

    bot: BotSettings = Field(default_factory=BotSettings)
    transport: TransportConfig = Field(default_factory=TransportConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    owners: tuple[ContactId, ...] = Field(
        default=(),
        description="Account ids (wxid) of the owners (群主): full rights, may invite the bot.",
    )
    admins: tuple[ContactId, ...] = Field(
        default=(), description="Account ids (wxid) of admins (群管) in every managed room."
    )
    tiers: TiersConfig = Field(default_factory=_default_tiers)
    groups: dict[RoomId, GroupConfig] = Field(
        default_factory=dict, description="Managed rooms by room id (e.g. '12345@chatroom')."
    )
    commands: CommandsConfig = Field(default_factory=CommandsConfig)
    activity: ActivityConfig = Field(default_factory=ActivityConfig)
    member_lists: MemberListsConfig = Field(default_factory=MemberListsConfig)
    governor: GovernorSettings = Field(
        default_factory=GovernorSettings,
        description="Account safety: rates, budgets and the risk-control breaker.",
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig,
        description="Alerts to the owners by webhook (and an ERROR log line), not through WeChat.",
    )

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _sandbox_moved(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "sandbox" in data:
            _fail(
                "the sandbox's members and groups moved to their own file: move this section "
                "to sandbox.yaml beside bot.yaml (its contents, without the 'sandbox:' line)",
                "sandbox",
                key=True,
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_defaults(cls, data: Any) -> Any:
        # "section:" with every line under it commented out parses as None.
        if not isinstance(data, Mapping):
            return data
        data = {
            k: v
            for k, v in data.items()
            if not (v is None and k in cls.model_fields and cls._has_default(k))
        }
        # Default texts that name a command use the configured prefix.
        commands = data.get("commands")
        prefix = commands.get("prefix") if isinstance(commands, Mapping) else None
        if isinstance(prefix, str) and prefix != "#" and not set(prefix) & set("{}"):
            texts = _default_texts(prefix)
            for section, key in (("commands", "help"), ("commands", "unknown"), ("bot", "intro")):
                part = data.get(section, {})
                if isinstance(part, Mapping) and part.get(key) is None:
                    data[section] = {**part, key: texts[key]}
        return data

    @classmethod
    def _has_default(cls, name: str) -> bool:
        f = cls.model_fields[name]
        return f.default_factory is not None or f.default is not None

    @field_validator("owners", "admins")
    @classmethod
    def _unique_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _fail_many(_duplicate_issues(value))
        return value

    @model_validator(mode="after")
    def _owner_for_wechaty(self) -> BotConfig:
        if self.transport.kind == "wechaty" and not self.owners:
            at: Loc = ("owners",) if "owners" in self.model_fields_set else ("transport", "kind")
            _fail(
                "transport 'wechaty' needs at least one owner account id in 'owners' "
                "(owners invite the bot into groups)",
                *at,
            )
        return self

    @property
    def source_path(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._source

    @property
    def config_dir(self) -> Path | None:
        return self._source.parent if self._source is not None else None


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kind = next((k for test, k in _FILE_KINDS if test(mode)), "not a file")
    return f"is {kind}, not a regular file; give the path of a bot.yaml file"


def _too_big(size: int) -> str:
    return (
        f"is {size:,} bytes; a config file may be at most {MAX_CONFIG_BYTES:,} bytes "
        f"({MAX_CONFIG_BYTES // 1024} KiB)"
    )


def _read_config_bytes(p: Path, name: str) -> bytes:
    """The file's bytes, if it is a regular file within the size limit.

    Checked before opening (a FIFO would block the open, a device never
    ends), and again on the open descriptor (the path may have changed)."""

    def issue(message: str) -> ConfigError:
        return ConfigError([ConfigIssue(name, None, None, "", message)])

    try:
        st = p.stat()
    except FileNotFoundError:
        raise issue("config file not found") from None
    except OSError as exc:
        raise issue(f"cannot read config file: {exc.strerror or exc}") from None
    problem = _not_regular(st.st_mode) or (
        _too_big(st.st_size) if st.st_size > MAX_CONFIG_BYTES else None
    )
    if problem:
        raise issue(problem)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(p, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise issue(f"cannot read config file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        problem = _not_regular(os.fstat(f.fileno()).st_mode)
        if problem:
            raise issue(problem)
        try:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise issue(f"cannot read config file: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise issue(_too_big(len(raw)) + " (it grew while being read)")
    return raw


def load_config(path: str | os.PathLike[str]) -> BotConfig:
    """Read and validate a config file; raise :class:`ConfigError` on any problem.

    Only a regular file of at most ``MAX_CONFIG_BYTES`` is read."""
    p = Path(path)
    name = str(path)
    raw = _read_config_bytes(p, name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [ConfigIssue(name, line, None, "", "not valid UTF-8; save the file as UTF-8")]
        ) from None
    cfg = validate_config_text(text, name)
    cfg._source = p.absolute()
    return cfg


def validate_config_text(text: str, filename: str = "bot.yaml") -> BotConfig:
    """Validate config text; ``filename`` only labels the issues."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue(filename, None, None, "", _too_big(len(text.encode())))])
    _check_line_lengths(text, filename)
    _check_yaml_shape(text, filename)
    tree = _parse_yaml(text, filename)
    data = _to_plain(tree)
    early = _bool_number_issues(data, BotConfig, ())
    try:
        cfg = BotConfig.model_validate(data)
    except ValidationError as exc:
        issues = _issues_from_validation(exc, tree, filename)
    else:
        issues = []
    if early:  # replaces what pydantic said of the same value (e.g. "false": below 1)
        fields = {_format_field(loc, tree) for loc, _ in early}
        issues = [i for i in issues if i.field not in fields]
        for loc, msg in early:
            line, col = _locate(tree, loc, at_key=False)
            issues.append(ConfigIssue(filename, line + 1, col + 1, _format_field(loc, tree), msg))
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
    if issues:
        raise ConfigError(issues)
    return cfg


def _check_line_lengths(text: str, filename: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_LINE_CHARS:
            msg = (
                f"line is {len(line):,} characters long; at most {MAX_LINE_CHARS:,} are allowed "
                "(break a long list over several '- item' lines, a long text into a | block)"
            )
            raise ConfigError([ConfigIssue(filename, number, MAX_LINE_CHARS + 1, "", msg)])


def _check_yaml_shape(text: str, filename: str) -> None:
    """Refuse YAML too deep or too big once aliases are expanded ("billion
    laughs"), reading parser events only: nothing is built, and the parser
    stops at the first node past a limit."""
    yaml = YAML(typ="rt")
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)
    # One frame per open collection: [nodes inside, height of tallest child, anchor]
    stack: list[list[Any]] = []
    total = 0

    def refuse(event: Any, message: str) -> NoReturn:
        mark = event.start_mark
        raise ConfigError([ConfigIssue(filename, mark.line + 1, mark.column + 1, "", message)])

    def add(nodes: int, height: int) -> None:
        if stack:
            stack[-1][0] += nodes
            stack[-1][1] = max(stack[-1][1], height)

    try:
        for event in yaml.parse(text):
            if isinstance(event, CollectionStartEvent):
                if len(stack) + 1 > MAX_YAML_DEPTH:
                    refuse(event, f"nested more than {MAX_YAML_DEPTH} levels deep")
                stack.append([1, 0, event.anchor])
                total += 1
            elif isinstance(event, CollectionEndEvent):
                nodes, height, anchor = stack.pop()
                if anchor:
                    anchors[anchor] = (nodes, height + 1)
                add(nodes, height + 1)
            elif isinstance(event, AliasEvent):
                nodes, height = anchors.get(event.anchor, (1, 1))
                if len(stack) + height > MAX_YAML_DEPTH:
                    refuse(
                        event, f"alias *{event.anchor} nests more than {MAX_YAML_DEPTH} levels deep"
                    )
                total += nodes
                if total > MAX_YAML_NODES:
                    refuse(
                        event,
                        f"aliases expand the file to more than {MAX_YAML_NODES:,} values "
                        f"(alias *{event.anchor} alone is {nodes:,}); write the values out "
                        "or use fewer aliases",
                    )
                add(nodes, height)
            elif isinstance(event, ScalarEvent):
                if event.anchor:
                    anchors[event.anchor] = (1, 1)
                total += 1
                add(1, 1)
            if total > MAX_YAML_NODES and not isinstance(event, AliasEvent):
                refuse(event, f"more than {MAX_YAML_NODES:,} values; is this the right file?")
    except YAMLError:
        return  # a syntax error: the loader reports it with its place


def _parse_yaml(text: str, filename: str) -> CommentedMap:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except DuplicateKeyError:
        raise ConfigError(_duplicate_key_issues(text, filename)) from None
    except MarkedYAMLError as exc:
        raise ConfigError([_yaml_issue(exc, text, filename)]) from None
    except YAMLError as exc:
        raise ConfigError([ConfigIssue(filename, None, None, "", f"YAML: {exc}")]) from None
    if tree is None:
        raise ConfigError(
            [ConfigIssue(filename, 1, 1, "", "the file is empty; expected a mapping of sections")]
        )
    if not isinstance(tree, CommentedMap):
        line, col = (tree.lc.line + 1, tree.lc.col + 1) if hasattr(tree, "lc") else (1, 1)
        kind = "a list" if isinstance(tree, CommentedSeq) else f"a {type(tree).__name__}"
        msg = f"expected a mapping of sections (bot:, transport:, …), found {kind}"
        raise ConfigError([ConfigIssue(filename, line, col, "", msg)])
    return tree


_UNQUOTED_BRACES_RE = re.compile(r":\s*\{[^}]*\}\s*[^\s,}#]")


def _yaml_issue(exc: MarkedYAMLError, text: str, filename: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    col = mark.column + 1 if mark is not None else None
    msg = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if "\t" in msg or "\\t" in msg:
        msg += " (indent with spaces, not tabs)"
    ctx = exc.context_mark
    if exc.context and exc.problem and ctx is not None and ctx is not mark:
        msg += f" ({exc.context} started at line {ctx.line + 1}, column {ctx.column + 1})"
    if mark is not None:
        lines = text.splitlines()
        nearby = lines[max(0, mark.line - 1) : mark.line + 1]
        if any(_UNQUOTED_BRACES_RE.search(x) for x in nearby):
            msg += "; a text starting with '{' must be quoted or written as a | block"
    return ConfigIssue(filename, line, col, "", msg)


def _duplicate_key_issues(text: str, filename: str) -> list[ConfigIssue]:
    """Every repeated key, with its path: the parser stops at the first."""
    issues: list[ConfigIssue] = []

    def walk(node: Node, path: Loc) -> None:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else None
                if key is not None and key in seen:
                    m = key_node.start_mark
                    msg = (
                        f"duplicate key {key!r} (first at line {seen[key] + 1}); "
                        "a key may appear only once in a mapping"
                    )
                    issues.append(
                        ConfigIssue(
                            filename, m.line + 1, m.column + 1, _format_field((*path, key)), msg
                        )
                    )
                elif key is not None:
                    seen[key] = key_node.start_mark.line
                walk(value_node, (*path, key if key is not None else "?"))
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError:
        root = None
    if root is not None:
        walk(root, ())
    return issues or [ConfigIssue(filename, None, None, "", "YAML: duplicate key")]


def _to_plain(node: Any) -> Any:
    """ruamel's round-trip types → plain Python (positions stay in the tree)."""
    if isinstance(node, Mapping):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            key = _to_plain(k)
            out[str(key) if isinstance(key, dict | list) else key] = _to_plain(v)
        return out
    if isinstance(node, list):
        return [_to_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _is_number_type(tp: Any) -> bool:
    """``int``/``float`` (possibly Annotated/Optional), but not ``bool``."""
    tp = _unwrap(tp)
    if get_origin(tp) is Union or get_origin(tp) is types.UnionType:
        args = [_unwrap(a) for a in get_args(tp)]
        return bool(args) and all(a in (int, float, type(None)) for a in args)
    return tp in (int, float)


def _bool_number_issues(data: Any, tp: Any, loc: Loc) -> list[tuple[Loc, str]]:
    """Where ``data`` has a yes/no value (``true``) for a number.

    Pydantic would read ``true`` as 1 (``max_mentions: true`` became 1); the
    rest of the validation stays as lax as before (a YAML int is a fine
    float).  Walks the model types, so it covers every section, including
    models not derived from this module's base."""
    if isinstance(data, bool):
        if _is_number_type(tp):
            word = "true" if data else "false"
            return [(loc, f"expected a number, found the yes/no value {word}")]
        return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if not isinstance(data, Mapping):
            return []
        out: list[tuple[Loc, str]] = []
        for key, value in data.items():
            f = tp.model_fields.get(key) if isinstance(key, str) else None
            if f is not None:
                out.extend(_bool_number_issues(value, f.annotation, (*loc, key)))
        return out
    origin = get_origin(tp)
    if origin is dict and isinstance(data, Mapping):
        value_tp = get_args(tp)[1]
        return [i for k, v in data.items() for i in _bool_number_issues(v, value_tp, (*loc, k))]
    if origin in (list, tuple) and isinstance(data, list):
        args = get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return []
        item_tp = args[0] if args else Any
        return [i for n, v in enumerate(data) for i in _bool_number_issues(v, item_tp, (*loc, n))]
    return []


def _locate(root: CommentedMap, loc: Loc, *, at_key: bool) -> tuple[int, int]:
    """0-based (line, column) in the YAML of the value (or key) at ``loc``.

    A path that leaves the document (a missing key) points at the deepest
    existing parent's key; pydantic's internal parts ('[key]', union tags)
    are followed or skipped."""
    node: Any = root
    pos = key_pos = (root.lc.line, root.lc.col)
    for part in loc:
        if part == "[key]":
            return key_pos
        if isinstance(node, CommentedMap):
            if part not in node:
                return key_pos  # missing: point at the parent mapping
            data = (getattr(node.lc, "data", None) or {}).get(part)
            if data is not None:
                key_pos, pos = (data[0], data[1]), (data[2], data[3])
            node = node[part]
        elif isinstance(node, CommentedSeq):
            if not isinstance(part, int) or not 0 <= part < len(node):
                continue
            item = (getattr(node.lc, "data", None) or {}).get(part)
            if item is not None:
                key_pos = pos = (item[0], item[1])
            node = node[part]
        # else: a scalar; remaining parts are pydantic's, not the document's
    return key_pos if at_key else pos


def _format_field(loc: Loc, root: Any = None) -> str:
    """``groups.r1@chatroom.admins[0]``: mapping keys dotted, list indexes in
    brackets (an int is a key where the document has a mapping)."""
    out = ""
    node = root
    for part in loc:
        if part == "[key]":
            continue
        shown = part if not isinstance(part, str) or part.isprintable() else repr(part)
        if isinstance(part, int) and not isinstance(node, Mapping):
            out += f"[{part}]"
        else:
            out += f".{shown}" if out else str(shown)
        try:
            node = node[part] if node is not None else None
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is Union or origin is types.UnionType:
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _keys_at(loc: Loc) -> list[str] | None:
    """The keys the model at ``loc`` (a path of mapping keys/indexes) accepts."""
    tp: Any = BotConfig
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            f = tp.model_fields.get(str(part))
            if f is None:
                return None
            tp = f.annotation
            continue
        origin = get_origin(tp)
        if origin is dict:
            tp = get_args(tp)[1]
        elif origin in (list, tuple):
            tp = get_args(tp)[0]
        else:
            return None
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return None


def _message(err: Mapping[str, Any], loc: Loc) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    name = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        allowed = _keys_at(loc[:-1]) or []
        close = difflib.get_close_matches(str(name), allowed, n=1)
        if close:
            return f"unknown key {name!r}; did you mean {close[0]!r}?"
        if allowed:
            return f"unknown key {name!r}; allowed here: {', '.join(allowed)}"
        return f"unknown key {name!r}"
    if kind in ("model_type", "dict_type"):
        return "expected a mapping (key: value lines)"
    if kind in ("tuple_type", "list_type"):
        return "expected a list ('- item' lines or [a, b])"
    if kind == "missing":
        return f"required key {name!r} is missing"
    if kind == "value_error" and msg.startswith("Value error, "):
        return msg.removeprefix("Value error, ")
    if loc and loc[-1] == "[key]":
        return f"key {err.get('input')!r}: {msg}"
    if kind == "string_type" and isinstance(err.get("input"), Mapping):
        return msg + " (a text starting with '{' must be quoted in YAML)"
    if kind == "string_type" and isinstance(err.get("input"), int | float):
        return msg + " (quote it in YAML to make it text)"
    return msg


def _issues_from_validation(
    exc: ValidationError, tree: CommentedMap, filename: str
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for err in exc.errors():
        base: Loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        if "issues" in ctx:
            parts = [((*base, *at), str(msg)) for at, msg in ctx["issues"]]
        else:
            parts = [((*base, *ctx.get("at", ())), _message(err, base))]
        for loc, msg in parts:
            at_key = err["type"] == "extra_forbidden" or bool(ctx.get("key"))
            line, col = _locate(tree, loc, at_key=at_key)
            issues.append(ConfigIssue(filename, line + 1, col + 1, _format_field(loc, tree), msg))
    issues.sort(key=lambda i: (i.line or 0, i.column or 0))
    return issues


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------


def effective_endpoint(cfg: BotConfig, env: Mapping[str, str] | None = None) -> str | None:
    """The puppet service endpoint: env ``WECHATY_PUPPET_SERVICE_ENDPOINT``
    if set, else ``transport.endpoint``."""
    env = os.environ if env is None else env
    value = env.get(ENDPOINT_ENV, "").strip()
    if not value:
        return cfg.transport.endpoint
    if not _ENDPOINT_RE.match(value) or not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
        raise ConfigError(
            [
                ConfigIssue(
                    "<env>", None, None, ENDPOINT_ENV, f"{value!r} is not a 'host:port' endpoint"
                )
            ]
        )
    return value


def effective_database_url(
    cfg: BotConfig,
    env: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> str:
    """The database URL: env ``DATABASE_URL`` if set (used as is), else
    ``database.url`` with a relative SQLite path made absolute against
    ``base_dir`` (default: the config file's directory, else the cwd).

    Raises :class:`ConfigError` when a SQLite file could not be written there
    (see :func:`database_location_problem`)."""
    env = os.environ if env is None else env
    value = env.get(DATABASE_URL_ENV, "").strip()
    if value:
        try:
            _check_db_url(value)
        except PydanticCustomError as exc:
            raise ConfigError(
                [ConfigIssue("<env>", None, None, DATABASE_URL_ENV, exc.message())]
            ) from None
        where, field = "<env>", DATABASE_URL_ENV
    else:
        base = Path(base_dir) if base_dir is not None else (cfg.config_dir or Path.cwd())
        value = _resolve_sqlite(cfg.database.url, base)
        where = str(cfg.source_path) if cfg.source_path is not None else "bot.yaml"
        field = "database.url"
    problem = database_location_problem(value)
    if problem is not None:
        raise ConfigError([ConfigIssue(where, None, None, field, problem)])
    return value


def _resolve_sqlite(url: str, base_dir: Path) -> str:
    m = re.match(r"^(sqlite(?:\+\w+)?:///)(.*)$", url)
    if not m:
        return url
    prefix, rest = m.groups()
    path, q, query = rest.partition("?")
    if not path or path == ":memory:" or path.startswith("file:") or Path(path).is_absolute():
        return url
    absolute = os.path.normpath(base_dir.absolute() / path)
    return f"{prefix}{absolute}{q}{query}"


# --------------------------------------------------------------------------
# Policy resolution
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """Everything the handlers need to know about one room, resolved once."""

    room_id: str
    name: str
    tier: Tier
    admins: frozenset[str]  # owners ∪ global admins ∪ this group's admins
    owners: frozenset[str]
    welcome: WelcomePolicy
    command_prefix: str
    bot_name: str
    timezone: str
    listed: bool  # True: the room is in `groups`; False: default policy for an invited room


def resolve_policy(
    cfg: BotConfig,
    room_id: str,
    default_tier: Tier | str | None = None,
    *,
    name: str | None = None,
) -> GroupPolicy | None:
    """The policy for ``room_id``.

    Rooms listed in ``groups`` get their tier's defaults merged with their
    overrides; ``managed: false`` rooms get ``None``.  A room not listed
    gets ``None`` unless ``default_tier`` is given (e.g. ``Tier.MEMBER`` for
    a room an owner invited the bot into); ``name`` labels such a room."""
    group = cfg.groups.get(room_id)
    if group is None:
        if default_tier is None:
            return None
        group = GroupConfig(tier=Tier(default_tier), name=name)
        listed = False
    else:
        if not group.managed:
            return None
        listed = True
    base = cfg.tiers.get(group.tier).welcome
    override = group.welcome.model_dump(exclude_none=True)
    welcome = base.model_copy(update=override) if override else base
    owners = frozenset(cfg.owners)
    return GroupPolicy(
        room_id=room_id,
        name=group.name or name or room_id,
        tier=group.tier,
        admins=owners | frozenset(cfg.admins) | frozenset(group.admins),
        owners=owners,
        welcome=welcome,
        command_prefix=cfg.commands.prefix,
        bot_name=cfg.bot.name,
        timezone=cfg.bot.timezone,
        listed=listed,
    )


def resolve_all(cfg: BotConfig) -> dict[str, GroupPolicy]:
    """Policies of every managed room listed in ``groups``."""
    out: dict[str, GroupPolicy] = {}
    for room_id in cfg.groups:
        policy = resolve_policy(cfg, room_id)
        if policy is not None:
            out[room_id] = policy
    return out


def is_admin(policy: GroupPolicy, contact_id: str) -> bool:
    """Owners, global admins and the room's admins (by account id only)."""
    return contact_id in policy.admins


def is_owner(policy: GroupPolicy, contact_id: str) -> bool:
    return contact_id in policy.owners


def config_json_schema() -> dict[str, Any]:
    """JSON schema of ``bot.yaml`` (for editors: yaml-language-server)."""
    schema = BotConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qunbot bot.yaml"
    return schema
