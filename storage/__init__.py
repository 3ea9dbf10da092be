"""Storage: SQLAlchemy models, engines, Alembic migrations and the repository.

Typical wiring (the app object owns the engine)::

    engine = create_engine("sqlite+aiosqlite:///data/qunbot.db")
    await upgrade(engine)
    repo = Repository(session_factory(engine))

SQLite (aiosqlite) and PostgreSQL (asyncpg) are supported.  Every time going
in must be aware; every time coming out is aware UTC.  This package never
imports Wechaty or ``bot.transport``.
"""

from storage.db import (
    alembic_config,
    create_engine,
    current_revision,
    head_revision,
    session_factory,
    upgrade,
)
from storage.repo import DEFAULT_MAX_TEXT_LENGTH, Repository
from storage.types import (
    ActivityRecord,
    ActivityRow,
    AuditEntry,
    GroupState,
    MembershipState,
    MemberStatsState,
    UTCDateTime,
    clean_text,
    require_aware,
)

__all__ = [
    "DEFAULT_MAX_TEXT_LENGTH",
    "ActivityRecord",
    "ActivityRow",
    "AuditEntry",
    "GroupState",
    "MemberStatsState",
    "MembershipState",
    "Repository",
    "UTCDateTime",
    "alembic_config",
    "clean_text",
    "create_engine",
    "current_revision",
    "head_revision",
    "require_aware",
    "session_factory",
    "upgrade",
]
