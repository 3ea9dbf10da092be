"""Moderation's tables (issue 8): cases, strikes, the blocklist and allowlist,
modes, verdicts the detector learns from, link approvals, invites and joins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.model_base import BIG_ID, ID, Base, _in

# --------------------------------------------------------------------------
# Moderation (issue 8): cases, strikes, the blocklist, exemptions, modes
# --------------------------------------------------------------------------

CASE_STATUSES = ("open", "confirmed", "undone", "appealed", "rejected")
MODERATION_MODES = ("enforce", "shadow")


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

#: lapsed: pending, nobody answered before ``expires_at``; expired: approved, nobody
#: joined on it before ``approved_until`` (both set by the invites' lapse job).
INVITE_STATUSES = ("pending", "approved", "declined", "used", "lapsed", "expired")
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
    closed_at: Mapped[datetime | None]  # when it was found lapsed or expired (the requester told)


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
