"""What happens to each joiner: the pure decision of the invites feature."""

from __future__ import annotations

from handlers.moderation.invite_policy import InvitePolicy
from handlers.moderation.invites.decide import InviterKind, Joiner, RoomFacts, decide

POLICY = InvitePolicy(joins_per_hour=3, size_cap=5)


def _room(inviter: InviterKind = "member", **kw: object) -> RoomFacts:
    values: dict[str, object] = {
        "inviter": inviter,
        "reconciled": False,
        "locked": False,
        "paced_before": 0,
        "present_before": 2,
    } | kw
    return RoomFacts(**values)  # type: ignore[arg-type]


def _joiner(member: str = "m", **kw: object) -> Joiner:
    values: dict[str, object] = {"protected": False, "blocked": False} | kw
    return Joiner(member, member, **values)  # type: ignore[arg-type]


def _verdicts(joiners: list[Joiner], room: RoomFacts, policy: InvitePolicy = POLICY) -> list[str]:
    return [f"{d.verdict}:{d.rule}" for d in decide(joiners, room, policy).joins]


def test_an_owner_or_admin_stays_whatever_else_holds() -> None:
    joiner = _joiner(protected=True, blocked=True)
    room = _room(locked=True, present_before=99)
    assert _verdicts([joiner], room) == ["allow:protected"]


def test_the_blocklist_beats_a_trusted_inviter_and_an_approval() -> None:
    assert _verdicts([_joiner(blocked=True, approval=1)], _room("trusted")) == ["remove:blocklist"]


def test_a_members_unapproved_invite_is_removed_with_a_strike() -> None:
    [d] = decide([_joiner()], _room(), POLICY).joins
    assert (d.verdict, d.rule, d.strike) == ("remove", "unapproved", True)


def test_an_approval_lets_the_joiner_in_and_is_used() -> None:
    [d] = decide([_joiner(approval=7)], _room(), POLICY).joins
    assert (d.verdict, d.approval, d.strike) == ("allow", 7, False)


def test_the_way_a_joiner_came_follows_the_groups_policy() -> None:
    policy = InvitePolicy(qr_joins="allow", unknown_inviter="remove", reconciled_joins="review")
    assert _verdicts([_joiner()], _room("none"), policy) == ["allow:qr"]
    assert _verdicts([_joiner()], _room("unknown"), policy) == ["remove:unknown_inviter"]
    assert _verdicts([_joiner()], _room("member", reconciled=True), policy) == ["review:reconciled"]


def test_joins_beyond_the_size_cap_are_removed_and_admins_still_come_in() -> None:
    joiners = [_joiner("a"), _joiner("b"), _joiner("c"), _joiner("admin", protected=True)]
    verdicts = _verdicts(joiners, _room("trusted", present_before=3))
    assert verdicts == [
        "allow:trusted_inviter",
        "allow:trusted_inviter",
        "remove:size_cap",
        "allow:protected",
    ]


def test_the_join_beyond_the_pace_locks_the_group_once() -> None:
    joiners = [_joiner(f"m{i}") for i in range(3)]
    decisions = decide(joiners, _room("none", paced_before=1), InvitePolicy(joins_per_hour=3))
    assert decisions.raid
    assert [d.rule for d in decisions.joins] == ["qr", "qr", "raid"]
    again = decide(joiners[:1], _room("none", paced_before=4, locked=True), POLICY)
    assert not again.raid and again.joins[0].rule == "raid"


def test_members_found_by_a_member_list_do_not_count_toward_the_pace() -> None:
    joiners = [_joiner(f"m{i}") for i in range(10)]
    decisions = decide(joiners, _room(reconciled=True, present_before=0), InvitePolicy())
    assert not decisions.raid
    assert {d.rule for d in decisions.joins} == {"reconciled"}
