"""The models of ``bot.yaml``: one per section, and :class:`BotConfig`, the whole.

Profile and group sections (``welcome``, ``commands``, …) are kept as
written on :class:`ProfileConfig` and :class:`GroupConfig` and validated
merged (:mod:`bot.config.profiles`), by the models of
:mod:`bot.config.sections`.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from bot.alerts import AlertsConfig
from bot.config.errors import Loc, Problem, duplicate_issues, fail, fail_many, unknown_key
from bot.config.fields import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    ENDPOINT_ENV,
    TOKEN_ENV,
    WELCOME_PLACEHOLDERS,
    ContactId,
    GroupText,
    Name,
    RoomId,
    Template,
    check_db_url,
    check_endpoint,
    check_timezone,
)
from bot.config.profiles import Profile, Resolution, resolve
from bot.config.sections import (
    DEFAULT_PROFILE,
    SECTIONS,
    CommandPolicy,
    Model,
    default_texts,
)
from bot.governor import GovernorSettings
from sop.entries import CalendarConfig

_Model = Model

# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


class BotSettings(_Model):
    """``bot``: who the bot is."""

    name: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        default="群管家", description="The bot's name as it speaks of itself ({bot_name})."
    )
    timezone: Annotated[str, AfterValidator(check_timezone)] = Field(
        default="Asia/Shanghai", description="IANA time zone for schedules and reports."
    )
    intro: GroupText = Field(
        default=default_texts("#")["intro"],
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
    away_notice: Annotated[
        str, Field(min_length=1), Template(placeholders={"bot_name", "minutes"})
    ] = Field(
        default="⚠️ {bot_name} 刚才与微信断开了约 {minutes} 分钟，现已恢复。断线期间的入群欢迎和消息可能有遗漏。",
        description="Sent to the owners after a long disconnection. Placeholders: {bot_name}, {minutes}",
    )
    degraded_notice: Annotated[
        str, Field(min_length=1), Template(placeholders={"bot_name", "group", "role"})
    ] = Field(
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
    risk_notice: Annotated[
        str,
        Field(min_length=1),
        Template(placeholders={"action", "error", "hours", "bot_name"}),
    ] = Field(
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
            fail(
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
    endpoint: Annotated[str, AfterValidator(check_endpoint)] | None = Field(
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
                    fail(
                        f"remove '{key}' from the file: the puppet service token is never read "
                        f"from bot.yaml, only from the environment variable {TOKEN_ENV}",
                        key,
                        key=True,
                    )
        return data


class DatabaseConfig(_Model):
    """``database``: where the bot keeps its records."""

    url: Annotated[str, AfterValidator(check_db_url)] = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy async URL. A relative SQLite path is relative to the "
        f"config file's directory. Env {DATABASE_URL_ENV} overrides (use it for passwords).",
    )


class CommandsConfig(CommandPolicy):
    """``commands``: how members talk to the bot.  Besides the prefix, these are
    the defaults of every profile's ``commands`` section (a profile or a group
    may override each of them)."""

    prefix: Annotated[str, Field(min_length=1, max_length=4, pattern=r"^[^\s{}]+$")] = Field(
        default="#", description="Commands start with this, e.g. '#签到' (the same in every group)."
    )

    def defaults(self) -> dict[str, Any]:
        """The profile defaults this section sets (everything but the prefix)."""
        return self.model_dump(include=set(CommandPolicy.model_fields))


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
    read_aliases: bool = Field(
        default=True,
        description="Read each member's group alias (群昵称) with the list, for the name-card "
        "check: one puppet call per member (served from the puppet's cache on most puppets).",
    )


# --------------------------------------------------------------------------
# Profiles and groups: sections kept as written, validated once merged
# --------------------------------------------------------------------------

#: Old names still read, with a warning: {old: new}.
RENAMED_KEYS: Mapping[str, str] = {"tiers": "profiles", "tier": "profile"}


def _renamed(data: Any, old: str, new: str) -> Any:
    """``old`` read as ``new`` (the loader warns); both at once is an error."""
    if not isinstance(data, Mapping) or old not in data:
        return data
    if new in data:
        fail(
            f"'{old}' is the old name of '{new}' and both are here: "
            f"move what is under '{old}' into '{new}' and delete '{old}'",
            old,
            key=True,
        )
    return {(new if k == old else k): v for k, v in data.items()}


class _WithSections(BaseModel):
    """A mapping that may hold any of the :data:`SECTIONS`, kept as written."""

    model_config = ConfigDict(extra="allow", frozen=True)
    #: for error messages and the yes/no-as-number check (bot.config.errors)
    extra_field_types: ClassVar[Mapping[str, type[BaseModel]]] = SECTIONS

    @model_validator(mode="before")
    @classmethod
    def _known_sections(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            return data
        problems: list[Problem] = []
        allowed = [*cls.model_fields, *SECTIONS]
        for key, value in data.items():
            if key in cls.model_fields:
                continue
            if key not in SECTIONS:
                problems.append(((key,), unknown_key(key, allowed), True))
            elif value is not None and not isinstance(value, Mapping):
                problems.append(((key,), "expected a mapping (key: value lines)", False))
        fail_many(problems)
        return {k: ({} if k in SECTIONS and v is None else v) for k, v in data.items()}

    def sections(self) -> dict[str, Any]:
        """The sections as written (mappings, not yet merged nor validated)."""
        return dict(self.model_extra or {})


class ProfileConfig(_WithSections):
    """``profiles.<name>``: a named policy; ``super``, ``member`` and ``flash``
    are built in (writing them changes only the keys written)."""

    extends: Name | None = Field(
        default=None,
        description="Start from this profile's settings (then change only what is written "
        "here). Without it a new profile starts from the defaults.",
    )


class GroupConfig(_WithSections):
    """One room the bot manages, keyed by its room id in ``groups``."""

    name: str | None = Field(default=None, description="A label for logs and reports (群名).")
    profile: Name = Field(
        default=DEFAULT_PROFILE,
        description="The profile this group follows: super | member | flash | one of 'profiles'.",
    )
    tags: tuple[Name, ...] = Field(
        default=(),
        description="Labels such as a brand, a city, a campaign: the calendar and points "
        "can target groups by tag.",
    )
    admins: tuple[ContactId, ...] = Field(default=(), description="Extra admins of this room only.")
    managed: bool = Field(default=True, description="false: the bot stays silent in this room.")

    @model_validator(mode="before")
    @classmethod
    def _old_tier_key(cls, data: Any) -> Any:
        return _renamed(data, "tier", "profile")

    @field_validator("admins")
    @classmethod
    def _unique_admins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        fail_many(duplicate_issues(value))
        return value

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        fail_many(duplicate_issues(value, what="tag"))
        return value


def raw_layers(
    profiles: Mapping[str, ProfileConfig], groups: Mapping[str, GroupConfig]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The validated models back to what :func:`bot.config.profiles.resolve` takes."""
    return (
        {n: {"extends": p.extends, **p.sections()} for n, p in profiles.items()},
        {r: {"profile": g.profile, **g.sections()} for r, g in groups.items()},
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
    profiles: dict[Name, ProfileConfig] = Field(
        default_factory=dict,
        description="Named policies with one mapping per section (welcome, commands). "
        "super, member and flash are built in; add your own, e.g. "
        "vip: {extends: super, welcome: {...}}.",
    )
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
    calendar: CalendarConfig = Field(
        default_factory=CalendarConfig,
        description="The SOP calendar: scheduled posts, check-in rounds, lotteries, coupon "
        "drops, flash groups (sop.entries).",
    )

    _source: Path | None = PrivateAttr(default=None)
    _resolution: Resolution = PrivateAttr(default_factory=Resolution)
    _warnings: tuple[Any, ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _sandbox_moved(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "sandbox" in data:
            fail(
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
        data = _renamed(data, "tiers", "profiles")
        data = {
            k: v
            for k, v in data.items()
            if not (v is None and k in cls.model_fields and cls._has_default(k))
        }
        # Default texts that name a command use the configured prefix.
        commands = data.get("commands")
        prefix = commands.get("prefix") if isinstance(commands, Mapping) else None
        if isinstance(prefix, str) and prefix != "#" and not set(prefix) & set("{}"):
            texts = default_texts(prefix)
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
        fail_many(duplicate_issues(value))
        return value

    @model_validator(mode="after")
    def _owner_for_wechaty(self) -> BotConfig:
        if self.transport.kind == "wechaty" and not self.owners:
            at: Loc = ("owners",) if "owners" in self.model_fields_set else ("transport", "kind")
            fail(
                "transport 'wechaty' needs at least one owner account id in 'owners' "
                "(owners invite the bot into groups)",
                *at,
            )
        return self

    @model_validator(mode="after")
    def _resolve_profiles(self) -> BotConfig:
        profiles, groups = raw_layers(self.profiles, self.groups)
        resolution = resolve(profiles, groups, {"commands": self.commands.defaults()})
        fail_many(resolution.problems)
        self._resolution = resolution
        return self

    @model_validator(mode="after")
    def _calendar_targets(self) -> BotConfig:
        from sop.targets import target_problems

        fail_many(target_problems(self))
        return self

    def profile(self, name: str) -> Profile | None:
        """The profile ``name`` with every section resolved, or None if unknown."""
        return self._resolution.profiles.get(name)

    def profile_names(self) -> list[str]:
        return list(self._resolution.profiles)

    def group_profile(self, room_id: str) -> Profile:
        """The sections of a group listed in ``groups`` (its profile + its overrides)."""
        return self._resolution.groups[room_id]

    @property
    def warnings(self) -> tuple[Any, ...]:
        """:class:`~bot.config.errors.ConfigIssue` s that do not stop the bot
        (old key names), one per place in the file."""
        return self._warnings

    @property
    def source_path(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._source

    @property
    def config_dir(self) -> Path | None:
        return self._source.parent if self._source is not None else None
