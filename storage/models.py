"""The ORM models: the schema of record.

``migrations/versions`` must produce exactly this schema (a test compares
them).  Every ``datetime`` column is a :class:`~storage.types.UTCDateTime`
through the type annotation map.  There are no foreign keys on purpose: events
arrive out of order on real puppets (a message before its room or sender is
known), and a batch of activity must never be lost to an ordering accident.

The shared tables are here; each feature's tables are in their own module
(``models_moderation``, ``models_engagement``, ``models_sop``,
``models_hygiene``), built on ``model_base`` and re-exported from here, so
importing this module gives the whole schema (Alembic's ``Base.metadata``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.model_base import BIG_ID, ID, NAMING_CONVENTION, Base, _in  # noqa: F401
from storage.models_engagement import (  # noqa: F401  (re-exported)
    CONFIRMATION_STATUSES,
    COUPON_STATUSES,
    POINTS_KINDS,
    SCOPE,
    Checkin,
    CheckinConfirmation,
    Coupon,
    CouponDrop,
    CouponEvent,
    PointsBalance,
    PointsEntry,
)
from storage.models_hygiene import (  # noqa: F401  (re-exported)
    LURKER_BATCH_STATUSES,
    LURKER_WARNING_STATUSES,
    LurkerBatch,
    LurkerCapacity,
    LurkerFriend,
    LurkerWarning,
    NameCard,
)
from storage.models_moderation import (  # noqa: F401  (re-exported)
    CASE_STATUSES,
    INVITE_STATUSES,
    JOIN_VERDICTS,
    LINK_STATUSES,
    MODERATION_MODES,
    AdVerdict,
    AllowedMember,
    BlockedMember,
    InviteRequest,
    JoinLock,
    JoinRecord,
    LinkApproval,
    ModerationCase,
    ModerationMode,
    Strike,
)
from storage.models_sop import (  # noqa: F401  (re-exported)
    ENTRANT_STATUSES,
    FLASH_STATUSES,
    LOTTERY_STATUSES,
    FlashCampaign,
    LotteryDraw,
    LotteryEntrant,
)
from storage.types import (
    ACTIVITY_KINDS,
    AUDIT_STATUSES,
    BOT_ROLES,
    CONNECTION_EVENTS,
    MEMBER_ROLES,
    OUTBOX_KEY_MAX_LENGTH,
    OUTBOX_NAME_MAX_LENGTH,
    OUTBOX_STATUSES,
)


class Group(Base):
    """A group as one bot account sees it: its presence there and its role."""

    __tablename__ = "groups"
    __table_args__ = (CheckConstraint(_in("bot_role", BOT_ROLES), name="bot_role"),)

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(String(64))  # a bot.yaml profile name (0008)
    bot_role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Contact(Base):
    __tablename__ = "contacts"

    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class Membership(Base):
    """One row per (room, contact), kept across leaves and rejoins."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint(_in("role", MEMBER_ROLES), name="role"),
        Index("ix_memberships_contact_id", "contact_id"),
        # due_for_reminder: unreminded rows, oldest joins first.
        Index("ix_memberships_reminded_at_joined_at", "reminded_at", "joined_at"),
    )

    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    joined_at: Mapped[datetime]
    inviter_id: Mapped[str | None] = mapped_column(ID)
    left_at: Mapped[datetime | None]
    remover_id: Mapped[str | None] = mapped_column(ID)
    role: Mapped[str] = mapped_column(String(16))
    welcomed_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    join_count: Mapped[int] = mapped_column(Integer)


