"""Alembic environment for qunbot's storage.

Normally run through :func:`storage.db.upgrade`, which hands over an open
connection in ``config.attributes["connection"]``.  Run from the ``alembic``
command line instead, it connects to ``sqlalchemy.url`` (or ``QUNBOT_DB_URL``)
with an async engine.
"""

from __future__ import annotations

import asyncio
import os
from typing import Literal

from alembic import context
from sqlalchemy import Connection

from storage.models import Base
from storage.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: object, autogen_context: object) -> str | Literal[False]:
    # Revisions are frozen snapshots: spell the column type out rather than
    # importing the application's TypeDecorator into a migration.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = os.environ.get("QUNBOT_DB_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set QUNBOT_DB_URL or sqlalchemy.url")
    return url


async def _run_online_async() -> None:
    from storage.db import create_engine

    engine = create_engine(_url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_online_async())
