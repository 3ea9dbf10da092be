"""Storage contract for bulk membership writes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from storage.membership import MembershipStore
from storage.types import NewOutboxItem
from tests.unit.conftest import Store

ROOM = "r1@chatroom"
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_a_snapshot_stores_every_member_as_present_with_roles_in_one_call(
    store: Store,
) -> None:
    ms = MembershipStore(store.sessions)
    members = [f"m{i:04d}" for i in range(2500)]  # more than one INSERT chunk
    inserted = await ms.store_snapshot(
        ROOM, ["owner", "admin", *members], at(0), owner_id="owner", admin_ids=["admin"]
    )
    assert inserted == {"owner", "admin", *members}
    assert len(await store.repo.current_members(ROOM)) == 2502
    owner = await store.repo.get_membership(ROOM, "owner")
    admin = await store.repo.get_membership(ROOM, "admin")
    plain = await store.repo.get_membership(ROOM, "m0042")
    assert owner is not None and owner.role == "owner"
    assert admin is not None and admin.role == "admin"
    assert plain is not None and plain.role == "member" and plain.joined_at == at(0)
    assert plain.inviter_id is None and plain.welcomed_at is None and plain.join_count == 1


async def test_a_later_snapshot_keeps_stays_and_moves_roles(store: Store) -> None:
    ms = MembershipStore(store.sessions)
    await ms.store_snapshot(ROOM, ["a", "b", "c"], at(0), owner_id="a", admin_ids=["b"])
    await store.repo.record_leave(ROOM, "c", at(1))
    # The owner handed the group to b; c is listed again (a rejoin is a join event's job).
    inserted = await ms.store_snapshot(ROOM, ["a", "b", "c", "d"], at(5), owner_id="b")
    assert inserted == {"d"}
    a = await store.repo.get_membership(ROOM, "a")
    b = await store.repo.get_membership(ROOM, "b")
    c = await store.repo.get_membership(ROOM, "c")
    assert a is not None and a.role == "member" and a.joined_at == at(0)
    assert b is not None and b.role == "owner"
    assert c is not None and c.left_at == at(1)  # not reopened here


async def test_roles_only_snapshot_adds_nobody(store: Store) -> None:
    ms = MembershipStore(store.sessions)
    await ms.store_snapshot(ROOM, ["a", "b"], at(0))
    inserted = await ms.store_snapshot(
        ROOM, ["a", "b", "new"], at(1), admin_ids=["b"], add_missing=False
    )
    assert inserted == set()
    assert await store.repo.current_members(ROOM) == {"a", "b"}
    b = await store.repo.get_membership(ROOM, "b")
    assert b is not None and b.role == "admin"


async def test_without_owner_or_admins_roles_are_left_alone(store: Store) -> None:
    ms = MembershipStore(store.sessions)
    await ms.store_snapshot(ROOM, ["a", "b"], at(0), owner_id="a")
    await ms.store_snapshot(ROOM, ["a", "b"], at(1))  # the puppet said nothing of roles
    a = await store.repo.get_membership(ROOM, "a")
    assert a is not None and a.role == "owner"


async def test_refusing_a_rooms_actions_leaves_other_rooms_and_finished_ones(store: Store) -> None:
    def item(key: str, room: str | None) -> NewOutboxItem:
        return NewOutboxItem(
            key=key,
            action="Say",
            payload={"text": key},
            kind="message",
            room_id=room,
            priority=1,
            created_at=at(0),
        )

    await store.repo.outbox_add(
        [item("k1", ROOM), item("k2", ROOM), item("k3", "r2@chatroom"), item("k4", None)]
    )
    await store.repo.outbox_finish("k2", "done", at(1))
    refused = await store.repo.outbox_refuse_room(ROOM, at(2), "the bot is no longer in this group")
    assert [i.key for i in refused] == ["k1"]
    assert not await store.repo.outbox_claim("k1", at(3))  # the executor cannot send it
    k1 = await store.repo.outbox_get("k1")
    assert k1 is not None and k1.status == "refused" and k1.error
    assert [i.key for i in await store.repo.outbox_pending()] == ["k3", "k4"]


# -- one member list, one transaction (store_member_list) -------------------


def _commits(store: Store) -> list[int]:
    """Counts the transactions committed on the store's engine from now on."""
    seen: list[int] = []
    event.listen(store.engine.sync_engine, "commit", lambda conn: seen.append(1))
    return seen


