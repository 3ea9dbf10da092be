"""Column types and the plain value types the repository speaks.

``UTCDateTime`` is the only way a time goes into the database: it refuses
naive datetimes, stores UTC, and always hands back aware UTC, also on SQLite,
which keeps no timezone at all.  The dataclasses here are what
:class:`storage.repo.Repository` takes and returns, so callers never hold ORM
objects bound to a closed session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

BotRole = Literal["owner", "admin", "member", "unknown"]
MemberRole = Literal["member", "admin", "owner"]
ActivityKind = Literal["message", "join", "leave"]
AuditStatus = Literal[
    "done", "failed", "dry_run", "refused", "expired", "in_doubt", "skipped", "missed"
]
ConnectionEvent = Literal["login", "logout", "reconnect", "disconnect"]
OutboxStatus = Literal[
    "pending", "sending", "done", "failed", "refused", "expired", "dry_run", "in_doubt", "skipped"
]

# The same sets as tuples, for CHECK constraints and argument checks.
BOT_ROLES: Final = ("owner", "admin", "member", "unknown")
MEMBER_ROLES: Final = ("member", "admin", "owner")
ACTIVITY_KINDS: Final = ("message", "join", "leave")
# "missed": a calendar run the bot was down for, past its grace time.
AUDIT_STATUSES: Final = (
    "done",
    "failed",
    "dry_run",
    "refused",
    "expired",
    "in_doubt",
    "skipped",
    "missed",
    "shadow",  # a feature in shadow mode would have done it
    "recorded",  # a decision kept for the record, not an action
)
CONNECTION_EVENTS: Final = ("login", "logout", "reconnect", "disconnect")
OUTBOX_STATUSES: Final = (
    "pending",
    "sending",
    "done",
    "failed",
    "refused",
    "expired",
    "dry_run",
    "in_doubt",
    "skipped",
)
# What ``outbox_finish`` may record: every status but the two open ones.
OUTBOX_FINAL_STATUSES: Final = tuple(s for s in OUTBOX_STATUSES if s not in ("pending", "sending"))
# Final statuses that mean the action was carried out (or played, dry run).
OUTBOX_EXECUTED_STATUSES: Final = ("done", "failed", "dry_run")
OUTBOX_KEY_MAX_LENGTH: Final = 200
OUTBOX_NAME_MAX_LENGTH: Final = 64  # action and kind


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Return ``value`` in UTC; raise ValueError if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"naive {what} {value.isoformat()!r} refused: storage needs an aware "
            "datetime (use clock.now() or datetime.now(UTC))"
        )
    return value.astimezone(UTC)


class _SQLiteDateTime(sqlite.DATETIME):
    """SQLite DATETIME that takes the text UTCDateTime has already formatted."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column that is always aware UTC on the Python side.

    PostgreSQL gets ``timestamptz``.  SQLite gets the UTC wall time as text in
    SQLAlchemy's usual DATETIME format (fixed width, so text order is time
    order), and the offset is put back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return _SQLiteDateTime()
        return self.impl_instance

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime takes a datetime, not {type(value).__name__}")
        # This runs for every time of every row on the hot path: skip the
        # conversion for the common case, a time already in UTC.
        utc = value if value.tzinfo is UTC else require_aware(value, "datetime")
        if dialect.name == "sqlite":
            return utc.isoformat(" ", "microseconds")[:26]
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - driver oddity
            raise TypeError(f"UTCDateTime read a {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def clean_text(value: str, limit: int | None = None) -> str:
    """Make ``value`` storable on every backend, cut to ``limit`` characters.

    PostgreSQL refuses NUL characters in text, and no driver can encode a lone
    surrogate (which JSON from a puppet can carry, e.g. half an emoji), so NULs
    are dropped and lone surrogates become U+FFFD.
    """
    if "\x00" in value:
        value = value.replace("\x00", "")
    if limit is not None and len(value) > 2 * limit:
        # Bound the work on huge input; repair below can at most halve it.
        value = value[: 2 * limit]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Joins surrogate pairs, replaces lone halves.
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if limit is not None and len(value) > limit:
        value = value[:limit]
    return value


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One thing a member did in a group, as ``record_activity`` takes it."""

    room_id: str
    contact_id: str
    kind: ActivityKind
    at: datetime
    message_kind: str | None = None
    message_id: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTIVITY_KINDS:
            raise ValueError(f"activity kind {self.kind!r} is not one of {ACTIVITY_KINDS}")
        require_aware(self.at, "ActivityRow.at")


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """A stored activity event, as ``recent_activity`` returns it."""

    id: int
    room_id: str
    contact_id: str
    kind: ActivityKind
    at: datetime
    message_kind: str | None
    message_id: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class GroupState:
    room_id: str
    topic: str
    profile: str  # the bot.yaml profile (super, member, flash or an operator's)
    bot_role: BotRole
    joined_at: datetime
    left_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MembershipState:
    room_id: str
    contact_id: str
    joined_at: datetime
    inviter_id: str | None
    left_at: datetime | None
    remover_id: str | None
    role: MemberRole
    welcomed_at: datetime | None
    reminded_at: datetime | None
    join_count: int
    # Set by record_join only: False when the join was already known (the
    # member is present), e.g. an event and a member-list reconcile both saw it.
    changed: bool = True

    @property
    def present(self) -> bool:
        return self.left_at is None

    @property
    def is_rejoin(self) -> bool:
        return self.join_count > 1


@dataclass(frozen=True, slots=True)
class MemberStatsState:
    room_id: str
    contact_id: str
    first_seen_at: datetime
    last_spoke_at: datetime | None
    message_count: int
    last_active_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    action: str
    kind: str
    room_id: str | None
    target_id: str | None
    key: str | None
    status: AuditStatus
    reason: str
    detail: dict[str, Any]
    error: str | None


@dataclass(frozen=True, slots=True)
class NewOutboxItem:
    """An action to record before it is executed, as ``outbox_add`` takes it.

    ``key`` is the idempotency key: adding a key already present does nothing.
    ``payload`` holds the action's fields and must be JSON-serializable as it
    is (no ``default=str``): it is read back to execute the action.
    ``not_after`` is the optional deadline after which the action expires
    instead of being executed.
    """

    key: str
    action: str
    payload: Mapping[str, Any]
    kind: str
    room_id: str | None
    priority: int
    created_at: datetime
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > OUTBOX_KEY_MAX_LENGTH:
            raise ValueError(
                f"outbox key must be 1 to {OUTBOX_KEY_MAX_LENGTH} characters, "
                f"not {len(self.key)}: {self.key[:50]!r}"
            )
        for what, value in (("action", self.action), ("kind", self.kind)):
            if not value or len(value) > OUTBOX_NAME_MAX_LENGTH:
                raise ValueError(
                    f"outbox {what} must be 1 to {OUTBOX_NAME_MAX_LENGTH} characters: {value!r}"
                )
        if not isinstance(self.payload, Mapping):
            raise TypeError(f"outbox payload must be a mapping, not {type(self.payload).__name__}")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise TypeError(f"outbox priority must be an int, not {self.priority!r}")
        require_aware(self.created_at, "NewOutboxItem.created_at")
        if self.not_after is not None:
            require_aware(self.not_after, "NewOutboxItem.not_after")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A stored outbox row."""

    id: int
    key: str
    action: str
    payload: dict[str, Any] = field(hash=False)
    kind: str
    room_id: str | None
    priority: int
    status: OutboxStatus
    created_at: datetime
    not_after: datetime | None
    attempts: int
    updated_at: datetime
    executed_at: datetime | None
    result: str | None
    error: str | None
