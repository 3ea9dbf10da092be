"""Activity tiers and lurker exemptions: pure functions over plain rows.

No I/O: ``storage.lurkers.LurkerStore.member_rows`` fetches the rows (from
the rollups, never the activity log); these decide.  Tiers, per member:

* ``core``: the top ``core_percent`` by score (积极分子), among the active and quiet;
* ``active``: active within ``active_days``;
* ``quiet``: active within ``silent_days`` but not lately;
* ``lurker``: active once, silent ``silent_days`` or more;
* ``never_spoke``: no activity at all (what counts: ``activity``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.lurkers.policy import ActivityCounts, LurkersPolicy, TierWeights
from storage.lurkers import MemberRow


class Tier(enum.StrEnum):
    CORE = "core"
    ACTIVE = "active"
    QUIET = "quiet"
    LURKER = "lurker"
    NEVER = "never_spoke"


#: The tiers a sweep looks at (silent ones); the others are never candidates.
SILENT = (Tier.LURKER, Tier.NEVER)


@dataclass(frozen=True, slots=True)
class MemberTier:
    row: MemberRow
    tier: Tier
    score: float
    last_active: datetime | None  # None: no activity ever
    silent_days: int  # whole days since the last activity (or since joining)

    @property
    def member_id(self) -> str:
        return self.row.member_id


def last_active(row: MemberRow, counts: ActivityCounts) -> datetime | None:
    """The latest activity that counts (messages, check-ins, redemptions)."""
    times = [
        at
        for on, at in (
            (counts.messages, row.last_spoke_at),
            (counts.checkins, row.last_checkin_at),
            (counts.redemptions, row.last_redeemed_at),
        )
        if on and at is not None
    ]
    return max(times) if times else None


def score(row: MemberRow, weights: TierWeights) -> float:
    return (
        weights.messages_7d * row.messages_7d
        + weights.messages_30d * row.messages_30d
        + weights.checkins_30d * row.checkins_30d
        + weights.redemptions_30d * row.redemptions_30d
    )


def tiers(rows: Iterable[MemberRow], now: datetime, policy: LurkersPolicy) -> list[MemberTier]:
    """Every member's tier, core first (by score), then active, quiet, lurkers
    and never-spoke (longest silent first); ties by account id."""
    out: list[MemberTier] = []
    for row in rows:
        seen = last_active(row, policy.activity)
        silent = max(0, (now - (seen or row.joined_at)) // timedelta(days=1))
        if seen is None:
            tier = Tier.NEVER
        elif silent >= policy.silent_days:
            tier = Tier.LURKER
        elif now - seen <= timedelta(days=policy.active_days):
            tier = Tier.ACTIVE
        else:
            tier = Tier.QUIET
        out.append(MemberTier(row, tier, score(row, policy.weights), seen, silent))
    ranked = sorted(
        (t for t in out if t.tier in (Tier.ACTIVE, Tier.QUIET) and t.score > 0),
        key=lambda t: (-t.score, t.member_id),
    )
    core = {t.member_id for t in ranked[: math.ceil(len(out) * policy.core_percent / 100)]}
    out = [
        MemberTier(t.row, Tier.CORE, t.score, t.last_active, t.silent_days)
        if t.member_id in core
        else t
        for t in out
    ]
    order = {tier: i for i, tier in enumerate(Tier)}
    return sorted(
        out,
        key=lambda t: (
            order[t.tier],
            -t.score if t.tier is Tier.CORE else 0,
            -t.silent_days if t.tier in SILENT else 0,
            t.member_id,
        ),
    )


def silent_members(ranked: Iterable[MemberTier], policy: LurkersPolicy) -> list[MemberTier]:
    """Members silent ``silent_days`` or more (lurkers, and never-spoke members
    in the group that long), longest silent first."""
    found = [t for t in ranked if t.tier in SILENT and t.silent_days >= policy.silent_days]
    return sorted(found, key=lambda t: (-t.silent_days, t.member_id))


def exempt_reason(
    t: MemberTier,
    now: datetime,
    policy: LurkersPolicy,
    *,
    admins: Collection[str],
    allowlisted: Collection[str] = (),
    active_elsewhere: Mapping[str, datetime] | None = None,
) -> str | None:
    """Why a silent member is never warned or removed (None: not exempt).

    Owners and admins (the policy's and the stored role), the section's
    allowlist and #白名单 (if ``exempt_allowlisted``), newcomers within
    ``newcomer_grace_days``, and (``same_tag_activity``) members active within
    ``silent_days`` in another group sharing a tag."""
    row = t.row
    if row.member_id in admins or row.role in ("owner", "admin"):
        return "admin"
    if row.member_id in policy.allowlist or (
        policy.exempt_allowlisted and row.member_id in allowlisted
    ):
        return "allowlisted"
    if now - row.joined_at < timedelta(days=policy.newcomer_grace_days):
        return "newcomer"
    if policy.same_tag_activity and active_elsewhere:
        elsewhere = active_elsewhere.get(row.member_id)
        if elsewhere is not None and now - elsewhere < timedelta(days=policy.silent_days):
            return "same_tag_active"
    return None
