"""``sandbox.yaml``: the simulated WeChat the sandbox plays (members, groups, the bot).

It lives beside ``bot.yaml`` so that the production config holds production
settings only.  It is read with the same loader as ``bot.yaml``: the same
limits, and every mistake reported as ``sandbox.yaml:LINE:COLUMN: field: message``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from bot.config import (
    BotConfig,
    ConfigError,
    ConfigIssue,
    ContactId,
    Loc,
    NonEmptyText,
    RoomId,
    _bool_number_issues,
    _check_line_lengths,
    _check_yaml_shape,
    _duplicate_issues,
    _duplicates,
    _fail_many,
    _format_field,
    _issues_from_validation,
    _locate,
    _Model,
    _parse_yaml,
    _read_config_bytes,
    _to_plain,
)

__all__ = [
    "SANDBOX_FILE",
    "SandboxConfig",
    "SandboxContact",
    "SandboxGroup",
    "default_sandbox_path",
    "load_sandbox",
    "validate_sandbox_text",
]

SANDBOX_FILE = "sandbox.yaml"


class SandboxContact(_Model):
    id: ContactId
    name: NonEmptyText


class SandboxGroup(_Model):
    room_id: RoomId
    topic: NonEmptyText
    member_ids: tuple[ContactId, ...] = Field(
        default=(), description="People in the room besides the bot (ids from 'members')."
    )
    owner_id: ContactId = Field(description="The room's owner (群主): a member or the bot.")


def _default_account() -> SandboxContact:
    return SandboxContact(id="qunbot", name="群管家")


class SandboxConfig(_Model):
    """The whole of ``sandbox.yaml``: the simulated WeChat the sandbox transport plays."""

    account: SandboxContact = Field(default_factory=_default_account, description="The bot.")
    members: tuple[SandboxContact, ...] = ()
    groups: tuple[SandboxGroup, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> SandboxConfig:
        issues: list[tuple[Loc, str]] = []
        ids = [m.id for m in self.members]
        for i, j in _duplicates(ids):
            issues.append((("members", i, "id"), f"duplicate member id {ids[i]!r} (members[{j}])"))
        for i, m in enumerate(self.members):
            if m.id == self.account.id:
                issues.append((("members", i, "id"), f"{m.id!r} is the bot's own account id"))
        known = {*ids, self.account.id}
        rooms = [g.room_id for g in self.groups]
        for i, j in _duplicates(rooms):
            issues.append(
                (("groups", i, "room_id"), f"duplicate room id {rooms[i]!r} (groups[{j}])")
            )
        for gi, group in enumerate(self.groups):
            for mi, mid in enumerate(group.member_ids):
                if mid not in known:
                    issues.append((("groups", gi, "member_ids", mi), f"{mid!r} is not in members"))
            issues.extend(_duplicate_issues(group.member_ids, "groups", gi, "member_ids"))
            if group.owner_id != self.account.id and group.owner_id not in group.member_ids:
                issues.append(
                    (
                        ("groups", gi, "owner_id"),
                        f"owner {group.owner_id!r} must be the bot or in this group's member_ids",
                    )
                )
        _fail_many(issues)
        return self


def default_sandbox_path(config: BotConfig) -> Path:
    """``sandbox.yaml`` beside the config file (or in the current directory)."""
    base = config.config_dir or Path.cwd()
    return base / SANDBOX_FILE


def load_sandbox(path: str | os.PathLike[str]) -> SandboxConfig:
    """Read and validate a sandbox file; :class:`ConfigError` on any problem."""
    p, name = Path(path), str(path)
    if not p.exists():
        raise ConfigError(
            [
                ConfigIssue(
                    name,
                    None,
                    None,
                    "",
                    "sandbox file not found: the sandbox's members and groups live in "
                    f"{SANDBOX_FILE} beside bot.yaml (copy the one in the qunbot repository)",
                )
            ]
        )
    raw = _read_config_bytes(p, name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [ConfigIssue(name, line, None, "", "not valid UTF-8; save the file as UTF-8")]
        ) from None
    return validate_sandbox_text(text, name)


def validate_sandbox_text(text: str, filename: str = SANDBOX_FILE) -> SandboxConfig:
    """Validate sandbox text; ``filename`` only labels the issues."""
    _check_line_lengths(text, filename)
    _check_yaml_shape(text, filename)
    tree = _parse_yaml(text, filename)
    data = _to_plain(tree)
    issues: list[ConfigIssue] = []
    for loc, msg in _bool_number_issues(data, SandboxConfig, ()):
        line, col = _locate(tree, loc, at_key=False)
        issues.append(ConfigIssue(filename, line + 1, col + 1, _format_field(loc, tree), msg))
    if issues:
        raise ConfigError(issues)
    try:
        return SandboxConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_issues_from_validation(exc, tree, filename)) from None
