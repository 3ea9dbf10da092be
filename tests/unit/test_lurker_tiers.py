"""Activity tiers and lurker exemptions as pure functions over plain rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.lurkers.policy import ActivityCounts, CapacityPolicy, LurkersPolicy
from handlers.lurkers.tiers import Tier, exempt_reason, silent_members, tiers
from storage.lurkers import MemberRow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=200)


def row(member: str, *, spoke_days: float | None = None, **more: object) -> MemberRow:
    spoke = None if spoke_days is None else NOW - timedelta(days=spoke_days)
    values: dict = {"joined_at": LONG_AGO, "role": "member", "name": member.upper()} | more
    return MemberRow(member_id=member, last_spoke_at=spoke, **values)


def tier_of(rows: list[MemberRow], policy: LurkersPolicy | None = None) -> dict[str, Tier]:
    return {t.member_id: t.tier for t in tiers(rows, NOW, policy or LurkersPolicy())}


def test_members_fall_into_active_quiet_lurker_and_never_spoke() -> None:
    assert tier_of(
        [row("a", spoke_days=1), row("q", spoke_days=12), row("l", spoke_days=31), row("n")]
    ) == {"a": Tier.ACTIVE, "q": Tier.QUIET, "l": Tier.LURKER, "n": Tier.NEVER}


def test_the_top_ten_percent_by_score_are_core() -> None:
    rows = [row(f"m{i}", spoke_days=1, messages_7d=i, messages_30d=i) for i in range(20)]
    core = [m for m, t in tier_of(rows).items() if t is Tier.CORE]
    assert sorted(core) == ["m18", "m19"]


def test_the_score_weighs_check_ins_and_redemptions_too() -> None:
    rows = [
        row("talker", spoke_days=1, messages_7d=1, messages_30d=1),
        row("checker", spoke_days=1, checkins_30d=30),
        *(row(f"x{i}", spoke_days=1) for i in range(8)),
    ]
    assert tier_of(rows)["checker"] is Tier.CORE
    assert tier_of(rows)["talker"] is Tier.ACTIVE


def test_a_daily_check_in_counts_as_activity_only_when_configured() -> None:
    checker = row("c", last_checkin_at=NOW - timedelta(days=1))
    assert tier_of([checker])["c"] is Tier.ACTIVE
    off = LurkersPolicy(activity=ActivityCounts(checkins=False))
    assert tier_of([checker], off)["c"] is Tier.NEVER


def test_a_member_silent_since_joining_is_silent_from_the_join() -> None:
    policy = LurkersPolicy(silent_days=30)
    joined = [row("new", joined_at=NOW - timedelta(days=3)), row("old")]
    silent = silent_members(tiers(joined, NOW, policy), policy)
    assert [t.member_id for t in silent] == ["old"]
    assert silent[0].silent_days == 200


def test_silent_members_come_longest_silent_first() -> None:
    policy = LurkersPolicy()
    rows = [row("l40", spoke_days=40), row("n"), row("l90", spoke_days=90)]
    assert [t.member_id for t in silent_members(tiers(rows, NOW, policy), policy)] == [
        "n",
        "l90",
        "l40",
    ]


def _why(r: MemberRow, policy: LurkersPolicy | None = None, **kw: object) -> str | None:
    policy = policy or LurkersPolicy()
    [t] = tiers([r], NOW, policy)
    return exempt_reason(t, NOW, policy, **({"admins": ()} | kw))  # type: ignore[arg-type]


def test_owners_admins_allowlisted_and_newcomers_are_exempt() -> None:
    assert _why(row("o"), admins={"o"}) == "admin"
    assert _why(row("o", role="owner")) == "admin"
    assert _why(row("s", role="admin")) == "admin"
    assert _why(row("w"), allowlisted={"w"}) == "allowlisted"
    assert _why(row("w"), LurkersPolicy(exempt_allowlisted=False), allowlisted={"w"}) is None
    assert _why(row("y"), LurkersPolicy(allowlist=("y",))) == "allowlisted"
    assert _why(row("n", joined_at=NOW - timedelta(days=13))) == "newcomer"
    assert _why(row("n", joined_at=NOW - timedelta(days=15))) is None
    assert _why(row("plain")) is None


def test_activity_in_a_group_of_the_same_tag_exempts_only_when_set() -> None:
    elsewhere = {"t": NOW - timedelta(days=2)}
    assert _why(row("t"), active_elsewhere=elsewhere) is None
    same = LurkersPolicy(same_tag_activity=True)
    assert _why(row("t"), same, active_elsewhere=elsewhere) == "same_tag_active"
    stale = {"t": NOW - timedelta(days=40)}
    assert _why(row("t"), same, active_elsewhere=stale) is None


def test_the_capacity_mark_defaults_to_ninety_percent_of_the_cap() -> None:
    assert CapacityPolicy().mark == 0
    assert CapacityPolicy(size_cap=500).mark == 450
    assert CapacityPolicy(size_cap=500, alert_at=480).mark == 480
