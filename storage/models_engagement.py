"""Engagement's tables (issue 9): coupons and their events, the points ledger,
check-ins and their folded confirmations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.model_base import BIG_ID, ID, Base, _in

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
