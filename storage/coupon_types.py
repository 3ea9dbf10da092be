"""Coupons' value types: codes, kinds, drops, coupons, their events and outcomes.

What ``storage.coupons.CouponStore`` reads and returns; no database work here.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
NOTE_MAX_LENGTH = 100
MAX_DROP_COUNT = 10_000
#: Tries of a claim when other claimers take the coupon it picked first.
CLAIM_TRIES = 50
#: The statuses a coupon can still leave (by expiring).
LIVE = ("issued", "claimed", "pending_transfer")

ClaimOutcome = Literal["claimed", "limit", "sold_out", "none"]
RedeemOutcome = Literal[
    "redeemed", "unknown", "already", "expired", "pending", "not_claimed", "elsewhere"
]


def new_code() -> str:
    """A fresh redemption code (unpredictable: :mod:`secrets`)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str | None:
    """A code as people type it (full-width, lower case, with ``-`` or spaces), or None."""
    code = unicodedata.normalize("NFKC", text).upper().replace("-", "").replace(" ", "")
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


@dataclass(frozen=True, slots=True)
class CouponKind:
    """A coupon type as the config gives it, copied into each coupon."""

    type_id: str
    name: str
    value: str = ""
    valid_days: float = 30
    transferable: bool = True
    per_member_limit: int = 1


@dataclass(frozen=True, slots=True)
class Drop:
    id: int
    scope: str
    room_id: str
    type_id: str
    name: str
    value: str
    count: int
    per_member_limit: int
    valid_days: float
    opened_by: str
    opened_at: datetime
    closes_at: datetime
    announced_at: datetime | None


@dataclass(frozen=True, slots=True)
class CouponInfo:
    id: int
    code: str
    scope: str
    room_id: str
    drop_id: int | None
    type_id: str
    name: str
    value: str
    transferable: bool
    status: str
    owner_id: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    claimed_by: str | None
    claim_slot: int | None
    claimed_at: datetime | None
    pending_to: str | None
    pending_until: datetime | None
    pending_note: str | None
    pending_room: str | None
    redeemed_at: datetime | None
    redeemed_by: str | None
    redeemed_room: str | None
    reminded_at: datetime | None
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__}
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class Event:
    coupon_id: int
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    from_owner: str | None
    to_owner: str
    room_id: str | None
    note: str


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    coupon: CouponInfo | None = None
    drop: Drop | None = None  # the drop claimed from (or refused by)


@dataclass(frozen=True, slots=True)
class Handover:
    """A transfer that ended: accepted (``coupon.owner_id`` is the recipient) or
    returned (the giver's again)."""

    coupon: CouponInfo
    giver: str
    recipient: str
    room_id: str | None  # where the transfer was offered
    note: str


@dataclass(frozen=True, slots=True)
class Redemption:
    outcome: RedeemOutcome
    coupon: CouponInfo | None = None
