"""Engines, sessions and schema migrations.

``create_engine`` gives an async engine for SQLite (aiosqlite) or PostgreSQL
(asyncpg); ``upgrade`` brings its schema to the newest Alembic revision.
Alembic is configured here in code; the scripts are found inside the installed
package (``storage/migrations``), so no ``alembic.ini`` is needed at run time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# Alembic logs its plugins (when imported), dialect and DDL mode at INFO on every
# start, even with nothing to migrate: a start-up problem should be the one line
# on stderr.  ``upgrade`` logs a line of its own when it did migrate.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine  # noqa: E402
from sqlalchemy.pool import StaticPool  # noqa: E402

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SQLITE_PRAGMAS = (
    ("journal_mode", "WAL"),
    ("foreign_keys", "ON"),
    ("synchronous", "NORMAL"),
    ("busy_timeout", "5000"),
    # 32 MiB of page cache (default 2 MiB): a batch of activity touches an index
    # page per group, and at 500 groups the default cannot hold them (-10-15 % CPU).
    ("cache_size", "-32768"),
)


def _is_memory(database: str | None) -> bool:
    return not database or database == ":memory:" or "mode=memory" in database


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name}={value}")
    finally:
        cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://…`` or ``postgresql+asyncpg://…``).

    SQLite: the file's directory is created, writes are serialized through a
    single pooled connection, and every connection gets WAL, foreign keys,
    ``synchronous=NORMAL`` and a 5 s busy timeout; an in-memory
    database uses one shared connection (``StaticPool``), since each aiosqlite
    connection would otherwise see its own empty database.  ``kwargs`` go to
    :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.get_driver_name() != "aiosqlite":
            raise ValueError(
                f"SQLite needs the aiosqlite driver: sqlite+aiosqlite://…, not {url!r}"
            )
        database = parsed.database
        if _is_memory(database):
            kwargs.setdefault("poolclass", StaticPool)
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args.setdefault("check_same_thread", False)
            kwargs["connect_args"] = connect_args
        else:
            if database and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # SQLite has one writer at a time: concurrent transactions from many
            # pooled connections wait on the file lock and can fail with
            # "database is locked".  One connection queues them in the pool
            # instead (other processes still read alongside, thanks to WAL).
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", 60)
        engine = _create_async_engine(parsed, **kwargs)
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return _create_async_engine(parsed, **kwargs)
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string()!r}: use SQLite or PostgreSQL"
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision the packaged scripts define."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection, revision: str) -> None:
    before = _current(connection)
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    after = _current(connection)
    if after != before:
        log.info("database migrated from %s to %s", before or "empty", after)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


# pg_advisory_xact_lock key for migrations: "qunbot" in ASCII, any fixed number will do.
MIGRATION_LOCK_KEY = 0x71756E626F74


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` in one transaction.

    On PostgreSQL the transaction first takes an advisory lock, so two
    processes starting at once (on one machine or several) migrate one after
    the other: the second finds the schema up to date instead of racing the
    first to create the same tables.  The transaction-scoped form of
    ``pg_advisory_lock`` is released by the commit or rollback, so a failed
    migration cannot leave it held.  SQLite serializes writers by itself.
    """
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(_upgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def safe_url(url: str) -> str:
    """A database URL without its password, for logs and error lines."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured database"
