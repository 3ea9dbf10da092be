"""Where the bot finds its database and its puppet service: the file, then the environment.

Secrets never live in the file: the puppet-service token only comes from the
environment (``WECHATY_PUPPET_SERVICE_TOKEN``); the endpoint and the database
URL may be overridden from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic_core import PydanticCustomError

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.fields import DATABASE_URL_ENV, ENDPOINT_ENV, ENDPOINT_RE, check_db_url

if TYPE_CHECKING:
    from bot.config.schema import BotConfig


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


def effective_endpoint(cfg: BotConfig, env: Mapping[str, str] | None = None) -> str | None:
    """The puppet service endpoint: env ``WECHATY_PUPPET_SERVICE_ENDPOINT``
    if set, else ``transport.endpoint``."""
    env = os.environ if env is None else env
    value = env.get(ENDPOINT_ENV, "").strip()
    if not value:
        return cfg.transport.endpoint
    if not ENDPOINT_RE.match(value) or not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
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
            check_db_url(value)
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
