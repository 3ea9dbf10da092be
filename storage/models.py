"""The ORM models: the schema of record.

``migrations/versions`` must produce exactly this schema (a test compares
them).  Every ``datetime`` column is a :class:`~storage.types.UTCDateTime`
through the type annotation map.  There are no foreign keys on purpose: events
arrive out of order on real puppets (a message before its room or sender is
known), and a batch of activity must never be lost to an ordering accident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import (
    ACTIVITY_KINDS,
    AUDIT_STATUSES,
    BOT_ROLES,
    CONNECTION_EVENTS,
    MEMBER_ROLES,
    OUTBOX_KEY_MAX_LENGTH,
    OUTBOX_NAME_MAX_LENGTH,
    OUTBOX_STATUSES,
    UTCDateTime,
)

# Constraint names are part of the schema the migrations must reproduce.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(128)  # WeChat account / room / message ids are short ASCII
# 64-bit ids on PostgreSQL; SQLite's rowid alias must be spelled INTEGER.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


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


# --------------------------------------------------------------------------
# Moderation (issue 8): cases, strikes, the blocklist, exemptions, modes
# --------------------------------------------------------------------------

CASE_STATUSES = ("open", "confirmed", "undone", "appealed", "rejected")
MODERATION_MODES = ("enforce", "shadow")


class CalendarPause(Base):
    """An admin's ``#暂停 <entry>`` in one group, until ``#恢复``."""

    __tablename__ = "calendar_pauses"

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_by: Mapped[str] = mapped_column(ID)
    paused_at: Mapped[datetime]


class ModerationCase(Base):
    """One moderation decision about one member in one group: its evidence,
    every check's reasons, what was done (or, in shadow mode, would have been)
    and where it stands (admins confirm or undo it; the member may appeal).
    The id is the case number admins and members quote."""

    __tablename__ = "moderation_cases"
    __table_args__ = (
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
        CheckConstraint(_in("mode", MODERATION_MODES), name="mode"),
        UniqueConstraint("account_id", "room_id", "message_id"),  # a replayed message
        Index(
            "ix_moderation_cases_account_id_room_id_member_id", "account_id", "room_id", "member_id"
        ),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str] = mapped_column(ID)
    member_id: Mapped[str] = mapped_column(ID)
    message_id: Mapped[str | None] = mapped_column(ID)  # None: an admin's own case
    rule: Mapped[str] = mapped_column(String(16))  # ads, flood, invites, blocklist, manual
    decision: Mapped[str] = mapped_column(String(8))  # ok, review, ad
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[str] = mapped_column(Text)  # JSON: every check's result
    text: Mapped[str] = mapped_column(Text)  # the evidence, cut to a few hundred chars
    action: Mapped[str] = mapped_column(String(24))  # warn, remove, remove_and_block, notify, none
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(ID)  # the admin who confirmed or undid it
    appeal_text: Mapped[str | None] = mapped_column(Text)
    appealed_at: Mapped[datetime | None]


class Strike(Base):
    """A strike on a member in a group (the escalation ladder counts them)."""

    __tablename__ = "moderation_strikes"
    __table_args__ = (
        Index(
            "ix_moderation_strikes_account_id_room_id_member_id",
            "account_id",
            "room_id",
            "member_id",
        ),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str] = mapped_column(ID)
    member_id: Mapped[str] = mapped_column(ID)
    case_id: Mapped[int | None] = mapped_column(BIG_ID)
    at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]


class BlockedMember(Base):
    """The blocklist, shared by every group of a ``scope`` (the bot's account
    today; several accounts of one operator may share a scope later)."""

    __tablename__ = "blocklist"

    scope: Mapped[str] = mapped_column(ID, primary_key=True)
    member_id: Mapped[str] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(ID)
    reason: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(BIG_ID)


class AllowedMember(Base):
    """A member an admin exempted in a group (#白名单)."""

    __tablename__ = "moderation_allowlist"

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    member_id: Mapped[str] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(ID)


class ModerationMode(Base):
    """A group's moderation mode as an owner set it (#开启管理 / #关闭管理)."""

    __tablename__ = "moderation_modes"
    __table_args__ = (CheckConstraint(_in("mode", MODERATION_MODES), name="mode"),)

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    mode: Mapped[str] = mapped_column(String(8))
    since: Mapped[datetime]
    by: Mapped[str] = mapped_column(ID)


