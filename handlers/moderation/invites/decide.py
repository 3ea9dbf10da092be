"""What happens to each joiner: pure, no I/O (the facts are gathered by ``joins``).

In order, for each joiner: an owner or admin stays (never removed, even if
blocklisted); a blocklisted account is removed; a join beyond the size cap is
removed; a trusted inviter (owner, admin, the bot itself) or an admin's
approval lets them in; a group locked after a raid holds or removes them;
otherwise the way they came decides: by QR code, by an unknown inviter, found
only by a member list (each the group's allow / review / remove), or invited
by a member without approval (removed, and the inviter gets a strike).

Joins announced by an event count toward ``joins_per_hour``; members found by
a member-list read do not (the read's time is not their join time).  The join
that goes beyond the pace locks the group, and is itself held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from handlers.moderation.invite_policy import InvitePolicy

Verdict = Literal["allow", "review", "remove"]
#: Who brought the joiners in: an owner, admin or the bot; a current member;
#: someone the bot does not know as a member; nobody said (a QR code).
InviterKind = Literal["trusted", "member", "unknown", "none"]

#: Each rule in a few words, for the admins.
RULE_LABELS: dict[str, str] = {
    "protected": "群主或群管",
    "blocklist": "在黑名单中",
    "size_cap": "群已满",
    "trusted_inviter": "群管邀请",
    "approved": "已获群管同意",
    "raid": "群已锁定（疑似批量拉人）",
    "qr": "扫码入群",
    "unknown_inviter": "邀请人不明",
    "reconciled": "成员列表中发现（没有入群消息）",
    "unapproved": "未经群管同意的邀请",
}
VERDICT_LABELS: dict[str, str] = {
    "allow": "已放行",
    "review": "未处理，请群管查看",
    "remove": "已移出",
}


@dataclass(frozen=True, slots=True)
class Joiner:
    member_id: str
    name: str
    protected: bool  # an owner or admin (by the policy or the stored role)
    blocked: bool
    approval: int | None = None  # the request whose approval lets them in


@dataclass(frozen=True, slots=True)
class RoomFacts:
    inviter: InviterKind
    reconciled: bool  # found only by a member-list read
    locked: bool  # a raid lock holds now
    paced_before: int  # joins counted toward the pace in the hour before
    present_before: int  # members before these joiners, the bot included


@dataclass(frozen=True, slots=True)
class JoinDecision:
    member_id: str
    name: str
    verdict: Verdict
    rule: str
    approval: int | None = None  # an approval used up
    strike: bool = False  # the inviter gets a strike


@dataclass(frozen=True, slots=True)
class Decisions:
    joins: tuple[JoinDecision, ...]
    raid: bool  # these joins went beyond the pace: the group is to be locked

    @property
    def removed(self) -> list[JoinDecision]:
        return [d for d in self.joins if d.verdict == "remove"]

    @property
    def noteworthy(self) -> list[JoinDecision]:
        """What the admins hear about: everything not simply let in."""
        return [d for d in self.joins if d.verdict != "allow"]


def decide(joiners: Sequence[Joiner], room: RoomFacts, policy: InvitePolicy) -> Decisions:
    paced = not room.reconciled
    count, present, locked, raid = room.paced_before, room.present_before, room.locked, False
    out = []
    for joiner in joiners:
        if paced:
            count += 1
            if count > policy.joins_per_hour and not locked:
                locked = raid = True
        decision = _one(joiner, room, policy, locked=locked, full=present >= policy.size_cap)
        if decision.verdict != "remove":
            present += 1
        out.append(decision)
    return Decisions(tuple(out), raid)


def _one(
    joiner: Joiner, room: RoomFacts, policy: InvitePolicy, *, locked: bool, full: bool
) -> JoinDecision:
    def verdict(
        v: Verdict, rule: str, approval: int | None = None, strike: bool = False
    ) -> JoinDecision:
        return JoinDecision(joiner.member_id, joiner.name, v, rule, approval, strike)

    if joiner.protected:
        return verdict("allow", "protected")
    if joiner.blocked:
        return verdict("remove", "blocklist")
    if full:
        return verdict("remove", "size_cap")
    if room.inviter == "trusted":
        return verdict("allow", "trusted_inviter")
    if joiner.approval is not None:
        return verdict("allow", "approved", approval=joiner.approval)
    if locked:
        return verdict(policy.raid_action, "raid")
    if room.reconciled:
        return verdict(policy.reconciled_joins, "reconciled")
    if room.inviter == "none":
        return verdict(policy.qr_joins, "qr")
    if room.inviter == "unknown":
        return verdict(policy.unknown_inviter, "unknown_inviter")
    return verdict("remove", "unapproved", strike=True)
