"""The calendar kinds' tables (issue 10): flash-group campaigns and lottery draws."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.model_base import BIG_ID, ID, Base, _in
from storage.models_engagement import SCOPE

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
