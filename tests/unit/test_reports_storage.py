"""Weekly figures from seeded tables, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from storage.models import (
    AuditLog,
    Checkin,
    Contact,
    CouponEvent,
    Group,
    JoinRecord,
    LurkerWarning,
    MemberDay,
    Membership,
    MemberStay,
    ModerationCase,
)
from storage.reports import ReportStore
from tests.unit.conftest import Store

TZ = ZoneInfo("Asia/Shanghai")
ROOM = "r1@chatroom"
MONDAY = date(2026, 11, 23)
IN_WEEK = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # Wednesday, noon in Shanghai
BEFORE = datetime(2026, 11, 22, 15, 59, tzinfo=UTC)  # Sunday 23:59 local: the week before


async def _rows(store: Store, model: Any, rows: list[dict[str, Any]]) -> None:
    async with store.sessions.begin() as session:
        await session.execute(insert(model), rows)


def _day(i: int) -> str:
    return (MONDAY + timedelta(days=i)).isoformat()


async def _seed(store: Store) -> None:
    at = IN_WEEK
    await _rows(
        store,
        Group,
        [
            dict(
                account_id="default",
                room_id=ROOM,
                topic="读书会",
                profile="member",
                bot_role="admin",
                joined_at=at,
                left_at=None,
                updated_at=at,
            )
        ],
    )
    await _rows(
        store,
        Contact,
        [
            dict(contact_id=c, name=n, updated_at=at)
            for c, n in (("a", "阿甲"), ("b", "阿乙"), ("c", "阿丙"))
        ],
    )
    await _rows(
        store,
        MemberDay,
        [
            dict(room_id=ROOM, contact_id="a", day=_day(0), messages=5),
            dict(room_id=ROOM, contact_id="a", day=_day(6), messages=7),
            dict(room_id=ROOM, contact_id="b", day=_day(2), messages=3),
            dict(room_id=ROOM, contact_id="c", day=_day(-1), messages=50),  # last week
            dict(room_id="other", contact_id="c", day=_day(1), messages=9),  # another group
        ],
    )
    members = [("a", None), ("b", None), ("c", None), ("d", at), ("e", None)]
    await _rows(
        store,
        Membership,
        [
            dict(
                room_id=ROOM,
                contact_id=m,
                joined_at=BEFORE - timedelta(days=30),
                inviter_id=None,
                left_at=left,
                remover_id=None,
                role="member",
                welcomed_at=None,
                reminded_at=None,
                join_count=1,
            )
            for m, left in members
        ],
    )
    await _rows(
        store,
        MemberStay,
        [
            dict(
                room_id=ROOM,
                contact_id="e",
                stay=1,
                joined_at=at,
                inviter_id=None,
                left_at=None,
                remover_id=None,
                welcomed_at=None,
            ),
            dict(
                room_id=ROOM,
                contact_id="d",
                stay=1,
                joined_at=BEFORE,
                inviter_id=None,
                left_at=at,
                remover_id=None,
                welcomed_at=None,
            ),
        ],
    )
    await _rows(
        store,
        Checkin,
        [
            dict(
                scope=f"room:{ROOM}",
                member_id=m,
                local_date=d,
                room_id=ROOM,
                message_id=None,
                streak=1,
                points=1,
                rank=1,
                at=at,
            )
            for m, d in (("a", _day(0)), ("a", _day(1)), ("b", _day(1)), ("b", _day(7)))
        ],
    )

    def ev(
        frm: str | None, to: str, fo: str | None, too: str, when: datetime = at
    ) -> dict[str, Any]:
        return dict(
            account_id="default",
            coupon_id=1,
            at=when,
            actor="x",
            from_status=frm,
            to_status=to,
            from_owner=fo,
            to_owner=too,
            room_id=ROOM,
            note="",
        )

    await _rows(
        store,
        CouponEvent,
        [
            ev(None, "issued", None, "adm"),
            ev(None, "issued", None, "adm"),
            ev("issued", "claimed", "adm", "a"),
            ev("pending_transfer", "claimed", "a", "b"),
            ev("pending_transfer", "claimed", "a", "a"),
            ev("claimed", "redeemed", "b", "b"),
            ev(None, "issued", None, "adm", BEFORE),
        ],
    )
    case = dict(
        account_id="default",
        room_id=ROOM,
        member_id="x",
        score=1.0,
        reasons="[]",
        text="",
        action="remove",
        mode="enforce",
        status="open",
        created_at=at,
        updated_at=at,
        decided_by=None,
        appeal_text=None,
        appealed_at=None,
    )
    await _rows(
        store,
        ModerationCase,
        [
            case | dict(message_id="m1", rule="ads", decision="ad"),
            case | dict(message_id="m2", rule="ads", decision="ok"),
            case | dict(message_id="m3", rule="flood", decision="ad"),
        ],
    )
    await _rows(
        store,
        JoinRecord,
        [
            dict(
                account_id="default",
                room_id=ROOM,
                member_id=m,
                at=at,
                inviter_id="x",
                paced=True,
                verdict=v,
                rule="r",
            )
            for m, v in (("p", "remove"), ("q", "allow"))
        ],
    )
    audit = dict(
        account_id="default",
        at=at,
        kind="lurkers",
        room_id=ROOM,
        key=None,
        status="done",
        reason="",
        detail="{}",
        error=None,
    )
    await _rows(
        store,
        AuditLog,
        [
            # the executor's audit of a lurker's removal, and of another removal
            audit | dict(action="remove_member", target_id="d", key="lurk-remove:1:d"),
            audit | dict(action="remove_member", target_id="e", key="case:7"),
            audit
            | dict(
                action="remove_member", target_id="x", key="lurk-remove:2:x", account_id="other"
            ),
        ],
    )
    warned = dict(room_id=ROOM, via="group", due_at=at, updated_at=at, batch_id=None)
    await _rows(
        store,
        LurkerWarning,
        [
            warned | dict(account_id="default", member_id="c", status="warned", warned_at=at),
            warned | dict(account_id="default", member_id="d", status="removed", warned_at=at),
            warned | dict(account_id="other", member_id="x", status="warned", warned_at=at),
        ],
    )


async def test_the_weekly_figures_count_only_the_groups_week(store: Store) -> None:
    await _seed(store)
    f = await ReportStore(store.sessions).weekly(ROOM, MONDAY, TZ, core_count=2)
    assert f.topic == "读书会"
    assert f.messages_per_day == (5, 0, 3, 0, 0, 0, 7)
    assert (f.active_members, f.members_now, f.active_ratio) == (2, 4, 0.5)
    assert (f.joined, f.left) == (1, 1)
    assert f.checkins == 3
    assert (f.coupons_issued, f.coupons_transferred, f.coupons_redeemed) == (2, 1, 1)
    assert (f.ads_blocked, f.invites_blocked) == (1, 1)
    assert (f.lurkers_warned, f.lurkers_removed) == (2, 1)
    assert [(c.name, c.messages) for c in f.core] == [("阿甲", 12), ("阿乙", 3)]


async def test_a_group_alias_names_a_core_member_and_an_empty_week_is_zeros(store: Store) -> None:
    await _seed(store)
    reports = ReportStore(store.sessions)
    await reports.record_aliases(ROOM, {"a": "上海-IT-阿甲"}, IN_WEEK)
    f = await reports.weekly(ROOM, MONDAY, TZ, core_count=1)
    assert [c.name for c in f.core] == ["上海-IT-阿甲"]
    empty = await reports.weekly("nowhere", MONDAY, TZ)
    assert (empty.messages, empty.members_now, empty.active_ratio, empty.core) == (0, 0, 0.0, ())


async def test_a_reminder_is_claimed_once_per_alias(store: Store) -> None:
    await _seed(store)
    reports = ReportStore(store.sessions)
    await reports.record_aliases(ROOM, {"a": "阿甲", "d": "gone"}, IN_WEEK)
    assert [r.member_id for r in await reports.name_cards(ROOM)] == ["a"]  # d has left
    assert await reports.claim_reminder(ROOM, "a", "阿甲", IN_WEEK)
    assert not await reports.claim_reminder(ROOM, "a", "阿甲", IN_WEEK)
    await reports.record_aliases(ROOM, {"a": "阿甲2"}, IN_WEEK)
    assert not await reports.claim_reminder(ROOM, "a", "阿甲", IN_WEEK)  # stale alias
    assert await reports.claim_reminder(ROOM, "a", "阿甲2", IN_WEEK)
