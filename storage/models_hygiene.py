"""Membership hygiene's tables (issue 11): lurker warnings, removal batches,
capacity alerts, known friends, and name cards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.model_base import BIG_ID, ID, Base, _in

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
