"""Storage backends for the contract tests: a SQLite file always, PostgreSQL when
``QUNBOT_TEST_PG_URL`` names a server (each test in a schema of its own, dropped
afterwards, so the database named there is never otherwise touched)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import create_engine, session_factory, upgrade
from storage.repo import Repository

PG_URL_ENV = "QUNBOT_TEST_PG_URL"


@dataclass
class Store:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    repo: Repository

    @property
    def backend(self) -> str:
        return self.engine.dialect.name


BACKENDS = [
    pytest.param("sqlite", id="sqlite-file"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh, empty database (not yet migrated) on each backend."""
    if request.param == "sqlite":
        # A directory that does not exist yet: create_engine makes it.
        eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'qunbot.db'}")
        try:
            yield eng
        finally:
            await eng.dispose()
        return
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get("CI"):  # a skipped PostgreSQL run would hide what it tests
            pytest.fail(f"{PG_URL_ENV} is not set in CI: start PostgreSQL (see .ci/run)")
        pytest.skip(f"{PG_URL_ENV} is not set")
    schema = f"qunbot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        eng = create_engine(url, connect_args={"server_settings": {"search_path": schema}})
        try:
            yield eng
        finally:
            await eng.dispose()
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture
async def store(engine: AsyncEngine) -> Store:
    await upgrade(engine)
    sessions = session_factory(engine)
    return Store(engine, sessions, Repository(sessions))