class AdVerdict(Base):
    """An admin's verdict on a message (#广告 / #误判): the classifier learns it."""

    __tablename__ = "ad_verdicts"
    __table_args__ = (Index("ix_ad_verdicts_account_id_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    text: Mapped[str] = mapped_column(Text)
    is_ad: Mapped[bool] = mapped_column(Boolean)
    case_id: Mapped[int | None] = mapped_column(BIG_ID)
    by: Mapped[str] = mapped_column(ID)
    at: Mapped[datetime]


LINK_STATUSES = ("pending", "approved", "declined")


class LinkApproval(Base):
    """A member's request to post a link in a group (#报备) and the admins'
    answer: once approved, the link (or, with ``whole_domain``, any link of its
    domain) may be posted there until ``expires_at``.  The id is the request
    number admins quote."""

    __tablename__ = "link_approvals"
    __table_args__ = (
        CheckConstraint(_in("status", LINK_STATUSES), name="status"),
        Index("ix_link_approvals_account_id_room_id_status", "account_id", "room_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str] = mapped_column(ID)
    member_id: Mapped[str] = mapped_column(ID)  # who asked
    url: Mapped[str] = mapped_column(Text)  # as the member wrote it
    url_key: Mapped[str] = mapped_column(Text)  # domain + path + query, compared exactly
    domain: Mapped[str] = mapped_column(String(255))  # the host without "www."
    whole_domain: Mapped[bool] = mapped_column(Boolean)  # the approval covers the domain
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(ID)
    expires_at: Mapped[datetime | None]  # set when approved


# --------------------------------------------------------------------------
# Invites and joins (issue 8.4): requests to invite, the joins seen, raid locks
# --------------------------------------------------------------------------

INVITE_STATUSES = ("pending", "approved", "declined", "used")
JOIN_VERDICTS = ("allow", "review", "remove")


class InviteRequest(Base):
    """A member's ``#邀请``: who they want to bring in, and an admin's answer.
    The id is the number admins quote (``#同意 <n>``)."""

    __tablename__ = "invite_requests"
    __table_args__ = (
        CheckConstraint(_in("status", INVITE_STATUSES), name="status"),
        Index("ix_invite_requests_account_id_room_id_status", "account_id", "room_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str] = mapped_column(ID)
    requester_id: Mapped[str] = mapped_column(ID)
    invitee_id: Mapped[str | None] = mapped_column(
        ID
    )  # when the request @-mentioned or named an id
    invitee_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # a pending request lapses then
    decided_by: Mapped[str | None] = mapped_column(ID)
    decided_at: Mapped[datetime | None]
    approved_until: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(ID)  # the joiner the approval let in
    used_at: Mapped[datetime | None]


class JoinRecord(Base):
    """A join the invites feature decided on; the joins-per-hour pace counts them."""

    __tablename__ = "invite_joins"
    __table_args__ = (
        CheckConstraint(_in("verdict", JOIN_VERDICTS), name="verdict"),
        Index("ix_invite_joins_account_id_room_id_at", "account_id", "room_id", "at"),
    )

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    member_id: Mapped[str] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(primary_key=True)
    inviter_id: Mapped[str | None] = mapped_column(ID)
    paced: Mapped[bool] = mapped_column(Boolean)  # counts toward joins_per_hour
    verdict: Mapped[str] = mapped_column(String(8))
    rule: Mapped[str] = mapped_column(String(24))


class JoinLock(Base):
    """A group locked after a raid: joiners are held or removed until ``until``."""

    __tablename__ = "join_locks"

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    locked_at: Mapped[datetime]
    until: Mapped[datetime]


# --------------------------------------------------------------------------
# Coupons (issue 9): drops, coupons as assets, every transition of each
# --------------------------------------------------------------------------

COUPON_STATUSES = ("issued", "claimed", "pending_transfer", "redeemed", "expired")
SCOPE = String(160)  # "room:<room id>" or "tag:<tag>" (handlers.engagement.scope_of)


class CouponDrop(Base):
    """``count`` coupons of a type open for claiming (#领券) in a group until
    ``closes_at``.  A drop opened outside the bot (the CLI) is announced in the
    group by the bot's sweep, which then sets ``announced_at``."""

    __tablename__ = "coupon_drops"
    __table_args__ = (
        Index("ix_coupon_drops_account_id_room_id_closes_at", "account_id", "room_id", "closes_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    scope: Mapped[str] = mapped_column(SCOPE)
    room_id: Mapped[str] = mapped_column(ID)
    type_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer)
    per_member_limit: Mapped[int] = mapped_column(Integer)
    valid_days: Mapped[float] = mapped_column(Float)  # each coupon's validity from its issue
    opened_by: Mapped[str] = mapped_column(ID)
    opened_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    announced_at: Mapped[datetime | None]


class Coupon(Base):
    """One coupon: an asset with exactly one owner at every moment (the issuer
    while it waits in a drop) and a redemption code nobody can guess.  Its
    type is copied in, so a changed config never changes a coupon held."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(_in("status", COUPON_STATUSES), name="status"),
        UniqueConstraint("code"),
        # A member's n-th claim from a drop: a racing second claim cannot pass the limit.
        UniqueConstraint("drop_id", "claimed_by", "claim_slot"),
        Index("ix_coupons_account_id_scope_owner_id", "account_id", "scope", "owner_id"),
        Index("ix_coupons_account_id_status_expires_at", "account_id", "status", "expires_at"),
        Index("ix_coupons_drop_id_status", "drop_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    code: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(SCOPE)
    room_id: Mapped[str] = mapped_column(ID)  # where it was claimed or last received
    drop_id: Mapped[int | None] = mapped_column(BIG_ID)  # None: given directly
    type_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(40))
    transferable: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[str] = mapped_column(ID)
    issued_by: Mapped[str] = mapped_column(ID)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(ID)  # the first holder
    claim_slot: Mapped[int | None] = mapped_column(Integer)
    claimed_at: Mapped[datetime | None]
    pending_to: Mapped[str | None] = mapped_column(ID)  # the recipient of a transfer
    pending_until: Mapped[datetime | None]
    pending_note: Mapped[str | None] = mapped_column(Text)
    pending_room: Mapped[str | None] = mapped_column(ID)  # where the transfer was offered
    redeemed_at: Mapped[datetime | None]
    redeemed_by: Mapped[str | None] = mapped_column(ID)
    redeemed_room: Mapped[str | None] = mapped_column(ID)
    reminded_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class CouponEvent(Base):
    """A coupon's transition: who, when, where, from which state and owner to which."""

    __tablename__ = "coupon_events"
    __table_args__ = (Index("ix_coupon_events_account_id_coupon_id", "account_id", "coupon_id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    coupon_id: Mapped[int] = mapped_column(BIG_ID)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(ID)  # a member, an admin, "cli" or "bot" (a job)
    from_status: Mapped[str | None] = mapped_column(String(20))  # None: created
    to_status: Mapped[str] = mapped_column(String(20))
    from_owner: Mapped[str | None] = mapped_column(ID)
    to_owner: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str | None] = mapped_column(ID)
    note: Mapped[str] = mapped_column(Text)


# --------------------------------------------------------------------------
# Engagement (issue 9): check-in, the points ledger, folded confirmations
# --------------------------------------------------------------------------

POINTS_KINDS = ("checkin", "activity", "admin", "lottery", "other")
CONFIRMATION_STATUSES = ("pending", "submitted", "sent")


class PointsEntry(Base):
    """One change of a member's points: the ledger.  ``scope`` is where the
    points live (``room:<id>`` or ``tag:<tag>``, the group's, not an account's:
    two bot accounts in one group pay once).  ``key`` is the change's
    idempotency key: a retried command or a replayed message pays once."""

    __tablename__ = "points_ledger"
    __table_args__ = (
        CheckConstraint(_in("kind", POINTS_KINDS), name="kind"),
        UniqueConstraint("key"),
        Index("ix_points_ledger_scope_member_id", "scope", "member_id"),
        Index("ix_points_ledger_scope_at", "scope", "at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200))
    member_id: Mapped[str] = mapped_column(ID)
    amount: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(200))  # a local date, a message id, ...
    key: Mapped[str] = mapped_column(String(200))
    room_id: Mapped[str | None] = mapped_column(ID)  # where it happened
    by: Mapped[str | None] = mapped_column(ID)  # the admin of an adjustment
    at: Mapped[datetime]


class PointsBalance(Base):
    """A member's balance in a scope: the sum of the ledger, kept in the same
    transaction as each ledger row (a property test proves them equal)."""

    __tablename__ = "points_balances"
    __table_args__ = (Index("ix_points_balances_scope_balance", "scope", "balance"),)

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(ID, primary_key=True)
    balance: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class Checkin(Base):
    """A member's check-in on a local day (the group's time zone): one per
    (scope, member, day), so a retried #签到 never pays twice."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_room_id_local_date", "room_id", "local_date"),)

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(ID, primary_key=True)
    local_date: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    room_id: Mapped[str] = mapped_column(ID)
    message_id: Mapped[str | None] = mapped_column(ID)
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)  # the n-th check-in of the day in the group
    at: Mapped[datetime]


class CheckinConfirmation(Base):
    """A check-in confirmation folded into the group's next batch message:
    pending until its batch is due, submitted with the key of the Say that
    carries it, sent once that Say is in the outbox.  A crash loses none."""

    __tablename__ = "checkin_folds"
    __table_args__ = (
        CheckConstraint(_in("status", CONFIRMATION_STATUSES), name="status"),
        UniqueConstraint("account_id", "room_id", "member_id", "local_date"),
        Index("ix_checkin_folds_account_id_status_due_at", "account_id", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str] = mapped_column(ID)
    member_id: Mapped[str] = mapped_column(ID)
    member_name: Mapped[str] = mapped_column(String(128))
    local_date: Mapped[str] = mapped_column(String(10))
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]
    action_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


FLASH_STATUSES = (
    "planned",  # waiting for its creation time
    "creating",  # CreateRoom queued: waiting for the new group's id
    "open",  # the group exists: members invited, schedule posts going out
    "ended",  # the event is over, thanked: waiting to dissolve
    "dissolving",  # removing members (in rounds)
    "quitting",  # QuitRoom queued
    "done",
    "failed",
)


class FlashCampaign(Base):
    """A flash group's campaign (快闪群): one per calendar run, a state machine
    advanced by the flash_groups feature's tick.  Each step is claimed with a
    conditional UPDATE on ``status`` (and ``posts_done`` / ``remove_round``)
    before it is done, so a restart resumes it and never does one twice."""

    __tablename__ = "flash_campaigns"
    __table_args__ = (
        CheckConstraint(_in("status", FLASH_STATUSES), name="status"),
        UniqueConstraint("account_id", "run_key"),
        Index("ix_flash_campaigns_account_id_status", "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    entry_id: Mapped[str] = mapped_column(String(48))
    run_key: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)  # JSON: the entry's content when it ran
    sources: Mapped[str] = mapped_column(Text)  # JSON: the groups its members come from
    members: Mapped[str] = mapped_column(Text)  # JSON: who was invited, in order
    status: Mapped[str] = mapped_column(String(16))
    room_id: Mapped[str | None] = mapped_column(ID)
    posts_done: Mapped[int] = mapped_column(Integer)
    remove_round: Mapped[int] = mapped_column(Integer)
    create_at: Mapped[datetime]
    event_start: Mapped[datetime]
    event_end: Mapped[datetime]
    dissolve_at: Mapped[datetime]
    step_at: Mapped[datetime]  # when the last step was claimed
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# --------------------------------------------------------------------------
# Lottery (issue 10 point 7): provably fair draws and their entrants
# --------------------------------------------------------------------------

LOTTERY_STATUSES = ("open", "drawing", "drawn", "announced")
ENTRANT_STATUSES = ("entered", "ineligible")


class LotteryDraw(Base):
    """One lottery in one group, opened by a calendar run (at most once per run
    key): ``open`` -> ``drawing`` (claimed by the job) -> ``drawn`` (entrants
    numbered, winners recorded) -> ``announced`` (seed and winners posted).
    The seed stays in the database; only its hash is shown before the draw."""

    __tablename__ = "lottery_draws"
    __table_args__ = (
        CheckConstraint(_in("status", LOTTERY_STATUSES), name="status"),
        UniqueConstraint("account_id", "run_key"),
        Index("ix_lottery_draws_account_id_status_draws_at", "account_id", "status", "draws_at"),
        Index("ix_lottery_draws_account_id_room_id_draws_at", "account_id", "room_id", "draws_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    run_key: Mapped[str] = mapped_column(String(255))
    entry_id: Mapped[str] = mapped_column(String(48))
    room_id: Mapped[str] = mapped_column(ID)
    scope: Mapped[str] = mapped_column(SCOPE)  # where prize coupons live
    status: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(40))
    seed: Mapped[str] = mapped_column(String(64))
    seed_hash: Mapped[str] = mapped_column(String(64))
    winners: Mapped[int] = mapped_column(Integer)  # how many are to be drawn
    content: Mapped[str] = mapped_column(Text)  # the entry's content at opening (JSON)
    prize: Mapped[str | None] = mapped_column(Text)  # the coupon kind given (JSON), if any
    entrant_count: Mapped[int] = mapped_column(Integer)
    entrants_hash: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    draws_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    drawn_at: Mapped[datetime | None]
    announced_at: Mapped[datetime | None]


class LotteryEntrant(Base):
    """A member who entered a draw (by its keyword or by checking in), or was
    told they may not (``ineligible``, with the reason).  ``number`` is their
    place in the published list, ``rank`` their place among the winners, and
    ``coupon_id`` the prize coupon given (set in the coupon's own transaction)."""

    __tablename__ = "lottery_entrants"
    __table_args__ = (
        CheckConstraint(_in("status", ENTRANT_STATUSES), name="status"),
        UniqueConstraint("draw_id", "member_id"),
        Index("ix_lottery_entrants_account_id_draw_id", "account_id", "draw_id"),
        Index("ix_lottery_entrants_account_id_member_id", "account_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    draw_id: Mapped[int] = mapped_column(BIG_ID)
    member_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    via: Mapped[str] = mapped_column(String(16))  # keyword | checkin
    message_id: Mapped[str | None] = mapped_column(ID)
    entered_at: Mapped[datetime]
    confirm_key: Mapped[str | None] = mapped_column(String(200))  # the folded confirmation's
    confirmed_at: Mapped[datetime | None]
    number: Mapped[int | None] = mapped_column(Integer)
    rank: Mapped[int | None] = mapped_column(Integer)
    coupon_id: Mapped[int | None] = mapped_column(BIG_ID)


# --------------------------------------------------------------------------
# Lurkers (issue 11): warnings, removal batches, capacity alerts, friends
# --------------------------------------------------------------------------

LURKER_WARNING_STATUSES = ("warned", "spared", "listed", "removed", "restored", "dropped")
LURKER_BATCH_STATUSES = ("pending", "confirmed", "cancelled")


class LurkerWarning(Base):
    """A 冒泡提醒 to one member of a group: warned, then after the grace spared
    (active since), listed in a removal batch, removed, or restored by #恢复."""

    __tablename__ = "lurker_warnings"
    __table_args__ = (
        CheckConstraint(_in("status", LURKER_WARNING_STATUSES), name="status"),
        Index("ix_lurker_warnings_account_id_room_id_status", "account_id", "room_id", "status"),
        Index("ix_lurker_warnings_account_id_batch_id", "account_id", "batch_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str] = mapped_column(ID)
    member_id: Mapped[str] = mapped_column(ID)
    via: Mapped[str] = mapped_column(String(8))  # group or private
    status: Mapped[str] = mapped_column(String(16))
    warned_at: Mapped[datetime]
    due_at: Mapped[datetime]  # the end of the grace
    batch_id: Mapped[int | None] = mapped_column(BIG_ID)
    updated_at: Mapped[datetime]


class LurkerBatch(Base):
    """A removal batch of one group: its id is the number admins confirm."""

    __tablename__ = "lurker_batches"
    __table_args__ = (
        CheckConstraint(_in("status", LURKER_BATCH_STATUSES), name="status"),
        Index("ix_lurker_batches_account_id_room_id", "account_id", "room_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)
    room_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))
    automatic: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(ID)


class LurkerCapacity(Base):
    """A group past its capacity alert mark: alerted once per crossing."""

    __tablename__ = "lurker_capacity"

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    members: Mapped[int] = mapped_column(Integer)
    alerted_at: Mapped[datetime]


class LurkerFriend(Base):
    """A contact known to be the account's friend (a confirmed friendship):
    lurker warnings and goodbyes may go to them privately."""

    __tablename__ = "lurker_friends"

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ID, primary_key=True)
    since: Mapped[datetime]


# --------------------------------------------------------------------------
# Reports and name cards (issue 11)
# --------------------------------------------------------------------------


class NameCard(Base):
    """A member's group alias (群昵称) as the last member list showed it, and
    whether the bot has reminded them about the group's name-card format: a
    member is reminded once per alias (``reminded_alias``), again only when
    the alias changed and still does not match."""

    __tablename__ = "name_cards"

    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    room_id: Mapped[str] = mapped_column(ID, primary_key=True)
    member_id: Mapped[str] = mapped_column(ID, primary_key=True)
    alias: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime]
    reminded_alias: Mapped[str | None] = mapped_column(String(128))
    reminded_at: Mapped[datetime | None]