class ActivityEvent(Base):
    """Append-only log; the hot path.  Keep its indexes few."""

    __tablename__ = "activity_events"
    __table_args__ = (
        CheckConstraint(_in("kind", ACTIVITY_KINDS), name="kind"),
        Index("ix_activity_events_room_id_at", "room_id", "at"),
        # A message is the group's, not the account's: two bot accounts in one
        # group (or a replayed event) store it once.  NULL ids never collide.
        UniqueConstraint("room_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(ID)
    contact_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(16))
    message_kind: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[str | None] = mapped_column(ID)
    text: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class MemberStats(Base):
    """Per-member rollup of activity_events, kept by record_activity."""

    __tablename__ = "member_stats"

    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    first_seen_at: Mapped[datetime]
    last_spoke_at: Mapped[datetime | None]
    message_count: Mapped[int] = mapped_column(Integer)
    last_active_at: Mapped[datetime]


class MemberDay(Base):
    """Per member, group and local day (the bot's time zone): messages sent.

    Kept by record_activity with member_stats, from the rows written (so a
    message is counted once however many accounts saw it); weekly and 30-day
    figures, activity tiers and reports read this, never the event log."""

    __tablename__ = "member_days"
    __table_args__ = (Index("ix_member_days_room_id_day", "room_id", "day"),)

    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, local
    messages: Mapped[int] = mapped_column(Integer)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(_in("status", AUDIT_STATUSES), name="status"),
        Index("ix_audit_log_key", "key"),
        Index("ix_audit_log_account_id_at", "account_id", "at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[str | None] = mapped_column(ID)
    target_id: Mapped[str | None] = mapped_column(ID)
    key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)  # JSON
    error: Mapped[str | None] = mapped_column(Text)


class ConnectionLog(Base):
    __tablename__ = "connection_log"
    __table_args__ = (
        CheckConstraint(_in("event", CONNECTION_EVENTS), name="event"),
        Index("ix_connection_log_account_id_at", "account_id", "at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(ID)  # the bot account (bot.account)
    wechat_id: Mapped[str] = mapped_column(ID)  # the WeChat id that was logged in
    detail: Mapped[str] = mapped_column(Text)


class Outbox(Base):
    """Every action on WeChat, written before it is executed (idempotency key).

    pending → sending (claimed, attempts + 1) → a final status.  A row left in
    'sending' by a crash becomes 'in_doubt' and is never sent again.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # Idempotency keys are namespaced by account.
        UniqueConstraint("account_id", "key"),
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        # outbox_pending / outbox_mark_in_doubt / outbox_expire.
        Index("ix_outbox_account_id_status_created_at", "account_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    key: Mapped[str] = mapped_column(String(OUTBOX_KEY_MAX_LENGTH))
    action: Mapped[str] = mapped_column(String(OUTBOX_NAME_MAX_LENGTH))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    kind: Mapped[str] = mapped_column(String(OUTBOX_NAME_MAX_LENGTH))
    room_id: Mapped[str | None] = mapped_column(ID)
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    not_after: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    updated_at: Mapped[datetime]
    executed_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # A pending row put back after a transient failure: not tried before this.
    not_before: Mapped[datetime | None]


class Pause(Base):
    """A risk-control pause of one kind of action on one account.

    Open while ``closed_at`` is NULL and ``until`` is in the future; closed
    early by an owner (``closed_by``: their account id, or ``cli``).
    """

    __tablename__ = "pauses"
    __table_args__ = (Index("ix_pauses_account_id_kind", "account_id", "kind"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(OUTBOX_NAME_MAX_LENGTH))
    opened_at: Mapped[datetime]
    until: Mapped[datetime]
    error: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(ID)


# -- welcome ritual (migration 0005_welcome) ----------------------------------

# pending: waiting for its batch's due time; submitted: its Say is in the outbox
# (action_key); welcomed: the Say was done; then the ends that are not a welcome.
WELCOME_STATUSES = ("pending", "submitted", "welcomed", "failed", "dropped", "expired")


class MemberStay(Base):
    """One row per stay of a member in a group: a rejoin is a new stay.

    ``memberships`` is the current state (its ``join_count`` is the number of
    the current stay); this is the history, kept by ``record_join`` /
    ``record_leave``.  A per-group fact: no account id.
    """

    __tablename__ = "member_stays"

    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    stay: Mapped[int] = mapped_column(Integer, primary_key=True)
    joined_at: Mapped[datetime]
    inviter_id: Mapped[str | None] = mapped_column(ID)
    left_at: Mapped[datetime | None]
    remover_id: Mapped[str | None] = mapped_column(ID)
    welcomed_at: Mapped[datetime | None]


class PendingWelcome(Base):
    """A newcomer's welcome, from the join to the send's outcome (survives a crash).

    One row per (account, room, member, stay): a replayed join cannot queue a
    second welcome.  Rows of one room that are ``pending`` form its batch and
    share the first one's ``due_at``.
    """

    __tablename__ = "pending_welcomes"
    __table_args__ = (
        UniqueConstraint("account_id", "room_id", "contact_id", "stay"),
        CheckConstraint(_in("status", WELCOME_STATUSES), name="status"),
        Index("ix_pending_welcomes_account_id_status_due_at", "account_id", "status", "due_at"),
        Index("ix_pending_welcomes_account_id_action_key", "account_id", "action_key"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str] = mapped_column(ID)
    contact_id: Mapped[str] = mapped_column(ID)
    stay: Mapped[int] = mapped_column(Integer)
    joined_at: Mapped[datetime]
    due_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    action_key: Mapped[str | None] = mapped_column(String(OUTBOX_KEY_MAX_LENGTH))
    updated_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)


class Lease(Base):
    """Who runs an account: one row per configured ``bot.account``.

    A process holds the row while ``expires_at`` is ahead and renews it; a
    second process for the same account refuses to start; the row of a killed
    process is taken over once it has expired (storage/lease.py).
    ``wechat_id`` is the WeChat account id recorded at login.
    """

    __tablename__ = "leases"

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid:random
    acquired_at: Mapped[datetime]
    renewed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    wechat_id: Mapped[str | None] = mapped_column(ID)


CALENDAR_RUN_STATUSES = ("started", "done", "failed", "missed")


class CalendarRun(Base):
    """One scheduled run of a calendar job, keyed (account, job, group, scheduled time).

    The row is claimed (inserted as ``started``) before the job runs, so a run
    happens at most once across restarts and processes; ``room_id`` is ``""``
    for an app-wide job.  ``missed``: the bot was down past the run's grace.
    """

    __tablename__ = "calendar_runs"
    __table_args__ = (
        UniqueConstraint("account_id", "job_id", "room_id", "scheduled_at"),
        CheckConstraint(_in("status", CALENDAR_RUN_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    job_id: Mapped[str] = mapped_column(String(128))
    room_id: Mapped[str] = mapped_column(ID)
    scheduled_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class CalendarPause(Base):
    """An admin's ``#暂停 <entry>`` in one group, until ``#恢复``."""

    __tablename__ = "calendar_pauses"

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_by: Mapped[str] = mapped_column(ID)
    paused_at: Mapped[datetime]
