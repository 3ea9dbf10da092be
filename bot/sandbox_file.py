"""``sandbox.yaml``: the simulated WeChat the sandbox plays (members, groups, the bot).

It lives beside ``bot.yaml`` so that the production config holds production
settings only.  It is read with the same loader as ``bot.yaml``: the same
limits, and every mistake reported as ``sandbox.yaml:LINE:COLUMN: field: message``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from bot.config import BotConfig, ConfigError, ConfigIssue
from bot.config.errors import bool_number_issues
from bot.config.loader import (
    _check_line_lengths,
    _check_yaml_shape,
    _format_field,
    _issues_from_validation,
    _locate,
    _parse_yaml,
    _read_config_bytes,
    _to_plain,
)
from bot.config.sandbox import SandboxConfig, SandboxContact, SandboxGroup

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
    for loc, msg in bool_number_issues(data, SandboxConfig, ()):
        line, col = _locate(tree, loc, at_key=False)
        issues.append(ConfigIssue(filename, line + 1, col + 1, _format_field(loc, tree), msg))
    if issues:
        raise ConfigError(issues)
    try:
        return SandboxConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_issues_from_validation(exc, tree, filename, SandboxConfig)) from None