async def test_a_first_member_list_is_stored_in_one_transaction_with_names_and_roles(
    store: Store,
) -> None:
    ms = MembershipStore(store.sessions)
    await store.repo.upsert_group(ROOM, "群", "member", at(0))
    members = ["owner", *(f"m{i:04d}" for i in range(1200))]  # more than one INSERT chunk
    commits = _commits(store)
    stored = await ms.store_member_list(
        ROOM,
        members,
        at(1),
        account_id=store.repo.account_id,
        bot_id="bot",
        names={"owner": "群主", "m0001": "小王"},
        owner_id="owner",
        admin_ids=["bot"],
    )
    assert len(commits) == 1
    assert stored.first and stored.inserted == set(members) and not stored.known
    assert stored.joined == () and stored.left == ()
    assert stored.bot_role_before == "unknown" and stored.bot_role_changed_to == "admin"
    assert len(await store.repo.current_members(ROOM)) == 1201
    owner = await store.repo.get_membership(ROOM, "owner")
    assert owner is not None and owner.role == "owner" and owner.joined_at == at(1)
    assert await store.repo.contact_name("m0001") == "小王"
    group = await store.repo.get_group(ROOM)
    assert group is not None and group.bot_role == "admin"


async def test_a_later_member_list_reports_joins_and_leaves_without_writing_them(
    store: Store,
) -> None:
    ms = MembershipStore(store.sessions)
    await store.repo.upsert_group(ROOM, "群", "member", at(0))
    account = store.repo.account_id
    await ms.store_member_list(ROOM, ["a", "b", "c"], at(1), account_id=account, owner_id="a")
    await store.repo.record_join(ROOM, "late", at(10))  # joined while the next list was read
    stored = await ms.store_member_list(
        ROOM, ["a", "b", "d"], at(9), account_id=account, owner_id="a", listed_before=True
    )
    assert not stored.first and stored.known == {"a", "b", "c", "late"}
    assert stored.inserted == set() and stored.joined == ("d",)
    assert stored.left == ("c",)  # "late" joined after the list was read: not a leave
    assert await store.repo.current_members(ROOM) == {"a", "b", "c", "late"}


async def test_a_member_list_moves_roles_and_tells_when_the_bot_lost_its_own(
    store: Store,
) -> None:
    ms = MembershipStore(store.sessions)
    await store.repo.upsert_group(ROOM, "群", "member", at(0))
    account = store.repo.account_id
    await ms.store_member_list(
        ROOM,
        ["a", "b", "c"],
        at(1),
        account_id=account,
        bot_id="bot",
        owner_id="bot",
        admin_ids=["a"],
    )
    await store.repo.record_leave(ROOM, "c", at(2))
    commits = _commits(store)
    # The group was handed to c (gone meanwhile), b became admin, the bot a member.
    stored = await ms.store_member_list(
        ROOM,
        ["a", "b"],
        at(3),
        account_id=account,
        bot_id="bot",
        owner_id="c",
        admin_ids=["b"],
        listed_before=True,
    )
    assert len(commits) == 1
    assert stored.bot_role_before == "owner" and stored.bot_role_changed_to == "member"
    roles = {}
    for m in ("a", "b", "c"):
        state = await store.repo.get_membership(ROOM, m)
        assert state is not None
        roles[m] = state.role
    assert roles == {"a": "member", "b": "admin", "c": "owner"}
    group = await store.repo.get_group(ROOM)
    assert group is not None and group.bot_role == "member"
    again = await ms.store_member_list(
        ROOM,
        ["a", "b"],
        at(4),
        account_id=account,
        bot_id="bot",
        owner_id="c",
        admin_ids=["b"],
        listed_before=True,
    )
    assert again.bot_role_changed_to is None  # told once


async def test_a_member_list_of_a_group_without_its_row_learns_no_bot_role(store: Store) -> None:
    ms = MembershipStore(store.sessions)
    stored = await ms.store_member_list(
        ROOM, ["a"], at(1), account_id=store.repo.account_id, bot_id="bot", owner_id="bot"
    )
    assert stored.first and stored.inserted == {"a"}
    assert stored.bot_role_before is None and stored.bot_role_changed_to is None
    assert await store.repo.get_group(ROOM) is None
