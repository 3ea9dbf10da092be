"""Configuration: ``bot.yaml`` → a validated, frozen :class:`BotConfig`.

The package, by concern:

* :mod:`bot.config.errors` — :class:`ConfigIssue`, :class:`ConfigError` and
  pydantic errors in plain words;
* :mod:`bot.config.fields` — field types (ids, time zones, URLs) and
  :class:`Template`, a text with its declared placeholders;
* :mod:`bot.config.sections` — the policy sections of a profile
  (``welcome``, ``commands``; :data:`SECTIONS`) and the built-in profiles;
* :mod:`bot.config.schema` — every other section and :class:`BotConfig`;
* :mod:`bot.config.sandbox` — the models of sandbox.yaml (read by :mod:`bot.sandbox_file`);
* :mod:`bot.config.profiles` — ``extends``, deep merge, :class:`GroupPolicy`;
* :mod:`bot.config.loader` — reading the file, limits, error locations;
* :mod:`bot.config.env` — the environment's overrides;
* :mod:`bot.config.jsonschema` — the JSON Schema for editors.

Import from ``bot.config``: the names below are its public surface.
"""

from __future__ import annotations

from bot.config.env import database_location_problem, effective_database_url, effective_endpoint
from bot.config.errors import ConfigError, ConfigIssue
from bot.config.fields import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    ENDPOINT_ENV,
    TOKEN_ENV,
    WELCOME_PLACEHOLDERS,
    Template,
    template_placeholders,
)
from bot.config.jsonschema import config_json_schema
from bot.config.loader import (
    MAX_CONFIG_BYTES,
    MAX_LINE_CHARS,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    load_config,
    validate_config_text,
)
from bot.config.profiles import (
    GroupPolicy,
    Profile,
    deep_merge,
    resolve_all,
    resolve_policy,
)
from bot.config.sandbox import SandboxConfig, SandboxContact, SandboxGroup
from bot.config.schema import (
    ActivityConfig,
    BotConfig,
    BotSettings,
    CommandsConfig,
    DatabaseConfig,
    GroupConfig,
    MemberListsConfig,
    ProfileConfig,
    TransportConfig,
)
from bot.config.sections import (
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    SECTIONS,
    CommandPolicy,
    WelcomePolicy,
    register_section,
)
from bot.vocab.texts import NOTICE_PLACEHOLDERS

__all__ = [
    "BUILTIN_PROFILES",
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_PROFILE",
    "ENDPOINT_ENV",
    "MAX_CONFIG_BYTES",
    "MAX_LINE_CHARS",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "NOTICE_PLACEHOLDERS",
    "SECTIONS",
    "TOKEN_ENV",
    "WELCOME_PLACEHOLDERS",
    "ActivityConfig",
    "BotConfig",
    "BotSettings",
    "CommandPolicy",
    "CommandsConfig",
    "ConfigError",
    "ConfigIssue",
    "DatabaseConfig",
    "GroupConfig",
    "GroupPolicy",
    "MemberListsConfig",
    "Profile",
    "ProfileConfig",
    "SandboxConfig",
    "SandboxContact",
    "SandboxGroup",
    "Template",
    "TransportConfig",
    "WelcomePolicy",
    "config_json_schema",
    "database_location_problem",
    "deep_merge",
    "effective_database_url",
    "effective_endpoint",
    "load_config",
    "register_section",
    "resolve_all",
    "resolve_policy",
    "template_placeholders",
    "validate_config_text",
]
