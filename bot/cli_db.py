"""The database for one ``qunbot`` command, opened the same way by every command.

    async with open_cli_db(config, base_dir) as db:
        found = await SomeStore(db.sessions, account_id=db.account).things()
        names = await db.contact_names(f.member_id for f in found)

:func:`open_cli_db` takes the URL from the validated config (``DATABASE_URL``
first, relative SQLite paths against ``base_dir``), brings the schema up to
date and disposes of the engine when the block ends, however it ends.  When
the database cannot be opened it raises :class:`DatabaseUnavailable`, whose
``str()`` is the one line ``qunbot`` prints (exit code 2, no traceback); a
config that names an unusable database raises ``ConfigError`` the same way.

Nothing here imports SQLAlchemy until a command opens the database: ``scan``
and ``lottery verify`` stay quick.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.config import BotConfig, effective_database_url

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from storage.repo import Repository


class DatabaseUnavailable(Exception):
    """The database could not be opened; ``str()`` is one line for the operator."""


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong, driver wrappers peeled off."""
    from sqlalchemy.exc import DBAPIError

    inner: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    text = str(inner).strip().splitlines()
    first = text[0].strip() if text else ""
    return f"{type(inner).__name__}: {first}" if first else type(inner).__name__


def _unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    from storage.db import safe_url

    return DatabaseUnavailable(f"qunbot: cannot open the database {safe_url(url)}: {_reason(exc)}")


def create_cli_engine(url: str) -> AsyncEngine:
    """An engine for ``url``, or :class:`DatabaseUnavailable` (e.g. a SQLite
    directory that cannot be made)."""
    from storage.db import create_engine

    try:
        return create_engine(url)
    except (OSError, ValueError) as exc:
        raise _unavailable(url, exc) from None


async def open_database(engine: AsyncEngine, url: str) -> None:
    """Bring the schema up to date, or raise :class:`DatabaseUnavailable`
    (a directory that is a file, permissions, PostgreSQL down, bad password)."""
    from storage.db import upgrade

    try:
        await upgrade(engine)
    except Exception as exc:
        raise _unavailable(url, exc) from None


@dataclass(frozen=True)
class CliDb:
    """An open database for one command of one account."""

    config: BotConfig
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    account: str

    @property
    def tz(self) -> ZoneInfo:
        """The bot's time zone (``bot.timezone``), for times shown to people."""
        return ZoneInfo(self.config.bot.timezone)

    def repo(self, **options: Any) -> Repository:
        """The account's :class:`storage.repo.Repository` (options as its own)."""
        from storage.repo import Repository

        return Repository(self.sessions, account_id=self.account, **options)

    async def contact_names(self, member_ids: Iterable[str]) -> dict[str, str | None]:
        """Each member's stored name (None when the bot never learned one)."""
        repo = self.repo()
        return {m: await repo.contact_name(m) for m in set(member_ids)}


def cli_base_dir(config: BotConfig) -> Path:
    """Where relative SQLite paths start: the config file's folder, else the cwd."""
    source = config.source_path
    return source.resolve().parent if source is not None else Path.cwd()


@asynccontextmanager
async def open_cli_db(
    config: BotConfig, base_dir: Path | None = None, *, account: str | None = None
) -> AsyncIterator[CliDb]:
    """Open the config's database for ``account`` (default ``bot.account``),
    migrated to the current schema; the engine is disposed of on the way out.

    Raises ``ConfigError`` (the URL) or :class:`DatabaseUnavailable` (the
    database itself) before the block runs."""
    from storage.db import session_factory

    url = effective_database_url(config, os.environ, base_dir or cli_base_dir(config))
    engine = create_cli_engine(url)
    try:
        await open_database(engine, url)
        yield CliDb(
            config=config,
            url=url,
            engine=engine,
            sessions=session_factory(engine),
            account=account or config.bot.account,
        )
    finally:
        await engine.dispose()
